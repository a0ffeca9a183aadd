package docsui

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// serve runs one request through the real embedded handler.
func serve(t *testing.T, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

// embeddedFile reads an asset straight from the embedded FS, independently of the handler.
func embeddedFile(t *testing.T, name string) string {
	t.Helper()
	b, err := embedded.ReadFile("assets/" + name)
	if err != nil {
		t.Fatalf("read embedded %s: %v", name, err)
	}
	return string(b)
}

func embeddedVersion(t *testing.T) string {
	t.Helper()
	m, err := parseManifest([]byte(embeddedFile(t, "VERSION")))
	if err != nil {
		t.Fatalf("parse embedded VERSION: %v", err)
	}
	return m.version
}

func TestHandlerRoutes(t *testing.T) {
	version := embeddedVersion(t)
	bundleSize := len(embeddedFile(t, "swagger-ui-bundle.js"))

	tests := []struct {
		name         string
		method       string
		target       string
		wantStatus   int
		wantType     string // prefix of Content-Type; "" = not checked
		wantCache    string // exact Cache-Control; "" = not checked
		wantLocation string
		wantBody     []string // substrings of the body
		wantBodyLen  int      // exact body length; 0 = not checked
		wantAllow    string
	}{
		{
			name: "bare mount path redirects to the directory URL", method: http.MethodGet, target: "/docs",
			wantStatus: http.StatusMovedPermanently, wantLocation: "docs/",
		},
		{
			name: "redirect keeps the query", method: http.MethodGet, target: "/docs?x=1&y=2",
			wantStatus: http.StatusMovedPermanently, wantLocation: "docs/?x=1&y=2",
		},
		{
			name: "directory URL serves index.html", method: http.MethodGet, target: "/docs/",
			wantStatus: http.StatusOK, wantType: "text/html; charset=utf-8", wantCache: "no-cache",
			wantBody: []string{"<title>CRM Gateway API</title>", `src="./init.js"`, `src="./swagger-ui-bundle.js?v=` + version + `"`},
		},
		{
			name: "index.html by name", method: http.MethodGet, target: "/docs/index.html",
			wantStatus: http.StatusOK, wantType: "text/html; charset=utf-8", wantCache: "no-cache",
			wantBody: []string{"CRM Gateway API"},
		},
		{
			name: "init.js carries the configuration", method: http.MethodGet, target: "/docs/init.js",
			wantStatus: http.StatusOK, wantType: "text/javascript; charset=utf-8", wantCache: "no-cache",
			wantBody: []string{"validatorUrl: null", "deepLinking: true", "persistAuthorization: true"},
		},
		{
			name: "versioned bundle is immutable", method: http.MethodGet, target: "/docs/swagger-ui-bundle.js?v=" + version,
			wantStatus: http.StatusOK, wantType: "text/javascript; charset=utf-8", wantCache: cacheImmutable,
			wantBody: []string{"SwaggerUIBundle"}, wantBodyLen: bundleSize,
		},
		{
			name: "bundle without version must be revalidated", method: http.MethodGet, target: "/docs/swagger-ui-bundle.js",
			wantStatus: http.StatusOK, wantType: "text/javascript; charset=utf-8", wantCache: "no-cache", wantBodyLen: bundleSize,
		},
		{
			name: "bundle with a stale version must be revalidated", method: http.MethodGet, target: "/docs/swagger-ui-bundle.js?v=0.0.1",
			wantStatus: http.StatusOK, wantCache: "no-cache",
		},
		{
			name: "versioned stylesheet is immutable", method: http.MethodGet, target: "/docs/swagger-ui.css?v=" + version,
			wantStatus: http.StatusOK, wantType: "text/css; charset=utf-8", wantCache: cacheImmutable,
			wantBody: []string{".swagger-ui"},
		},
		{
			name: "own files never become immutable", method: http.MethodGet, target: "/docs/init.js?v=" + version,
			wantStatus: http.StatusOK, wantCache: "no-cache",
		},
		{
			name: "own stylesheet", method: http.MethodGet, target: "/docs/docs.css",
			wantStatus: http.StatusOK, wantType: "text/css; charset=utf-8", wantBody: []string{".gateway-header"},
		},
		{
			name: "licence is served as text", method: http.MethodGet, target: "/docs/LICENSE",
			wantStatus: http.StatusOK, wantType: "text/plain; charset=utf-8", wantBody: []string{"Apache License"},
		},
		{
			name: "third-party notices of the bundle", method: http.MethodGet, target: "/docs/swagger-ui-bundle.js.LICENSE.txt",
			wantStatus: http.StatusOK, wantType: "text/plain; charset=utf-8", wantBody: []string{"MIT"},
		},
		{name: "unknown asset", method: http.MethodGet, target: "/docs/nope.js", wantStatus: http.StatusNotFound},
		{name: "source map is not vendored", method: http.MethodGet, target: "/docs/swagger-ui.css.map", wantStatus: http.StatusNotFound},
		{name: "no nested paths", method: http.MethodGet, target: "/docs/assets/index.html", wantStatus: http.StatusNotFound},
		{name: "no traversal", method: http.MethodGet, target: "/docs/../docsui.go", wantStatus: http.StatusNotFound},
		{name: "the update script is not embedded", method: http.MethodGet, target: "/docs/update-assets.sh", wantStatus: http.StatusNotFound},
		{name: "path outside the mount", method: http.MethodGet, target: "/openapi.yaml", wantStatus: http.StatusNotFound},
		{name: "mount path is matched whole", method: http.MethodGet, target: "/docsx", wantStatus: http.StatusNotFound},
		{name: "double slash", method: http.MethodGet, target: "/docs//", wantStatus: http.StatusNotFound},
		{
			name: "HEAD has headers and no body", method: http.MethodHead, target: "/docs/",
			wantStatus: http.StatusOK, wantType: "text/html; charset=utf-8", wantCache: "no-cache", wantBodyLen: 0,
		},
		{
			name: "POST is refused", method: http.MethodPost, target: "/docs/",
			wantStatus: http.StatusMethodNotAllowed, wantAllow: "GET, HEAD",
		},
		{
			name: "DELETE is refused", method: http.MethodDelete, target: "/docs/init.js",
			wantStatus: http.StatusMethodNotAllowed, wantAllow: "GET, HEAD",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, tc.method, tc.target, nil)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)

			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %.200q)", res.StatusCode, tc.wantStatus, body)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy = %q, want the package policy", got)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if tc.wantType != "" && res.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", res.Header.Get("Content-Type"), tc.wantType)
			}
			if tc.wantCache != "" && res.Header.Get("Cache-Control") != tc.wantCache {
				t.Errorf("Cache-Control = %q, want %q", res.Header.Get("Cache-Control"), tc.wantCache)
			}
			if tc.wantLocation != "" && res.Header.Get("Location") != tc.wantLocation {
				t.Errorf("Location = %q, want %q", res.Header.Get("Location"), tc.wantLocation)
			}
			if tc.wantAllow != "" && res.Header.Get("Allow") != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", res.Header.Get("Allow"), tc.wantAllow)
			}
			for _, s := range tc.wantBody {
				if !strings.Contains(string(body), s) {
					t.Errorf("body does not contain %q", s)
				}
			}
			if tc.method == http.MethodHead || tc.wantBodyLen != 0 {
				if len(body) != tc.wantBodyLen {
					t.Errorf("body length = %d, want %d", len(body), tc.wantBodyLen)
				}
			}
			if tc.wantStatus == http.StatusOK && res.Header.Get("ETag") == "" {
				t.Error("ETag missing on a served asset")
			}
		})
	}
}

