package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// healthcheck implements `gateway healthcheck`, the container health probe
// (the image has no shell and no curl): it GETs /readyz on the local
// listener and fails unless the answer is 200. "degraded" (Redis down, each
// replica on its share of the limits) still answers 200: the replica serves.
//
// The port comes from, in order: -url (the whole URL), -listen,
// GATEWAY_LISTEN, the `listen` key of the -config / GATEWAY_CONFIG file, and
// finally :8080, as the server itself picks it. A wildcard host (":8080",
// "0.0.0.0:8080", "[::]:8080") is probed on 127.0.0.1.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gateway healthcheck", flag.ContinueOnError)
	fs.SetOutput(stdout)
	url := fs.String("url", "", "URL to probe (default http://127.0.0.1:<port>/readyz)")
	listen := fs.String("listen", getenv("GATEWAY_LISTEN"), "the gateway's listen address (GATEWAY_LISTEN)")
	configPath := fs.String("config", getenv("GATEWAY_CONFIG"), "the gateway's config file, read for its listen address (GATEWAY_CONFIG)")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))
	}
	if *url == "" {
		addr := *listen
		if addr == "" && *configPath != "" {
			addr = listenFromConfig(*configPath, getenv)
		}
		if addr == "" {
			addr = ":8080"
		}
		hostPort, err := probeAddr(addr)
		if err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		*url = "http://" + hostPort + "/readyz"
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// Never through a proxy from the environment: the probe is local.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck: GET %s: no answer within %s", *url, *timeout)
		}
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	summary := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s %s", *url, resp.Status, summary)
	}
	fmt.Fprintf(stdout, "%s %s\n", resp.Status, summary)
	return nil
}

// probeAddr turns a listen address into the host:port to probe.
func probeAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	if port == "" || port == "0" {
		return "", fmt.Errorf("listen address %q: no fixed port to probe (use -url)", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

var envRefPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// listenFromConfig reads only the top-level `listen` key of the config file,
// expanding ${VAR} as the config loader does; "" when absent or unreadable
// (the server then uses its default, and so does the probe).
func listenFromConfig(path string, getenv func(string) string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var doc struct {
		Listen string `yaml:"listen"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return ""
	}
	return envRefPattern.ReplaceAllStringFunc(doc.Listen, func(ref string) string {
		return getenv(envRefPattern.FindStringSubmatch(ref)[1])
	})
}
