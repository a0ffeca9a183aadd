// Package deploycheck checks the deployment artifacts under deploy/ without a
// container engine or a cluster: the image tarball (IMAGE_TAR), the
// Dockerfile, the compose file and the Helm chart's rendered manifests
// (HELM_RENDERED), and that each config they ship starts the real gateway.
// Run through make: image-test, compose-check, helm-lint, deploy-check.
package deploycheck

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// repoRoot is the gateway's repository (this module lives in tools/).
var repoRoot = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

var (
	buildDir  string
	buildOnce = map[string]*sync.Once{"gateway": {}, "vendorsim": {}}
	built     = map[string]string{}
	buildErr  = map[string]error{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploycheck-")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary returns a host build of ./cmd/<name>: $GATEWAY_BIN / $VENDORSIM_BIN
// when set (make passes them), else built once from the repository.
func binary(t *testing.T, name string) string {
	t.Helper()
	env := map[string]string{"gateway": "GATEWAY_BIN", "vendorsim": "VENDORSIM_BIN"}[name]
	if p := os.Getenv(env); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	buildOnce[name].Do(func() {
		out := filepath.Join(buildDir, name)
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/"+name)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr[name] = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, b)
			return
		}
		built[name] = out
	})
	if err := buildErr[name]; err != nil {
		t.Fatal(err)
	}
	return built[name]
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// environ renders env as KEY=value lines, sorted, with nothing inherited
// but PATH: what a container gets is what the artifact declares.
func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// gatewayProc is a gateway started by startGateway.
type gatewayProc struct {
	URL    string
	Env    map[string]string
	output *syncBuffer
}

// syncBuffer collects a process's output while the test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway runs bin as the container would (env only: GATEWAY_CONFIG and
// secrets), on a free loopback port, waits until `bin healthcheck` with the
// same environment succeeds, and stops it with SIGTERM at cleanup, expecting
// a clean exit. sysProc, if set, runs it as another user.
func startGateway(t *testing.T, bin string, env map[string]string, sysProc *syscall.SysProcAttr) *gatewayProc {
	t.Helper()
	port := freePort(t)
	env = clone(env)
	env["GATEWAY_LISTEN"] = "127.0.0.1:" + strconv.Itoa(port)
	out := &syncBuffer{}
	cmd := exec.Command(bin)
	cmd.Env = environ(env)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProc
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	startFailed := false
	t.Cleanup(func() {
		if startFailed {
			return // already reported
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("gateway did not stop cleanly on SIGTERM: %v\n%s", waitErr, out.String())
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("gateway did not stop within 15s of SIGTERM\n%s", out.String())
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			startFailed = true
			t.Fatalf("gateway exited at start: %v\n%s", waitErr, out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hc := exec.CommandContext(ctx, bin, "healthcheck")
		hc.Env = environ(env)
		hc.SysProcAttr = sysProc
		hcOut, err := hc.CombinedOutput()
		cancel()
		if err == nil {
			if !bytes.Contains(hcOut, []byte("200 OK")) {
				t.Errorf("healthcheck succeeded but printed %q", hcOut)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("`gateway healthcheck` never succeeded: %v: %s\ngateway output:\n%s", err, hcOut, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &gatewayProc{URL: "http://127.0.0.1:" + strconv.Itoa(port), Env: env, output: out}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// configVars lists the ${VAR}s in a gateway config's values (not keys, not
// comments), as the gateway's loader expands them.
func configVars(t *testing.T, config []byte) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(config, &doc); err != nil {
		t.Fatalf("config: %v", err)
	}
	seen := map[string]bool{}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			for _, m := range envRef.FindAllStringSubmatch(n.Value, -1) {
				if !seen[m[1]] {
					seen[m[1]] = true
					out = append(out, m[1])
				}
			}
		}
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				continue // a key
			}
			walk(c)
		}
	}
	walk(&doc)
	sort.Strings(out)
	return out
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
