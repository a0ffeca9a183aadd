package nxcloud

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Default credentials and limits used when the corresponding Config field is zero. They are
// exported so that the gateway's sandbox mode can configure its NXCloud connection to match.
const (
	DefaultAccessKey    = "sandbox-nx-ak"
	DefaultAccessSecret = "sandbox-nx-secret"
	DefaultTenantID     = int64(144)
	DefaultAppKey       = "sandbox-app"
	DefaultMaxSkew      = 60 * time.Second
	DefaultMaxBatch     = 100
	// DefaultWindow is the rate-limit window used when Limit is set but Window is not.
	DefaultWindow = time.Minute
)

// Vendor paths, relative to the base URL.
const (
	PathBatchCreate = "/saas/cdp/openapi/customers/batch_create" // POST, create or update up to MaxBatch customers
	PathQuery       = "/saas/cdp/openapi/customers/query"        // POST, filtered cursor-paged listing
	PathFields      = "/saas/cdp/openapi/customers/fields"       // GET, field catalogue
)

// Vendor result codes (vendor-notes.md).
const (
	CodeOK              = 0    // success
	CodeFailure         = -1   // generic failure; also the rate-limit and unknown-route answers
	CodeMissingParam    = 1001 // a public header is missing
	CodeParamError      = 1002 // a parameter is malformed or breaks a documented rule
	CodeBadSignature    = 1003 // sign does not match
	CodeTimestampExpire = 1004 // ts is outside the allowed skew
	CodeNoPermission    = 1005 // unknown accessKey, or another tenant_id / app_key
)

// maxBodyBytes bounds what the simulator reads so a runaway client cannot exhaust memory; 100
// customers at their documented maximum lengths stay far below it.
const maxBodyBytes = 8 << 20

// Config configures a simulator; zero values get documented defaults.
type Config struct {
	// AccessKey and AccessSecret are the only accepted credentials
	// (defaults DefaultAccessKey / DefaultAccessSecret).
	AccessKey    string
	AccessSecret string
	// TenantID and AppKey are the account's identifiers that requests must name
	// (defaults DefaultTenantID / DefaultAppKey).
	TenantID int64
	AppKey   string
	// MaxSkew is the accepted difference between the ts header and Now (default 60 s).
	MaxSkew time.Duration
	// MaxBatch is the maximum number of customers per batch_create (default 100).
	MaxBatch int
	// Limit admitted requests per sliding Window; 0 (the default) means unlimited because the real
	// limit is unknown. Window defaults to DefaultWindow when Limit is set.
	Limit  int
	Window time.Duration
	// CustomFields is the catalogue of customize_<type>_<n> fields. nil gets DefaultCustomFields;
	// an empty non-nil slice means the account has no custom fields.
	CustomFields []CustomField
	// ErrorHTTPStatus is the HTTP status of answers with a non-zero code (default 200: the vendor
	// does not document it, and clients must read code whatever the status).
	ErrorHTTPStatus int
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Latency is an artificial delay added to every request (default 0), for load tests.
	Latency time.Duration
}

// Stats are counters for tests and benchmarks.
type Stats struct {
	// Requests counts every request received.
	Requests int
	// RateLimited counts HTTP 429 answers.
	RateLimited int
	// Rejected counts every other failed answer: non-zero codes (sent with HTTP 200 by default,
	// since that is how this vendor reports errors) and unknown paths or methods.
	Rejected int
	// Operations counts requests per operation, keyed "METHOD path", e.g.
	// "POST /saas/cdp/openapi/customers/batch_create", whatever their outcome.
	Operations map[string]int
	// Codes counts answers per vendor result code.
	Codes map[int]int
	// ItemsReceived counts customer objects received by batch_create, accepted or not.
	ItemsReceived int
	// CustomersCreated, CustomersUpdated and CustomersKept count the outcome of stored items:
	// kept means type 2 dropped the new data of an existing customer.
	CustomersCreated int
	CustomersUpdated int
	CustomersKept    int
}

// Sim is an in-memory NXCloud CDP openapi. It is safe for concurrent use.
type Sim struct {
	cfg     Config
	catalog []fieldInfo          // full catalogue: preset fields then custom ones
	custom  map[string]fieldRule // custom field rules by key
	limiter *slidingWindow

	mu    sync.Mutex // guards store
	store store

	statsMu sync.Mutex
	stats   Stats
}

