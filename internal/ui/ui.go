// Package ui renders writ's server-side HTML pages: sign-in, consent,
// logout confirmation, signed-out, account selection, the user's own
// account page and errors. Pages need no JavaScript; every
// form carries a CSRF token; every response carries a strict
// Content-Security-Policy and no-store caching.
//
// # Rendering
//
// Build one *UI at start with New and call one method per page, each with
// its typed data struct:
//
//	u, err := ui.New(ui.Options{ProductName: "Acme ID"})
//	mux.Handle("/ui/static/", u.Static())
//	...
//	err = u.Login(w, r, ui.LoginData{Page: ui.Page{
//		CSRFToken:      token,
//		RequestID:      reqID,
//		ClientName:     client.Name,
//		RedirectTarget: redirectURI,
//	}, LoginHint: hint})
//
// A method that fails has already written a plain 500 response; the returned
// error is for the caller's log.
//
// # Theming
//
// Options.Dir names a theme directory that mirrors the embedded layout:
//
//	DIR/templates/base.html      the layout shared by every page
//	DIR/templates/login.html     one file per page (names below)
//	DIR/static/writ.css          the style sheet
//	DIR/static/logo.svg          any additional static file
//
// A file there replaces the embedded file of the same name; files left out
// keep the embedded version. base.html is the whole document and calls
// {{template "title" .}} and {{template "content" .}}; it also defines the
// partials "alert" (the error region) and "form-fields" (the CSRF token and
// continuation fields), which a page file may use or redefine. A page file
// (login, consent, logout, logged_out, select_account, error, account,
// device)
// holds only {{define}} blocks. In templates, {{.T "key" args...}}
// returns a localized message (see messages.go for the keys) and
// {{asset "writ.css"}} the content-hashed URL of a static file. Page data
// fields are reachable directly ({{.ClientName}}); .Lang, .Dir, .Product,
// .ClientHost and .ClientLink are added by the renderer.
//
// New parses every template and renders each page with sample data, so a
// theme that does not parse, names a field that does not exist or refers to
// a missing asset is refused at start with an error naming the file.
package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template/parse"
)

// embedded holds the default templates and static files. It is read-only.
//
//go:embed templates/*.html static/*
var embedded embed.FS

// Defaults for Options.
const (
	// DefaultProductName is the product name shown when Options.ProductName is empty.
	DefaultProductName = "writ"
	// DefaultStaticPrefix is the static URL path used when Options.StaticPrefix is empty.
	DefaultStaticPrefix = "/ui/static/"
)

// Page template names (file names without ".html").
const (
	pageLogin         = "login"
	pageConsent       = "consent"
	pageLogout        = "logout"
	pageLoggedOut     = "logged_out"
	pageSelectAccount = "select_account"
	pageError         = "error"
	pageAccount       = "account"
	pageDevice        = "device"
	pageSAMLPost      = "saml_post"
	layoutFile        = "base.html"
)

func pageNames() []string {
	return []string{pageLogin, pageConsent, pageLogout, pageLoggedOut, pageSelectAccount, pageError, pageAccount, pageDevice, pageSAMLPost}
}

// Options configures New. The zero value is usable.
type Options struct {
	// Dir, when non-empty, is a theme directory whose templates/*.html and
	// static/* files replace the embedded files of the same name (static/
	// may also add files). Unknown template names, subdirectories and
	// .html or .css files at the top of Dir are errors.
	Dir string
	// ProductName is shown in the page header and titles; default "writ".
	ProductName string
	// StaticPrefix is the public URL path at which Static is reachable,
	// used to build asset URLs; default "/ui/static/". Include any path
	// prefix added by a reverse proxy.
	StaticPrefix string
}

// UI renders the sign-in pages and serves their static files. It is
// immutable after New and safe for concurrent use.
type UI struct {
	product string
	prefix  string
	pages   map[string]*template.Template
	hashed  map[string]*asset // by content-hashed name
	plain   map[string]*asset // by file name
	catalog map[string]map[string]string
}

// file is one template or static file with where it came from.
type file struct {
	origin string // for error messages: a path in Dir or "embedded …"
	data   []byte
}

