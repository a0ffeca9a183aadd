package zenvia

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultToken is the API token accepted when Config.Token is empty.
	DefaultToken = "sandbox-zenvia-token"
	// DefaultAccountID is the account_id reported on customers.
	DefaultAccountID = 1
	// DefaultMaxCustomersPerRequest is the batch limit of POST
	// /api/external/customers; the real maximum is not published.
	DefaultMaxCustomersPerRequest = 50
	// DefaultWindow is the rate-limit window used when Limit is set but
	// Window is not.
	DefaultWindow = time.Minute
	// DefaultWebhookDelay is the pause before each trigger is posted, so that
	// triggers normally arrive after the call that caused them has been
	// answered, as they would from the real vendor (best effort, not a
	// guarantee).
	DefaultWebhookDelay = 10 * time.Millisecond
	// DefaultHTTPTimeout bounds webhook posts and external_history fetches
	// made with the default HTTP client.
	DefaultHTTPTimeout = 5 * time.Second
	// maxBodyBytes caps request bodies; the vendor publishes no limit, and a
	// cap keeps a load test from exhausting memory.
	maxBodyBytes = 8 << 20
)

// Agent is a zChat agent known to the simulated account. Agents answer client
// messages and are the valid values of a customer's agent_id.
type Agent struct {
	// ID is the agent id used in agent_id and in agent-message triggers.
	ID int
	// Name is reported in agent-message triggers.
	Name string
}

// Config configures a simulator; zero values get documented defaults.
type Config struct {
	// Token is the only API token accepted (default DefaultToken).
	Token string
	// AccountID is reported as account_id on customers (default
	// DefaultAccountID).
	AccountID int
	// MaxCustomersPerRequest bounds the customers array of one request
	// (default DefaultMaxCustomersPerRequest); a larger array is refused
	// whole with 422.
	MaxCustomersPerRequest int
	// ExtraFormFields are account-specific fields added to the standard
	// catalogue (main_identifier, channel_phone, channel_email, main_photo).
	// nil means one optional string field named "plano"; a non-nil empty
	// slice means no extra fields. A zero ID is replaced by the next free id,
	// an empty Label by the Name and an empty Type by "string"; a field that
	// is not BelongsToCollection is treated as BelongsToCustomer, because the
	// zero value of both would otherwise make the field unusable.
	ExtraFormFields []FormField
	// Departments lists the active department ids that interactions may be
	// started on. nil means [1]; a non-nil empty slice means none.
	Departments []int
	// Agents lists the account's agents. nil means one agent {1, "Atendente"};
	// a non-nil empty slice means none, in which case every interaction
	// becomes "unavailable" and client messages get no answer.
	Agents []Agent
	// Limit is the number of requests admitted in any Window; 0 (default)
	// means unlimited, because the real limit is not published.
	Limit int
	// Window is the rate-limit window (default DefaultWindow when Limit > 0).
	Window time.Duration
	// WebhookURL, when set, receives the documented trigger payloads.
	WebhookURL string
	// WebhookDelay is the pause before each trigger is posted (default
	// DefaultWebhookDelay; negative means no pause).
	WebhookDelay time.Duration
	// HTTPClient posts triggers and fetches external_history (default: a
	// client with DefaultHTTPTimeout).
	HTTPClient *http.Client
	// Now is the clock used for timestamps and the rate-limit window
	// (default time.Now).
	Now func() time.Time
	// Latency is an artificial delay added to every request (default 0).
	Latency time.Duration
}

// Stats holds counters for tests and benchmarks.
type Stats struct {
	// Requests counts every request received.
	Requests int
	// RateLimited counts 429 answers.
	RateLimited int
	// Rejected counts 4xx answers other than 429.
	Rejected int
	// Operations counts requests per routed operation, keyed like
	// "POST /api/external/customers" or
	// "PUT /core/api/v1/interactions/{hash}/finish", whatever the outcome.
	Operations map[string]int
	// ItemsReceived counts customer objects in customers requests that got
	// past authentication and the batch-shape checks (each of them ends up in
	// customers[] or errors[] of the answer).
	ItemsReceived int
	// CustomersCreated counts customers created.
	CustomersCreated int
	// CustomersUpdated counts existing customers updated.
	CustomersUpdated int
	// CustomerErrors counts items returned in errors[].
	CustomerErrors int
	// WebhooksSent counts triggers answered with a 2xx status.
	WebhooksSent int
	// WebhooksFailed counts triggers that failed or got a non-2xx status.
	WebhooksFailed int
	// HistoryFetches counts external_history GETs attempted.
	HistoryFetches int
}

