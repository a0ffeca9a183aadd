package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// readyServer answers /readyz with status and counts the probes.
func readyServer(t *testing.T, status int) (*httptest.Server, *int) {
	t.Helper()
	hits := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		*hits++
		w.WriteHeader(status)
		w.Write([]byte(`{"status":"x"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func TestHealthcheckStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		ok     bool
	}{{200, true}, {503, false}, {500, false}, {404, false}, {204, false}} {
		srv, hits := readyServer(t, tc.status)
		port := srv.Listener.Addr().(*net.TCPAddr).Port
		var out bytes.Buffer
		// Through run(), as `gateway healthcheck` dispatches it; the port comes from GATEWAY_LISTEN.
		err := run(context.Background(), []string{"healthcheck"}, envOf(map[string]string{"GATEWAY_LISTEN": ":" + itoa(port)}), &out)
		if (err == nil) != tc.ok {
			t.Errorf("status %d: err = %v, want ok=%v", tc.status, err, tc.ok)
		}
		if *hits != 1 {
			t.Errorf("status %d: /readyz probed %d times, want 1", tc.status, *hits)
		}
		if err != nil && !strings.Contains(err.Error(), itoa(tc.status)) {
			t.Errorf("status %d: error %q does not name the status", tc.status, err)
		}
	}
}

func TestHealthcheckAddressPrecedence(t *testing.T) {
	srv, hits := readyServer(t, 200)
	port := itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte("listen: \"0.0.0.0:${PORT}\"\nconnections: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := closedPort(t) // nothing answers there
	ctx := context.Background()
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"-url":                    {[]string{"-url", srv.URL + "/readyz", "-listen", ":" + closed}, nil},
		"-listen over env":        {[]string{"-listen", "127.0.0.1:" + port}, map[string]string{"GATEWAY_LISTEN": ":" + closed}},
		"GATEWAY_LISTEN wildcard": {nil, map[string]string{"GATEWAY_LISTEN": "[::]:" + port}},
		"config file listen":      {nil, map[string]string{"GATEWAY_CONFIG": cfgFile, "PORT": port}},
		"env over config file":    {nil, map[string]string{"GATEWAY_CONFIG": cfgFile, "PORT": closed, "GATEWAY_LISTEN": ":" + port}},
		"-config flag":            {[]string{"-config", cfgFile}, map[string]string{"PORT": port}},
	} {
		before := *hits
		if err := healthcheck(ctx, tc.args, envOf(tc.env), &bytes.Buffer{}); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if *hits != before+1 {
			t.Errorf("%s: the test server was not probed", name)
		}
	}
}

func TestHealthcheckFailures(t *testing.T) {
	ctx := context.Background()
	// Nothing listening: connection refused.
	if err := healthcheck(ctx, []string{"-listen", ":" + closedPort(t)}, envOf(nil), &bytes.Buffer{}); err == nil {
		t.Error("no listener: want an error")
	}
	// A listener that never answers: bounded by the timeout.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	start := time.Now()
	err := healthcheck(ctx, []string{"-url", slow.URL + "/readyz", "-timeout", "200ms"}, envOf(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Errorf("slow server: err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow server: took %s, want about the 200ms timeout", d)
	}
	for _, args := range [][]string{{"-listen", ":0"}, {"-listen", "nonsense"}, {"extra"}, {"-bogus"}} {
		if err := healthcheck(ctx, args, envOf(nil), &bytes.Buffer{}); err == nil {
			t.Errorf("%q: want an error", args)
		}
	}
}

func TestProbeAddr(t *testing.T) {
	for in, want := range map[string]string{
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:9000":      "127.0.0.1:9000",
		"127.0.0.1:9000": "127.0.0.1:9000",
		"localhost:80":   "localhost:80",
		"[::1]:8080":     "[::1]:8080",
		"10.1.2.3:8443":  "10.1.2.3:8443",
	} {
		if got, err := probeAddr(in); err != nil || got != want {
			t.Errorf("probeAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestHealthcheckAgainstSandbox runs the real gateway (sandbox mode) and
// probes it the way the container's HEALTHCHECK does: same environment.
func TestHealthcheckAgainstSandbox(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	env := envOf(map[string]string{"GATEWAY_LISTEN": "127.0.0.1:" + closedPort(t), "GATEWAY_SANDBOX_KEY": "k"})
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	}()
	var out bytes.Buffer
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out.Reset()
		if err = run(context.Background(), []string{"healthcheck"}, env, &out); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("healthcheck against the sandbox: %v", err)
	}
	if !strings.Contains(out.String(), "200 OK") || !strings.Contains(out.String(), `"ready"`) {
		t.Errorf("healthcheck printed %q", out.String())
	}
}

// closedPort returns a loopback port that was free a moment ago.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return itoa(port)
}

func itoa(n int) string { return strconv.Itoa(n) }
