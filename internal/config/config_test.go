package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"
)

// fakeEnv is a getenv backed by a map that records every lookup.
type fakeEnv struct {
	mu     sync.Mutex
	vars   map[string]string
	lookup []string
}

func env(kv ...string) *fakeEnv {
	e := &fakeEnv{vars: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		e.vars[kv[i]] = kv[i+1]
	}
	return e
}

func (e *fakeEnv) Getenv(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lookup = append(e.lookup, name)
	return e.vars[name]
}

func (e *fakeEnv) looked(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.lookup, name)
}

func mustParse(t *testing.T, doc string, e *fakeEnv) *Config {
	t.Helper()
	if e == nil {
		e = env()
	}
	cfg, err := Parse([]byte(doc), e.Getenv)
	if err != nil {
		t.Fatalf("Parse: %v\n--- config ---\n%s", err, doc)
	}
	return cfg
}

func parseErr(t *testing.T, doc string, e *fakeEnv) string {
	t.Helper()
	if e == nil {
		e = env()
	}
	cfg, err := Parse([]byte(doc), e.Getenv)
	if err == nil {
		t.Fatalf("Parse accepted an invalid config: %+v\n--- config ---\n%s", cfg, doc)
	}
	return err.Error()
}

func sha(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

const fullConfig = `
listen: ":9090"
public_url: https://gateway.example.com
log:
  level: debug
server:
  max_body_bytes: 1048576
  read_timeout: 10s
  validate_responses: true
redis:
  url: ${REDIS_URL}
  replicas: 3
api_keys:
  - name: ops
    key: ${OPS_KEY}
    connections: ["*"]
  - name: ci
    sha256: ` + "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3" + `
    connections: [hc, zv]
connections:
  hc:
    vendor: helpcrunch
    credentials:
      api_key: ${HC_KEY}
  zv:
    vendor: zenvia
    base_url: http://zenvia.internal:8080/
    credentials:
      token: ${ZV_TOKEN}
    limits:
      requests: 30
      period: 10s
      burst: 2
      max_wait: 1500ms
      batch_size: 20
    timeout: 5s
  nx:
    vendor: nxcloud
    credentials:
      access_key: AK123
      access_secret: ${NX_SECRET}
      tenant_id: 4711
      app_key: APP9
`

func fullEnv() *fakeEnv {
	return env("REDIS_URL", "redis://:redispw@redis:6379/0", "OPS_KEY", "ops-key-value",
		"HC_KEY", "hc-api-key-value", "ZV_TOKEN", "zv-token-value", "NX_SECRET", "nx-secret-value")
}

func TestParseFull(t *testing.T) {
	cfg := mustParse(t, fullConfig, fullEnv())

	if cfg.Listen != ":9090" || cfg.PublicURL != "https://gateway.example.com" || cfg.Log.Level != "debug" {
		t.Errorf("top level = %q %q %q", cfg.Listen, cfg.PublicURL, cfg.Log.Level)
	}
	wantServer := Server{
		MaxBodyBytes: 1 << 20, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ShutdownTimeout: 30 * time.Second,
		ValidateResponses: true,
	}
	if cfg.Server != wantServer {
		t.Errorf("server = %+v, want %+v", cfg.Server, wantServer)
	}
	if cfg.Redis.URL.Reveal() != "redis://:redispw@redis:6379/0" || cfg.Redis.Replicas != 3 {
		t.Errorf("redis = %q replicas %d", cfg.Redis.URL.Reveal(), cfg.Redis.Replicas)
	}
	if len(cfg.APIKeys) != 2 {
		t.Fatalf("api keys = %d, want 2", len(cfg.APIKeys))
	}
	if k := cfg.APIKeys[0]; k.Name != "ops" || k.Key.Reveal() != "ops-key-value" || !slices.Equal(k.Connections, []string{"*"}) {
		t.Errorf("api_keys[0] = %+v", k)
	}
	if k := cfg.APIKeys[1]; k.Name != "ci" || k.Key != "" || k.SHA256 != sha("123") || !slices.Equal(k.Connections, []string{"hc", "zv"}) {
		t.Errorf("api_keys[1] = %+v", k)
	}
	if got := cfg.ConnectionNames(); !slices.Equal(got, []string{"hc", "nx", "zv"}) {
		t.Errorf("ConnectionNames = %v", got)
	}

	tests := []struct {
		name    string
		vendor  string
		baseURL string
		timeout time.Duration
		limits  Limits
		creds   Credentials
	}{
		{"hc", "helpcrunch", "https://api.helpcrunch.com/v1", 15 * time.Second,
			Limits{Requests: 120, Period: time.Minute, Burst: burst("helpcrunch"), MaxWait: 10 * time.Second, BatchSize: 10},
			Credentials{APIKey: "hc-api-key-value"}},
		{"zv", "zenvia", "http://zenvia.internal:8080", 5 * time.Second,
			Limits{Requests: 30, Period: 10 * time.Second, Burst: 2, MaxWait: 1500 * time.Millisecond, BatchSize: 20},
			Credentials{Token: "zv-token-value"}},
		{"nx", "nxcloud", "https://api.nxcloud.com", 15 * time.Second,
			Limits{Requests: 60, Period: time.Minute, Burst: burst("nxcloud"), MaxWait: 10 * time.Second, BatchSize: 100},
			Credentials{AccessKey: "AK123", AccessSecret: "nx-secret-value", TenantID: 4711, AppKey: "APP9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg.Connections[tt.name]
			if c == nil {
				t.Fatalf("connection %s missing", tt.name)
			}
			if c.Vendor != tt.vendor || c.BaseURL != tt.baseURL || c.Timeout != tt.timeout {
				t.Errorf("vendor/base_url/timeout = %q %q %s, want %q %q %s", c.Vendor, c.BaseURL, c.Timeout, tt.vendor, tt.baseURL, tt.timeout)
			}
			if c.Limits != tt.limits {
				t.Errorf("limits = %+v, want %+v", c.Limits, tt.limits)
			}
			if c.Credentials != tt.creds {
				t.Errorf("credentials = %+v, want %+v", c.Credentials, tt.creds)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		conn string // YAML of connection "c"
		want Connection
	}{
		{"helpcrunch", "vendor: helpcrunch\n    credentials: {api_key: k}",
			Connection{Vendor: "helpcrunch", BaseURL: "https://api.helpcrunch.com/v1", Timeout: 15 * time.Second,
				Credentials: Credentials{APIKey: "k"},
				Limits:      Limits{Requests: 120, Period: time.Minute, Burst: burst("helpcrunch"), MaxWait: 10 * time.Second, BatchSize: 10}}},
		{"zenvia", "vendor: zenvia\n    credentials: {token: t}",
			Connection{Vendor: "zenvia", BaseURL: "https://zchat.zenvia.io", Timeout: 15 * time.Second,
				Credentials: Credentials{Token: "t"},
				Limits:      Limits{Requests: 60, Period: time.Minute, Burst: burst("zenvia"), MaxWait: 10 * time.Second, BatchSize: 50}}},
		{"nxcloud", "vendor: nxcloud\n    credentials: {access_key: a, access_secret: s, tenant_id: 1, app_key: p}",
			Connection{Vendor: "nxcloud", BaseURL: "https://api.nxcloud.com", Timeout: 15 * time.Second,
				Credentials: Credentials{AccessKey: "a", AccessSecret: "s", TenantID: 1, AppKey: "p"},
				Limits:      Limits{Requests: 60, Period: time.Minute, Burst: burst("nxcloud"), MaxWait: 10 * time.Second, BatchSize: 100}}},
		{"burst defaults to at most requests", "vendor: helpcrunch\n    credentials: {api_key: k}\n    limits: {requests: 2}",
			Connection{Vendor: "helpcrunch", BaseURL: "https://api.helpcrunch.com/v1", Timeout: 15 * time.Second,
				Credentials: Credentials{APIKey: "k"},
				Limits:      Limits{Requests: 2, Period: time.Minute, Burst: 2, MaxWait: 10 * time.Second, BatchSize: 10}}},
		{"trailing slashes trimmed", "vendor: zenvia\n    base_url: http://sim:1/zenvia//\n    credentials: {token: t}",
			Connection{Vendor: "zenvia", BaseURL: "http://sim:1/zenvia", Timeout: 15 * time.Second,
				Credentials: Credentials{Token: "t"},
				Limits:      Limits{Requests: 60, Period: time.Minute, Burst: burst("zenvia"), MaxWait: 10 * time.Second, BatchSize: 50}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, "api_keys: [{name: k, key: x, connections: ['*']}]\nconnections:\n  c:\n    "+tt.conn+"\n", nil)
			tt.want.CustomFields = CustomFields{Mode: "passthrough", CacheTTL: 5 * time.Minute}
			tt.want.CircuitBreaker = CircuitBreaker{Failures: 5, Cooldown: 30 * time.Second}
			if got := *cfg.Connections["c"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("connection = %+v\nwant         %+v", got, tt.want)
			}
			if cfg.Listen != ":8080" || cfg.Log.Level != "info" || cfg.Redis.Replicas != 1 {
				t.Errorf("global defaults: listen %q level %q replicas %d", cfg.Listen, cfg.Log.Level, cfg.Redis.Replicas)
			}
			wantServer := Server{MaxBodyBytes: 10 << 20, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
				WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ShutdownTimeout: 30 * time.Second}
			if cfg.Server != wantServer {
				t.Errorf("server = %+v, want %+v", cfg.Server, wantServer)
			}
		})
	}
}

// burst is the vendor's default burst, a tuning choice that may change
// (the quotas and batch sizes above are the vendors' documented ones).
func burst(vendor string) int { return VendorDefaults[vendor].Limits.Burst }

func TestVendorDefaultsValid(t *testing.T) {
	for v, d := range VendorDefaults {
		l := d.Limits
		if l.Burst < 1 || l.Burst > l.Requests || l.Period <= 0 || l.MaxWait < 0 || l.BatchSize < 1 || d.Timeout <= 0 ||
			(maxBatch[v] > 0 && l.BatchSize > maxBatch[v]) || !strings.HasPrefix(d.BaseURL, "https://") {
			t.Errorf("defaults of %s do not pass validation: %+v", v, d)
		}
	}
}

// header is a valid api_keys section for configs under test.
const header = "api_keys: [{name: k, key: x, connections: ['*']}]\n"

func TestEnvExpansion(t *testing.T) {
	tests := []struct {
		name  string
		env   *fakeEnv
		conn  string // YAML of connection "c"
		check func(t *testing.T, c *Connection)
	}{
		{"whole value", env("K", "secret-1"), "vendor: helpcrunch\n    credentials: {api_key: '${K}'}",
			func(t *testing.T, c *Connection) { wantEq(t, c.Credentials.APIKey.Reveal(), "secret-1") }},
		{"inside a value, several times", env("HOST", "sim", "PORT", "81"), "vendor: zenvia\n    base_url: http://${HOST}:${PORT}/z\n    credentials: {token: t}",
			func(t *testing.T, c *Connection) { wantEq(t, c.BaseURL, "http://sim:81/z") }},
		{"not recursive", env("K", "${OTHER}"), "vendor: helpcrunch\n    credentials:\n      api_key: ${K}",
			func(t *testing.T, c *Connection) { wantEq(t, c.Credentials.APIKey.Reveal(), "${OTHER}") }},
		{"$VAR without braces is literal", nil, "vendor: helpcrunch\n    credentials: {api_key: $HOME-x}",
			func(t *testing.T, c *Connection) { wantEq(t, c.Credentials.APIKey.Reveal(), "$HOME-x") }},
		{"YAML syntax in a value stays data", env("K", "a: b # c\n- [d]\n'\"{e}"), "vendor: helpcrunch\n    credentials:\n      api_key: ${K}",
			func(t *testing.T, c *Connection) { wantEq(t, c.Credentials.APIKey.Reveal(), "a: b # c\n- [d]\n'\"{e}") }},
		{"numeric-looking secret stays a string", env("K", "007"), "vendor: helpcrunch\n    credentials:\n      api_key: ${K}",
			func(t *testing.T, c *Connection) { wantEq(t, c.Credentials.APIKey.Reveal(), "007") }},
		{"boolean-looking secret stays a string", env("K", "true"), "vendor: helpcrunch\n    credentials:\n      api_key: ${K}",
			func(t *testing.T, c *Connection) { wantEq(t, c.Credentials.APIKey.Reveal(), "true") }},
		{"null-looking secret stays a string", env("K", "null"), "vendor: helpcrunch\n    credentials:\n      api_key: ${K}",
			func(t *testing.T, c *Connection) { wantEq(t, c.Credentials.APIKey.Reveal(), "null") }},
		{"integer field", env("TENANT", "4711", "SEC", "s"), "vendor: nxcloud\n    credentials:\n      access_key: a\n      access_secret: ${SEC}\n      tenant_id: ${TENANT}\n      app_key: p",
			func(t *testing.T, c *Connection) { wantEq(t, c.Credentials.TenantID, int64(4711)) }},
		{"integer and duration limits", env("N", "30", "P", "10s", "W", "250ms"), "vendor: zenvia\n    credentials: {token: t}\n    limits:\n      requests: ${N}\n      period: ${P}\n      max_wait: ${W}",
			func(t *testing.T, c *Connection) {
				wantEq(t, c.Limits.Requests, 30)
				wantEq(t, c.Limits.Period, 10*time.Second)
				wantEq(t, c.Limits.MaxWait, 250*time.Millisecond)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, header+"connections:\n  c:\n    "+tt.conn+"\n", tt.env)
			tt.check(t, cfg.Connections["c"])
		})
	}

	t.Run("top-level scalars", func(t *testing.T) {
		cfg := mustParse(t, header+"redis:\n  replicas: ${R}\nserver:\n  validate_responses: ${V}\nconnections: {c: {vendor: zenvia, credentials: {token: t}}}\n",
			env("R", "4", "V", "true"))
		wantEq(t, cfg.Redis.Replicas, 4)
		wantEq(t, cfg.Server.ValidateResponses, true)
	})

	t.Run("not in keys", func(t *testing.T) {
		e := env("NAME", "hc", "FIELD", "api_key")
		msg := parseErr(t, header+"connections:\n  ${NAME}:\n    vendor: helpcrunch\n    credentials: {api_key: k}\n", e)
		wantContains(t, msg, "connections.${NAME}: name must match")
		msg = parseErr(t, header+"connections:\n  c:\n    vendor: helpcrunch\n    credentials:\n      ${FIELD}: k\n", e)
		wantContains(t, msg, "${FIELD}")
		wantContains(t, msg, "not found")
		if e.looked("NAME") || e.looked("FIELD") {
			t.Errorf("variables in keys were looked up: %v", e.lookup)
		}
	})

	t.Run("unset variable is an error naming it", func(t *testing.T) {
		msg := parseErr(t, header+"connections:\n  c:\n    vendor: zenvia\n    credentials: {token: '${ZV_TOKEN}'}\n", env())
		wantContains(t, msg, "ZV_TOKEN")
		wantContains(t, msg, "not set")
		wantContains(t, msg, "line 5")
	})

	t.Run("every unset variable of a value is named", func(t *testing.T) {
		msg := parseErr(t, header+"connections:\n  c:\n    vendor: zenvia\n    base_url: http://${H}:${P}\n    credentials: {token: t}\n", env("P", "1"))
		wantContains(t, msg, "environment variable H is not set")
		msg = parseErr(t, header+"connections:\n  c:\n    vendor: zenvia\n    base_url: http://${HOST_A}:${PORT_B}\n    credentials: {token: t}\n", env())
		wantContains(t, msg, "HOST_A, PORT_B")
	})
}

func TestStrict(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown top-level key", header + "connection: {}\n", "field connection not found"},
		{"unknown connection key", header + "connections: {c: {vendor: zenvia, credentials: {token: t}, timout: 1s}}\n", "field timout not found"},
		{"unknown credentials key", header + "connections: {c: {vendor: helpcrunch, credentials: {apikey: t}}}\n", "field apikey not found"},
		{"unknown limits key", header + "connections: {c: {vendor: zenvia, credentials: {token: t}, limits: {rate: 5}}}\n", "field rate not found"},
		{"unknown api key field", "api_keys: [{name: k, key: x, scopes: ['*']}]\nconnections: {c: {vendor: zenvia, credentials: {token: t}}}\n", "field scopes not found"},
		{"wrong type", header + "connections: {c: {vendor: zenvia, credentials: {token: t}, limits: {requests: many}}}\n", "cannot unmarshal"},
		{"bad duration", header + "connections: {c: {vendor: zenvia, credentials: {token: t}, timeout: soon}}\n", "soon"},
		{"quoted reference stays a string", header + "connections:\n  c:\n    vendor: nxcloud\n    credentials:\n      tenant_id: '${T}'\n",
			"cannot unmarshal !!str"},
		{"not YAML", "connections: [\n", "parse config"},
		{"sandbox is not configurable", header + "sandbox: true\nconnections: {c: {vendor: zenvia, credentials: {token: t}}}\n", "field sandbox not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantContains(t, parseErr(t, tt.doc, env("T", "42")), tt.want)
		})
	}
}

