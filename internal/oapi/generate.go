// Package oapi is generated from api/openapi.yaml by oapi-codegen: the API's
// types and the Echo server interface the server package implements. Do not
// edit oapi.gen.go; change the spec and run `make generate`.
package oapi

//go:generate go tool oapi-codegen -config cfg.yaml ../../api/openapi.yaml
