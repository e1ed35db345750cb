package config

import (
	"slices"
	"strings"
	"testing"
)

func TestRegistrationSettings(t *testing.T) {
	prod := map[string]string{
		"WRIT_MODE": "production", "WRIT_ISSUER": "https://id.example.com",
		"WRIT_MASTER_KEY": "x", "WRIT_TLS_TERMINATED": "true",
	}
	load := func(t *testing.T, env map[string]string) *Config {
		t.Helper()
		c, err := Load(nil, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("defaults", func(t *testing.T) {
		c := load(t, nil)
		if c.ClientMetadataDocuments || c.ClientMetadataAllowPrivate || c.Registration != RegistrationOff {
			t.Fatalf("defaults: %+v", c)
		}
		if !slices.Equal(c.DynamicClientScopeList(), []string{"openid", "profile", "email", "address", "phone", "offline_access"}) || c.DynamicClientAudienceList() != nil {
			t.Fatalf("lists: %v %v", c.DynamicClientScopeList(), c.DynamicClientAudienceList())
		}
	})
	tests := []struct {
		name string
		env  map[string]string
		want string // "" = valid
	}{
		{"private in development", map[string]string{"WRIT_CLIENT_METADATA_DOCUMENTS": "true", "WRIT_CLIENT_METADATA_ALLOW_PRIVATE": "true"}, ""},
		{"private in production", merge(prod, map[string]string{"WRIT_CLIENT_METADATA_ALLOW_PRIVATE": "true"}), "development only"},
		{"documents in production", merge(prod, map[string]string{"WRIT_CLIENT_METADATA_DOCUMENTS": "true"}), ""},
		{"token without file", map[string]string{"WRIT_REGISTRATION": "token"}, "registration_initial_tokens_file"},
		{"token with file", map[string]string{"WRIT_REGISTRATION": "token", "WRIT_REGISTRATION_INITIAL_TOKENS_FILE": "/x"}, ""},
		{"open", map[string]string{"WRIT_REGISTRATION": "open"}, ""},
		{"bad scope", map[string]string{"WRIT_DYNAMIC_CLIENT_SCOPES": `openid "x"`}, "dynamic_client_scopes"},
		{"audiences", map[string]string{"WRIT_DYNAMIC_CLIENT_AUDIENCES": "https://mcp.example.com, https://api.example.com"}, ""},
		{"hosts", map[string]string{"WRIT_CLIENT_METADATA_HOSTS": "mcp.example.com, *.clients.example.org"}, ""},
		{"bad host", map[string]string{"WRIT_CLIENT_METADATA_HOSTS": "https://mcp.example.com"}, "client_metadata_hosts"},
		{"bad wildcard", map[string]string{"WRIT_CLIENT_METADATA_HOSTS": "*.*.example.com"}, "client_metadata_hosts"},
		{"bad audience", map[string]string{"WRIT_DYNAMIC_CLIENT_AUDIENCES": "mcp.example.com"}, "dynamic_client_audiences"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := load(t, tt.env)
			err := c.Validate(func(k string) string { return tt.env[k] })
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.want)
			}
		})
	}
	if _, err := Load(nil, func(k string) string { return map[string]string{"WRIT_REGISTRATION": "yes"}[k] }); err == nil {
		t.Fatal("registration=yes accepted")
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
