// Package dashboard serves Flare's web dashboard: plain HTML, CSS and ES
// modules embedded in the binary, with Leaflet and uPlot vendored under
// vendor/ (see vendor.sh). There is no build step: the files here are what
// the browser loads.
//
// The dashboard has three views on one page: the leadership group's command
// map, a member department's task inbox and the call floor's intake. It
// signs in with the hub's session cookie (/api/v1/session), reads the API
// and follows the event log over /ws, resuming after the last seq it saw.
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed index.html favicon.svg css js vendor
var files embed.FS

// Options configures the dashboard.
type Options struct {
	// TileURL is a map tile URL template such as
	// https://tiles.example.gov.cn/{z}/{x}/{y}.png. Empty (the default)
	// draws no tiles: the map shows the district outlines alone, which
	// needs no internet.
	TileURL string
	// TileAttribution is shown on the map with the tiles.
	TileAttribution string
}

// handler serves the embedded files.
type handler struct {
	fsys   fs.FS
	etags  map[string]string // path -> ETag
	config []byte            // config.json
	csp    string
}

// Handler returns the dashboard's handler: the embedded files at their
// paths (index.html at /), and /config.json with the tile settings. It
// returns an error when TileURL is not an http(s) URL template with {z},
// {x} and {y}.
func Handler(opts Options) (http.Handler, error) {
	imgSrc := "'self' data: blob:"
	if opts.TileURL != "" {
		// {s} (Leaflet's subdomains) is not valid in a host: check the URL
		// with a subdomain in its place, and allow any subdomain.
		u, err := url.Parse(strings.ReplaceAll(opts.TileURL, "{s}", "a"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("tile url %q: want an http or https URL template", opts.TileURL)
		}
		for _, p := range []string{"{z}", "{x}", "{y}"} {
			if !strings.Contains(opts.TileURL, p) {
				return nil, fmt.Errorf("tile url %q: the template needs %s", opts.TileURL, p)
			}
		}
		host := u.Host
		if _, rest, ok := strings.Cut(host, "."); ok && strings.Contains(opts.TileURL, "{s}.") {
			host = "*." + rest
		}
		imgSrc += " " + u.Scheme + "://" + host
	}
	config, err := json.Marshal(map[string]string{"tile_url": opts.TileURL, "tile_attribution": opts.TileAttribution})
	if err != nil {
		return nil, err
	}
	h := &handler{fsys: files, etags: map[string]string{}, config: config}
	err = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h.etags[p] = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard files: %w", err)
	}
	h.csp = strings.Join([]string{
		"default-src 'self'",
		"img-src " + imgSrc,
		"style-src 'self' 'unsafe-inline'",
		"script-src 'self'",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
	return h, nil
}

// ServeHTTP serves one file (GET and HEAD only), with an ETag so that
// browsers revalidate cheaply after an upgrade.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	switch p {
	case "":
		p = "index.html"
	case "config.json":
		hd.Set("Content-Type", "application/json; charset=utf-8")
		hd.Set("Cache-Control", "no-store")
		_, _ = w.Write(h.config)
		return
	}
	etag, ok := h.etags[p]
	if !ok || strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".sh") {
		http.NotFound(w, r)
		return
	}
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, h.fsys, p)
}