// TestRedirectResolvesToIndex follows the relative redirect the way a browser does, with and
// without a reverse-proxy prefix in front of the gateway.
func TestRedirectResolvesToIndex(t *testing.T) {
	tests := []struct {
		pageURL string
		want    string
	}{
		{pageURL: "http://gw.example/docs", want: "http://gw.example/docs/"},
		{pageURL: "http://gw.example/crm/docs", want: "http://gw.example/crm/docs/"},
	}
	loc := serve(t, http.MethodGet, "/docs", nil).Header().Get("Location")
	for _, tc := range tests {
		base, err := url.Parse(tc.pageURL)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("parse Location %q: %v", loc, err)
		}
		if got := base.ResolveReference(ref).String(); got != tc.want {
			t.Errorf("from %s the redirect lands on %s, want %s", tc.pageURL, got, tc.want)
		}
	}
}

func TestConditionalGetAnswers304(t *testing.T) {
	for _, target := range []string{"/docs/", "/docs/swagger-ui-bundle.js?v=" + embeddedVersion(t), "/docs/init.js"} {
		t.Run(target, func(t *testing.T) {
			first := serve(t, http.MethodGet, target, nil)
			etag := first.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			second := serve(t, http.MethodGet, target, map[string]string{"If-None-Match": etag})
			if second.Code != http.StatusNotModified {
				t.Fatalf("status = %d, want 304", second.Code)
			}
			if second.Body.Len() != 0 {
				t.Errorf("304 carried %d body bytes", second.Body.Len())
			}
			other := serve(t, http.MethodGet, target, map[string]string{"If-None-Match": `"someone-else"`})
			if other.Code != http.StatusOK {
				t.Errorf("non-matching If-None-Match: status = %d, want 200", other.Code)
			}
		})
	}
}

