package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Cache-Control values of static files.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
	// staticCSP confines a static file opened on its own (an SVG, say).
	staticCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
)

// asset is one static file.
type asset struct {
	hashed string // name with the content hash before the extension
	data   []byte
	ctype  string
	etag   string
}

func newAsset(name string, data []byte) *asset {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:8])
	ext := path.Ext(name)
	ctype := mime.TypeByExtension(ext)
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return &asset{
		hashed: strings.TrimSuffix(name, ext) + "." + h + ext,
		data:   data,
		ctype:  ctype,
		etag:   `"` + h + `"`,
	}
}

// Static returns the handler for the static files (the style sheet and any
// file a theme adds). Mount it at the path of Options.StaticPrefix, e.g.
// mux.Handle("/ui/static/", u.Static()); it serves files by the last path
// segment, so it also works behind http.StripPrefix.
//
// A content-hashed name (writ.3f2a….css, the URL pages link to) is served
// with a one-year immutable Cache-Control, so a theme change, which changes
// the hash, busts caches. The plain name (writ.css) is served with no-cache
// and an ETag, so that relative references from a style sheet keep working.
// Anything else is 404; methods other than GET and HEAD are 405.
func (u *UI) Static() http.Handler {
	return http.HandlerFunc(u.serveStatic)
}

func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	name := p[strings.LastIndexByte(p, '/')+1:]
	a, cache := u.hashed[name], cacheImmutable
	if a == nil {
		a, cache = u.plain[name], cacheRevalidate
	}
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", cache)
	h.Set("ETag", a.etag)
	h.Set("Content-Security-Policy", staticCSP)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}
