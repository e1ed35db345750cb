package grant_test

import (
	"slices"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
)

func TestTokenResources(t *testing.T) {
	a, b := "https://mcp.example.test/mcp", "https://api.example.test"
	tests := []struct {
		name    string
		f       oauth.Form
		granted []string
		want    []string
		code    string
	}{
		{"none keeps the grant", form(), []string{a, b}, []string{a, b}, ""},
		{"the granted one again", form("resource", a), []string{a}, []string{a}, ""},
		{"narrows", form("resource", b), []string{a, b}, []string{b}, ""},
		{"duplicates collapse", form("resource", a, "resource", a), []string{a, b}, []string{a}, ""},
		{"not granted", form("resource", b), []string{a}, nil, oauth.CodeInvalidTarget},
		{"one of two not granted", form("resource", a, "resource", "https://evil.test/"), []string{a, b}, nil, oauth.CodeInvalidTarget},
		{"case differs", form("resource", "https://MCP.example.test/mcp"), []string{a}, nil, oauth.CodeInvalidTarget},
		{"nothing granted", form("resource", a), nil, nil, oauth.CodeInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := grant.TokenResources(tc.f, tc.granted)
			if tc.code != "" {
				wantOAuthCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("TokenResources = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequireResource(t *testing.T) {
	mcp, err := oauth.NewResourceSet([]string{"https://mcp.example.test/mcp", "https://tools.example.test/*"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    oauth.Form
		aud  []string
		set  *oauth.ResourceSet
		code string
	}{
		{"default MCP audience", form(), []string{"https://mcp.example.test/mcp"}, mcp, oauth.CodeInvalidTarget},
		{"default prefix-marked audience", form(), []string{"https://tools.example.test/x"}, mcp, oauth.CodeInvalidTarget},
		{"named", form("resource", "https://mcp.example.test/mcp"), []string{"https://mcp.example.test/mcp"}, mcp, ""},
		{"other audience", form(), []string{"https://api.example.test"}, mcp, ""},
		{"no MCP servers marked", form(), []string{"https://mcp.example.test/mcp"}, nil, ""},
		{"named by audience (token exchange)", form("audience", "https://mcp.example.test/mcp"), []string{"https://mcp.example.test/mcp"}, mcp, ""},
		{"another resource named", form("resource", "https://api.example.test"), []string{"https://api.example.test", "https://mcp.example.test/mcp"}, mcp, oauth.CodeInvalidTarget},
		{"both named", form("resource", "https://api.example.test", "resource", "https://mcp.example.test/mcp"), []string{"https://api.example.test", "https://mcp.example.test/mcp"}, mcp, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := grant.RequireResource(tc.f, tc.aud, tc.set)
			if tc.code != "" {
				wantOAuthCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
