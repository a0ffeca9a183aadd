package deploycheck

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

var deployDir = filepath.Join(repoRoot, "deploy")

// loadCompose loads deploy/docker-compose.yml as `docker compose -f
// deploy/docker-compose.yml [--env-file F]` would, from env alone (the
// test's own environment is not consulted).
func loadCompose(t *testing.T, env map[string]string, envFiles ...string) (*types.Project, error) {
	t.Helper()
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(deployDir, "docker-compose.yml")},
		cli.WithWorkingDirectory(deployDir),
		cli.WithEnv(kv),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// readEnvFile reads KEY=value lines (comments and blanks skipped).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		out[k] = v
	}
	return out
}

// serviceEnv is a service's resolved environment (environment + env_file).
func serviceEnv(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// checkGatewayService checks the gateway service's shape and returns its
// config file on the host and its environment.
func checkGatewayService(t *testing.T, p *types.Project) (configFile string, env map[string]string) {
	t.Helper()
	gw, ok := p.Services["gateway"]
	if !ok {
		t.Fatal("no gateway service")
	}
	if gw.HealthCheck == nil || !slices.Equal([]string(gw.HealthCheck.Test), []string{"CMD", "/gateway", "healthcheck"}) {
		t.Errorf("gateway healthcheck %+v, want [CMD /gateway healthcheck]", gw.HealthCheck)
	}
	if gw.User != "65532:65532" || !gw.ReadOnly || !slices.Contains(gw.CapDrop, "ALL") {
		t.Errorf("gateway: user %q read_only %v cap_drop %v; want 65532:65532, read-only, ALL dropped", gw.User, gw.ReadOnly, gw.CapDrop)
	}
	if !slices.Contains(gw.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("gateway security_opt %v: want no-new-privileges", gw.SecurityOpt)
	}
	if dep, ok := gw.DependsOn["redis"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("gateway should wait for a healthy redis: %+v", gw.DependsOn)
	}
	if gw.Build == nil || gw.Build.Dockerfile != "deploy/Dockerfile" || gw.Build.Target != "gateway" {
		t.Errorf("gateway build %+v: want deploy/Dockerfile, target gateway", gw.Build)
	}
	if gw.StopGracePeriod == nil || time.Duration(*gw.StopGracePeriod) <= 30*time.Second {
		t.Errorf("stop_grace_period %v: want more than the 30s shutdown_timeout", gw.StopGracePeriod)
	}
	env = serviceEnv(gw)
	target := env["GATEWAY_CONFIG"]
	for _, v := range gw.Volumes {
		if v.Target == target {
			if v.Type != types.VolumeTypeBind || !v.ReadOnly {
				t.Errorf("config mount %+v: want a read-only bind mount", v)
			}
			configFile = v.Source
		}
	}
	if configFile == "" {
		t.Fatalf("GATEWAY_CONFIG=%q is not a mounted file: volumes %+v", target, gw.Volumes)
	}
	if _, err := os.Stat(configFile); err != nil {
		t.Fatalf("the config file the gateway mounts: %v", err)
	}
	published := false
	for _, port := range gw.Ports {
		published = published || port.Target == 8080
	}
	if !published || env["GATEWAY_LISTEN"] != ":8080" {
		t.Errorf("gateway should listen on and publish 8080: GATEWAY_LISTEN=%q ports %+v", env["GATEWAY_LISTEN"], gw.Ports)
	}

	redis, ok := p.Services["redis"]
	if !ok {
		t.Fatal("no redis service")
	}
	if redis.HealthCheck == nil || len(redis.HealthCheck.Test) == 0 {
		t.Error("redis has no healthcheck (the gateway waits for it)")
	}
	if !strings.Contains(env["GATEWAY_REDIS_URL"], "//redis:6379") {
		t.Errorf("GATEWAY_REDIS_URL=%q: want the redis service", env["GATEWAY_REDIS_URL"])
	}
	return configFile, env
}

// TestComposeProduction: the default project (real vendors, secrets from
// compose/secrets.env) is valid, needs its secrets file, and the config it
// mounts starts the gateway with the variables secrets.env.example lists.
func TestComposeProduction(t *testing.T) {
	// Without a secrets file, compose refuses to start rather than running without secrets.
	if _, err := loadCompose(t, nil); err == nil || !strings.Contains(err.Error(), "secrets.env") {
		t.Errorf("loading without compose/secrets.env: err = %v, want an error naming it", err)
	}

	example := readEnvFile(t, filepath.Join(deployDir, "compose", "secrets.env.example"))
	secrets := map[string]string{}
	for k := range example {
		secrets[k] = "test-" + strings.ToLower(k)
	}
	secrets["NXCLOUD_TENANT_ID"] = "144"
	var lines []string
	for k, v := range secrets {
		lines = append(lines, k+"="+v)
	}
	secretsFile := writeFile(t, "secrets.env", []byte(strings.Join(lines, "\n")+"\n"))

	p, err := loadCompose(t, map[string]string{"GATEWAY_SECRETS_FILE": secretsFile})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for n := range p.Services {
			if !yield(n) {
				return
			}
		}
	}); !slices.Equal(got, []string{"gateway", "redis"}) {
		t.Errorf("default services %v, want gateway and redis (vendorsim only with --profile demo)", got)
	}
	configFile, env := checkGatewayService(t, p)
	if !strings.HasSuffix(configFile, filepath.Join("deploy", "compose", "gateway.yaml")) {
		t.Errorf("default config %s, want compose/gateway.yaml", configFile)
	}
	cfg, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range configVars(t, cfg) {
		if _, ok := env[v]; !ok {
			t.Errorf("the config reads ${%s}, which neither the compose file nor secrets.env.example provides", v)
		}
	}
	// The gateway starts on that config with exactly that environment
	// (Redis unreachable here: it serves, degraded, and says so).
	env["GATEWAY_CONFIG"] = configFile
	startGateway(t, binary(t, "gateway"), env, nil)
}

