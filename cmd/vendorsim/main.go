// Command vendorsim serves the HelpCrunch, Zenvia and NXCloud simulators on
// one port, for demos and for load and rate-limit tests against gateways
// configured with their base URLs. GET /_sim/stats returns their counters.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9090", "listen address")
	hcLimit := flag.Int("helpcrunch-limit", helpcrunch.DefaultLimit, "HelpCrunch requests per window (negative: unlimited)")
	hcWindow := flag.Duration("helpcrunch-window", helpcrunch.DefaultWindow, "HelpCrunch sliding window")
	zvLimit := flag.Int("zenvia-limit", 0, "Zenvia requests per window (0: unlimited; the real limit is undocumented)")
	nxLimit := flag.Int("nxcloud-limit", 0, "NXCloud requests per window (0: unlimited; the real limit is undocumented)")
	window := flag.Duration("window", time.Minute, "Zenvia and NXCloud sliding window")
	latency := flag.Duration("latency", 0, "artificial latency added to every vendor answer")
	zvWebhook := flag.String("zenvia-webhook", "", "URL the Zenvia simulator posts its triggers to (a gateway's /v1/webhooks/<connection>/<secret>)")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vendorsim:", err)
		os.Exit(1)
	}
	sims := vendorsim.NewSetWith(
		helpcrunch.Config{Limit: *hcLimit, Window: *hcWindow, Latency: *latency},
		zenvia.Config{Limit: *zvLimit, Window: *window, Latency: *latency, WebhookURL: *zvWebhook},
		nxcloud.Config{Limit: *nxLimit, Window: *window, Latency: *latency},
	)
	defer sims.Close()
	urls := vendorsim.BaseURLs("http://" + ln.Addr().String())
	vendors := make([]string, 0, len(urls))
	for v := range urls {
		vendors = append(vendors, v)
	}
	sort.Strings(vendors)
	for _, v := range vendors {
		fmt.Printf("%-10s base_url %s\n", v, urls[v])
	}
	fmt.Printf("stats      http://%s%s\n", ln.Addr(), vendorsim.StatsPath)
	srv := &http.Server{Handler: sims.Handler(), ReadHeaderTimeout: 5 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "vendorsim:", err)
		os.Exit(1)
	}
}
