package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTokenEndpoint answers token exchange requests of client "svc" with
// secret "s3cret": a JWT-shaped token whose act is a two-hop chain, or an
// invalid_target error when the audience is https://nope.test. It records
// the last form.
func fakeTokenEndpoint(t *testing.T, last *map[string][]string) *httptest.Server {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"sub": "alice", "act": map[string]any{"sub": "agent", "act": map[string]any{"sub": "svc-a", "iss": "https://idp.test"}}})
	tok := "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if err := r.ParseForm(); err != nil || !ok || id != "svc" || secret != "s3cret" || r.URL.Path != "/oauth2/token" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"client authentication failed"}`))
			return
		}
		*last = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("audience") == "https://nope.test" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_target","error_description":"this client may not ask for that audience"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "issued_token_type": grantTokenExchangeIssued,
			"token_type": "Bearer", "expires_in": 300, "scope": "orders:read"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

const grantTokenExchangeIssued = "urn:ietf:params:oauth:token-type:access_token"

func TestTokenExchangeCommand(t *testing.T) {
	var form map[string][]string
	srv := fakeTokenEndpoint(t, &form)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	actorFile := filepath.Join(dir, "actor.jwt")
	for name, v := range map[string]string{secretFile: "s3cret\n", actorFile: "actor.token.value\n"} {
		if err := os.WriteFile(name, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := []string{"token", "exchange", "--issuer", srv.URL, "--client-id", "svc", "--client-secret-file", secretFile}

	r := writ(t, "subject.token.value\n", append(base, "--subject-token", "@-", "--actor-token", "@"+actorFile,
		"--audience", "https://b.test", "--resource", "https://c.test", "--scope", "orders:read")...).mustSucceed(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasPrefix(lines[0], "eyJ") || !strings.Contains(r.stdout, "act: agent → svc-a (https://idp.test)") ||
		!strings.Contains(r.stdout, "issued_token_type: "+grantTokenExchangeIssued) {
		t.Fatalf("output:\n%s", r.stdout)
	}
	want := map[string]string{
		"grant_type": grantTokenExchange, "subject_token": "subject.token.value", "subject_token_type": tokenTypePrefix + "access_token",
		"actor_token": "actor.token.value", "actor_token_type": tokenTypePrefix + "access_token", "audience": "https://b.test",
		"resource": "https://c.test", "scope": "orders:read",
	}
	for k, v := range want {
		if got := form[k]; len(got) != 1 || got[0] != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}

	t.Setenv(envClientSecret, "s3cret")
	r = writ(t, "", "token", "exchange", "--issuer", srv.URL, "--client-id", "svc", "--subject-token", "id.token.value",
		"--subject-token-type", "id_token", "--requested-token-type", "jwt", "--impersonate", "-o", "json").mustSucceed(t)
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("json output: %v\n%s", err, r.stdout)
	}
	if chain, _ := out["act_chain"].([]any); len(chain) != 2 || out["expires_in"] != float64(300) {
		t.Fatalf("json output %s", r.stdout)
	}
	if form["subject_token_type"][0] != tokenTypePrefix+"id_token" || form["requested_token_type"][0] != tokenTypePrefix+"jwt" ||
		form["impersonate"][0] != "true" || form["actor_token"] != nil {
		t.Fatalf("form %v", form)
	}

	writ(t, "", append(base, "--subject-token", "x", "--audience", "https://nope.test")...).
		mustFail(t, exitRejected, "writ: token exchange refused: invalid_target: this client may not ask for that audience")
	writ(t, "", "token", "exchange", "--issuer", srv.URL, "--subject-token", "x").mustFail(t, exitUsage, "--client-id is required")
	writ(t, "", append(base, "--subject-token", "x", "--subject-token-type", "saml")...).mustFail(t, exitUsage, "--subject-token-type")
	writ(t, "", append(base, "--subject-token", "@-", "--actor-token", "@-")...).mustFail(t, exitUsage, "standard input")
	t.Setenv(envClientSecret, "")
	writ(t, "", "token", "exchange", "--issuer", srv.URL, "--client-id", "svc", "--subject-token", "x").mustFail(t, exitUsage, "no client secret")
}
