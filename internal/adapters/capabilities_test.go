package adapters_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

// TestCapabilitiesMatchInterfaces keeps what each adapter claims in
// GET /v1/connections in step with what it implements.
func TestCapabilitiesMatchInterfaces(t *testing.T) {
	creds := map[string]config.Credentials{
		"helpcrunch": {APIKey: "k"}, "zenvia": {Token: "t"},
		"nxcloud": {AccessKey: "a", AccessSecret: "s", TenantID: 1, AppKey: "p"},
	}
	for vendor, cr := range creds {
		cfg := &config.Config{
			APIKeys:     []config.APIKey{{Name: "k", Key: "k", Connections: []string{"*"}}},
			Connections: map[string]*config.Connection{"c": {Vendor: vendor, Credentials: cr}},
		}
		cfg.ApplyDefaults()
		conn, err := adapters.Open("c", cfg.Connections["c"], adapters.Deps{HTTP: http.DefaultClient, Limiter: ratelimit.NewLocal()})
		if err != nil {
			t.Fatal(err)
		}
		caps := conn.Capabilities()
		_, getter := conn.Connector.(crm.CustomerGetter)
		_, lister := conn.Connector.(crm.CustomerLister)
		_, fields := conn.Connector.(crm.FieldLister)
		for _, c := range []struct {
			capability crm.Capability
			implements bool
		}{{crm.CapCustomerGet, getter}, {crm.CapCustomerList, lister}, {crm.CapCustomerFields, fields}} {
			if slices.Contains(caps, c.capability) != c.implements {
				t.Errorf("%s: claims %s = %v, implements it = %v", vendor, c.capability, slices.Contains(caps, c.capability), c.implements)
			}
		}
	}
}