func TestRangeRequest(t *testing.T) {
	rec := serve(t, http.MethodGet, "/docs/swagger-ui-bundle.js", map[string]string{"Range": "bytes=0-99"})
	if rec.Code != http.StatusPartialContent {
		t.Fatalf("status = %d, want 206", rec.Code)
	}
	if want := embeddedFile(t, "swagger-ui-bundle.js")[:100]; rec.Body.String() != want {
		t.Errorf("range body = %q, want the first 100 bytes of the bundle", rec.Body.String())
	}
}

// TestIndexReferencesResolve fetches every local script, stylesheet and link of index.html
// through the handler as a browser at /docs/ would, so a renamed or missing file fails here.
func TestIndexReferencesResolve(t *testing.T) {
	index := serve(t, http.MethodGet, "/docs/", nil).Body.String()
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 4 {
		t.Fatalf("found only %d references in index.html", len(refs))
	}
	page, _ := url.Parse("http://gw.example/docs/")
	for _, m := range refs {
		ref := m[1]
		u, err := url.Parse(ref)
		if err != nil {
			t.Errorf("reference %q: %v", ref, err)
			continue
		}
		if u.Scheme == "data" {
			continue
		}
		abs := page.ResolveReference(u)
		if abs.Host != page.Host {
			t.Errorf("reference %q leaves the gateway (%s)", ref, abs)
			continue
		}
		if !strings.HasPrefix(abs.Path, MountPath+"/") {
			// Links to the spec itself are served by the gateway, not by this handler.
			if abs.Path != "/openapi.yaml" && abs.Path != "/openapi.json" {
				t.Errorf("reference %q resolves to unexpected %s", ref, abs.Path)
			}
			continue
		}
		if rec := serve(t, http.MethodGet, abs.RequestURI(), nil); rec.Code != http.StatusOK {
			t.Errorf("reference %q (%s): status %d", ref, abs.RequestURI(), rec.Code)
		}
	}
}

