package rs

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestClaimPath(t *testing.T) {
	var claims map[string]any
	if err := json.Unmarshal([]byte(`{
		"sub": "alice",
		"realm_access": {"roles": ["admin", "user"]},
		"resource_access": {"api": {"roles": ["reader"]}},
		"https://example.com/roles": ["editor"],
		"a.b": {"c": 1},
		"a": {"b": {"c": 2}},
		"x": {"y.z": true},
		"n": null,
		"list": [{"k": "v"}]
	}`), &claims); err != nil {
		t.Fatal(err)
	}
	deep := map[string]any{}
	cur := deep
	var path []string
	for i := range MaxClaimPathDepth + 1 {
		next := map[string]any{}
		cur["k"] = next
		cur = next
		path = append(path, "k")
		_ = i
	}
	tests := []struct {
		claims map[string]any
		path   string
		want   any
		ok     bool
	}{
		{claims, "sub", "alice", true},
		{claims, "realm_access.roles", []any{"admin", "user"}, true},
		{claims, "resource_access.api.roles", []any{"reader"}, true},
		{claims, "https://example.com/roles", []any{"editor"}, true},
		{claims, "a.b.c", 2.0, true},
		{claims, `a\.b.c`, 1.0, true},
		{claims, `x.y\.z`, true, true},
		{claims, "n", nil, true},
		{claims, "missing", nil, false},
		{claims, "sub.x", nil, false},
		{claims, "realm_access.roles.0", nil, false},
		{claims, "list.k", nil, false},
		{claims, "", nil, false},
		{claims, ".", nil, false},
		{claims, "realm_access.", nil, false},
		{claims, ".sub", nil, false},
		{claims, "a..b", nil, false},
		{nil, "sub", nil, false},
		{deep, strings.Join(path[:MaxClaimPathDepth], "."), map[string]any{"k": map[string]any{}}, true},
		{deep, strings.Join(path, "."), nil, false},
	}
	for _, tt := range tests {
		got, ok := ClaimPath(tt.claims, tt.path)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ClaimPath(%q) = %v %v, want %v %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClaimStrings(t *testing.T) {
	tests := []struct {
		v    any
		want []string
	}{
		{"a b  c", []string{"a", "b", "c"}},
		{"", nil},
		{[]any{"x", 1.0, true, nil, map[string]any{}, []any{"nested"}, "y z"}, []string{"x", "1", "true", "y z"}},
		{[]string{"p", "q"}, []string{"p", "q"}},
		{42.5, []string{"42.5"}},
		{false, []string{"false"}},
		{nil, nil},
		{map[string]any{"a": "b"}, nil},
	}
	for _, tt := range tests {
		got := slices.Collect(ClaimStrings(tt.v))
		if !slices.Equal(got, tt.want) {
			t.Errorf("ClaimStrings(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	// Stopping early is honoured.
	n := 0
	for range ClaimStrings("a b c") {
		n++
		break
	}
	if n != 1 {
		t.Errorf("range did not stop")
	}
}

func FuzzClaimPath(f *testing.F) {
	f.Add(`{"a":{"b":["c"]}}`, "a.b")
	f.Add(`{"a.b":{"c":1}}`, `a\.b.c`)
	f.Fuzz(func(t *testing.T, doc, path string) {
		var claims map[string]any
		if json.Unmarshal([]byte(doc), &claims) != nil {
			return
		}
		v, ok := ClaimPath(claims, path)
		if !ok && v != nil {
			t.Fatalf("not found but %v", v)
		}
		if ok && strings.Count(path, ".") >= MaxClaimPathDepth {
			if _, whole := claims[path]; !whole {
				t.Fatalf("found %q deeper than the bound", path)
			}
		}
		for range ClaimStrings(v) {
		}
	})
}
