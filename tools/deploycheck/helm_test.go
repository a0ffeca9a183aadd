package deploycheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// manifests is `helm template` output, by kind and name.
type manifests map[string]map[string]map[string]any

func loadRendered(t *testing.T, name string) manifests {
	t.Helper()
	dir := os.Getenv("HELM_RENDERED")
	if dir == "" {
		t.Skip("HELM_RENDERED is not set: run `make helm-lint`")
	}
	b, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := manifests{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc == nil {
			continue
		}
		kind, _ := doc["kind"].(string)
		n, _ := get(doc, "metadata", "name").(string)
		if out[kind] == nil {
			out[kind] = map[string]map[string]any{}
		}
		out[kind][n] = doc
	}
	return out
}

// get walks maps by key and lists by index ("0").
func get(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func one(t *testing.T, m manifests, kind string) map[string]any {
	t.Helper()
	if len(m[kind]) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(m[kind]))
	}
	for _, d := range m[kind] {
		return d
	}
	return nil
}

// gatewayObj finds the one object of kind labelled as the gateway's component.
func gatewayObj(t *testing.T, m manifests, kind string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, d := range m[kind] {
		if get(d, "metadata", "labels", "app.kubernetes.io/component") == "gateway" {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one gateway %s, got %d", kind, len(found))
	}
	return found[0]
}

// gatewayDeployment finds the gateway's Deployment (not the bundled Redis).
func gatewayDeployment(t *testing.T, m manifests) (dep, container map[string]any) {
	t.Helper()
	for _, d := range m["Deployment"] {
		if get(d, "spec", "template", "metadata", "labels", "app.kubernetes.io/component") == "gateway" {
			c, _ := get(d, "spec", "template", "spec", "containers", "0").(map[string]any)
			return d, c
		}
	}
	t.Fatal("no gateway Deployment")
	return nil, nil
}

func envOf(c map[string]any) (plain map[string]string, fromSecrets []string) {
	plain = map[string]string{}
	for _, e := range asList(c["env"]) {
		if v, ok := get(e, "value").(string); ok {
			plain[get(e, "name").(string)] = v
		}
	}
	for _, e := range asList(c["envFrom"]) {
		if n, ok := get(e, "secretRef", "name").(string); ok {
			fromSecrets = append(fromSecrets, n)
		}
	}
	return plain, fromSecrets
}

func asList(v any) []any { l, _ := v.([]any); return l }

// checkWorkload checks what every rendering must hold.
func checkWorkload(t *testing.T, m manifests) (dep, c map[string]any) {
	t.Helper()
	dep, c = gatewayDeployment(t, m)
	pod := get(dep, "spec", "template", "spec")
	for path, want := range map[string]any{
		"securityContext/runAsNonRoot": true,
		"securityContext/runAsUser":    65532,
		"automountServiceAccountToken": false,
	} {
		if got := get(pod, strings.Split(path, "/")...); got != want {
			t.Errorf("pod %s = %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string]any{
		"securityContext/readOnlyRootFilesystem":   true,
		"securityContext/allowPrivilegeEscalation": false,
		"securityContext/capabilities/drop/0":      "ALL",
		"livenessProbe/httpGet/path":               "/healthz",
		"readinessProbe/httpGet/path":              "/readyz",
		"livenessProbe/httpGet/port":               "http",
		"ports/0/name":                             "http",
	} {
		if got := get(c, strings.Split(path, "/")...); got != want {
			t.Errorf("container %s = %v, want %v", path, got, want)
		}
	}
	if get(c, "resources", "requests", "cpu") == nil || get(c, "resources", "requests", "memory") == nil || get(c, "resources", "limits", "memory") == nil {
		t.Errorf("container resources %v: want cpu/memory requests and a memory limit", c["resources"])
	}
	env, _ := envOf(c)
	port := get(c, "ports", "0", "containerPort")
	if env["GATEWAY_LISTEN"] != fmt.Sprintf(":%v", port) {
		t.Errorf("GATEWAY_LISTEN=%q but containerPort %v", env["GATEWAY_LISTEN"], port)
	}
	// The config file is where GATEWAY_CONFIG says, from the ConfigMap.
	cm := one(t, m, "ConfigMap")
	mounted := false
	for _, vm := range asList(c["volumeMounts"]) {
		if filepath.Join(get(vm, "mountPath").(string), "config.yaml") == env["GATEWAY_CONFIG"] {
			for _, v := range asList(get(pod, "volumes")) {
				if get(v, "name") == get(vm, "name") && get(v, "configMap", "name") == get(cm, "metadata", "name") {
					mounted = get(vm, "readOnly") == true
				}
			}
		}
	}
	if !mounted {
		t.Errorf("GATEWAY_CONFIG=%q is not the ConfigMap's config.yaml mounted read-only", env["GATEWAY_CONFIG"])
	}
	// Service → the pods' http port; PDB → the same pods.
	svc := gatewayObj(t, m, "Service")
	if get(svc, "spec", "ports", "0", "targetPort") != "http" || !sameMap(get(svc, "spec", "selector"), get(dep, "spec", "selector", "matchLabels")) {
		t.Errorf("the Service does not select the gateway pods' http port: %v", get(svc, "spec"))
	}
	pdb := one(t, m, "PodDisruptionBudget")
	if !sameMap(get(pdb, "spec", "selector", "matchLabels"), get(dep, "spec", "selector", "matchLabels")) {
		t.Error("the PodDisruptionBudget does not select the gateway pods")
	}
	// SIGTERM lets in-flight requests finish: the grace period covers the pause and the shutdown.
	shutdown := 30 * time.Second
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(get(cm, "data", "config.yaml").(string)), &cfg); err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}
	if s, ok := get(cfg, "server", "shutdown_timeout").(string); ok {
		shutdown, _ = time.ParseDuration(s)
	}
	sleep, _ := get(c, "lifecycle", "preStop", "sleep", "seconds").(int)
	grace, _ := get(pod, "terminationGracePeriodSeconds").(int)
	if time.Duration(grace)*time.Second <= shutdown+time.Duration(sleep)*time.Second {
		t.Errorf("terminationGracePeriodSeconds %d does not cover preStop %ds + shutdown_timeout %s", grace, sleep, shutdown)
	}
	return dep, c
}

func sameMap(a, b any) bool {
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	if len(am) == 0 || len(am) != len(bm) {
		return false
	}
	for k, v := range am {
		if bm[k] != v {
			return false
		}
	}
	return true
}

// startWithConfigMap runs the gateway on the rendered ConfigMap's config.yaml
// with the container's plain env, the chart's Secret (if any), and a dummy
// for every other ${VAR}: the config the chart ships must load.
func startWithConfigMap(t *testing.T, m manifests, c map[string]any) *gatewayProc {
	t.Helper()
	cfg := []byte(get(one(t, m, "ConfigMap"), "data", "config.yaml").(string))
	env, secrets := envOf(c)
	for _, name := range secrets {
		if s, ok := m["Secret"][name]; ok {
			for k, v := range get(s, "stringData").(map[string]any) {
				env[k] = v.(string)
			}
		}
	}
	for _, v := range configVars(t, cfg) {
		if _, ok := env[v]; !ok {
			env[v] = "dummy-" + strings.ToLower(v)
			if v == "GATEWAY_REDIS_URL" {
				env[v] = "redis://127.0.0.1:1/0" // nothing there: serves degraded
			}
		}
	}
	if strings.Contains(env["GATEWAY_REDIS_URL"], "-redis:6379") {
		env["GATEWAY_REDIS_URL"] = "redis://127.0.0.1:1/0" // the bundled Redis's Service name
	}
	env["GATEWAY_CONFIG"] = writeFile(t, "config.yaml", cfg)
	return startGateway(t, binary(t, "gateway"), env, nil)
}

func TestHelmDefaults(t *testing.T) {
	m := loadRendered(t, "default")
	dep, c := checkWorkload(t, m)
	if r, _ := get(dep, "spec", "replicas").(int); r < 2 {
		t.Errorf("replicas %v, want at least 2", get(dep, "spec", "replicas"))
	}
	for _, kind := range []string{"HorizontalPodAutoscaler", "ServiceMonitor", "Secret"} {
		if len(m[kind]) != 0 {
			t.Errorf("%s rendered by default", kind)
		}
	}
	if len(m["Deployment"]) != 1 {
		t.Errorf("%d Deployments by default: the bundled Redis must be off", len(m["Deployment"]))
	}
	if env, _ := envOf(c); env["GATEWAY_REDIS_URL"] != "" {
		t.Errorf("GATEWAY_REDIS_URL=%q by default: want it from the Secret", env["GATEWAY_REDIS_URL"])
	}
	if p := m["Pod"]; len(p) != 1 {
		t.Error("no helm test Pod")
	} else {
		for _, pod := range p {
			args := get(pod, "spec", "containers", "0", "args")
			if get(args, "0") != "healthcheck" {
				t.Errorf("helm test pod args %v: want the image's healthcheck", args)
			}
		}
	}
	checkReplicas(t, m, c, "2") // replicaCount
	startWithConfigMap(t, m, c)
}

func TestHelmEverythingOn(t *testing.T) {
	m := loadRendered(t, "full")
	dep, c := checkWorkload(t, m)
	hpa := one(t, m, "HorizontalPodAutoscaler")
	if _, ok := get(dep, "spec").(map[string]any)["replicas"]; ok {
		t.Error("the Deployment sets replicas while the HPA owns them")
	}
	if get(hpa, "spec", "scaleTargetRef", "name") != get(dep, "metadata", "name") || get(hpa, "spec", "minReplicas") != 3 {
		t.Errorf("HPA %v", get(hpa, "spec"))
	}
	if min, _ := get(one(t, m, "PodDisruptionBudget"), "spec", "minAvailable").(int); min >= 3 {
		t.Errorf("PDB minAvailable %d would block every drain with %d replicas", min, 3)
	}
	sm := one(t, m, "ServiceMonitor")
	if get(sm, "spec", "endpoints", "0", "port") != "http" || get(sm, "metadata", "labels", "release") != "prometheus" {
		t.Errorf("ServiceMonitor %v", sm)
	}
	if get(c, "image") != "ghcr.io/crm-gateway/crm-gateway@sha256:0000000000000000000000000000000000000000000000000000000000000000" {
		t.Errorf("image %v: want the digest", get(c, "image"))
	}
	secret := one(t, m, "Secret")
	env, fromSecrets := envOf(c)
	if !slices.Equal(fromSecrets, []string{get(secret, "metadata", "name").(string)}) {
		t.Errorf("envFrom %v: want the chart's Secret", fromSecrets)
	}
	var redisDep map[string]any
	for name, d := range m["Deployment"] {
		if strings.HasSuffix(name, "-redis") {
			redisDep = d
		}
	}
	if redisDep == nil || m["Service"] == nil {
		t.Fatal("bundled Redis not rendered")
	}
	if rc := get(redisDep, "spec", "template", "spec", "containers", "0", "securityContext"); get(rc, "readOnlyRootFilesystem") != true {
		t.Errorf("bundled Redis securityContext %v", rc)
	}
	if !strings.HasPrefix(env["GATEWAY_REDIS_URL"], "redis://"+get(redisDep, "metadata", "name").(string)+":6379") {
		t.Errorf("GATEWAY_REDIS_URL=%q: want the bundled Redis", env["GATEWAY_REDIS_URL"])
	}
	checkReplicas(t, m, c, "8") // autoscaling.maxReplicas
	var cfg map[string]any
	yaml.Unmarshal([]byte(get(one(t, m, "ConfigMap"), "data", "config.yaml").(string)), &cfg)
	if len(get(cfg, "connections").(map[string]any)) != 3 {
		t.Error("the three connections of ci/full-values.yaml are not in the config")
	}
	startWithConfigMap(t, m, c)
}

func TestHelmExistingSecret(t *testing.T) {
	m := loadRendered(t, "existing")
	_, c := checkWorkload(t, m)
	env, fromSecrets := envOf(c)
	if !slices.Equal(fromSecrets, []string{"crm-gateway-env"}) || len(m["Secret"]) != 0 {
		t.Errorf("envFrom %v, Secrets %d: want only the existing Secret crm-gateway-env", fromSecrets, len(m["Secret"]))
	}
	if env["GATEWAY_REDIS_URL"] != "redis://redis-master.redis.svc:6379/0" {
		t.Errorf("GATEWAY_REDIS_URL=%q: want redis.url", env["GATEWAY_REDIS_URL"])
	}
}

// checkReplicas: the config's redis.replicas reads GATEWAY_REPLICAS, which
// the chart sets to the most replicas that may run.
func checkReplicas(t *testing.T, m manifests, c map[string]any, want string) {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(get(one(t, m, "ConfigMap"), "data", "config.yaml").(string)), &cfg); err != nil {
		t.Fatal(err)
	}
	if got := get(cfg, "redis", "replicas"); got != "${GATEWAY_REPLICAS}" {
		t.Errorf("config redis.replicas = %v, want ${GATEWAY_REPLICAS}", got)
	}
	if env, _ := envOf(c); env["GATEWAY_REPLICAS"] != want {
		t.Errorf("GATEWAY_REPLICAS=%q, want %s", env["GATEWAY_REPLICAS"], want)
	}
}
