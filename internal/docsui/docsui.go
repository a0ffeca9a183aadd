// Package docsui serves the gateway's browsable API documentation (Swagger UI) at /docs from
// assets embedded in the binary, so the docs work offline and nothing is fetched at runtime.
//
// The Swagger UI files are vendored by update-assets.sh from a pinned swagger-ui-dist release whose
// tarball sha256 is checked; assets/VERSION records the version and the sha256 of every vendored
// file, and the handler re-checks those hashes when it is built. The page itself (index.html,
// init.js, docs.css) is ours. It loads the spec from ../openapi.yaml relative to /docs/, i.e. the
// gateway's /openapi.yaml.
package docsui

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var embedded embed.FS

// MountPath is the request path the handler owns. The handler expects the full request path
// (it does not strip a prefix), so it can be mounted as-is on any router that passes the original
// URL through, e.g. Echo's echo.WrapHandler on "/docs" and "/docs/*".
const MountPath = "/docs"

// ContentSecurityPolicy is sent with every response of the handler. Scripts may only come from
// the gateway itself (init.js holds the configuration, so no inline script is needed); Swagger UI
// sets inline styles, hence 'unsafe-inline' for styles only; its CSS uses data: URIs for icons;
// fetching the spec and "Try it out" are same-origin. Everything else, including framing, plugins
// and form posts elsewhere, is refused.
const ContentSecurityPolicy = "default-src 'none'; " +
	"script-src 'self'; " +
	"style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; " +
	"font-src 'self' data:; " +
	"connect-src 'self'; " +
	"form-action 'self'; " +
	"base-uri 'none'; " +
	"object-src 'none'; " +
	"frame-ancestors 'none'"

const (
	// cacheImmutable is used for vendored files requested with the current version in ?v=:
	// that URL can never denote other bytes, because a new release changes the query.
	cacheImmutable = "public, max-age=31536000, immutable"
	// cacheRevalidate makes browsers check the ETag on every use: right for index.html, whose
	// ?v= links must be seen as soon as the gateway is upgraded, and for unversioned URLs.
	cacheRevalidate = "no-cache"
)

// contentTypes lists every extension the assets directory may hold. Building the handler fails on
// any other, so adding a file forces a deliberate choice of type instead of sniffing.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	"":      "text/plain; charset=utf-8", // LICENSE, NOTICE, VERSION
}

