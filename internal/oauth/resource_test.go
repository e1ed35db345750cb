package oauth

import (
	"errors"
	"testing"
)

func TestResourceSet(t *testing.T) {
	s, err := NewResourceSet([]string{"https://mcp.example.com/mcp", "https://tools.example.com/*", "http://127.0.0.1:9000/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		aud  string
		want bool
	}{
		{"https://mcp.example.com/mcp", true},
		{"https://mcp.example.com/mcp/", false},
		{"https://mcp.example.com/mcpx", false},
		{"https://MCP.example.com/mcp", false},
		{"https://mcp.example.com", false},
		{"https://tools.example.com/", true},
		{"https://tools.example.com/a", true},
		{"https://tools.example.com/a/b", true},
		{"https://tools.example.com", false},
		{"https://tools.example.com.evil/a", false},
		{"https://tools.example.comx/a", false},
		{"http://127.0.0.1:9000/mcp", true},
		{"http://127.0.0.1:9001/mcp", false},
		{"", false},
	} {
		if got := s.Contains(tc.aud); got != tc.want {
			t.Errorf("Contains(%q) = %v, want %v", tc.aud, got, tc.want)
		}
	}
	if a, ok := s.First([]string{"https://api.example.com", "https://tools.example.com/x"}); !ok || a != "https://tools.example.com/x" {
		t.Errorf("First = %q, %v", a, ok)
	}
	var none *ResourceSet
	if none.Contains("https://mcp.example.com/mcp") || !none.Empty() {
		t.Error("a nil set is not empty")
	}
	if empty, err := NewResourceSet(nil); err != nil || !empty.Empty() {
		t.Errorf("NewResourceSet(nil) = %v, %v", empty, err)
	}
}

func TestResourceSetRefusesBadPatterns(t *testing.T) {
	for _, p := range []string{
		"",
		"mcp.example.com",
		"/mcp",
		"https://mcp.example.com*",
		"https://mcp.example.com/a*",
		"https://*.example.com/",
		"https://mcp.example.com/#x",
		"https://mcp.example.com/*/*",
		"urn:example:mcp",
	} {
		if _, err := NewResourceSet([]string{p}); !errors.Is(err, ErrResourcePattern) {
			t.Errorf("%q: err = %v, want ErrResourcePattern", p, err)
		}
	}
}

func FuzzResourceSet(f *testing.F) {
	f.Add("https://tools.example.com/*", "https://tools.example.com/a")
	f.Add("https://mcp.example.com/mcp", "https://mcp.example.com/mcp")
	f.Fuzz(func(t *testing.T, pattern, aud string) {
		s, err := NewResourceSet([]string{pattern})
		if err != nil {
			return
		}
		if s.Contains(aud) && aud != pattern {
			// Only a wildcard matches something other than itself, and
			// only below its prefix, which ends in a slash.
			prefix := pattern[:len(pattern)-1]
			if pattern[len(pattern)-1] != '*' || len(aud) < len(prefix) || aud[:len(prefix)] != prefix || prefix[len(prefix)-1] != '/' {
				t.Fatalf("%q matched %q", pattern, aud)
			}
		}
	})
}
