package helpcrunch

import (
	"crypto/subtle"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Documented defaults and limits.
const (
	// DefaultAPIKey is the Bearer key accepted when Config.APIKey is empty.
	DefaultAPIKey = "sandbox-helpcrunch-key"
	// DefaultLimit is the documented request limit per account per minute.
	DefaultLimit = 120
	// DefaultWindow is the documented rate-limit window.
	DefaultWindow = time.Minute
	// DefaultMaxBatch is the documented maximum number of customers per batch.
	DefaultMaxBatch = 10
	// DefaultTagColor is the documented colour of tags created without one.
	DefaultTagColor = "#c377e0"
	// MaxFieldLength bounds string fields (name, email, tag names, ...). The
	// vendor documents no limit; 255 is the usual column size.
	MaxFieldLength = 255
	// MaxNotesLength bounds the notes field (undocumented; a TEXT column).
	MaxNotesLength = 65535
	// MaxMessageLength bounds message text (undocumented; a TEXT column).
	MaxMessageLength = 65535
	// MaxPageLimit is the largest accepted limit for list, search and
	// messages (undocumented; also the default page size).
	MaxPageLimit = 100
	// maxBodyBytes bounds request bodies; ten full customers fit easily.
	maxBodyBytes = 1 << 20
)

// AttributeType is the type of a custom attribute as configured in the
// HelpCrunch account (Settings → Contacts → Custom attributes). It decides
// how a customData value is validated and read back.
type AttributeType string

// Custom attribute types.
const (
	// AttributeString accepts JSON strings.
	AttributeString AttributeType = "string"
	// AttributeNumber accepts JSON numbers and numeric strings, read back as numbers.
	AttributeNumber AttributeType = "number"
	// AttributeBoolean accepts JSON booleans.
	AttributeBoolean AttributeType = "boolean"
	// AttributeDate accepts UNIX timestamps (string, integer or fractional
	// string) and reads them back as integer seconds.
	AttributeDate AttributeType = "date"
)

// DefaultCustomAttributes returns the attribute catalogue of the vendor's
// documented example, used when Config.CustomAttributes is nil.
func DefaultCustomAttributes() map[string]AttributeType {
	return map[string]AttributeType{
		"subscription_status":         AttributeString,
		"number_of_payments":          AttributeNumber,
		"last_paid_amount":            AttributeNumber,
		"last_payment_date":           AttributeDate,
		"last_invoice_url":            AttributeString,
		"last_payment_was_successful": AttributeBoolean,
	}
}

// Config configures a simulator; zero values get documented defaults.
type Config struct {
	// APIKey is the only accepted Bearer key (default DefaultAPIKey).
	APIKey string
	// Limit is the number of admitted requests per Window (default
	// DefaultLimit). A negative Limit disables rate limiting.
	Limit int
	// Window is the sliding rate-limit window (default DefaultWindow).
	Window time.Duration
	// MaxBatch is the largest accepted batch (default DefaultMaxBatch).
	MaxBatch int
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Latency is an artificial delay added to every request (default 0).
	Latency time.Duration
	// CustomAttributes types the account's custom attributes (default
	// DefaultCustomAttributes()). Properties not listed are stored as sent.
	CustomAttributes map[string]AttributeType
}

// Stats are counters for tests and benchmarks.
type Stats struct {
	// Requests counts every request received.
	Requests int
	// RateLimited counts 429 answers.
	RateLimited int
	// Rejected counts 4xx answers other than 429.
	Rejected int
	// Operations counts requests per operation whatever their outcome, keyed
	// by method and documented path relative to the base URL, e.g.
	// "POST /customers" or "PUT /customers/{id}"; unknown paths count as
	// "unmatched".
	Operations map[string]int
	// ItemsReceived counts customer objects received in admitted
	// PUT /customers/batch bodies that parsed as a JSON array, including
	// batches later refused for their size or content.
	ItemsReceived int
}

// Sim is a HelpCrunch REST v1 simulator. It is safe for concurrent use.
type Sim struct {
	apiKey   []byte
	maxBatch int
	now      func() time.Time
	latency  time.Duration
	attrs    map[string]AttributeType

	// gate guards the limiter and the counters, kept apart from mu so that
	// refusing a request never waits for a slow data operation.
	gate    sync.Mutex
	limiter *slidingWindow // nil when rate limiting is disabled
	stats   Stats

	mu             sync.Mutex
	customers      map[int]*record
	nextCustomerID int
	tagColors      map[string]string
	tagOrder       []string
	chats          map[int]*chatRecord
	nextChatID     int
	nextMessageID  int
}

// New returns a simulator. *Sim implements http.Handler.
func New(cfg Config) *Sim {
	if cfg.APIKey == "" {
		cfg.APIKey = DefaultAPIKey
	}
	if cfg.Limit == 0 {
		cfg.Limit = DefaultLimit
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	attrs := cfg.CustomAttributes
	if attrs == nil {
		attrs = DefaultCustomAttributes()
	}
	s := &Sim{
		apiKey:         []byte(cfg.APIKey),
		maxBatch:       cfg.MaxBatch,
		now:            cfg.Now,
		latency:        cfg.Latency,
		attrs:          maps.Clone(attrs),
		stats:          Stats{Operations: map[string]int{}},
		customers:      map[int]*record{},
		nextCustomerID: 1,
		tagColors:      map[string]string{},
		chats:          map[int]*chatRecord{},
		nextChatID:     1,
		nextMessageID:  1,
	}
	if cfg.Limit > 0 {
		s.limiter = newSlidingWindow(cfg.Limit, cfg.Window)
	}
	return s
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.gate.Lock()
	defer s.gate.Unlock()
	st := s.stats
	st.Operations = maps.Clone(s.stats.Operations)
	return st
}

// ResetStats zeroes the counters (not the rate-limit window nor the data), so
// that a benchmark can measure one phase.
func (s *Sim) ResetStats() {
	s.gate.Lock()
	defer s.gate.Unlock()
	s.stats = Stats{Operations: map[string]int{}}
}

// handlerFunc serves one operation; arg is the {id} path segment if any.
type handlerFunc func(s *Sim, w http.ResponseWriter, r *http.Request, arg string)

// route maps a request path to its documented pattern (relative to the base
// URL), the handlers by method and the {id} segment. An empty pattern means
// the path is unknown.
func route(path string) (pattern string, handlers map[string]handlerFunc, arg string) {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return "", nil, ""
	}
	seg := strings.Split(rest, "/")
	switch {
	case len(seg) == 1 && seg[0] == "customers":
		return "/customers", map[string]handlerFunc{
			http.MethodGet:  (*Sim).listCustomers,
			http.MethodPost: (*Sim).createCustomer,
		}, ""
	case len(seg) == 2 && seg[0] == "customers" && seg[1] == "batch":
		return "/customers/batch", map[string]handlerFunc{http.MethodPut: (*Sim).batchUpdate}, ""
	case len(seg) == 2 && seg[0] == "customers" && seg[1] == "search":
		return "/customers/search", map[string]handlerFunc{http.MethodPost: (*Sim).searchCustomers}, ""
	case len(seg) == 2 && seg[0] == "customers" && seg[1] != "":
		return "/customers/{id}", map[string]handlerFunc{
			http.MethodGet:    (*Sim).getCustomer,
			http.MethodPut:    (*Sim).replaceCustomer,
			http.MethodPatch:  (*Sim).mergeCustomer,
			http.MethodDelete: (*Sim).deleteCustomer,
		}, seg[1]
	case len(seg) == 3 && seg[0] == "customers" && seg[1] != "" && seg[2] == "tags":
		return "/customers/{id}/tags", map[string]handlerFunc{
			http.MethodPut:    (*Sim).tagCustomer,
			http.MethodDelete: (*Sim).untagCustomer,
		}, seg[1]
	case len(seg) == 1 && seg[0] == "chats":
		return "/chats", map[string]handlerFunc{http.MethodPost: (*Sim).createChat}, ""
	case len(seg) == 3 && seg[0] == "chats" && seg[1] != "" && seg[2] == "messages":
		return "/chats/{id}/messages", map[string]handlerFunc{http.MethodGet: (*Sim).listMessages}, seg[1]
	case len(seg) == 1 && seg[0] == "messages":
		return "/messages", map[string]handlerFunc{http.MethodPost: (*Sim).createMessage}, ""
	}
	return "", nil, ""
}

// statusWriter remembers the status so that ServeHTTP can classify the answer
// in Stats whichever handler wrote it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

// ServeHTTP serves the HelpCrunch REST v1 API.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pattern, handlers, arg := route(r.URL.Path)
	op := "unmatched"
	if pattern != "" {
		op = r.Method + " " + pattern
	}
	s.gate.Lock()
	s.stats.Requests++
	s.stats.Operations[op]++
	s.gate.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	defer s.classify(sw)

	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The client is gone; nobody reads an answer.
			t.Stop()
			return
		}
	}
	if !s.authorized(r) {
		writeErrors(sw, http.StatusUnauthorized, errUnauthorized)
		return
	}
	if !s.admit() {
		writeErrors(sw, http.StatusTooManyRequests, errTooManyRequests)
		return
	}
	if pattern == "" {
		writeErrors(sw, http.StatusNotFound, errRouteNotFound)
		return
	}
	h, ok := handlers[r.Method]
	if !ok {
		allowed := make([]string, 0, len(handlers))
		for m := range handlers {
			allowed = append(allowed, m)
		}
		sort.Strings(allowed)
		sw.Header().Set("Allow", strings.Join(allowed, ", "))
		writeErrors(sw, http.StatusMethodNotAllowed, errMethodNotAllowed)
		return
	}
	h(s, sw, r, arg)
}

func (s *Sim) classify(sw *statusWriter) {
	s.gate.Lock()
	defer s.gate.Unlock()
	switch {
	case sw.status == http.StatusTooManyRequests:
		s.stats.RateLimited++
	case sw.status >= 400 && sw.status < 500:
		s.stats.Rejected++
	}
}

// authorized checks "Authorization: Bearer <key>". The scheme is matched
// case-insensitively as RFC 9110 requires; the key exactly.
func (s *Sim) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(token), s.apiKey) == 1
}

func (s *Sim) admit() bool {
	if s.limiter == nil {
		return true
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	// Read the clock under the lock so admissions enter the ring in time order.
	return s.limiter.allow(s.now())
}

func (s *Sim) addItemsReceived(n int) {
	s.gate.Lock()
	defer s.gate.Unlock()
	s.stats.ItemsReceived += n
}
