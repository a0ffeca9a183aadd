// Package e2e holds tests that run the real binaries: several gateway
// processes sharing one Redis in front of a vendor simulator process, over
// loopback HTTP. They build the binaries themselves and need Redis at
// REDIS_URL (default redis://127.0.0.1:6379/0).
package e2e
