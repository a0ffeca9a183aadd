// Package config loads the gateway's YAML configuration: typed, with
// defaults, `${ENV_VAR}` expansion inside values, strict about unknown keys,
// and validated at start with errors that name the field and the connection.
// Secrets are of type Secret, which never prints its value.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Secret is a credential. It prints as "***" in logs, errors and any
// encoding, so a config dump can never leak it; Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// String masks the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// MarshalText masks the secret in JSON, YAML and zap output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Format masks the secret under every fmt verb, %#v and %d included.
func (s Secret) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// Config is the whole configuration.
type Config struct {
	// Listen is the address to serve on; the -listen flag and GATEWAY_LISTEN override it.
	Listen string `yaml:"listen"`
	// PublicURL is how callers and vendors reach the gateway (used in links it hands out).
	PublicURL string `yaml:"public_url"`
	Log       Log    `yaml:"log"`
	Server    Server `yaml:"server"`
	Redis     Redis  `yaml:"redis"`
	// Telemetry configures tracing (metrics are always served at /metrics).
	Telemetry Telemetry `yaml:"telemetry"`
	// APIKeys are the keys clients authenticate with.
	APIKeys []APIKey `yaml:"api_keys"`
	// Connections are the vendor accounts, by name.
	Connections map[string]*Connection `yaml:"connections"`
	// Events are the normalized events and where they are delivered.
	Events Events `yaml:"events"`
	// Interactions configures conversations.
	Interactions Interactions `yaml:"interactions"`
	// Jobs configures bulk jobs (see jobs.go).
	Jobs Jobs `yaml:"jobs"`
	// Sandbox is set when the gateway runs its built-in vendor simulators.
	Sandbox bool `yaml:"-"`
}

// Log configures logging.
type Log struct {
	Level string `yaml:"level"` // debug, info, warn, error
}

// Server configures the HTTP server.
type Server struct {
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	// ValidateResponses checks every response against the spec too (off in
	// production: it costs a copy of each response).
	ValidateResponses bool `yaml:"validate_responses"`
}

// Redis configures the shared store. Without a URL the gateway keeps its
// rate buckets in memory, which is right for a single replica only.
type Redis struct {
	URL Secret `yaml:"url"` // may hold a password
	// Prefix starts every key the gateway writes, so several deployments
	// can share one Redis (default none).
	Prefix string `yaml:"prefix"`
	// Cluster makes URL the seed of a Redis Cluster
	// (redis://host1:6379?addr=host2:6379&addr=host3:6379).
	Cluster bool `yaml:"cluster"`
	// Replicas is how many gateway replicas share the vendor limits; when
	// Redis is unreachable each falls back to 1/Replicas of every limit.
	Replicas int `yaml:"replicas"`
}

// Telemetry configures OpenTelemetry tracing, off unless an OTLP endpoint is
// given here or in OTEL_EXPORTER_OTLP_ENDPOINT (package telemetry applies
// the defaults and checks the values).
type Telemetry struct {
	// OTLPEndpoint is the collector's OTLP/HTTP base URL, e.g.
	// http://collector:4318 (spans go to its /v1/traces).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// ServiceName names the gateway in traces (default crm-gateway).
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the share of new traces recorded, 0 to 1 (default 1);
	// a caller's sampling decision in traceparent is always followed.
	SampleRatio *float64 `yaml:"sample_ratio"`
}

// APIKey is a client key, scoped to some connections.
type APIKey struct {
	Name string `yaml:"name"`
	// Key is the key itself, usually from the environment (`${GATEWAY_KEY}`);
	// or give SHA256, its hex digest, to keep the key out of the config.
	Key    Secret `yaml:"key"`
	SHA256 string `yaml:"sha256"`
	// Connections the key may use; "*" means all.
	Connections []string `yaml:"connections"`
}

