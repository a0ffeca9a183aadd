// Package vendorsim serves simulators of the three vendors side by side, for
// the gateway's sandbox mode, cmd/vendorsim and tests. Each simulator (in its
// own subpackage) is written from the vendor's documentation alone and
// shares no code with the gateway's adapters, so a misreading of the docs in
// one is caught by the other.
package vendorsim

import (
	"net/http"
	"strings"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// Path prefixes under which Set.Handler mounts each simulator.
const (
	HelpCrunchPrefix = "/helpcrunch"
	ZenviaPrefix     = "/zenvia"
	NXCloudPrefix    = "/nxcloud"
)

// Set is one simulator per vendor.
type Set struct {
	HelpCrunch *helpcrunch.Sim
	Zenvia     *zenvia.Sim
	NXCloud    *nxcloud.Sim
}

// NewSet returns simulators with the vendors' documented defaults.
func NewSet() *Set {
	return &Set{
		HelpCrunch: helpcrunch.New(helpcrunch.Config{}),
		Zenvia:     zenvia.New(zenvia.Config{}),
		NXCloud:    nxcloud.New(nxcloud.Config{}),
	}
}

// Handler serves each simulator under its prefix.
func (s *Set) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(HelpCrunchPrefix+"/", http.StripPrefix(HelpCrunchPrefix, s.HelpCrunch))
	mux.Handle(ZenviaPrefix+"/", http.StripPrefix(ZenviaPrefix, s.Zenvia))
	mux.Handle(NXCloudPrefix+"/", http.StripPrefix(NXCloudPrefix, s.NXCloud))
	return mux
}

// BaseURLs returns each vendor's base URL when Handler is served at root
// (e.g. "http://127.0.0.1:9090"), keyed by vendor name, in the form the
// gateway's `base_url` expects.
func BaseURLs(root string) map[string]string {
	root = strings.TrimRight(root, "/")
	return map[string]string{
		"helpcrunch": root + HelpCrunchPrefix + "/v1",
		"zenvia":     root + ZenviaPrefix,
		"nxcloud":    root + NXCloudPrefix,
	}
}

// Close stops background work (Zenvia's webhook posts).
func (s *Set) Close() { s.Zenvia.Close() }
