package dpop

import (
	"strings"
	"testing"
)

// FuzzNormalFastPath: what the allocation-free fast path takes as normal,
// the full normalisation leaves unchanged.
func FuzzNormalFastPath(f *testing.F) {
	for _, s := range []string{"https://a.example/x", "http://a:8080/.x/..y/", "https://a:443/", "http://a/./b", "http://a/b/..", "https://a:08/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "?#") || !isNormal(s) {
			return
		}
		if got, err := normalize(s); err != nil || got != s {
			t.Fatalf("isNormal(%q), but normalize gives %q, %v", s, got, err)
		}
	})
}

func TestNormalFastPath(t *testing.T) {
	for _, s := range []string{
		"https://a.example/x", "http://a:8080/p/.x/..y/", "https://h/a:b@c;d=e,f~", "http://127.0.0.1:65535/",
	} {
		if !isNormal(s) {
			t.Errorf("isNormal(%q) = false", s)
		}
	}
	for _, s := range []string{
		"https://A.example/x", "https://a.example", "https://a:443/", "http://a:80/", "https://a:08/", "https://a:/",
		"https://a:65536/", "http://a/./b", "http://a/b/..", "http://a/b/.", "http://a/%7e", "http://[::1]/", "HTTP://a/",
		"https://user@a/", "http://a/é", "https:///x",
	} {
		if isNormal(s) {
			t.Errorf("isNormal(%q) = true", s)
		}
	}
}