// Sim is a simulated Zenvia zChat account. It implements http.Handler and is
// safe for concurrent use.
type Sim struct {
	token        string
	accountID    int
	maxCustomers int
	limit        int
	window       time.Duration
	webhookURL   string
	webhookDelay time.Duration
	client       *http.Client
	now          func() time.Time
	latency      time.Duration

	catalogue   []FormField
	fieldByName map[string]FormField
	departments map[int]bool
	agents      []Agent
	agentByID   map[int]Agent

	// ctx is cancelled by Close so that pending triggers stop promptly.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards everything below. One lock keeps each request atomic (a
	// customers batch is applied as a whole) and is cheap next to HTTP.
	mu           sync.Mutex
	closed       bool
	admitted     []time.Time
	stats        Stats
	customers    []*customer
	byKey        map[string]*customer
	unique       map[string]map[string]*customer
	interactions map[string]*interaction
	deliveries   []WebhookDelivery
}

// New returns a simulator. *Sim implements http.Handler. It panics when
// ExtraFormFields repeats a field name, since that is a programming error in
// the caller's setup, not a runtime condition.
func New(cfg Config) *Sim {
	s := &Sim{
		token:        cfg.Token,
		accountID:    cfg.AccountID,
		maxCustomers: cfg.MaxCustomersPerRequest,
		limit:        cfg.Limit,
		window:       cfg.Window,
		webhookURL:   cfg.WebhookURL,
		webhookDelay: cfg.WebhookDelay,
		client:       cfg.HTTPClient,
		now:          cfg.Now,
		latency:      cfg.Latency,
		byKey:        map[string]*customer{},
		unique:       map[string]map[string]*customer{},
		interactions: map[string]*interaction{},
		stats:        Stats{Operations: map[string]int{}},
	}
	if s.token == "" {
		s.token = DefaultToken
	}
	if s.accountID == 0 {
		s.accountID = DefaultAccountID
	}
	if s.maxCustomers <= 0 {
		s.maxCustomers = DefaultMaxCustomersPerRequest
	}
	if s.limit > 0 && s.window <= 0 {
		s.window = DefaultWindow
	}
	if s.webhookDelay == 0 {
		s.webhookDelay = DefaultWebhookDelay
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if s.now == nil {
		s.now = time.Now
	}

	s.catalogue = buildCatalogue(cfg.ExtraFormFields)
	s.fieldByName = make(map[string]FormField, len(s.catalogue))
	for _, f := range s.catalogue {
		s.fieldByName[f.Name] = f
		if f.IsUnique {
			s.unique[f.Name] = map[string]*customer{}
		}
	}

	deps := cfg.Departments
	if deps == nil {
		deps = []int{1}
	}
	s.departments = make(map[int]bool, len(deps))
	for _, d := range deps {
		s.departments[d] = true
	}

	s.agents = cfg.Agents
	if s.agents == nil {
		s.agents = []Agent{{ID: 1, Name: "Atendente"}}
	}
	s.agents = append([]Agent(nil), s.agents...)
	s.agentByID = make(map[int]Agent, len(s.agents))
	for _, a := range s.agents {
		s.agentByID[a.ID] = a
	}

	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close stops pending trigger deliveries and waits for in-flight ones to end.
// The simulator keeps serving requests afterwards but sends no more triggers.
func (s *Sim) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Stats returns a snapshot of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Operations = make(map[string]int, len(s.stats.Operations))
	for k, v := range s.stats.Operations {
		st.Operations[k] = v
	}
	return st
}

// handlerFunc serves one operation; hash is the interaction hash taken from
// the path (empty for routes without one).
type handlerFunc func(s *Sim, w http.ResponseWriter, r *http.Request, hash string)

// route describes the single method served on a path pattern.
type route struct {
	method  string
	pattern string
	handle  handlerFunc
}

const interactionsPath = "/core/api/v1/interactions"

// match finds the route for a path. The real vendor serves one method per
// path, so a known path with another method is a 405, not a 404.
func match(path string) (route, string, bool) {
	switch path {
	case "/api/external/customers":
		return route{http.MethodPost, path, (*Sim).handleCustomers}, "", true
	case "/api/external/form_fields":
		return route{http.MethodGet, path, (*Sim).handleFormFields}, "", true
	case interactionsPath:
		return route{http.MethodPost, path, (*Sim).handleStart}, "", true
	}
	rest, ok := strings.CutPrefix(path, interactionsPath+"/")
	if !ok || rest == "" {
		return route{}, "", false
	}
	hash, action, hasAction := strings.Cut(rest, "/")
	if hash == "" {
		return route{}, "", false
	}
	if !hasAction {
		return route{http.MethodPut, interactionsPath + "/{hash}", (*Sim).handleUpdate}, hash, true
	}
	pattern := interactionsPath + "/{hash}/" + action
	switch action {
	case "messages":
		return route{http.MethodPost, pattern, (*Sim).handleMessage}, hash, true
	case "typing":
		return route{http.MethodPut, pattern, (*Sim).handleTyping}, hash, true
	case "cleared":
		return route{http.MethodPut, pattern, (*Sim).handleCleared}, hash, true
	case "finish":
		return route{http.MethodPut, pattern, (*Sim).handleFinish}, hash, true
	}
	return route{}, "", false
}

// ServeHTTP serves the vendor's paths relative to its base URL. It reads only
// r.URL.Path, so it also works under http.StripPrefix.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()

	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	rt, hash, ok := match(r.URL.Path)
	if !ok {
		s.writeError(w, http.StatusNotFound, "Route not found")
		return
	}
	op := rt.method + " " + rt.pattern
	s.mu.Lock()
	s.stats.Operations[op]++
	s.mu.Unlock()
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		s.writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	if !s.admit() {
		s.writeError(w, http.StatusTooManyRequests, "Too many requests")
		return
	}
	rt.handle(s, w, r, hash)
}

