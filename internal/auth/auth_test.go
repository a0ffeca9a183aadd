package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/crm"
)

func digest(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func testKeys(t *testing.T) *auth.Keys {
	t.Helper()
	ks, err := auth.NewKeys([]auth.Spec{
		{Name: "admin", Key: "admin-secret", Connections: []string{"*"}},
		{Name: "ci", SHA256: digest("ci-secret"), Connections: []string{"hc", "zv"}},
		{Name: "upper", SHA256: strings.ToUpper(digest("upper-secret")), Connections: []string{"nx"}},
		{Name: "mixed", Key: "mixed-secret", Connections: []string{"hc", "*"}},
		{Name: "none", Key: "none-secret", Connections: []string{}},
		{Name: "nil", Key: "nil-secret"},
	})
	if err != nil {
		t.Fatalf("NewKeys: %v", err)
	}
	return ks
}

func TestAuthenticate(t *testing.T) {
	ks := testKeys(t)
	tests := []struct {
		name   string
		header string
		want   string // key name; "" for EUnauthorized
	}{
		{"clear key", "Bearer admin-secret", "admin"},
		{"sha256 key", "Bearer ci-secret", "ci"},
		{"upper-case sha256 in config", "Bearer upper-secret", "upper"},
		{"scheme lower case", "bearer admin-secret", "admin"},
		{"scheme upper case", "BEARER ci-secret", "ci"},
		{"scheme mixed case", "bEaReR ci-secret", "ci"},
		{"extra spaces around the key", "Bearer   admin-secret  ", "admin"},
		{"missing header", "", ""},
		{"scheme only", "Bearer", ""},
		{"empty key", "Bearer ", ""},
		{"blank key", "Bearer    ", ""},
		{"key without scheme", "admin-secret", ""},
		{"wrong scheme", "Basic admin-secret", ""},
		{"token scheme", "Token admin-secret", ""},
		{"unknown key", "Bearer nope", ""},
		{"digest is not the key", "Bearer " + digest("ci-secret"), ""},
		{"key is case-sensitive", "Bearer ADMIN-SECRET", ""},
		{"prefix of a key", "Bearer admin", ""},
		{"key with suffix", "Bearer admin-secret2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ks.Authenticate(tt.header)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("Authenticate(%q): %v", tt.header, err)
				}
				if k.Name != tt.want {
					t.Errorf("Authenticate(%q) = key %q, want %q", tt.header, k.Name, tt.want)
				}
				return
			}
			if k != nil {
				t.Errorf("Authenticate(%q) = key %q, want none", tt.header, k.Name)
			}
			var e *crm.Error
			if !errors.As(err, &e) || e.Code != crm.EUnauthorized {
				t.Fatalf("Authenticate(%q) error = %v, want %s", tt.header, err, crm.EUnauthorized)
			}
			if !strings.Contains(e.Message, "Bearer") {
				t.Errorf("message %q does not say how to authenticate", e.Message)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "nope") {
				t.Errorf("error %q echoes the presented key", err)
			}
		})
	}
}

// A key whose digest is that of the empty string must not be matched by a
// header carrying only blanks.
func TestAuthenticateBlankKeyNeverMatches(t *testing.T) {
	ks, err := auth.NewKeys([]auth.Spec{{Name: "empty", SHA256: digest(""), Connections: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Bearer ", "Bearer  ", "Bearer \t"} {
		if k, err := ks.Authenticate(h); err == nil {
			t.Errorf("Authenticate(%q) = key %q, want unauthorized", h, k.Name)
		}
	}
}

func TestAllows(t *testing.T) {
	ks := testKeys(t)
	tests := []struct {
		key   string
		conn  string
		allow bool
	}{
		{"admin-secret", "hc", true},
		{"admin-secret", "anything", true},
		{"ci-secret", "hc", true},
		{"ci-secret", "zv", true},
		{"ci-secret", "nx", false},
		{"ci-secret", "", false},
		{"ci-secret", "HC", false},
		{"upper-secret", "nx", true},
		{"upper-secret", "hc", false},
		{"mixed-secret", "nx", true}, // "*" anywhere in the list means all
		{"none-secret", "hc", false}, // an empty list allows nothing
		{"nil-secret", "hc", false},  // as does no list
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.conn, func(t *testing.T) {
			k, err := ks.Authenticate("Bearer " + tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Allows(tt.conn); got != tt.allow {
				t.Errorf("%s.Allows(%q) = %v, want %v", k.Name, tt.conn, got, tt.allow)
			}
		})
	}
}

func TestNewKeysCopiesScope(t *testing.T) {
	conns := []string{"hc"}
	ks, err := auth.NewKeys([]auth.Spec{{Name: "k", Key: "v", Connections: conns}})
	if err != nil {
		t.Fatal(err)
	}
	conns[0] = "zv"
	k, err := ks.Authenticate("Bearer v")
	if err != nil {
		t.Fatal(err)
	}
	if !k.Allows("hc") || k.Allows("zv") {
		t.Errorf("scope followed the caller's slice after NewKeys")
	}
}

func TestNewKeysBadDigest(t *testing.T) {
	tests := []struct{ name, sha string }{
		{"empty", ""},
		{"not hex", strings.Repeat("z", 64)},
		{"too short", digest("x")[:62]},
		{"too long", digest("x") + "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewKeys([]auth.Spec{{Name: "bad-key", SHA256: tt.sha, Connections: []string{"*"}}})
			if err == nil || !strings.Contains(err.Error(), `"bad-key"`) || !strings.Contains(err.Error(), "sha256") {
				t.Errorf("NewKeys error = %v, want one naming the key and sha256", err)
			}
		})
	}
}

func TestNoKeys(t *testing.T) {
	ks, err := auth.NewKeys(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Authenticate("Bearer anything"); crm.ErrorCode(err) != crm.EUnauthorized {
		t.Errorf("error = %v, want %s", err, crm.EUnauthorized)
	}
}

func Example() {
	keys, err := auth.NewKeys([]auth.Spec{
		// A key given in clear (from the environment) is hashed and forgotten.
		{Name: "admin", Key: "s3cr3t", Connections: []string{"*"}},
		// Or give only the key's SHA-256: printf %s "$KEY" | sha256sum
		{Name: "reporting", SHA256: "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3", // "123"
			Connections: []string{"helpcrunch-main"}},
	})
	if err != nil {
		panic(err)
	}

	k, err := keys.Authenticate("Bearer 123")
	fmt.Println(k.Name, err)
	fmt.Println(k.Allows("helpcrunch-main"), k.Allows("zenvia-br"))

	_, err = keys.Authenticate("Bearer wrong")
	fmt.Println(crm.ErrorCode(err))
	// Output:
	// reporting <nil>
	// true false
	// unauthorized
}
