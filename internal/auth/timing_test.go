package auth_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/auth"
)

// TestAuthenticateComparesEveryDigest checks that Authenticate costs the
// same whichever key matches, or none: every configured digest is compared
// (in constant time) on every call. With a thousand keys, an implementation
// that stopped at the first match would answer for the first key about a
// thousand times faster than for an unknown key; the bounds below leave a
// wide margin for noise and still catch that.
func TestAuthenticateComparesEveryDigest(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	const n = 1000
	specs := make([]auth.Spec, n)
	for i := range specs {
		specs[i] = auth.Spec{Name: fmt.Sprint("k", i), Key: fmt.Sprintf("key-%04d-%s", i, "0123456789abcdef"), Connections: []string{"*"}}
	}
	ks, err := auth.NewKeys(specs)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, header, want string
	}{
		{"first key", "Bearer " + specs[0].Key, "k0"},
		{"last key", "Bearer " + specs[n-1].Key, fmt.Sprint("k", n-1)},
		{"unknown key", "Bearer key-9999-0123456789abcdef", ""},
	}
	best := make([]time.Duration, len(cases))
	for range 15 { // interleaved samples, keep each case's fastest
		for i, c := range cases {
			start := time.Now()
			for range 100 {
				k, _ := ks.Authenticate(c.header)
				if (k == nil && c.want != "") || (k != nil && k.Name != c.want) {
					t.Fatalf("%s: wrong key %v", c.name, k)
				}
			}
			if d := time.Since(start); best[i] == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	unknown := best[2]
	for i, c := range cases[:2] {
		ratio := float64(best[i]) / float64(unknown)
		t.Logf("%s: %.2f× the time of an unknown key (%s per 100 calls)", c.name, ratio, best[i])
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("authenticating with the %s takes %.2f× the time of an unknown key: not every digest is compared", c.name, ratio)
		}
	}
}
