package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/redistest"
)

// buildBinaries compiles cmd/gateway and cmd/vendorsim once per test binary run.
var buildBinaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "crm-gateway-e2e-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/gateway", "./cmd/vendorsim")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

func binary(t *testing.T, name string) string {
	t.Helper()
	dir, err := buildBinaries()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// redisURL is the Redis the gateways under test share (redistest).
func redisURL() string { return redistest.URL() }

// proc is a running process whose output is scanned for a pattern.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	seen chan string
}

// start runs bin with args and waits until a line matches ready; it returns
// the first submatch of that line. The process is killed when the test ends.
func start(t *testing.T, ready *regexp.Regexp, bin string, args ...string) (*proc, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{cmd: exec.CommandContext(ctx, bin, args...), seen: make(chan string, 1)}
	p.cmd.Env = append(os.Environ(), "GATEWAY_CONFIG=")
	stdout, _ := p.cmd.StdoutPipe()
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.output())
		}
	})
	for _, r := range []io.Reader{stdout, stderr} {
		go func() {
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				p.mu.Lock()
				p.out.WriteString(sc.Text() + "\n")
				p.mu.Unlock()
				if m := ready.FindStringSubmatch(sc.Text()); m != nil {
					select {
					case p.seen <- m[1]:
					default:
					}
				}
			}
		}()
	}
	select {
	case v := <-p.seen:
		return p, v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not become ready:\n%s", bin, p.output())
		return nil, ""
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startGateway runs a gateway with the config text and returns its base URL.
func startGateway(t *testing.T, config string) string {
	t.Helper()
	_, addr := runGateway(t, config, "127.0.0.1:0")
	return "http://" + addr
}

// startGatewayAt runs a gateway listening on addr and returns its process.
func startGatewayAt(t *testing.T, config, addr string) *proc {
	t.Helper()
	p, _ := runGateway(t, config, addr)
	return p
}

func runGateway(t *testing.T, config, listen string) (*proc, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, regexp.MustCompile(`"msg":"gateway listening".*"addr":"([^"]+)"`),
		binary(t, "gateway"), "-config", path, "-listen", listen)
}

// startVendorSim runs cmd/vendorsim and returns its root URL.
func startVendorSim(t *testing.T, args ...string) string {
	t.Helper()
	_, stats := start(t, regexp.MustCompile(`^stats\s+(http://\S+)/_sim/stats`),
		binary(t, "vendorsim"), append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	return stats
}

func post(url, key, body string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}
