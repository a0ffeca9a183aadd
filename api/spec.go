// Package api holds the gateway's OpenAPI contract. The same bytes are served
// at /openapi.yaml, converted for /openapi.json, used to validate every
// request, and fed to oapi-codegen (internal/oapi).
package api

import _ "embed"

// Spec is api/openapi.yaml as committed.
//
//go:embed openapi.yaml
var Spec []byte
