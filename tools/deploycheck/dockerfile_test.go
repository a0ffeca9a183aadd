package deploycheck

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestDockerfile parses deploy/Dockerfile with BuildKit's own parser and
// linter (no engine needed) and checks that it promises what `make image`
// builds: same binary flags, user, entrypoint and health check.
func TestDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("parser warning: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		t.Errorf("lint %s: %s (line %v)", rule, msg, loc)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("instructions: %v", err)
	}
	byName := map[string]instructions.Stage{}
	for _, s := range stages {
		byName[s.Name] = s
	}

	// The Go version the builder image uses matches go.mod's.
	goVersion := ""
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Key == "GO_VERSION" && kv.Value != nil {
				goVersion = *kv.Value
			}
		}
	}
	if mod := goModVersion(t); !strings.HasPrefix(mod, goVersion+".") && mod != goVersion {
		t.Errorf("ARG GO_VERSION=%q does not match go.mod's go %s", goVersion, mod)
	}

	build, ok := byName["build"]
	if !ok {
		t.Fatal("no build stage")
	}
	var buildCmd string
	for _, c := range build.Commands {
		if r, ok := c.(*instructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "./cmd/gateway") {
			buildCmd = strings.Join(r.CmdLine, " ")
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build -trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "-o /out/gateway ./cmd/gateway"} {
		if !strings.Contains(buildCmd, want) {
			t.Errorf("the build stage's go build lacks %s: %q", want, buildCmd)
		}
	}

	final := stages[len(stages)-1]
	if final.Name != "gateway" {
		t.Errorf("the last (default) stage is %q, want gateway", final.Name)
	}
	for _, s := range []instructions.Stage{final, byName["vendorsim"]} {
		if !strings.HasPrefix(s.BaseName, "gcr.io/distroless/static") || !strings.HasSuffix(s.BaseName, ":nonroot") {
			t.Errorf("stage %s is FROM %s, want distroless/static:nonroot", s.Name, s.BaseName)
		}
		user, health, entry := "", []string(nil), []string(nil)
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.UserCommand:
				user = c.User
			case *instructions.HealthCheckCommand:
				health = c.Health.Test
			case *instructions.EntrypointCommand:
				if c.PrependShell {
					t.Errorf("stage %s: ENTRYPOINT in shell form (there is no shell)", s.Name)
				}
				entry = c.CmdLine
			case *instructions.RunCommand:
				t.Errorf("stage %s: RUN in a shell-less stage", s.Name)
			}
		}
		if user != "65532:65532" {
			t.Errorf("stage %s: USER %q, want 65532:65532", s.Name, user)
		}
		if len(health) < 3 || !slices.Equal(health[:3], []string{"CMD", "/gateway", "healthcheck"}) {
			t.Errorf("stage %s: HEALTHCHECK %q, want CMD /gateway healthcheck (exec form)", s.Name, health)
		}
		if len(entry) == 0 {
			t.Errorf("stage %s: no ENTRYPOINT", s.Name)
		}
	}
	if _, ok := byName["vendorsim"]; !ok {
		t.Error("no vendorsim stage (docker-compose's demo profile builds it)")
	}
	for _, c := range final.Commands {
		if e, ok := c.(*instructions.EntrypointCommand); ok && !slices.Equal(e.CmdLine, []string{"/gateway"}) {
			t.Errorf("gateway ENTRYPOINT %q, want [/gateway] as in make image", e.CmdLine)
		}
	}

	// The context filter keeps what the build needs.
	ignore, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(ignore)))
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "go.mod", "go.sum", "cmd", "internal", "api", "*.go", "**/*.go", "**/*.yaml", "*.yaml":
			t.Errorf("Dockerfile.dockerignore excludes %q, which the build needs", sc.Text())
		}
	}
}

func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}
