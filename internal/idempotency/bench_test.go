package idempotency

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/redistest"
)

// benchStores are both stores; the Redis one under a fresh prefix.
func benchStores(b *testing.B) map[string]store {
	rdb := redistest.Client(b)
	prefix := "idembench:" + newToken() + ":"
	redistest.DeleteKeys(b, rdb, prefix+"*")
	return map[string]store{"memory": NewMemory(), "redis": NewRedis(rdb, prefix)}
}

// BenchmarkStore measures each store's cost per request: "first" is a new
// key (Begin, then Complete with a 1 KB answer), "replay" a repeat (one
// Begin returning that answer).
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	resp := &Response{Status: 201, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(strings.Repeat("x", 1024))}
	for name, s := range benchStores(b) {
		b.Run(name+"/first", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				key := fmt.Sprint("first:", i)
				_, tok, err := s.Begin(ctx, key, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Complete(ctx, key, tok, resp, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/replay", func(b *testing.B) {
			_, tok, _ := s.Begin(ctx, "replay", time.Minute)
			_, _ = s.Complete(ctx, "replay", tok, resp, time.Minute)
			for b.Loop() {
				if r, _, err := s.Begin(ctx, "replay", time.Minute); err != nil || r == nil {
					b.Fatal(r, err)
				}
			}
		})
	}
}