// New loads the embedded templates and static files, applies the theme in
// opts.Dir, parses every template and checks each page renders.
func New(opts Options) (*UI, error) {
	u := &UI{
		product: opts.ProductName,
		prefix:  opts.StaticPrefix,
		catalog: catalog(),
	}
	if u.product == "" {
		u.product = DefaultProductName
	}
	if u.prefix == "" {
		u.prefix = DefaultStaticPrefix
	}
	if !strings.HasPrefix(u.prefix, "/") || strings.ContainsAny(u.prefix, "?#\"'<> ") {
		return nil, fmt.Errorf("ui: static prefix %q must be a URL path starting with /", u.prefix)
	}
	if !strings.HasSuffix(u.prefix, "/") {
		u.prefix += "/"
	}

	templates, static, err := loadFiles(opts.Dir)
	if err != nil {
		return nil, err
	}
	u.hashed = make(map[string]*asset, len(static))
	u.plain = make(map[string]*asset, len(static))
	for name, f := range static {
		a := newAsset(name, f.data)
		u.hashed[a.hashed] = a
		u.plain[name] = a
	}

	funcs := template.FuncMap{"asset": u.assetURL}
	layout := templates[layoutFile]
	u.pages = make(map[string]*template.Template, len(pageNames()))
	for _, name := range pageNames() {
		t, err := template.New(layoutFile).Funcs(funcs).Parse(string(layout.data))
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", layout.origin, err)
		}
		pf := templates[name+".html"]
		pt, err := t.New(name + ".html").Parse(string(pf.data))
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", pf.origin, err)
		}
		if err := onlyDefines(pt); err != nil {
			return nil, fmt.Errorf("ui: %s: %w", pf.origin, err)
		}
		u.pages[name] = t
	}
	for _, s := range u.samples() {
		if err := u.pages[s.page].Execute(io.Discard, s.view); err != nil {
			return nil, fmt.Errorf("ui: %s (with %s): does not render: %w",
				templates[s.page+".html"].origin, layout.origin, err)
		}
	}
	return u, nil
}

// onlyDefines reports an error when a page file has content outside
// {{define}} blocks, which would otherwise be silently ignored.
func onlyDefines(t *template.Template) error {
	if t.Tree == nil || t.Tree.Root == nil {
		return nil
	}
	for _, n := range t.Tree.Root.Nodes {
		if tn, ok := n.(*parse.TextNode); ok && len(bytes.TrimSpace(tn.Text)) == 0 {
			continue
		}
		return errors.New(`content outside {{define}} blocks is ignored; define "title" and "content" instead`)
	}
	return nil
}

// assetURL is the template function "asset": the public, content-hashed URL
// of a static file.
func (u *UI) assetURL(name string) (string, error) {
	a, ok := u.plain[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return u.prefix + a.hashed, nil
}

// AssetURL returns the public, content-hashed URL of a static file such as
// "writ.css", or "" if there is no such file.
func (u *UI) AssetURL(name string) string {
	s, _ := u.assetURL(name)
	return s
}

// loadFiles returns the template and static files, embedded ones replaced
// by those of the theme directory dir when it is non-empty.
func loadFiles(dir string) (templates, static map[string]file, err error) {
	if templates, err = readEmbedded("templates"); err != nil {
		return nil, nil, err
	}
	if static, err = readEmbedded("static"); err != nil {
		return nil, nil, err
	}
	if dir == "" {
		return templates, static, nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("ui: theme directory: %w", err)
	}
	if !info.IsDir() {
		return nil, nil, fmt.Errorf("ui: theme directory %s is not a directory", dir)
	}
	top, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("ui: theme directory: %w", err)
	}
	for _, e := range top {
		switch ext := path.Ext(e.Name()); {
		case e.IsDir():
		case ext == ".html" || ext == ".css":
			return nil, nil, fmt.Errorf("ui: theme file %s: put templates under %s and style sheets under %s",
				filepath.Join(dir, e.Name()), filepath.Join(dir, "templates"), filepath.Join(dir, "static"))
		}
	}
	known := func(name string) error {
		if _, ok := templates[name]; !ok {
			return fmt.Errorf("not a known template (known: %s)",
				strings.Join(slices.Sorted(maps.Keys(templates)), ", "))
		}
		return nil
	}
	if err := overlay(filepath.Join(dir, "templates"), templates, known); err != nil {
		return nil, nil, err
	}
	if err := overlay(filepath.Join(dir, "static"), static, nil); err != nil {
		return nil, nil, err
	}
	return templates, static, nil
}

func readEmbedded(sub string) (map[string]file, error) {
	entries, err := fs.ReadDir(embedded, sub)
	if err != nil {
		return nil, fmt.Errorf("ui: embedded %s: %w", sub, err)
	}
	m := make(map[string]file, len(entries))
	for _, e := range entries {
		p := path.Join(sub, e.Name())
		data, err := fs.ReadFile(embedded, p)
		if err != nil {
			return nil, fmt.Errorf("ui: embedded %s: %w", p, err)
		}
		m[e.Name()] = file{origin: "embedded " + p, data: data}
	}
	return m, nil
}

// overlay replaces or adds entries of m with the files of dir (when it
// exists). check, when non-nil, vets each file name. Dot files are skipped.
func overlay(dir string, m map[string]file, check func(name string) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ui: theme: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		info, err := os.Stat(p) // follows symbolic links
		if err != nil {
			return fmt.Errorf("ui: theme: %w", err)
		}
		if info.IsDir() {
			return fmt.Errorf("ui: theme: %s: subdirectories are not supported", p)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("ui: theme: %s: not a regular file", p)
		}
		if check != nil {
			if err := check(name); err != nil {
				return fmt.Errorf("ui: theme: %s: %w", p, err)
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("ui: theme: %w", err)
		}
		m[name] = file{origin: p, data: data}
	}
	return nil
}