func TestValidate(t *testing.T) {
	const hc = "  hc:\n    vendor: helpcrunch\n    credentials: {api_key: k}\n"
	tests := []struct {
		name  string
		keys  string // api_keys section; header when empty
		conns string // connections section body; hc when empty
		extra string
		want  []string
	}{
		{name: "no connections", conns: "-", want: []string{"connections: at least one connection is required"}},
		{name: "bad connection name", conns: "  HC:\n    vendor: zenvia\n    credentials: {token: t}\n", want: []string{"connections.HC: name must match"}},
		{name: "empty connection", conns: "  hc:\n", want: []string{"connections.hc: is empty"}},
		{name: "unknown vendor", conns: "  hc:\n    vendor: salesforce\n", want: []string{`connections.hc.vendor: must be one of helpcrunch, zenvia, nxcloud (got "salesforce")`}},
		{name: "missing vendor", conns: "  hc:\n    base_url: http://x\n", want: []string{"connections.hc.vendor:"}},
		{name: "base_url not http", conns: "  hc:\n    vendor: helpcrunch\n    base_url: ftp://x\n    credentials: {api_key: k}\n", want: []string{"connections.hc.base_url: must be an http(s) URL"}},
		{name: "helpcrunch api_key", conns: "  hc:\n    vendor: helpcrunch\n", want: []string{"connections.hc.credentials.api_key: required for vendor helpcrunch"}},
		{name: "zenvia token", conns: "  zv:\n    vendor: zenvia\n    credentials: {api_key: k}\n", want: []string{"connections.zv.credentials.token: required for vendor zenvia"}},
		{name: "nxcloud credentials", conns: "  nx:\n    vendor: nxcloud\n", want: []string{
			"connections.nx.credentials.access_key: required for vendor nxcloud",
			"connections.nx.credentials.access_secret: required for vendor nxcloud",
			"connections.nx.credentials.tenant_id: required for vendor nxcloud",
			"connections.nx.credentials.app_key: required for vendor nxcloud",
		}},
		{name: "requests", conns: hc + "    limits: {requests: -1}\n", want: []string{"connections.hc.limits.requests: must be at least 1"}},
		{name: "period", conns: hc + "    limits: {period: -1s}\n", want: []string{"connections.hc.limits.period: must be positive"}},
		{name: "burst above requests", conns: hc + "    limits: {requests: 5, burst: 6}\n", want: []string{"connections.hc.limits.burst: must be between 1 and requests (5)"}},
		{name: "burst negative", conns: hc + "    limits: {burst: -2}\n", want: []string{"connections.hc.limits.burst:"}},
		{name: "max_wait", conns: hc + "    limits: {max_wait: -1s}\n", want: []string{"connections.hc.limits.max_wait: must not be negative"}},
		{name: "helpcrunch batch_size", conns: hc + "    limits: {batch_size: 11}\n", want: []string{"connections.hc.limits.batch_size: must be between 1 and helpcrunch's maximum"}},
		{name: "nxcloud batch_size", conns: "  nx:\n    vendor: nxcloud\n    credentials: {access_key: a, access_secret: s, tenant_id: 1, app_key: p}\n    limits: {batch_size: 101}\n",
			want: []string{"connections.nx.limits.batch_size:"}},
		{name: "zenvia batch_size", conns: "  zv:\n    vendor: zenvia\n    credentials: {token: t}\n    limits: {batch_size: -1}\n", want: []string{"connections.zv.limits.batch_size:"}},
		{name: "timeout", conns: hc + "    timeout: -1s\n", want: []string{"connections.hc.timeout: must be positive"}},
		{name: "no api keys", keys: "-", want: []string{"api_keys: at least one API key is required"}},
		{name: "api key name", keys: "api_keys: [{key: x, connections: ['*']}]\n", want: []string{"api_keys[0].name: required"}},
		{name: "api key and sha256", keys: "api_keys: [{name: k, key: x, sha256: " + sha("x") + ", connections: ['*']}]\n", want: []string{"api_keys[0]: give exactly one of key or sha256"}},
		{name: "api key neither", keys: "api_keys: [{name: a, key: x, connections: ['*']}, {name: k, connections: ['*']}]\n", want: []string{"api_keys[1]: give exactly one of key or sha256"}},
		{name: "api key sha256", keys: "api_keys: [{name: k, sha256: abc, connections: ['*']}]\n", want: []string{"api_keys[0].sha256: must be 64 hex digits"}},
		{name: "api key scope missing", keys: "api_keys: [{name: k, key: x}]\n", want: []string{"api_keys[0].connections: list the connections"}},
		{name: "api key unknown connection", keys: "api_keys: [{name: k, key: x, connections: [hc, nope]}]\n", want: []string{`api_keys[0].connections: unknown connection "nope"`}},
		{name: "redis replicas", extra: "redis: {replicas: -1}\n", want: []string{"redis.replicas: must be at least 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, conns := tt.keys, tt.conns
			switch keys {
			case "":
				keys = header
			case "-":
				keys = ""
			}
			switch conns {
			case "":
				conns = "connections:\n" + hc
			case "-":
				conns = ""
			default:
				conns = "connections:\n" + conns
			}
			msg := parseErr(t, keys+conns+tt.extra, nil)
			if !strings.HasPrefix(msg, "invalid config:\n") {
				t.Errorf("error does not start with the summary line: %q", msg)
			}
			for _, w := range tt.want {
				wantContains(t, msg, w)
			}
			if n := strings.Count(msg, "\n"); n != len(tt.want) {
				t.Errorf("error has %d problems, want %d:\n%s", n, len(tt.want), msg)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	doc := `
api_keys:
  - {name: a, sha256: nothex, connections: [ghost]}
redis: {replicas: -3}
connections:
  hc: {vendor: helpcrunch, limits: {batch_size: 50}, timeout: -1s}
  zv: {vendor: zenvia, base_url: "zenvia.io", credentials: {token: t}}
`
	msg := parseErr(t, doc, nil)
	want := []string{
		"api_keys[0].sha256:",
		`api_keys[0].connections: unknown connection "ghost"`,
		"redis.replicas:",
		"connections.hc.credentials.api_key:",
		"connections.hc.limits.batch_size:",
		"connections.hc.timeout:",
		"connections.zv.base_url:",
	}
	for _, w := range want {
		wantContains(t, msg, w)
	}
	if n := strings.Count(msg, "\n"); n != len(want) {
		t.Errorf("error has %d problems, want %d:\n%s", n, len(want), msg)
	}
	// Connections are reported in name order, before the keys.
	if strings.Index(msg, "connections.hc") > strings.Index(msg, "connections.zv") ||
		strings.Index(msg, "connections.zv") > strings.Index(msg, "api_keys[0]") {
		t.Errorf("problems out of order:\n%s", msg)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	e := fullEnv()
	cfg := mustParse(t, fullConfig, e)
	secrets := []string{"redispw", "ops-key-value", "hc-api-key-value", "zv-token-value", "nx-secret-value"}

	var logBuf bytes.Buffer
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logBuf), zap.DebugLevel))
	console := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(&logBuf), zap.DebugLevel))
	for _, l := range []*zap.Logger{logger, console} {
		l.Info("config", zap.Any("config", cfg), zap.Any("value", *cfg), zap.Any("conn", cfg.Connections["nx"]),
			zap.Any("creds", cfg.Connections["hc"].Credentials), zap.Any("keys", cfg.APIKeys),
			zap.Any("secret", cfg.Redis.URL), zap.Stringer("stringer", cfg.Connections["zv"].Credentials.Token),
			zap.Reflect("reflect", cfg.Connections))
	}

	encode := func(f func(any) ([]byte, error)) func(any) string {
		return func(v any) string {
			b, err := f(v)
			if err != nil {
				t.Fatalf("encode %T: %v", v, err)
			}
			return string(b)
		}
	}
	values := []any{cfg, *cfg, cfg.Connections, cfg.Connections["hc"], *cfg.Connections["nx"], cfg.Connections["zv"].Credentials,
		cfg.Redis, cfg.APIKeys, cfg.APIKeys[0], cfg.Redis.URL, cfg.Connections["nx"].Credentials.AccessSecret}
	formats := []struct {
		name string
		f    func(any) string
	}{
		{"%v", func(v any) string { return fmt.Sprintf("%v", v) }},
		{"%s", func(v any) string { return fmt.Sprintf("%s", v) }},
		{"%+v", func(v any) string { return fmt.Sprintf("%+v", v) }},
		{"%#v", func(v any) string { return fmt.Sprintf("%#v", v) }},
		{"%d", func(v any) string { return fmt.Sprintf("%d", v) }},
		{"%q", func(v any) string { return fmt.Sprintf("%q", v) }},
		{"%x", func(v any) string { return fmt.Sprintf("%x", v) }},
		{"Sprint", func(v any) string { return fmt.Sprint(v) }},
		{"json", encode(json.Marshal)},
		{"yaml", encode(yaml.Marshal)},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			for _, v := range values {
				out := f.f(v)
				for _, s := range secrets {
					for _, enc := range []string{s, hex.EncodeToString([]byte(s))} {
						if strings.Contains(out, enc) {
							t.Errorf("%s of %T leaks %q:\n%s", f.name, v, s, out)
						}
					}
				}
			}
		})
	}
	t.Run("zap", func(t *testing.T) {
		out := logBuf.String()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("zap output leaks %q:\n%s", s, out)
			}
		}
		if !strings.Contains(out, "***") {
			t.Errorf("zap output does not show the mask:\n%s", out)
		}
	})
	t.Run("masked, not dropped", func(t *testing.T) {
		if got := fmt.Sprint(cfg.Redis.URL); got != "***" {
			t.Errorf("Sprint(secret) = %q, want ***", got)
		}
		if got := fmt.Sprint(Secret("")); got != "" {
			t.Errorf("Sprint(empty secret) = %q, want empty", got)
		}
		b, _ := json.Marshal(cfg.Connections["hc"].Credentials)
		wantContains(t, string(b), `"APIKey":"***"`)
		y, _ := yaml.Marshal(cfg.Connections["hc"].Credentials)
		wantContains(t, string(y), `api_key: '***'`)
		if cfg.Connections["hc"].Credentials.APIKey.Reveal() != "hc-api-key-value" {
			t.Errorf("Reveal lost the value")
		}
	})
}

