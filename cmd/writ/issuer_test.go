package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/store/storetest"
	"github.com/writ-dev/writ/jose"
)

func TestIssuerCommands(t *testing.T) {
	ts := storetest.NewTrustMap()
	srv := httptest.NewServer(admin.NewHandler(admin.Options{Token: cliAdminToken, TrustedIssuers: ts}))
	t.Cleanup(srv.Close)
	t.Setenv(envAdminToken, cliAdminToken)
	t.Setenv(envAdminEndpoint, srv.URL)

	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.NewKeySet(k.Public()))
	file := filepath.Join(t.TempDir(), "idp-jwks.json")
	if err := os.WriteFile(file, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	const iss = "https://idp.example.test"
	r := writ(t, "", "issuer", "add", iss, "--jwks-file", file, "--use", "id_jag", "--use", "jwt_bearer",
		"--rule", "client=agent;aud=https://api.example.test/a,https://api.example.test/b;scope=read write",
		"--rule", "client=*").mustSucceed(t)
	if !strings.Contains(r.stdout, "client=agent;aud=https://api.example.test/a,https://api.example.test/b;scope=read write") {
		t.Errorf("add printed %q", r.stdout)
	}
	got, _ := ts.GetTrustedIssuer(t.Context(), iss)
	if !slices.Equal(got.Uses, []string{"id_jag", "jwt_bearer"}) || len(got.Rules) != 2 ||
		!slices.Equal(got.Rules[0].Audiences, []string{"https://api.example.test/a", "https://api.example.test/b"}) ||
		!slices.Equal(got.Rules[0].Scopes, []string{"read", "write"}) || got.Rules[1].ClientID != "*" {
		t.Fatalf("stored %+v", got)
	}
	writ(t, "", "issuer", "add", "https://uri.example.test", "--jwks-uri", "https://uri.example.test/jwks", "--use", "token_exchange").mustSucceed(t)

	r = writ(t, "", "issuer", "list").mustSucceed(t)
	if !strings.Contains(r.stdout, iss) || !strings.Contains(r.stdout, "https://uri.example.test/jwks") {
		t.Errorf("list printed %q", r.stdout)
	}
	r = writ(t, "", "issuer", "get", iss, "-o", "json").mustSucceed(t)
	var one admin.TrustedIssuerJSON
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one.Issuer != iss {
		t.Fatalf("get -o json: %v %q", err, r.stdout)
	}
	writ(t, "", "issuer", "add", iss, "--jwks-file", file, "--use", "id_jag").mustFail(t, exitUsage, "already registered", "409")
	writ(t, "", "issuer", "delete", iss).mustSucceed(t)
	writ(t, "", "issuer", "get", iss).mustFail(t, exitUsage, "no trusted issuer", "404")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"issuer", "add", iss, "--use", "id_jag"}, "exactly one"},
		{[]string{"issuer", "add", iss, "--jwks-file", file}, "--use"},
		{[]string{"issuer", "add", iss, "--jwks-file", file, "--use", "id_jag", "--rule", "aud=https://a.example"}, "client="},
		{[]string{"issuer", "add", iss, "--jwks-file", file, "--use", "id_jag", "--rule", "client=a;colour=red"}, "unknown key"},
		{[]string{"issuer", "add", iss, "--jwks-file", file, "--use", "id_jag", "--rule", "client=a;client=b"}, "repeats"},
		{[]string{"issuer", "get"}, "issuer identifier"},
	} {
		writ(t, "", tc.args...).mustFail(t, exitUsage, tc.want)
	}
}