// TestSwaggerConfig checks the settings init.js hands to Swagger UI, and that the spec URL it
// builds lands on the gateway's /openapi.yaml from /docs/ and under a proxy prefix.
func TestSwaggerConfig(t *testing.T) {
	initJS := serve(t, http.MethodGet, "/docs/init.js", nil).Body.String()
	for _, want := range []string{
		"validatorUrl: null",
		"deepLinking: true",
		"persistAuthorization: true",
		"queryConfigEnabled: false",
		`dom_id: "#swagger-ui"`,
		"url: specURL",
	} {
		if !strings.Contains(initJS, want) {
			t.Errorf("init.js lacks %q", want)
		}
	}
	m := regexp.MustCompile(`specURL = new URL\("([^"]+)", window\.location\.href\)`).FindStringSubmatch(initJS)
	if m == nil {
		t.Fatal("init.js does not build specURL from the page location")
	}
	ref, err := url.Parse(m[1])
	if err != nil {
		t.Fatalf("spec reference %q: %v", m[1], err)
	}
	tests := []struct{ page, want string }{
		{page: "http://gw.example/docs/", want: "http://gw.example/openapi.yaml"},
		{page: "http://gw.example/docs/index.html", want: "http://gw.example/openapi.yaml"},
		{page: "http://gw.example/docs/#/customers/createCustomer", want: "http://gw.example/openapi.yaml"},
		{page: "http://gw.example/crm/docs/", want: "http://gw.example/crm/openapi.yaml"},
	}
	for _, tc := range tests {
		base, _ := url.Parse(tc.page)
		if got := base.ResolveReference(ref).String(); got != tc.want {
			t.Errorf("from %s the spec URL is %s, want %s", tc.page, got, tc.want)
		}
	}
}

// TestNoExternalURLs guards the "nothing fetched at runtime" promise for the files we write.
// (The vendored bundle mentions many URLs in strings, and the CSP's connect-src 'self' is what
// keeps it from reaching them.)
func TestNoExternalURLs(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9-]+(\.[a-z0-9-]+)+`)
	for _, name := range []string{"index.html", "init.js", "docs.css"} {
		t.Run(name, func(t *testing.T) {
			body := serve(t, http.MethodGet, "/docs/"+name, nil).Body.String()
			if body == "" {
				t.Fatal("empty body")
			}
			if hits := external.FindAllString(body, -1); len(hits) > 0 {
				t.Errorf("external URLs referenced: %q", hits)
			}
			if strings.Contains(body, "@import") {
				t.Error("@import would fetch another stylesheet")
			}
		})
	}
}

// TestIndexHasNoInlineScript: the CSP forbids inline scripts, so any would silently not run.
func TestIndexHasNoInlineScript(t *testing.T) {
	index := embeddedFile(t, "index.html")
	for _, tag := range regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(index, -1) {
		if !strings.Contains(tag[1], "src=") || strings.TrimSpace(tag[2]) != "" {
			t.Errorf("inline script in index.html: %q", tag[0])
		}
	}
	if regexp.MustCompile(`(?i)\son[a-z]+\s*=`).MatchString(index) {
		t.Error("inline event handler attribute in index.html")
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	directives := map[string][]string{}
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		fields := strings.Fields(d)
		if len(fields) == 0 {
			continue
		}
		directives[fields[0]] = fields[1:]
	}
	tests := []struct {
		directive string
		want      string
	}{
		{"default-src", "'none'"},
		{"script-src", "'self'"},
		{"style-src", "'self' 'unsafe-inline'"},
		{"img-src", "'self' data:"},
		{"connect-src", "'self'"},
		{"object-src", "'none'"},
		{"base-uri", "'none'"},
		{"frame-ancestors", "'none'"},
	}
	for _, tc := range tests {
		if got := strings.Join(directives[tc.directive], " "); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.directive, got, tc.want)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe-eval") {
		t.Error("policy allows eval")
	}
}

// TestVendoredFilesMatchVersion re-derives the hashes independently of newHandler and checks the
// cache-busting queries in index.html follow the recorded version.
func TestVendoredFilesMatchVersion(t *testing.T) {
	m, err := parseManifest([]byte(embeddedFile(t, "VERSION")))
	if err != nil {
		t.Fatal(err)
	}
	if m.pkg != "swagger-ui-dist" || m.version != "5.35.0" {
		t.Errorf("VERSION records %s@%s, want swagger-ui-dist@5.35.0", m.pkg, m.version)
	}
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"} {
		want, ok := m.files[name]
		if !ok {
			t.Errorf("%s is not recorded in VERSION", name)
			continue
		}
		sum := sha256.Sum256([]byte(embeddedFile(t, name)))
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, VERSION says %s", name, got, want)
		}
	}
	index := embeddedFile(t, "index.html")
	for _, ref := range []string{"swagger-ui-bundle.js", "swagger-ui.css"} {
		if !strings.Contains(index, ref+"?v="+m.version+`"`) {
			t.Errorf("index.html does not load %s?v=%s", ref, m.version)
		}
	}
}