// Connection is one vendor account.
type Connection struct {
	Vendor      string      `yaml:"vendor"`
	BaseURL     string      `yaml:"base_url"`
	Credentials Credentials `yaml:"credentials"`
	Limits      Limits      `yaml:"limits"`
	// CustomFields maps normalized custom_fields to the vendor's own fields.
	CustomFields CustomFields `yaml:"custom_fields"`
	// CircuitBreaker stops calling a failing vendor for a while.
	CircuitBreaker CircuitBreaker `yaml:"circuit_breaker"`
	// Timeout bounds one vendor call.
	Timeout time.Duration `yaml:"timeout"`
	// Sandbox marks a connection to a built-in simulator.
	Sandbox bool `yaml:"-"`
}

// Format prints the connection with its secrets masked. Without it, fmt
// prints a *Connection nested in a Config under a verb that does not suit
// pointers (%s, %q) as a raw dump that bypasses Secret's masking.
func (c Connection) Format(f fmt.State, verb rune) {
	type connection Connection // without methods
	fmt.Fprintf(f, fmt.FormatString(f, verb), connection(c))
}

// CircuitBreaker opens after Failures consecutive vendor failures (no
// answer, timeout, 5xx) and lets a probe through after Cooldown.
type CircuitBreaker struct {
	Failures int           `yaml:"failures"` // default 5
	Cooldown time.Duration `yaml:"cooldown"` // default 30s
}

// CustomFields configures how a connection's custom_fields reach the vendor.
type CustomFields struct {
	// Mode is "passthrough" (default: unmapped custom fields go to the
	// vendor under their own name) or "strict" (they are refused with 400).
	Mode string `yaml:"mode"`
	// Map maps a normalized custom field name to a vendor field.
	Map map[string]CustomFieldMapping `yaml:"map"`
	// Declared lists custom attributes that exist at the vendor but that no
	// API can list (HelpCrunch), for the field catalogue.
	Declared []DeclaredField `yaml:"declared"`
	// CacheTTL is how long the vendor's field catalogue is cached (default 5m).
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// CustomFieldMapping is one normalized custom field's vendor field.
type CustomFieldMapping struct {
	Key    string   `yaml:"key"`    // the vendor's field key
	Type   string   `yaml:"type"`   // string, number, boolean, date or enum
	Values []string `yaml:"values"` // an enum's choices
}

// DeclaredField is a vendor custom attribute declared in config.
type DeclaredField struct {
	Key   string `yaml:"key"`
	Label string `yaml:"label"`
	Type  string `yaml:"type"`
}

// Credentials are a vendor account's secrets; which ones depends on the vendor.
type Credentials struct {
	APIKey       Secret `yaml:"api_key"`       // helpcrunch
	Token        Secret `yaml:"token"`         // zenvia
	AccessKey    string `yaml:"access_key"`    // nxcloud
	AccessSecret Secret `yaml:"access_secret"` // nxcloud
	TenantID     int64  `yaml:"tenant_id"`     // nxcloud
	AppKey       string `yaml:"app_key"`       // nxcloud
	// WebhookSecret is the secret part of this connection's inbound webhook
	// URL, /v1/webhooks/<connection>/<secret>; without it, no webhook is taken.
	WebhookSecret Secret `yaml:"webhook_secret"`
	// WebhookSigningKey verifies HelpCrunch's X-HelpCrunch-Signature.
	WebhookSigningKey Secret `yaml:"webhook_signing_key"`
}

// Events configures the normalized event log and its webhook deliveries.
type Events struct {
	Subscriptions []Subscription `yaml:"subscriptions"`
	// Schedule is the delay before each retry of a failed delivery (default
	// the Standard Webhooks schedule, over a day in all).
	Schedule []time.Duration `yaml:"schedule"`
	// Retention is how long events are kept and listed (default 72h).
	Retention time.Duration `yaml:"retention"`
}

// Subscription is an endpoint that receives signed events.
type Subscription struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Types are event types or prefixes ending in "*"; none means all.
	Types []string `yaml:"types"`
	// Secret signs deliveries (Standard Webhooks, "whsec_<base64>").
	Secret Secret `yaml:"secret"`
}

