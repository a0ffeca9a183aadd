// Package vendorsim serves simulators of the three vendors side by side, for
// the gateway's sandbox mode, cmd/vendorsim and tests. Each simulator (in its
// own subpackage) is written from the vendor's documentation alone and
// shares no code with the gateway's adapters, so a misreading of the docs in
// one is caught by the other.
package vendorsim

import (
	"encoding/json"
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
	return NewSetWith(helpcrunch.Config{}, zenvia.Config{}, nxcloud.Config{})
}

// NewSetWith returns simulators with the given configurations.
func NewSetWith(hc helpcrunch.Config, zv zenvia.Config, nx nxcloud.Config) *Set {
	return &Set{HelpCrunch: helpcrunch.New(hc), Zenvia: zenvia.New(zv), NXCloud: nxcloud.New(nx)}
}

// StatsPath serves every simulator's counters as JSON, so a test in another
// process can count what the vendors received (and how many 429s they sent).
const StatsPath = "/_sim/stats"

// Stats are the counters of all three simulators.
type Stats struct {
	HelpCrunch helpcrunch.Stats `json:"helpcrunch"`
	Zenvia     zenvia.Stats     `json:"zenvia"`
	NXCloud    nxcloud.Stats    `json:"nxcloud"`
}

// Stats returns the counters of all three simulators.
func (s *Set) Stats() Stats {
	return Stats{HelpCrunch: s.HelpCrunch.Stats(), Zenvia: s.Zenvia.Stats(), NXCloud: s.NXCloud.Stats()}
}

// Handler serves each simulator under its prefix, and StatsPath.
func (s *Set) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(HelpCrunchPrefix+"/", http.StripPrefix(HelpCrunchPrefix, s.HelpCrunch))
	mux.Handle(ZenviaPrefix+"/", http.StripPrefix(ZenviaPrefix, s.Zenvia))
	mux.Handle(NXCloudPrefix+"/", http.StripPrefix(NXCloudPrefix, s.NXCloud))
	mux.HandleFunc("GET "+StatsPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
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
