package dashboard

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

func newHandler(tb testing.TB, opts Options) http.Handler {
	tb.Helper()
	h, err := Handler(opts)
	if err != nil {
		tb.Fatalf("Handler(%+v) = %v, want a handler", opts, err)
	}
	return h
}

func get(h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerServesFiles(t *testing.T) {
	h := newHandler(t, Options{})
	tests := []struct {
		name   string
		method string
		path   string
		status int
		ctype  string
		body   string
	}{
		{"root is the page", "GET", "/", 200, "text/html", `<script type="module" src="js/main.js">`},
		{"module has the JavaScript type", "GET", "/js/main.js", 200, "text/javascript", "import"},
		{"stylesheet is CSS", "GET", "/css/app.css", 200, "text/css", ":root"},
		{"vendored Leaflet is served", "GET", "/vendor/leaflet/leaflet-src.esm.js", 200, "text/javascript", "Leaflet"},
		{"vendored uPlot is served", "GET", "/vendor/uplot/uPlot.esm.js", 200, "text/javascript", "uPlot"},
		{"config says no tiles", "GET", "/config.json", 200, "application/json", `"tile_url":""`},
		{"HEAD works", "HEAD", "/", 200, "text/html", ""},
		{"unknown file is not found", "GET", "/nothing.js", 404, "", ""},
		{"the Go source is not served", "GET", "/embed.go", 404, "", ""},
		{"the vendoring script is not served", "GET", "/vendor.sh", 404, "", ""},
		{"POST is not allowed", "POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(h, tt.method, tt.path, nil)
			if w.Code != tt.status {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, w.Code, tt.status)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("%s %s Content-Type = %q, want %s", tt.method, tt.path, ct, tt.ctype)
			}
			if !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("%s %s body does not hold %q", tt.method, tt.path, tt.body)
			}
			if tt.status == 200 {
				csp := w.Header().Get("Content-Security-Policy")
				for _, d := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
					if !strings.Contains(csp, d) {
						t.Errorf("%s %s Content-Security-Policy = %q, want %s", tt.method, tt.path, csp, d)
					}
				}
				if w.Header().Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s %s has no X-Content-Type-Options: nosniff", tt.method, tt.path)
				}
			}
		})
	}
}

func TestHandlerRevalidatesWithETags(t *testing.T) {
	h := newHandler(t, Options{})
	first := get(h, "GET", "/js/main.js", nil)
	etag := first.Header().Get("ETag")
	if etag == "" || first.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET /js/main.js ETag %q, Cache-Control %q, want an ETag and no-cache", etag, first.Header().Get("Cache-Control"))
	}
	if w := get(h, "GET", "/js/main.js", map[string]string{"If-None-Match": etag}); w.Code != http.StatusNotModified {
		t.Errorf("GET /js/main.js with its ETag = %d, want 304", w.Code)
	}
	if w := get(h, "GET", "/js/main.js", map[string]string{"If-None-Match": `"other"`}); w.Code != http.StatusOK {
		t.Errorf("GET /js/main.js with another ETag = %d, want 200", w.Code)
	}
}

func TestTileURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		ok   bool
		img  string
	}{
		{"no tiles by default", "", true, "img-src 'self' data: blob:;"},
		{"https template is allowed in images", "https://tiles.example.gov.cn/{z}/{x}/{y}.png", true, "https://tiles.example.gov.cn"},
		{"subdomain template allows any subdomain", "http://{s}.tile.example.org/{z}/{x}/{y}.png", true, "http://*.tile.example.org"},
		{"template without {z} is refused", "https://tiles.example.gov.cn/{x}/{y}.png", false, ""},
		{"file URL is refused", "file:///tiles/{z}/{x}/{y}.png", false, ""},
		{"garbage is refused", "::", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Handler(Options{TileURL: tt.url, TileAttribution: "© 测绘"})
			if (err == nil) != tt.ok {
				t.Fatalf("Handler(TileURL %q) = %v, want ok %v", tt.url, err, tt.ok)
			}
			if !tt.ok {
				return
			}
			w := get(h, "GET", "/config.json", nil)
			var cfg map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &cfg); err != nil || cfg["tile_url"] != tt.url || cfg["tile_attribution"] != "© 测绘" {
				t.Errorf("GET /config.json = %s, want tile_url %q and the attribution", w.Body, tt.url)
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, tt.img) {
				t.Errorf("Content-Security-Policy = %q, want images from %s", csp, tt.img)
			}
		})
	}
}

// TestModulesResolve checks that every relative import of the dashboard's
// modules, and every file the page links, is embedded: a typo would leave a
// blank page.
func TestModulesResolve(t *testing.T) {
	importRe := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|^import\s+'(\.[^']+)'`)
	linkRe := regexp.MustCompile(`(?:href|src)="([^"#:]+)"`)
	imports := 0
	err := fs.WalkDir(files, "js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		for _, m := range importRe.FindAllStringSubmatch(string(b), -1) {
			spec := m[1] + m[2]
			imports++
			target := path.Join(path.Dir(p), spec)
			if _, err := fs.Stat(files, target); err != nil {
				t.Errorf("%s imports %s, which is not embedded (%s)", p, spec, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if imports < 40 {
		t.Errorf("found %d relative imports in the modules, want the dozens there are (is the pattern still right?)", imports)
	}
	page, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range linkRe.FindAllStringSubmatch(string(page), -1) {
		if _, err := fs.Stat(files, m[1]); err != nil {
			t.Errorf("index.html links %s, which is not embedded", m[1])
		}
	}
	for _, lic := range []string{"vendor/leaflet/LICENSE", "vendor/uplot/LICENSE"} {
		if _, err := fs.Stat(files, lic); err != nil {
			t.Errorf("%s is missing: vendored libraries keep their licence", lic)
		}
	}
	if _, err := os.Stat("vendor.sh"); err != nil {
		t.Errorf("vendor.sh is missing: %v", err)
	}
}
