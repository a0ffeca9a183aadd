package events

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Subscription is one receiver of webhooks.
type Subscription struct {
	// Name identifies the subscription in logs, metrics and delivery statuses; letters, digits,
	// '.', '_' and '-'.
	Name string
	// URL receives a POST per event.
	URL string
	// Types selects the events: exact types or prefix patterns ending in "*" ("interaction.*");
	// empty = all.
	Types []string
	// Secret signs the deliveries: a Standard Webhooks secret "whsec_<base64>" (the key is the
	// decoded bytes), or any other string (the key is its bytes).
	Secret string
}

// Observer receives delivery metrics; see the metrics package. Implementations must be safe for
// concurrent use.
type Observer interface {
	// Delivery is one attempt to deliver to subscription: outcome is "delivered", "failed" (a
	// retry is scheduled) or "dead" (the last attempt failed); d is the attempt's duration.
	Delivery(subscription, outcome string, d time.Duration)
}

// Attempt outcomes reported to [Observer].
const (
	OutcomeDelivered = "delivered"
	OutcomeFailed    = "failed"
	OutcomeDead      = "dead"
)

// DefaultSchedule is the Standard Webhooks retry schedule: the delays after each failed attempt.
// With it an event is attempted 8 times over 27 h 35 min before it is dead-lettered.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Config configures a [Bus]. Zero values take the documented defaults.
type Config struct {
	// Subscriptions receive the events; [Config.Validate] checks them.
	Subscriptions []Subscription
	// Schedule lists the retry delays after each failed attempt, so a delivery is attempted
	// len(Schedule)+1 times before it is dead-lettered; default [DefaultSchedule].
	Schedule []time.Duration
	// Retention is how long events are kept, listed, deduplicated and retrievable by id
	// (default 72h). It should exceed the schedule's total: a delivery whose event has expired
	// is dropped.
	Retention time.Duration
	// MaxEvents caps the listable event log (default 100000). Redis trims approximately, so it
	// may keep up to a hundred more.
	MaxEvents int
	// Timeout bounds each delivery attempt (default 10s).
	Timeout time.Duration
	// Lease is how long a worker owns a due delivery before another replica may retry it
	// (default 1m). It must exceed Timeout; a smaller value is raised to twice Timeout.
	Lease time.Duration
	// Concurrency is how many attempts one Run makes at once (default 8).
	Concurrency int
	// Poll is how often an idle Run looks for due deliveries (default 1s). Deliveries enqueued
	// by this Bus, and retries whose time has come, are picked up at once regardless.
	Poll time.Duration
	// HTTPClient sends the deliveries; default a client that does not follow redirects (a
	// 3xx answer is a failure).
	HTTPClient *http.Client
	// Logger logs each attempt (event id, subscription, attempt, status), never bodies, URLs or
	// secrets; default no logging.
	Logger *zap.Logger
	// Now is the clock of webhook-timestamp, of default OccurredAt values and, for the memory
	// implementation, of scheduling (default time.Now). The Redis implementation schedules on
	// the Redis server's clock, shared by every replica.
	Now func() time.Time
	// Observer, when set, receives one call per attempt.
	Observer Observer
}

// Defaults of [Config].
const (
	DefaultRetention   = 72 * time.Hour
	DefaultMaxEvents   = 100000
	DefaultTimeout     = 10 * time.Second
	DefaultLease       = time.Minute
	DefaultConcurrency = 8
	DefaultPoll        = time.Second
)

// nameRE is what a subscription name may look like; it keeps names safe in Redis members,
// metric labels and logs.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate reports every problem of c at once, each naming the subscription; a Bus built from an
// invalid Config still runs, but a subscription with a bad URL or secret fails every attempt.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, s := range c.Subscriptions {
		at := fmt.Sprintf("subscriptions[%d]", i)
		if s.Name != "" {
			at = fmt.Sprintf("subscriptions.%s", s.Name)
		}
		switch {
		case !nameRE.MatchString(s.Name):
			errs = append(errs, fmt.Errorf("%s: name must be 1-64 letters, digits, '.', '_' or '-'", at))
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("%s: duplicate name", at))
		}
		seen[s.Name] = true
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: url must be an absolute http or https URL", at))
		}
		if _, err := parseSecret(s.Secret); err != nil {
			errs = append(errs, fmt.Errorf("%s: secret: %w", at, err))
		}
		for _, p := range s.Types {
			if p == "" || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
				errs = append(errs, fmt.Errorf("%s: types: %q is not a type or a prefix pattern ending in '*'", at, p))
			}
		}
	}
	for i, d := range c.Schedule {
		if d < 0 {
			errs = append(errs, fmt.Errorf("schedule[%d]: must not be negative", i))
		}
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"retention", c.Retention}, {"timeout", c.Timeout}, {"lease", c.Lease}, {"poll", c.Poll}} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", f.name))
		}
	}
	if c.MaxEvents < 0 || c.Concurrency < 0 {
		errs = append(errs, errors.New("max_events and concurrency must not be negative"))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	if len(c.Schedule) == 0 {
		c.Schedule = DefaultSchedule
	}
	c.Schedule = append([]time.Duration(nil), c.Schedule...)
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Lease <= c.Timeout {
		c.Lease = 2 * c.Timeout
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = c.Concurrency // keep a connection per concurrent attempt
		c.HTTPClient = &http.Client{
			Transport:     t,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Option configures [NewRedis].
type Option func(*options)

type options struct {
	prefix string
}

// WithKeyPrefix sets the hash tag of every Redis key (default "events"), so several deployments
// or test runs can share one Redis. Keys are "{<prefix>}:<name>".
func WithKeyPrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}