// admit applies the sliding-window limit: a request is admitted when fewer
// than limit requests were admitted in (now-window, now]. Refused requests are
// not recorded, so a client hammering the limit does not extend its own ban.
func (s *Sim) admit() bool {
	if s.limit <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cutoff := now.Add(-s.window)
	i := 0
	for i < len(s.admitted) && !s.admitted[i].After(cutoff) {
		i++
	}
	if i > 0 {
		s.admitted = append(s.admitted[:0], s.admitted[i:]...)
	}
	if len(s.admitted) >= s.limit {
		return false
	}
	s.admitted = append(s.admitted, now)
	return true
}

// errorBody is the vendor's error shape, shared by both APIs.
type errorBody struct {
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// writeError answers with the vendor's {"message","status"} error shape.
func (s *Sim) writeError(w http.ResponseWriter, status int, msg string) {
	s.writeJSON(w, status, errorBody{Message: msg, Status: status})
}

// writeJSON answers with v and counts refusals. HTML escaping is off so that
// echoed input comes back byte-for-byte as sent, not with \u003c escapes.
func (s *Sim) writeJSON(w http.ResponseWriter, status int, v any) {
	switch {
	case status == http.StatusTooManyRequests:
		s.mu.Lock()
		s.stats.RateLimited++
		s.mu.Unlock()
	case status >= 400 && status < 500:
		s.mu.Lock()
		s.stats.Rejected++
		s.mu.Unlock()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a programming error can get here: every body is built from
		// encodable types.
		http.Error(w, fmt.Sprintf("encode response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errBadBody marks a body that is not a JSON object.
var errBadBody = errors.New("request body must be a JSON object")

// readBody decodes a POST/PUT body into its top-level members. An empty body
// is an empty object, so that a call without a body fails on its missing
// token (401) rather than on syntax.
func readBody(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	var body map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&body); err != nil || body == nil {
		return nil, errBadBody
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errBadBody
	}
	return body, nil
}

// authBody reads a POST/PUT body and checks its token, answering the error
// itself; ok is false when the request has been answered.
func (s *Sim) authBody(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	body, err := readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			s.writeError(w, http.StatusRequestEntityTooLarge, "Request body too large")
		case errors.Is(err, errBadBody):
			s.writeError(w, http.StatusBadRequest, "Invalid JSON body")
		default:
			s.writeError(w, http.StatusBadRequest, "Could not read request body")
		}
		return nil, false
	}
	raw, present := body["token"]
	token, isString := asString(raw)
	if !present || isNull(raw) || !isString || token == "" {
		s.writeError(w, http.StatusUnauthorized, "Unauthenticated: token is required")
		return nil, false
	}
	if !s.tokenOK(token) {
		s.writeError(w, http.StatusUnauthorized, "Unauthenticated: invalid token")
		return nil, false
	}
	return body, true
}

// tokenOK compares in constant time, as a real server would, so that the
// simulator does not teach callers to rely on anything else.
func (s *Sim) tokenOK(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) == 1
}

// unknownParam returns the first member of body not in allowed (in sorted
// order, for a stable message), or "".
func unknownParam(body map[string]json.RawMessage, allowed ...string) string {
	first := ""
	for k := range body {
		known := false
		for _, a := range allowed {
			if k == a {
				known = true
				break
			}
		}
		if !known && (first == "" || k < first) {
			first = k
		}
	}
	return first
}

// isNull reports whether a member is absent or JSON null; the vendor treats
// both as "not sent".
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// asString decodes a JSON string member.
func asString(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' {
		return "", false
	}
	var v string
	if err := json.Unmarshal(t, &v); err != nil {
		return "", false
	}
	return v, true
}

// asInt decodes a JSON integer member. Quoted numbers are refused: the vendor
// documents these parameters as integers, and a witness should catch an
// adapter that sends "1".
func asInt(raw json.RawMessage) (int, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] == '"' {
		return 0, false
	}
	var n json.Number
	if err := json.Unmarshal(t, &n); err != nil {
		return 0, false
	}
	v, err := n.Int64()
	if err != nil {
		return 0, false
	}
	return int(v), true
}

// asObject decodes a JSON object member into its members in wire order.
func asObject(raw json.RawMessage) ([]member, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, member{key: key, value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return out, true
}

// member is one key/value pair of a JSON object, kept in wire order so that
// rejected input can be echoed as sent.
type member struct {
	key   string
	value json.RawMessage
}

// timestamp formats times like the vendor: ISO-8601 UTC with milliseconds.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
