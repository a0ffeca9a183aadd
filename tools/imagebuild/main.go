// Command imagebuild writes the gateway's container image as a tarball without
// a container engine: go-containerregistry assembles the layers and the
// config directly, and the tarball is both an OCI image layout and a
// `docker save` archive (docker load, podman load, skopeo, crane push).
// `make image` builds the static binary and runs it.
//
// The image is the equivalent of deploy/Dockerfile's final stage on
// distroless/static:nonroot: the binary at /gateway as entrypoint, user
// 65532:65532 (with /etc/passwd and /etc/group entries), CA certificates
// from the build host (Debian's ca-certificates), an empty /tmp, nothing
// else: no shell, no package manager. Timestamps come from -created
// (SOURCE_DATE_EPOCH), so the same inputs give the same digest.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the image promises; tools/deploycheck and deploy/Dockerfile agree on these.
const (
	binaryPath = "/gateway"
	user       = "65532:65532"
	uid, gid   = 65532, 65532
	caBundle   = "/etc/ssl/certs/ca-certificates.crt"
	port       = "8080/tcp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	binary := fs.String("binary", "", "the gateway binary, built for -platform (required)")
	out := fs.String("out", "", "tarball to write (required)")
	version := fs.String("version", "dev", "version label and tag")
	repo := fs.String("repository", "crm-gateway", "repository the tarball's tag names")
	platform := fs.String("platform", "linux/amd64", "os/arch of the binary")
	caFile := fs.String("ca-certs", caBundle, "PEM bundle of CA certificates to include (Debian's ca-certificates)")
	caCopyright := fs.String("ca-copyright", "/usr/share/doc/ca-certificates/copyright", "licence notice of the CA bundle, included when present")
	source := fs.String("source", "https://github.com/crm-gateway/crm-gateway", "org.opencontainers.image.source label")
	revision := fs.String("revision", "", "org.opencontainers.image.revision label (git commit)")
	created := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, Unix seconds (SOURCE_DATE_EPOCH); default 0 for reproducible output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binary == "" || *out == "" {
		return errors.New("-binary and -out are required")
	}
	osName, arch, ok := strings.Cut(*platform, "/")
	if !ok || osName != "linux" {
		return fmt.Errorf("-platform %q: want linux/<arch>", *platform)
	}
	var epoch int64
	if *created != "" {
		var err error
		if epoch, err = strconv.ParseInt(*created, 10, 64); err != nil {
			return fmt.Errorf("-created %q: %w", *created, err)
		}
	}
	mtime := time.Unix(epoch, 0).UTC()

	bin, err := os.ReadFile(*binary)
	if err != nil {
		return err
	}
	certs, err := os.ReadFile(*caFile)
	if err != nil {
		return fmt.Errorf("CA certificates: %w (install Debian's ca-certificates or pass -ca-certs)", err)
	}
	if n := countCerts(certs); n == 0 {
		return fmt.Errorf("%s holds no certificates", *caFile)
	}

	base := []entry{
		dir("etc/", 0o755, 0), dir("etc/ssl/", 0o755, 0), dir("etc/ssl/certs/", 0o755, 0),
		file(strings.TrimPrefix(caBundle, "/"), 0o644, 0, certs),
		file("etc/passwd", 0o644, 0, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")),
		file("etc/group", 0o644, 0, []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")),
		// Go's resolver reads this; distroless ships the same line.
		file("etc/nsswitch.conf", 0o644, 0, []byte("hosts: files dns\n")),
		dir("home/", 0o755, 0), dir("home/nonroot/", 0o700, uid),
		dir("tmp/", 0o1777, 0),
	}
	if notice, err := os.ReadFile(*caCopyright); err == nil {
		base = append(base, dir("usr/", 0o755, 0), dir("usr/share/", 0o755, 0), dir("usr/share/doc/", 0o755, 0),
			dir("usr/share/doc/ca-certificates/", 0o755, 0),
			file("usr/share/doc/ca-certificates/copyright", 0o644, 0, notice))
	}
	app := []entry{file(strings.TrimPrefix(binaryPath, "/"), 0o755, 0, bin)}

	var layers []v1.Layer
	for _, entries := range [][]entry{base, app} {
		l, err := layer(entries, mtime)
		if err != nil {
			return err
		}
		layers = append(layers, l)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = osName, arch
	cf.Created = v1.Time{Time: mtime}
	cf.Author = "CRM Gateway"
	cf.Config = v1.Config{
		User:         user,
		Entrypoint:   []string{binaryPath},
		WorkingDir:   "/home/nonroot",
		Env:          []string{"PATH=/", "SSL_CERT_FILE=" + caBundle},
		ExposedPorts: map[string]struct{}{port: {}},
		StopSignal:   "SIGTERM",
		// Honoured by Docker (Kubernetes ignores it and uses the chart's probes).
		Healthcheck: &v1.HealthConfig{
			Test:     []string{"CMD", binaryPath, "healthcheck"},
			Interval: 10 * time.Second, Timeout: 3 * time.Second, StartPeriod: 5 * time.Second, Retries: 3,
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "crm-gateway",
			"org.opencontainers.image.description": "One normalized REST API in front of CRM vendors",
			"org.opencontainers.image.version":     *version,
			"org.opencontainers.image.source":      *source,
			"org.opencontainers.image.created":     mtime.Format(time.RFC3339),
		},
	}
	if *revision != "" {
		cf.Config.Labels["org.opencontainers.image.revision"] = *revision
	}
	cf.History = []v1.History{
		{Created: v1.Time{Time: mtime}, CreatedBy: "imagebuild: /etc (passwd, group, CA certificates), /home/nonroot, /tmp", Comment: "base"},
		{Created: v1.Time{Time: mtime}, CreatedBy: "imagebuild: " + binaryPath, Comment: "gateway " + *version},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}

	ref := *repo + ":" + tagSafe(*version)
	tag, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	if err := writeArchive(tmp, ref, tag, img, mtime); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	size, _ := fileSize(*out)
	fmt.Printf("wrote %s (%d bytes): %s %s/%s\n  image id %s\n  manifest %s (OCI)\n", *out, size, ref, osName, arch, id, digest)
	return nil
}

// writeArchive writes img as one tar that is both an OCI image layout
// (oci-layout, index.json, blobs/sha256/...) and a `docker save` archive
// (manifest.json naming the same blobs), as `docker save` itself does since
// Docker 25: docker load, podman load, skopeo (oci-archive:) and
// go-containerregistry's tarball package all read it.
func writeArchive(out, ref string, tag name.Tag, img v1.Image, mtime time.Time) error {
	dir, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
		"io.containerd.image.name":          tag.Name(),
	})); err != nil {
		return err
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: "blobs/sha256/" + cfg.Hex, RepoTags: []string{ref}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		entry.Layers = append(entry.Layers, "blobs/sha256/"+d.Hex)
	}
	manifest, err := json.Marshal([]any{entry})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), manifest, 0o644); err != nil {
		return err
	}

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	var names []string
	if err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != dir {
			names = append(names, path)
		}
		return err
	}); err != nil {
		return err
	}
	sort.Strings(names)
	for _, path := range names {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: st.Size(), Format: tar.FormatPAX}
		if st.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !st.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func dir(name string, mode int64, owner int) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: owner, Gid: owner}}
}

func file(name string, mode int64, owner int, body []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: owner, Gid: owner, Size: int64(len(body))}, body: body}
}

// layer builds a gzipped layer from entries with fixed times and owners.
func layer(entries []entry, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime, h.Format = mtime, tar.FormatPAX
		if h.Uid == 0 {
			h.Uname, h.Gname = "root", "root"
		} else {
			h.Uname, h.Gname = "nonroot", "nonroot"
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

func countCerts(pemBytes []byte) int {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return 0
	}
	return strings.Count(string(pemBytes), "BEGIN CERTIFICATE")
}

var notTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// tagSafe makes a version usable as an image tag (v1.2.3+meta → v1.2.3-meta).
func tagSafe(v string) string {
	v = notTagChars.ReplaceAllString(v, "-")
	v = strings.TrimLeft(v, ".-")
	if v == "" {
		v = "dev"
	}
	if len(v) > 128 {
		v = v[:128]
	}
	return v
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
