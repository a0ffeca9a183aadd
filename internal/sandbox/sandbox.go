// Package sandbox runs the gateway with no configuration: the vendor
// simulators on a loopback port and one connection per vendor pointing at
// them, with the real vendors' limits, so a new user sees the whole product
// with `go run ./cmd/gateway`.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// Sandbox is a running set of simulators and the config that uses them.
type Sandbox struct {
	Config *config.Config
	// APIKey is the key clients use against the sandbox gateway.
	APIKey string
	// SimURL is where the simulators listen.
	SimURL string
	Sims   *vendorsim.Set
	srv    *http.Server
}

// Start serves the simulators on a free loopback port and returns a config
// with connections "helpcrunch", "zenvia" and "nxcloud". apiKey is the
// clients' key; empty means a random one. gatewayURL is where the gateway
// listens: the Zenvia simulator posts its webhooks there and fetches hosted
// histories from it, so a sandbox user sees the whole conversation loop.
func Start(apiKey, gatewayURL string) (*Sandbox, error) {
	if apiKey == "" {
		apiKey = "sbx_" + randomHex()
	}
	webhookSecret := randomHex()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for simulators: %w", err)
	}
	sims := vendorsim.NewSetWith(helpcrunch.Config{},
		zenvia.Config{WebhookURL: gatewayURL + "/v1/webhooks/zenvia/" + webhookSecret},
		nxcloud.Config{})
	srv := &http.Server{Handler: sims.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(fmt.Sprintf("sandbox simulators stopped: %v", err))
		}
	}()
	root := "http://" + ln.Addr().String()
	urls := vendorsim.BaseURLs(root)
	cfg := &config.Config{
		Sandbox:   true,
		PublicURL: gatewayURL,
		APIKeys:   []config.APIKey{{Name: "sandbox", Key: config.Secret(apiKey), Connections: []string{"*"}}},
		Connections: map[string]*config.Connection{
			"helpcrunch": {Vendor: "helpcrunch", BaseURL: urls["helpcrunch"], Sandbox: true,
				Credentials: config.Credentials{APIKey: helpcrunch.DefaultAPIKey}},
			"zenvia": {Vendor: "zenvia", BaseURL: urls["zenvia"], Sandbox: true,
				Credentials: config.Credentials{Token: zenvia.DefaultToken, WebhookSecret: config.Secret(webhookSecret)}},
			"nxcloud": {Vendor: "nxcloud", BaseURL: urls["nxcloud"], Sandbox: true,
				Credentials: config.Credentials{AccessKey: nxcloud.DefaultAccessKey, AccessSecret: nxcloud.DefaultAccessSecret,
					TenantID: nxcloud.DefaultTenantID, AppKey: nxcloud.DefaultAppKey}},
		},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("sandbox config: %w", err)
	}
	return &Sandbox{Config: cfg, APIKey: apiKey, SimURL: root, Sims: sims, srv: srv}, nil
}

// Close stops the simulators.
func (s *Sandbox) Close(ctx context.Context) error {
	s.Sims.Close()
	return s.srv.Shutdown(ctx)
}

func randomHex() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // cannot happen on supported platforms
	}
	return hex.EncodeToString(b[:])
}