func TestNewHandlerRejectsBadAssets(t *testing.T) {
	bundle := []byte("window.SwaggerUIBundle = function () {};")
	sum := sha256.Sum256(bundle)
	good := "package=swagger-ui-dist\nversion=1.2.3\ntarball_sha256=" + strings.Repeat("a", 64) +
		"\nvendored=swagger-ui-bundle.js " + hex.EncodeToString(sum[:]) + "\n"
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string // "" = must succeed
	}{
		{
			name: "consistent assets",
			files: fstest.MapFS{
				"a/VERSION": file(good), "a/index.html": file("<html></html>"),
				"a/swagger-ui-bundle.js": {Data: bundle},
			},
		},
		{
			name: "bundle edited after vendoring",
			files: fstest.MapFS{
				"a/VERSION": file(good), "a/index.html": file("<html></html>"),
				"a/swagger-ui-bundle.js": file("alert(1)"),
			},
			wantErr: "does not match",
		},
		{
			name:    "vendored file missing",
			files:   fstest.MapFS{"a/VERSION": file(good), "a/index.html": file("<html></html>")},
			wantErr: "is missing",
		},
		{
			name:    "no VERSION",
			files:   fstest.MapFS{"a/index.html": file("<html></html>")},
			wantErr: "read VERSION",
		},
		{
			name: "no index.html",
			files: fstest.MapFS{
				"a/VERSION": file(good), "a/swagger-ui-bundle.js": {Data: bundle},
			},
			wantErr: "index.html is missing",
		},
		{
			name: "file type without a content type",
			files: fstest.MapFS{
				"a/VERSION": file(good), "a/index.html": file("<html></html>"),
				"a/swagger-ui-bundle.js": {Data: bundle}, "a/update-assets.sh": file("#!/bin/sh"),
			},
			wantErr: "no content type",
		},
		{
			name: "subdirectory",
			files: fstest.MapFS{
				"a/VERSION": file(good), "a/index.html": file("<html></html>"),
				"a/swagger-ui-bundle.js": {Data: bundle}, "a/sub/x.js": file(""),
			},
			wantErr: "subdirectories",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := newHandler(tc.files, "a")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("newHandler: %v", err)
				}
				if !h.assets["swagger-ui-bundle.js"].vendored || h.assets["index.html"].vendored {
					t.Error("vendored flags wrong")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseManifest(t *testing.T) {
	sha := strings.Repeat("0", 64)
	base := "package=p\nversion=1.0.0\ntarball_sha256=" + sha + "\n"
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "valid with comments and blanks", in: "# c\n\n" + base + "vendored=a.js " + sha + "\n"},
		{name: "no files", in: base, wantErr: "no vendored files"},
		{name: "missing version", in: "package=p\ntarball_sha256=" + sha + "\nvendored=a.js " + sha, wantErr: "version is missing"},
		{name: "version needing escaping", in: "package=p\nversion=1.0 beta\n", wantErr: "unfit for a query"},
		{name: "short tarball hash", in: "package=p\nversion=1\ntarball_sha256=abc\n", wantErr: "64 lower-case hex"},
		{name: "vendored without hash", in: base + "vendored=a.js\n", wantErr: "want vendored="},
		{name: "upper-case hash", in: base + "vendored=a.js " + strings.Repeat("A", 64) + "\n", wantErr: "want vendored="},
		{name: "duplicate file", in: base + "vendored=a.js " + sha + "\nvendored=a.js " + sha + "\n", wantErr: "listed twice"},
		{name: "unknown key", in: base + "vendord=a.js " + sha + "\n", wantErr: "unknown key"},
		{name: "not key=value", in: base + "garbage\n", wantErr: "want key=value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseManifest([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parseManifest: %v", err)
				}
				if m.version != "1.0.0" || m.files["a.js"] != sha {
					t.Errorf("parsed %+v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
