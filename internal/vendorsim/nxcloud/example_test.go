package nxcloud_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

// Example shows a client signing a batch_create over the exact bytes it sends.
func Example() {
	sim := nxcloud.New(nxcloud.Config{})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	body := []byte(`{"type":1,"tenant_id":144,"app_key":"sandbox-app",` +
		`"customers":[{"first_name":"张","last_name":"三","email":"zhang@example.com","tagStr":"vip"}]}`)
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+nxcloud.PathBatchCreate, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("accessKey", nxcloud.DefaultAccessKey)
	req.Header.Set("ts", ts)
	req.Header.Set("bizType", nxcloud.BizType)
	req.Header.Set("action", nxcloud.Action)
	req.Header.Set("sign", nxcloud.Sign(nxcloud.DefaultAccessKey, nxcloud.Action, nxcloud.BizType, ts, body, nxcloud.DefaultAccessSecret))

	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var env struct {
		Code int `json:"code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	c, _ := sim.CustomerByEmail("zhang@example.com")
	fmt.Println(resp.StatusCode, env.Code, c.FirstName+c.LastName, c.Tags)
	// Output: 200 0 张三 [vip]
}
