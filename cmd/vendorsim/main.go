// Command vendorsim serves the HelpCrunch, Zenvia and NXCloud simulators on
// one port, for demos and load tests against a gateway configured with
// their base URLs.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9090", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vendorsim:", err)
		os.Exit(1)
	}
	sims := vendorsim.NewSet()
	defer sims.Close()
	for vendor, url := range vendorsim.BaseURLs("http://" + ln.Addr().String()) {
		fmt.Printf("%-10s base_url %s\n", vendor, url)
	}
	srv := &http.Server{Handler: sims.Handler(), ReadHeaderTimeout: 5 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "vendorsim:", err)
		os.Exit(1)
	}
}
