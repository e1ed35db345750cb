package ui

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOnlyRenderedPages: the embedded templates are the layout and the
// pages the server renders, nothing else; the device code page (RFC 8628)
// comes back with the device grant, and until then a theme that overrides
// it is told that no such template exists.
func TestOnlyRenderedPages(t *testing.T) {
	entries, err := fs.ReadDir(embedded, "templates")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, strings.TrimSuffix(e.Name(), ".html"))
	}
	want := append(pageNames(), strings.TrimSuffix(layoutFile, ".html"))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("embedded templates %v, want the rendered pages and the layout %v", got, want)
	}

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "templates", "gadget.html"), `{{define "title"}}x{{end}}{{define "content"}}x{{end}}`)
	if _, err := New(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "not a known template") {
		t.Errorf("a theme's gadget.html: %v, want \"not a known template\"", err)
	}
}