// TestComposeDemo: `--env-file deploy/compose/demo.env` enables the demo
// profile, and its gateway, pointed at a real vendorsim, creates a customer.
func TestComposeDemo(t *testing.T) {
	p, err := loadCompose(t, nil, filepath.Join(deployDir, "compose", "demo.env"))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	sim, ok := p.Services["vendorsim"]
	if !ok {
		t.Fatalf("the demo env file does not enable vendorsim: services %v", p.ServiceNames())
	}
	if sim.HealthCheck == nil || len(sim.HealthCheck.Test) < 3 || sim.HealthCheck.Test[1] != "/gateway" {
		t.Errorf("vendorsim healthcheck %+v: want the gateway binary's healthcheck -url", sim.HealthCheck)
	}
	if sim.Build == nil || sim.Build.Target != "vendorsim" {
		t.Errorf("vendorsim build %+v: want target vendorsim", sim.Build)
	}
	configFile, env := checkGatewayService(t, p)
	if !strings.HasSuffix(configFile, filepath.Join("compose", "demo.yaml")) {
		t.Errorf("demo config %s, want compose/demo.yaml", configFile)
	}
	// The same probe the vendorsim service's healthcheck uses, and the
	// vendorsim port the demo config points at.
	simPort := freePort(t)
	simCmd := exec.Command(binary(t, "vendorsim"), "-listen", "127.0.0.1:"+strconv.Itoa(simPort))
	if err := simCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { simCmd.Process.Kill(); simCmd.Wait() })
	probe := strings.Replace(sim.HealthCheck.Test[len(sim.HealthCheck.Test)-1], "127.0.0.1:9090", "127.0.0.1:"+strconv.Itoa(simPort), 1)
	waitFor(t, func() error {
		return exec.Command(binary(t, "gateway"), "healthcheck", "-url", probe).Run()
	})

	cfg, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "http://vendorsim:9090/") {
		t.Fatal("the demo config does not point at vendorsim:9090")
	}
	local := strings.ReplaceAll(string(cfg), "http://vendorsim:9090/", "http://127.0.0.1:"+strconv.Itoa(simPort)+"/")
	env["GATEWAY_CONFIG"] = writeFile(t, "demo.yaml", []byte(local))
	if u := os.Getenv("REDIS_URL"); u != "" && redisAnswers(u) {
		env["GATEWAY_REDIS_URL"] = u // shared buckets, as in compose
	}
	gw := startGateway(t, binary(t, "gateway"), env, nil)

	// The README's first call, against each demo connection.
	for _, conn := range []string{"helpcrunch-main", "zenvia-br", "nxcloud-asia"} {
		body := `{"first_name":"Ana","last_name":"Souza","email":"ana@example.com","phone":"5511991417777"}`
		req, _ := http.NewRequest("POST", gw.URL+"/v1/connections/"+conn+"/customers", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+env["GATEWAY_ADMIN_KEY"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Errorf("create a customer on %s through the demo: %s %s", conn, resp.Status, b)
			continue
		}
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Errorf("%s: %v: %s", conn, err, b)
		}
	}
}

func waitFor(t *testing.T, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatal(err)
}

// redisAnswers reports whether something listens at the redis:// URL's address.
func redisAnswers(url string) bool {
	hostPort := strings.TrimPrefix(strings.TrimPrefix(url, "redis://"), "rediss://")
	if i := strings.LastIndex(hostPort, "@"); i >= 0 {
		hostPort = hostPort[i+1:]
	}
	hostPort, _, _ = strings.Cut(hostPort, "/")
	c, err := net.DialTimeout("tcp", hostPort, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
