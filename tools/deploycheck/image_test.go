package deploycheck

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestImage inspects the tarball `make image` wrote (IMAGE_TAR): config,
// filesystem, the binary's build flags, then runs the binary it contains.
func TestImage(t *testing.T) {
	path := os.Getenv("IMAGE_TAR")
	if path == "" {
		t.Skip("IMAGE_TAR is not set: run `make image-test`")
	}
	wantVersion := os.Getenv("IMAGE_VERSION")
	wantArch := os.Getenv("IMAGE_ARCH")
	if wantArch == "" {
		wantArch = "amd64"
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	checkOCILayout(t, path, img)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != wantArch {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, wantArch)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root, numeric for runAsNonRoot)", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/gateway"}) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/gateway] and no cmd", c.Entrypoint, c.Cmd)
	}
	if c.Healthcheck == nil || !slices.Equal(c.Healthcheck.Test, []string{"CMD", "/gateway", "healthcheck"}) {
		t.Errorf("healthcheck %+v, want CMD /gateway healthcheck", c.Healthcheck)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 8080/tcp", c.ExposedPorts)
	}
	if v := c.Labels["org.opencontainers.image.version"]; v == "" || (wantVersion != "" && v != wantVersion) {
		t.Errorf("version label %q, want %q", v, wantVersion)
	}
	if m, err := img.Manifest(); err != nil || len(m.Layers) != 2 {
		t.Errorf("want 2 layers (base files, binary), got %v (%v)", m, err)
	}

	files := extract(t, img)
	for _, name := range []string{"bin/sh", "bin/busybox", "usr/bin/curl", "usr/bin/wget"} {
		if _, ok := files[name]; ok {
			t.Errorf("%s is in the image: it should hold no shell or tools", name)
		}
	}
	bin, ok := files["gateway"]
	if !ok {
		t.Fatal("/gateway is not in the image")
	}
	if bin.hdr.Mode&0o777 != 0o755 || bin.hdr.Uid != 0 {
		t.Errorf("/gateway mode %o uid %d: want 0755 owned by root (not writable by the runtime user)", bin.hdr.Mode, bin.hdr.Uid)
	}
	if f := files["etc/passwd"]; f == nil || !strings.Contains(string(f.body), "nonroot:x:65532:65532:") {
		t.Error("/etc/passwd has no nonroot (65532) entry")
	}
	if f := files["tmp"]; f == nil || f.hdr.Typeflag != tar.TypeDir || f.hdr.Mode&0o1777 != 0o1777 {
		t.Error("/tmp missing or not 1777")
	}
	ca := files["etc/ssl/certs/ca-certificates.crt"]
	if ca == nil {
		t.Fatal("no CA certificates at /etc/ssl/certs/ca-certificates.crt")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.body) || strings.Count(string(ca.body), "BEGIN CERTIFICATE") < 50 {
		t.Error("the CA bundle does not parse or holds fewer than 50 certificates")
	}
	checkStaticBinary(t, bin.body, wantArch)

	if wantArch != runtime.GOARCH {
		t.Logf("image is %s, host is %s: not running its binary", wantArch, runtime.GOARCH)
		return
	}
	// Run the image's own binary, as the image's user when the test can.
	// Not t.TempDir(): its parent is 0700, and the binary may run as 65532.
	dir, err := os.MkdirTemp("", "deploycheck-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "gateway")
	if err := os.WriteFile(exe, bin.body, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "crm-gateway ") {
		t.Fatalf("gateway version: %v: %q", err, out)
	}
	if got := strings.TrimSpace(strings.TrimPrefix(string(out), "crm-gateway ")); wantVersion != "" && got != wantVersion {
		t.Errorf("gateway version printed %q, want %q (-X main.version)", got, wantVersion)
	}
	var asUser *syscall.SysProcAttr
	if os.Getuid() == 0 {
		asUser = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	}
	// Sandbox mode (no config), probed by its own `healthcheck`, as the image's HEALTHCHECK does.
	gw := startGateway(t, exe, map[string]string{"GATEWAY_SANDBOX_KEY": "image-test"}, asUser)
	t.Logf("image binary served %s and answered its healthcheck (uid %d)", gw.URL, map[bool]int{true: 65532, false: os.Getuid()}[asUser != nil])
}

type tarFile struct {
	hdr  *tar.Header
	body []byte
}

// extract flattens the image's layers into name → file.
func extract(t *testing.T, img v1.Image) map[string]*tarFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]*tarFile{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if h.Typeflag == tar.TypeReg {
			if body, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		files[strings.Trim(strings.TrimPrefix(h.Name, "./"), "/")] = &tarFile{hdr: h, body: body}
	}
	return files
}

// checkStaticBinary checks what the Dockerfile and `make image` promise: a
// static (no interpreter, no cgo), stripped (-s -w), -trimpath build with
// the version stamped.
func checkStaticBinary(t *testing.T, b []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/gateway is not an ELF binary: %v", err)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != machine {
		t.Errorf("ELF machine %v, want %v", f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	for _, name := range []string{".symtab", ".debug_info", ".zdebug_info"} {
		if f.Section(name) != nil {
			t.Errorf("section %s present: not stripped with -s -w", name)
		}
	}
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOOS"] != "linux" || settings["GOARCH"] != arch {
		t.Errorf("build settings %v: want CGO_ENABLED=0 -trimpath GOOS=linux GOARCH=%s", settings, arch)
	}
	// Go does not record -ldflags with -trimpath (go.dev/issue/52372): the
	// missing sections above show -s -w, `version` below shows -X.
}

// checkOCILayout reads the same tarball as an OCI image layout (what podman,
// skopeo and containerd import) and checks it names the same image as its
// docker-archive manifest.json.
func checkOCILayout(t *testing.T, path string, docker v1.Image) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(h.Name, "..") {
			t.Fatalf("unsafe path %q in the tarball", h.Name)
		}
		target := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(target, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(target), 0o755)
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("the tarball is not an OCI image layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index.json: want one image, got %v (%v)", im, err)
	}
	desc := im.Manifests[0]
	if desc.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %q, want OCI", desc.MediaType)
	}
	if desc.Annotations["org.opencontainers.image.ref.name"] == "" || desc.Annotations["io.containerd.image.name"] == "" {
		t.Errorf("index.json does not name the image: %v", desc.Annotations)
	}
	oci, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	a, errA := oci.ConfigName()
	b, errB := docker.ConfigName()
	if errA != nil || errB != nil || a != b {
		t.Errorf("OCI layout config %v (%v) and manifest.json config %v (%v) differ", a, errA, b, errB)
	}
	layers, _ := oci.Layers()
	for _, l := range layers {
		if mt, _ := l.MediaType(); mt != types.OCILayer {
			t.Errorf("layer media type %q, want %q", mt, types.OCILayer)
		}
	}
}