// Interactions configures conversation features.
type Interactions struct {
	// HistoryTTL is how long a hosted conversation history stays readable
	// by the vendor (default 24h).
	HistoryTTL time.Duration `yaml:"history_ttl"`
}

// Limits bound what the gateway sends to the vendor for this account.
type Limits struct {
	// Requests is the vendor's quota per Period, shared by all replicas. The
	// bucket never admits more than Requests in any Period, bursts included.
	Requests int           `yaml:"requests"`
	Period   time.Duration `yaml:"period"`
	// Burst is how many requests may go at once (carved out of Requests).
	Burst int `yaml:"burst"`
	// MaxWait is the longest a synchronous call waits for budget before 429.
	MaxWait time.Duration `yaml:"max_wait"`
	// BatchSize is customers per vendor batch request (capped by the vendor).
	BatchSize int `yaml:"batch_size"`
}

// VendorDefaults are each vendor's base URL and limits. HelpCrunch's come
// from its docs (120 requests/min, batches of 10); Zenvia and NXCloud
// document none, so theirs are conservative guesses, overridable.
var VendorDefaults = map[string]Connection{
	"helpcrunch": {BaseURL: "https://api.helpcrunch.com/v1", Timeout: 15 * time.Second,
		Limits: Limits{Requests: 120, Period: time.Minute, Burst: 5, MaxWait: 10 * time.Second, BatchSize: 10}},
	"zenvia": {BaseURL: "https://zchat.zenvia.io", Timeout: 15 * time.Second,
		Limits: Limits{Requests: 60, Period: time.Minute, Burst: 3, MaxWait: 10 * time.Second, BatchSize: 50}},
	"nxcloud": {BaseURL: "https://api.nxcloud.com", Timeout: 15 * time.Second,
		Limits: Limits{Requests: 60, Period: time.Minute, Burst: 3, MaxWait: 10 * time.Second, BatchSize: 100}},
}

// maxBatch is each vendor's documented maximum batch size (0: none documented).
var maxBatch = map[string]int{"helpcrunch": 10, "nxcloud": 100}

// connectionName is the pattern the API's path parameter accepts.
var connectionName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Load reads, expands and validates the file at path.
func Load(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(b, getenv)
}

// Parse expands `${VAR}` in every scalar value of the YAML document b,
// decodes it strictly, applies defaults and validates the result.
func Parse(b []byte, getenv func(string) string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	var fromEnv []string
	if err := expand(&doc, getenv, &fromEnv); err != nil {
		return nil, err
	}
	// Re-encode the expanded tree so the strict decoder (unknown keys are
	// errors: a typo must not silently fall back to a default) sees it.
	expanded, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // EOF: an empty file
		return nil, redact(fmt.Errorf("parse config: %w", err), fromEnv)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, redact(err, fromEnv)
	}
	return &cfg, nil
}

// redact masks in err every value that came from the environment, as the
// YAML decoder (`value`, or its first 7 bytes and "..." when longer than
// 10) and Validate (%q) quote them: a secret put in the wrong field (a
// number, a vendor name) must not reach the logs through an error.
func redact(err error, values []string) error {
	msg := err.Error()
	for _, v := range values {
		msg = strings.ReplaceAll(msg, strconv.Quote(v), `"***"`)
		msg = strings.ReplaceAll(msg, "`"+v+"`", "`***`")
		if len(v) > 10 {
			msg = strings.ReplaceAll(msg, "`"+v[:7]+"...`", "`***`")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

var hexDigest = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${VAR} in scalar values (never in keys). An unset
// variable is an error naming it, so a missing secret fails at start.
// Each value it changed is appended to expanded, for redact.
func expand(n *yaml.Node, getenv func(string) string, expanded *[]string) error {
	if n.Kind == yaml.ScalarNode {
		orig := n.Value
		var missing []string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			v := getenv(name)
			if v == "" {
				missing = append(missing, name)
			}
			return v
		})
		if len(missing) > 0 {
			return fmt.Errorf("config line %d: environment variable %s is not set", n.Line, strings.Join(missing, ", "))
		}
		if n.Value != orig {
			*expanded = append(*expanded, n.Value)
		}
		// The parser typed the plain scalar "${VAR}" as a string; drop that
		// so the value is typed as if written literally (tenant_id: ${ID} is
		// a number), except as null. Quoting the reference keeps a string.
		if n.Value != orig && n.Style == 0 && !isNull(n.Value) {
			n.Tag = ""
		}
		return nil
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // a key
		}
		if err := expand(c, getenv, expanded); err != nil {
			return err
		}
	}
	return nil
}