// versionPattern limits the recorded version to characters that need no escaping in a query
// string, because it is compared verbatim with the ?v= value.
var versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]*$`)

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// asset is one servable file with everything precomputed, so requests do no hashing or lookups
// beyond a map access.
type asset struct {
	body        []byte
	contentType string
	etag        string
	// vendored files are byte-for-byte upstream copies checked against VERSION; only they may be
	// cached as immutable.
	vendored bool
}

// manifest is the parsed assets/VERSION.
type manifest struct {
	pkg           string
	version       string
	tarballSHA256 string
	// files maps each vendored file name to its recorded sha256 (lower-case hex).
	files map[string]string
}

// handler serves the embedded docs.
type handler struct {
	assets  map[string]asset
	version string
}

var (
	defaultOnce    sync.Once
	defaultHandler *handler
	defaultErr     error
)

// Handler returns the http.Handler for /docs, /docs/ and /docs/<asset>. It answers GET and HEAD
// only. /docs is redirected to /docs/ (with a relative Location, so a proxy path prefix survives)
// because the page's relative links only resolve from the directory URL.
//
// Do not put a trailing-slash-removing middleware in front of it: /docs/ would loop back to /docs.
//
// The embedded assets are fixed at build time and covered by the package's tests, so a failure to
// index them is a programming error and panics rather than burdening every caller with an error.
func Handler() http.Handler {
	defaultOnce.Do(func() {
		defaultHandler, defaultErr = newHandler(embedded, "assets")
	})
	if defaultErr != nil {
		panic(fmt.Sprintf("docsui: embedded assets are invalid: %v", defaultErr))
	}
	return defaultHandler
}

// newHandler indexes the files in dir of fsys, checks every vendored file against the sha256
// recorded in VERSION and precomputes content types and ETags.
func newHandler(fsys fs.FS, dir string) (*handler, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("open assets directory %q: %w", dir, err)
	}
	rawManifest, err := fs.ReadFile(sub, "VERSION")
	if err != nil {
		return nil, fmt.Errorf("read VERSION: %w", err)
	}
	m, err := parseManifest(rawManifest)
	if err != nil {
		return nil, fmt.Errorf("parse VERSION: %w", err)
	}

	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	h := &handler{assets: make(map[string]asset, len(entries)), version: m.version}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			return nil, fmt.Errorf("asset %q: subdirectories are not served", name)
		}
		// Shell scripts and editor leftovers must not ship by accident; see contentTypes.
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil, fmt.Errorf("asset %q: no content type for extension %q", name, path.Ext(name))
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return nil, fmt.Errorf("read asset %q: %w", name, err)
		}
		sum := sha256.Sum256(body)
		digest := hex.EncodeToString(sum[:])
		want, vendored := m.files[name]
		if vendored && digest != want {
			return nil, fmt.Errorf("asset %q: sha256 %s does not match %s recorded in VERSION (edited by hand? rerun update-assets.sh)", name, digest, want)
		}
		h.assets[name] = asset{
			body:        body,
			contentType: ct,
			etag:        `"` + digest[:32] + `"`,
			vendored:    vendored,
		}
	}
	for name := range m.files {
		if _, ok := h.assets[name]; !ok {
			return nil, fmt.Errorf("vendored file %q listed in VERSION is missing", name)
		}
	}
	if _, ok := h.assets["index.html"]; !ok {
		return nil, errors.New("index.html is missing")
	}
	return h, nil
}

// parseManifest reads the key=value lines written by update-assets.sh.
func parseManifest(data []byte) (manifest, error) {
	m := manifest{files: make(map[string]string)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return manifest{}, fmt.Errorf("line %d: want key=value, got %q", lineNo, line)
		}
		switch key {
		case "package":
			m.pkg = value
		case "version":
			if !versionPattern.MatchString(value) {
				return manifest{}, fmt.Errorf("line %d: version %q has characters unfit for a query string", lineNo, value)
			}
			m.version = value
		case "tarball_sha256":
			if !sha256Pattern.MatchString(value) {
				return manifest{}, fmt.Errorf("line %d: tarball_sha256 %q is not 64 lower-case hex digits", lineNo, value)
			}
			m.tarballSHA256 = value
		case "vendored":
			name, sum, ok := strings.Cut(value, " ")
			if !ok || name == "" || !sha256Pattern.MatchString(sum) {
				return manifest{}, fmt.Errorf("line %d: want vendored=<file> <sha256>, got %q", lineNo, line)
			}
			if _, dup := m.files[name]; dup {
				return manifest{}, fmt.Errorf("line %d: %q listed twice", lineNo, name)
			}
			m.files[name] = sum
		default:
			// Unknown keys are refused rather than ignored: a typo would otherwise silently drop
			// a file from the integrity check.
			return manifest{}, fmt.Errorf("line %d: unknown key %q", lineNo, key)
		}
	}
	if err := sc.Err(); err != nil {
		return manifest{}, fmt.Errorf("scan: %w", err)
	}
	switch {
	case m.pkg == "":
		return manifest{}, errors.New("package is missing")
	case m.version == "":
		return manifest{}, errors.New("version is missing")
	case m.tarballSHA256 == "":
		return manifest{}, errors.New("tarball_sha256 is missing")
	case len(m.files) == 0:
		return manifest{}, errors.New("no vendored files listed")
	}
	return m, nil
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// Security headers go on every answer, errors and redirects included: they cost nothing and
	// a 404 page rendered by a browser is still a page.
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}

	p := r.URL.Path
	if p == MountPath {
		// Relative on purpose: http.Redirect would make it absolute ("/docs/") and break a
		// gateway published under a path prefix by a reverse proxy.
		loc := path.Base(MountPath) + "/"
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		hdr.Set("Location", loc)
		hdr.Set("Cache-Control", cacheRevalidate)
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(p, MountPath+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}

	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	if a.vendored && r.URL.Query().Get("v") == h.version {
		hdr.Set("Cache-Control", cacheImmutable)
	} else {
		hdr.Set("Cache-Control", cacheRevalidate)
	}
	// ServeContent answers If-None-Match (304), Range and HEAD from the ETag and body; the zero
	// modification time keeps it from inventing a Last-Modified for embedded files.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
