package config

import (
	"strings"
	"testing"
	"time"
)

const jobsBase = `
api_keys: [{name: a, key: k, connections: ["*"]}]
connections:
  hc: {vendor: helpcrunch, credentials: {api_key: x}}
`

func TestJobsDefaults(t *testing.T) {
	j := mustParse(t, jobsBase, nil).Jobs
	want := Jobs{Retention: 168 * time.Hour, VisibilityTimeout: 30 * time.Second, Workers: 4, MaxBodyBytes: 256 << 20, KeyPrefix: "jobs"}
	if j != want {
		t.Fatalf("defaults %+v, want %+v", j, want)
	}
	j = mustParse(t, jobsBase+"jobs: {retention: 24h, visibility_timeout: 5s, workers: 8, max_body_bytes: 1048576, key_prefix: gw2}\n", nil).Jobs
	if j.Retention != 24*time.Hour || j.VisibilityTimeout != 5*time.Second || j.Workers != 8 || j.MaxBodyBytes != 1<<20 || j.KeyPrefix != "gw2" {
		t.Fatalf("parsed %+v", j)
	}
}

func TestJobsValidate(t *testing.T) {
	msg := parseErr(t, jobsBase+"jobs: {retention: 30s, visibility_timeout: 1ms, workers: 1000, max_body_bytes: -1, key_prefix: '{x}'}\n", nil)
	for _, field := range []string{"jobs.retention", "jobs.visibility_timeout", "jobs.workers", "jobs.max_body_bytes", "jobs.key_prefix"} {
		if !strings.Contains(msg, field+":") {
			t.Errorf("no error for %s in:\n%s", field, msg)
		}
	}
	if msg := parseErr(t, jobsBase+"jobs: {retention: 1h, wokers: 3}\n", nil); !strings.Contains(msg, "wokers") {
		t.Errorf("a misspelt key is not reported: %s", msg)
	}
}
