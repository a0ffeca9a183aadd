package zenvia_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// The simulator mounted under a prefix, as the gateway's sandbox mode does,
// with the gateway's Zenvia base_url pointing at the prefix.
func ExampleNew() {
	sim := zenvia.New(zenvia.Config{})
	defer sim.Close()
	mux := http.NewServeMux()
	mux.Handle("/sandbox/zenvia/", http.StripPrefix("/sandbox/zenvia", sim))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := `{"token":"sandbox-zenvia-token","customers":[{"fields":{"main_identifier":"Ana","channel_phone":"5511999990000"}}]}`
	resp, err := http.Post(srv.URL+"/sandbox/zenvia/api/external/customers", "application/json", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()

	c, _ := sim.FindCustomer("channel_phone", "5511999990000")
	fmt.Println(resp.StatusCode, c.ID, c.Fields["main_identifier"], sim.CustomerCount())
	// Output: 200 1 Ana 1
}