func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../deploy/config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := env(
		"GATEWAY_ADMIN_KEY", "admin-key-from-env",
		"GATEWAY_REDIS_URL", "redis://:pw@redis:6379/0",
		"HELPCRUNCH_API_KEY", "hc-from-env",
		"ZENVIA_TOKEN", "zv-from-env",
		"NXCLOUD_ACCESS_KEY", "nx-ak-from-env",
		"NXCLOUD_ACCESS_SECRET", "nx-secret-from-env",
		"NXCLOUD_TENANT_ID", "90210",
		"NXCLOUD_APP_KEY", "nx-app-from-env",
		"HELPCRUNCH_WEBHOOK_SECRET", "hc-hook-from-env",
		"HELPCRUNCH_SIGNING_KEY", "hc-signing-from-env",
		"ZENVIA_WEBHOOK_SECRET", "zv-hook-from-env",
		"CRM_BACKEND_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	)
	cfg, err := Parse(b, e.Getenv)
	if err != nil {
		t.Fatalf("Parse(config.example.yaml): %v", err)
	}
	for name := range e.vars {
		if !e.looked(name) {
			t.Errorf("example does not use $%s", name)
		}
	}
	vendors := map[string]bool{}
	for _, c := range cfg.Connections {
		vendors[c.Vendor] = true
	}
	if len(vendors) != 3 {
		t.Errorf("example covers vendors %v, want all three", vendors)
	}
	var hashed, scoped bool
	for _, k := range cfg.APIKeys {
		hashed = hashed || k.SHA256 != ""
		scoped = scoped || !slices.Contains(k.Connections, "*")
	}
	if !hashed || !scoped {
		t.Errorf("example lacks a sha256 key (%v) or a scoped key (%v)", hashed, scoped)
	}
	if cfg.Redis.URL.Reveal() != "redis://:pw@redis:6379/0" {
		t.Errorf("redis url = %q", cfg.Redis.URL.Reveal())
	}
	var nx *Connection
	for _, c := range cfg.Connections {
		if c.Vendor == "nxcloud" {
			nx = c
		}
	}
	if nx.Credentials.TenantID != 90210 || nx.Credentials.AccessSecret.Reveal() != "nx-secret-from-env" {
		t.Errorf("nxcloud credentials = %+v", nx.Credentials)
	}
}

func wantEq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func wantContains(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q does not contain %q", s, sub)
	}
}
