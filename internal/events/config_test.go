package events

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Subscription{Name: "crm", URL: "https://example.com/hooks", Secret: testSecret, Types: []string{"interaction.*", "job.completed"}}
	if err := (Config{Subscriptions: []Subscription{ok}}).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	bad := Config{
		Subscriptions: []Subscription{
			ok, ok,
			{Name: "bad name", URL: "ftp://x", Secret: "whsec_%%%"},
			{Name: "no-secret", URL: "/relative", Types: []string{"a.*.b", ""}},
		},
		Schedule: []time.Duration{-time.Second},
		Lease:    -1,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted an invalid config")
	}
	for _, want := range []string{
		"subscriptions.crm: duplicate name",
		"subscriptions.bad name: name must be",
		"subscriptions.bad name: url must be",
		"subscriptions.bad name: secret: the part after",
		"subscriptions.no-secret: secret: is required",
		"subscriptions.no-secret: url must be",
		`subscriptions.no-secret: types: "a.*.b"`,
		`subscriptions.no-secret: types: ""`,
		"schedule[0]: must not be negative",
		"lease: must not be negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "%%%") {
		t.Errorf("Validate error shows a secret:\n%v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	var total time.Duration
	for _, d := range c.Schedule {
		total += d
	}
	if len(c.Schedule) != 7 || total <= 24*time.Hour || c.Retention != 72*time.Hour || c.MaxEvents != 100000 ||
		c.Timeout != 10*time.Second || c.Lease != time.Minute || c.HTTPClient == nil || c.Logger == nil || c.Now == nil {
		t.Errorf("defaults = %+v", c)
	}
	if c := (Config{Timeout: time.Minute, Lease: 30 * time.Second}).withDefaults(); c.Lease != 2*time.Minute {
		t.Errorf("a lease shorter than the timeout became %s; want twice the timeout", c.Lease)
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{nil, "anything", true},
		{[]string{"*"}, "anything", true},
		{[]string{"interaction.*"}, "interaction.accepted", true},
		{[]string{"interaction.*"}, "interaction.message.created", true},
		{[]string{"interaction.*"}, "interaction", false},
		{[]string{"interaction.*"}, "interactions.x", false},
		{[]string{"job.completed"}, "job.completed", true},
		{[]string{"job.completed"}, "job.completed.late", false},
		{[]string{"a", "b.*"}, "b.c", true},
	} {
		if got := matches(tc.patterns, tc.typ); got != tc.want {
			t.Errorf("matches(%q, %q) = %v; want %v", tc.patterns, tc.typ, got, tc.want)
		}
	}
}
