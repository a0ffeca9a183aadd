package config_test

import (
	"strings"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/config"
)

// fzSecrets are values planted through ${VAR}: long and short ones, one
// with YAML syntax, one that reads as a number.
var fzSecrets = []string{"Zq9vX2kP7wL4mN8rT5yB", "s3Cr3tQ", "p@ss: w0rd # {x}\n- y", "90210871"}

// fzConfigSeeds are YAML documents, valid and not, with ${VAR} references
// in every kind of field (strings, secrets, numbers, durations, lists,
// maps) and in places where a type error echoes the value.
var fzConfigSeeds = []string{
	"api_keys: [{name: k, key: '${KEY}', connections: ['*']}]\nconnections:\n  hc:\n    vendor: helpcrunch\n    credentials:\n      api_key: ${HC}\n",
	"api_keys: [{name: k, key: x, connections: ['*']}]\nconnections:\n  nx:\n    vendor: nxcloud\n    credentials:\n      access_key: a\n      access_secret: ${S}\n      tenant_id: ${S}\n      app_key: p\n",
	"api_keys: [{name: k, key: x, connections: ['*']}]\nconnections:\n  zv:\n    vendor: ${S}\n    credentials: {token: t}\n",
	"api_keys: [{name: k, key: x, connections: ['*']}]\nconnections:\n  zv:\n    vendor: zenvia\n    credentials: {token: t}\n    limits:\n      requests: ${S}\n      period: ${S}\n      burst: x${S}\n    timeout: '${S}'\n",
	"redis: ${S}\nserver:\n  max_body_bytes: ${S}\n  validate_responses: ${S}\nconnections: ${S}\n",
	"api_keys:\n  - name: k\n    sha256: ${S}\n    connections: ['${S}']\nconnections:\n  c:\n    vendor: zenvia\n    credentials: {token: t}\n    custom_fields:\n      mode: ${S}\n      map:\n        plan: {key: k, type: '${S}'}\n",
	"events:\n  subscriptions:\n    - name: ${S}\n      url: ${S}\n      secret: ${S}\n      types: ['${S}']\n  schedule: ['${S}', 1s]\n  retention: ${S}\njobs:\n  workers: ${S}\n  key_prefix: '{${S}}'\n",
	"listen: ${S}\npublic_url: ${S}\nlog:\n  level: ${S}\ntelemetry:\n  otlp_endpoint: ${S}\n  sample_ratio: ${S}\nredis:\n  url: ${S}\n  prefix: ${S}\n  replicas: ${S}\n",
	"a: &x ${S}\nb: *x\n<<: {c: '${S}'}\n",
	"connections:\n  ${S}: {vendor: helpcrunch}\n",
	"connections: {c: {vendor: helpcrunch, credentials: {api_key: '${UNSET}'}}}\n",
	"",
	"- ${S}\n- ['${S}']\n",
	"%YAML 1.2\n---\n!!binary ${S}\n",
	"api_keys: [{name: k, key: x, connections: ['*']}]\nconnections:\n  c:\n    vendor: nxcloud\n    credentials:\n      access_key: a\n      access_secret: s\n      tenant_id: 1\n      app_key: ${S}\n    limits:\n      batch_size: ${S}\n",
}

// FuzzParse parses fuzzed YAML with every ${VAR} set to a planted secret
// (UNSET stays unset). Parse never panics, and its error never carries the
// secret, not even a part of it (the YAML decoder quotes the first 7
// characters of a value it cannot type), unless the document itself holds
// that text literally.
func FuzzParse(f *testing.F) {
	for i, s := range fzConfigSeeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, doc []byte, which uint8) {
		secret := fzSecrets[int(which)%len(fzSecrets)]
		getenv := func(name string) string {
			if name == "UNSET" {
				return ""
			}
			return secret
		}
		cfg, err := config.Parse(doc, getenv)
		if err == nil {
			if cfg == nil {
				t.Fatal("no config and no error")
			}
			return
		}
		msg := err.Error()
		const window = 6
		for i := 0; i+window <= len(secret); i++ {
			part := secret[i : i+window]
			if strings.Contains(msg, part) && !strings.Contains(string(doc), part) {
				t.Fatalf("the error leaks %q of the planted secret %q:\n%s", part, secret, msg)
			}
		}
	})
}