// isNull reports whether a plain scalar v would read as YAML null.
func isNull(v string) bool {
	switch v {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

// ApplyDefaults fills what the file left out.
func (c *Config) ApplyDefaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	s := &c.Server
	s.MaxBodyBytes = or(s.MaxBodyBytes, 10<<20)
	s.ReadHeaderTimeout = or(s.ReadHeaderTimeout, 5*time.Second)
	s.ReadTimeout = or(s.ReadTimeout, 30*time.Second)
	s.WriteTimeout = or(s.WriteTimeout, 2*time.Minute)
	s.IdleTimeout = or(s.IdleTimeout, 2*time.Minute)
	s.ShutdownTimeout = or(s.ShutdownTimeout, 30*time.Second)
	c.Redis.Replicas = or(c.Redis.Replicas, 1)
	c.Jobs.applyDefaults()
	c.Events.Retention = or(c.Events.Retention, 72*time.Hour)
	c.Interactions.HistoryTTL = or(c.Interactions.HistoryTTL, 24*time.Hour)
	for _, conn := range c.Connections {
		if conn == nil {
			continue
		}
		d, ok := VendorDefaults[conn.Vendor]
		if !ok {
			continue
		}
		conn.BaseURL = strings.TrimRight(or(conn.BaseURL, d.BaseURL), "/")
		conn.Timeout = or(conn.Timeout, d.Timeout)
		conn.CustomFields.Mode = or(conn.CustomFields.Mode, "passthrough")
		conn.CircuitBreaker.Failures = or(conn.CircuitBreaker.Failures, 5)
		conn.CircuitBreaker.Cooldown = or(conn.CircuitBreaker.Cooldown, 30*time.Second)
		conn.CustomFields.CacheTTL = or(conn.CustomFields.CacheTTL, 5*time.Minute)
		l := &conn.Limits
		l.Requests = or(l.Requests, d.Limits.Requests)
		l.Period = or(l.Period, d.Limits.Period)
		l.Burst = or(l.Burst, min(d.Limits.Burst, l.Requests))
		l.MaxWait = or(l.MaxWait, d.Limits.MaxWait)
		l.BatchSize = or(l.BatchSize, d.Limits.BatchSize)
	}
}

// Validate reports every problem at once, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(c.Connections) == 0 {
		bad("connections", "at least one connection is required")
	}
	for _, name := range c.ConnectionNames() {
		conn := c.Connections[name]
		at := "connections." + name
		if !connectionName.MatchString(name) {
			bad(at, "name must match %s", connectionName)
		}
		if conn == nil {
			bad(at, "is empty")
			continue
		}
		if _, ok := VendorDefaults[conn.Vendor]; !ok {
			bad(at+".vendor", "must be one of helpcrunch, zenvia, nxcloud (got %q)", conn.Vendor)
			continue
		}
		if !strings.HasPrefix(conn.BaseURL, "http://") && !strings.HasPrefix(conn.BaseURL, "https://") {
			bad(at+".base_url", "must be an http(s) URL")
		}
		cr := conn.Credentials
		need := func(field string, set bool) {
			if !set {
				bad(at+".credentials."+field, "required for vendor %s", conn.Vendor)
			}
		}
		switch conn.Vendor {
		case "helpcrunch":
			need("api_key", cr.APIKey != "")
		case "zenvia":
			need("token", cr.Token != "")
		case "nxcloud":
			need("access_key", cr.AccessKey != "")
			need("access_secret", cr.AccessSecret != "")
			need("tenant_id", cr.TenantID != 0)
			need("app_key", cr.AppKey != "")
		}
		l := conn.Limits
		switch {
		case l.Requests < 1:
			bad(at+".limits.requests", "must be at least 1")
		case l.Period <= 0:
			bad(at+".limits.period", "must be positive")
		case l.Burst < 1 || l.Burst > l.Requests:
			bad(at+".limits.burst", "must be between 1 and requests (%d)", l.Requests)
		}
		if l.MaxWait < 0 {
			bad(at+".limits.max_wait", "must not be negative")
		}
		if m := maxBatch[conn.Vendor]; l.BatchSize < 1 || (m > 0 && l.BatchSize > m) {
			bad(at+".limits.batch_size", "must be between 1 and %s's maximum", conn.Vendor)
		}
		if conn.Timeout <= 0 {
			bad(at+".timeout", "must be positive")
		}
		if m := conn.CustomFields.Mode; m != "passthrough" && m != "strict" {
			bad(at+".custom_fields.mode", "must be passthrough or strict (got %q)", m)
		}
		for i, d := range conn.CustomFields.Declared {
			if d.Key == "" {
				bad(fmt.Sprintf("%s.custom_fields.declared[%d].key", at, i), "required")
			}
		}
	}
	if len(c.APIKeys) == 0 {
		bad("api_keys", "at least one API key is required")
	}
	keyNames := map[string]bool{}
	for i, k := range c.APIKeys {
		at := fmt.Sprintf("api_keys[%d]", i)
		switch {
		case k.Name == "":
			bad(at+".name", "required")
		case keyNames[k.Name]:
			// Names scope idempotency keys and appear in logs: two clients must not share one.
			bad(at+".name", "%q is used twice", k.Name)
		}
		keyNames[k.Name] = true
		if (k.Key == "") == (k.SHA256 == "") {
			bad(at, "give exactly one of key or sha256")
		}
		if k.SHA256 != "" && !hexDigest.MatchString(k.SHA256) {
			bad(at+".sha256", "must be 64 hex digits")
		}
		if len(k.Connections) == 0 {
			bad(at+".connections", `list the connections the key may use, or "*"`)
		}
		for _, cn := range k.Connections {
			if _, ok := c.Connections[cn]; !ok && cn != "*" {
				bad(at+".connections", "unknown connection %q", cn)
			}
		}
	}
	names := map[string]bool{}
	for i, sub := range c.Events.Subscriptions {
		at := fmt.Sprintf("events.subscriptions[%d]", i)
		switch {
		case sub.Name == "":
			bad(at+".name", "required")
		case names[sub.Name]:
			bad(at+".name", "%q is used twice", sub.Name)
		}
		names[sub.Name] = true
		if !strings.HasPrefix(sub.URL, "http://") && !strings.HasPrefix(sub.URL, "https://") {
			bad(at+".url", "must be an http(s) URL")
		}
		if sub.Secret == "" {
			bad(at+".secret", "required: deliveries are signed")
		}
	}
	for i, d := range c.Events.Schedule {
		if d <= 0 {
			bad(fmt.Sprintf("events.schedule[%d]", i), "must be positive")
		}
	}
	c.Jobs.validate(bad)
	if c.Redis.Replicas < 1 {
		bad("redis.replicas", "must be at least 1")
	}
	if len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = "  " + e.Error()
		}
		return fmt.Errorf("invalid config:\n%s", strings.Join(lines, "\n"))
	}
	return nil
}

// ConnectionNames returns the connection names, sorted.
func (c *Config) ConnectionNames() []string {
	names := make([]string, 0, len(c.Connections))
	for n := range c.Connections {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