// New returns a simulator. It panics when cfg.CustomFields holds a malformed or duplicate key or
// an unknown type, or ErrorHTTPStatus is not an HTTP status: both are programming errors in a
// test or sandbox set-up, not runtime conditions.
func New(cfg Config) *Sim {
	if cfg.AccessKey == "" {
		cfg.AccessKey = DefaultAccessKey
	}
	if cfg.AccessSecret == "" {
		cfg.AccessSecret = DefaultAccessSecret
	}
	if cfg.TenantID == 0 {
		cfg.TenantID = DefaultTenantID
	}
	if cfg.AppKey == "" {
		cfg.AppKey = DefaultAppKey
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Limit > 0 && cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.CustomFields == nil {
		cfg.CustomFields = DefaultCustomFields()
	}
	if cfg.ErrorHTTPStatus == 0 {
		cfg.ErrorHTTPStatus = http.StatusOK
	}
	if cfg.ErrorHTTPStatus < 100 || cfg.ErrorHTTPStatus > 599 {
		panic(fmt.Sprintf("nxcloud: ErrorHTTPStatus %d is not an HTTP status", cfg.ErrorHTTPStatus))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	catalog, custom, err := buildCatalog(cfg.CustomFields)
	if err != nil {
		panic(fmt.Sprintf("nxcloud: %v", err))
	}
	s := &Sim{
		cfg:     cfg,
		catalog: catalog,
		custom:  custom,
		store:   newStore(),
		stats:   Stats{Operations: map[string]int{}, Codes: map[int]int{}},
	}
	if cfg.Limit > 0 {
		s.limiter = newSlidingWindow(cfg.Limit, cfg.Window)
	}
	return s
}

// Config returns the effective configuration, defaults filled in.
func (s *Sim) Config() Config {
	c := s.cfg
	c.CustomFields = append([]CustomField(nil), c.CustomFields...)
	return c
}

// Stats returns a snapshot of the counters.
func (s *Sim) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	out := s.stats
	out.Operations = make(map[string]int, len(s.stats.Operations))
	for k, v := range s.stats.Operations {
		out.Operations[k] = v
	}
	out.Codes = make(map[int]int, len(s.stats.Codes))
	for k, v := range s.stats.Codes {
		out.Codes[k] = v
	}
	return out
}

func (s *Sim) count(f func(st *Stats)) {
	s.statsMu.Lock()
	f(&s.stats)
	s.statsMu.Unlock()
}

// apiError is a vendor error answer: a non-zero code and a message.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return fmt.Sprintf("code %d: %s", e.code, e.msg) }

func errParam(format string, args ...any) *apiError {
	return &apiError{code: CodeParamError, msg: fmt.Sprintf(format, args...)}
}

// envelope is the vendor's answer shape; the field order matches the published example.
type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
	TraceID string `json:"traceId"`
}

type route struct {
	method string
	handle func(s *Sim, r *http.Request, body []byte) (any, *apiError)
}

var routes = map[string]route{
	PathBatchCreate: {http.MethodPost, (*Sim).batchCreate},
	PathQuery:       {http.MethodPost, (*Sim).query},
	PathFields:      {http.MethodGet, (*Sim).fields},
}

// ServeHTTP serves the vendor's openapi.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Requests++ })
	if d := s.cfg.Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The client is gone; nobody would read an answer.
			t.Stop()
			return
		}
	}

	rt, ok := routes[r.URL.Path]
	if !ok {
		s.reply(w, http.StatusNotFound, CodeFailure, "not found: "+r.URL.Path, "")
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		s.reply(w, http.StatusMethodNotAllowed, CodeFailure, "method not allowed: "+r.Method, "")
		return
	}
	s.count(func(st *Stats) { st.Operations[rt.method+" "+r.URL.Path]++ })

	if s.limiter != nil && !s.limiter.allow(s.cfg.Now()) {
		s.reply(w, http.StatusTooManyRequests, CodeFailure, "too many requests", "")
		return
	}

	body, err := readBody(r)
	if err != nil {
		s.replyErr(w, err)
		return
	}
	if err := s.authenticate(r, body); err != nil {
		s.replyErr(w, err)
		return
	}
	if r.Method == http.MethodPost {
		if err := checkContentType(r); err != nil {
			s.replyErr(w, err)
			return
		}
	}
	data, err := rt.handle(s, r, body)
	if err != nil {
		s.replyErr(w, err)
		return
	}
	s.reply(w, http.StatusOK, CodeOK, "", data)
}

func readBody(r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		// The signature cannot be checked over a body that never fully arrived.
		return nil, errParam("reading request body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return nil, errParam("request body exceeds %d bytes", maxBodyBytes)
	}
	return body, nil
}

func (s *Sim) replyErr(w http.ResponseWriter, e *apiError) {
	s.reply(w, s.cfg.ErrorHTTPStatus, e.code, e.msg, "")
}

func (s *Sim) reply(w http.ResponseWriter, status, code int, msg string, data any) {
	s.count(func(st *Stats) {
		st.Codes[code]++
		switch {
		case status == http.StatusTooManyRequests:
			st.RateLimited++
		case code != CodeOK:
			st.Rejected++
		}
	})
	b, err := json.Marshal(envelope{Code: code, Message: msg, Data: data, TraceID: newTraceID()})
	if err != nil {
		// Every answer is built from plain structs, maps and strings: a failure here is a bug in
		// the simulator, which the caller must see rather than a half-written answer.
		panic(fmt.Sprintf("nxcloud: encoding answer: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newTraceID returns 32 lowercase hex characters, the length of the vendor's published traceId.
func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}
