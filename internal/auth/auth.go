// Package auth checks API keys. Only SHA-256 digests of keys are held in
// memory, and a presented key is compared against every digest in constant
// time, so neither the config nor timing reveals a key.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// Key is a client's key, scoped to connections.
type Key struct {
	Name        string
	digest      [sha256.Size]byte
	connections []string // nil: all
}

// Allows reports whether the key may use the connection.
func (k *Key) Allows(connection string) bool {
	return k.connections == nil || slices.Contains(k.connections, connection)
}

// Keys is the set of configured keys.
type Keys struct {
	keys []*Key
}

// Spec describes one key to NewKeys: the key itself or its hex SHA-256.
type Spec struct {
	Name        string
	Key         string
	SHA256      string
	Connections []string // "*" for all
}

// NewKeys hashes the keys given in clear and forgets them.
func NewKeys(specs []Spec) (*Keys, error) {
	ks := &Keys{}
	for _, s := range specs {
		k := &Key{Name: s.Name}
		switch {
		case s.Key != "":
			k.digest = sha256.Sum256([]byte(s.Key))
		default:
			b, err := hex.DecodeString(s.SHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("api key %q: sha256 must be 64 hex digits", s.Name)
			}
			copy(k.digest[:], b)
		}
		if !slices.Contains(s.Connections, "*") {
			// Never nil, which would mean all: no list allows nothing.
			k.connections = append([]string{}, s.Connections...)
		}
		ks.keys = append(ks.keys, k)
	}
	return ks, nil
}

// Authenticate returns the key matching an Authorization header value
// ("Bearer <key>"). Every configured digest is compared, so the time taken
// does not depend on which key matched.
func (ks *Keys) Authenticate(header string) (*Key, error) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, crm.Errorf(crm.EUnauthorized, "a valid API key is required (Authorization: Bearer <key>)")
	}
	d := sha256.Sum256([]byte(token))
	var found *Key
	for _, k := range ks.keys {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			found = k
		}
	}
	if found == nil {
		return nil, crm.Errorf(crm.EUnauthorized, "a valid API key is required (Authorization: Bearer <key>)")
	}
	return found, nil
}
