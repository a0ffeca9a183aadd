// Package adapters turns a configured connection into a gateway connection
// backed by its vendor's adapter (one subpackage per vendor). It is the one
// place that knows every vendor, so adding a vendor means a subpackage and a
// case here.
package adapters

import (
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/adapters/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/adapters/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/adapters/zenvia"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// Deps are what every adapter shares.
type Deps struct {
	HTTP    *http.Client       // pooled transport for all vendor calls
	Limiter vendorhttp.Limiter // shared rate buckets
	Logger  *zap.Logger
	// Observer records vendor call and rate limiter metrics; nil records none.
	Observer vendorhttp.Observer
	// Tracing makes spans for rate waits and vendor calls and sends W3C
	// traceparent to vendors; nil (tracing off) does neither.
	Tracing trace.TracerProvider
}

// jitterGuard stretches each bucket's period a little: requests admitted
// exactly one period apart can reach the vendor closer together than that
// (network and scheduling jitter), which a vendor counting a sliding window
// would see as one request too many.
const jitterGuard = 0.02

// BucketLimit converts a vendor quota into a bucket that never admits more
// than Requests in any Period. A GCRA bucket admits at most Rate+Burst-1 in
// any window of one Period, so the burst is carved out of the quota: the
// steady rate is Requests-Burst+1 per Period (plus the jitter guard).
// Burst 1 gives the vendor's full sustained rate; a larger burst buys
// latency for the first calls at the cost of throughput. The period also
// grows by the lease hold (ratelimit.LeaseHold): a replica may spend a
// leased token that long after the bucket granted it, which moves at most
// a hold's worth of refill into a window.
func BucketLimit(l config.Limits) ratelimit.Limit {
	rate := max(l.Requests-l.Burst+1, 1)
	period := l.Period + time.Duration(float64(l.Period)*jitterGuard) + ratelimit.LeaseHold(l.Period)
	return ratelimit.Limit{Rate: rate, Period: period, Burst: l.Burst}
}

// Open builds the connection name from its configuration.
func Open(name string, c *config.Connection, d Deps) (*gateway.Connection, error) {
	client := &vendorhttp.Client{
		Vendor: c.Vendor, Bucket: name, BaseURL: c.BaseURL, HTTP: d.HTTP, Limiter: d.Limiter,
		Limit: BucketLimit(c.Limits), Quota: ratelimit.Limit{Rate: c.Limits.Requests, Period: c.Limits.Period, Burst: c.Limits.Burst},
		MaxWait: c.Limits.MaxWait, Timeout: c.Timeout, Logger: d.Logger, Observer: d.Observer,
	}
	if d.Tracing != nil {
		client.Tracer = d.Tracing.Tracer(vendorhttp.TracerName)
	}
	client.Breaker = &vendorhttp.Breaker{Threshold: c.CircuitBreaker.Failures, Cooldown: c.CircuitBreaker.Cooldown}
	if err := client.Limit.Valid(); err != nil {
		return nil, fmt.Errorf("connection %s: limits: %w", name, err)
	}
	var conn crm.Connector
	cr := c.Credentials
	switch c.Vendor {
	case crm.VendorHelpCrunch:
		conn = helpcrunch.New(client, cr.APIKey.Reveal(), c.Limits.BatchSize, cr.WebhookSigningKey.Reveal())
	case crm.VendorZenvia:
		conn = zenvia.New(client, cr.Token.Reveal(), c.Limits.BatchSize)
	case crm.VendorNXCloud:
		conn = nxcloud.New(client, nxcloud.Account{AccessKey: cr.AccessKey, AccessSecret: cr.AccessSecret.Reveal(),
			TenantID: cr.TenantID, AppKey: cr.AppKey}, c.Limits.BatchSize)
	default:
		return nil, fmt.Errorf("connection %s: unknown vendor %q", name, c.Vendor)
	}
	custom, declared, err := customFields(c)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", name, err)
	}
	return &gateway.Connection{
		Name: name, Sandbox: c.Sandbox, Connector: conn,
		Custom: custom, Declared: declared, FieldsTTL: c.CustomFields.CacheTTL, WebhookSecret: cr.WebhookSecret.Reveal(),
		Breaker: client.Breaker,
		Limits: crm.Limits{Requests: c.Limits.Requests, Period: c.Limits.Period, Burst: c.Limits.Burst,
			MaxWait: c.Limits.MaxWait, BatchSize: conn.BatchSize()},
	}, nil
}

// customFields validates the connection's custom-field mappings (types,
// enum values, two names for one vendor key) and its declared attributes.
func customFields(c *config.Connection) (*mapping.CustomFields, []crm.FieldInfo, error) {
	cf := c.CustomFields
	var fields []mapping.CustomField
	for name, m := range cf.Map {
		fields = append(fields, mapping.CustomField{Name: name, Key: m.Key, Type: m.Type, Values: m.Values})
	}
	custom, err := mapping.NewCustomFields(c.Vendor, cf.Mode == "strict", fields)
	if err != nil {
		return nil, nil, err
	}
	var declared []crm.FieldInfo
	for _, d := range cf.Declared {
		typ := d.Type
		if typ == "" {
			typ = crm.TypeString
		}
		declared = append(declared, crm.FieldInfo{Key: "custom_fields." + d.Key, VendorKey: d.Key, Label: d.Label, Type: typ})
	}
	return custom, declared, nil
}

// NewHTTPClient returns the client for vendor calls. It does not follow
// redirects: a redirected request would carry its body, and with it a
// credential (Zenvia's token), to another host.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: NewTransport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// NewTransport returns the pooled HTTP transport for vendor calls. The
// default keeps 2 idle connections per host, which under load means a new
// TCP (and TLS) handshake for most calls.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 128
	return t
}
