package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// TestClientCreateProfileFAPI2: --profile fapi2 registers the profile
// (with a FAPI 2.0 ID token algorithm filled in), shows it, and a
// registration that contradicts the profile fails with the server's
// reason.
func TestClientCreateProfileFAPI2(t *testing.T) {
	e := newAdminEnv(t)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.NewKeySet(key.Public()))
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks, 0o644); err != nil {
		t.Fatal(err)
	}
	c := e.createJSON(t, "--profile", "fapi2", "--auth-method", "private_key_jwt", "--jwks", "@"+file,
		"--grant-type", "authorization_code", "--redirect-uri", "https://bank.example/cb")
	if c.Profile != "fapi2" || c.IDTokenSignedResponseAlg == "RS256" || c.ClientSecret != "" {
		t.Fatalf("--profile fapi2 registered %+v", c)
	}
	shown := writAdmin(t, "", "client", "get", c.ClientID, "--endpoint", e.url).mustSucceed(t)
	if !containsLine(shown.stdout, "PROFILE", "fapi2") {
		t.Errorf("client get does not show the profile:\n%s", shown.stdout)
	}
	writAdmin(t, "", "client", "create", "--endpoint", e.url, "--profile", "fapi2",
		"--grant-type", "authorization_code", "--redirect-uri", "https://bank.example/cb").
		mustFail(t, exitUsage, "FAPI 2.0", "token_endpoint_auth_method", "invalid_client_metadata")
}

// containsLine reports whether out has a line with both words.
func containsLine(out, a, b string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, a) && strings.Contains(l, b) {
			return true
		}
	}
	return false
}
