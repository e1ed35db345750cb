package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// TestRegistrationDPoPBoundAccessTokens: dpop_bound_access_tokens (RFC
// 9449 §5.2) can be registered; the client is then refused a token without
// a proof, and a re-registration that leaves it out does not shed it.
func TestRegistrationDPoPBoundAccessTokens(t *testing.T) {
	const initial = "initial-token-for-the-dpop-test-0123456789"
	sum := sha256.Sum256([]byte(initial))
	file := filepath.Join(t.TempDir(), "initial-tokens")
	if err := os.WriteFile(file, []byte(hex.EncodeToString(sum[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startRegNode(t, "token", map[string]string{"WRIT_REGISTRATION_INITIAL_TOKENS_FILE": file})
	endpoint := n.issuer + admin.PathRegister
	reg := n.call(t, http.MethodPost, endpoint, initial, map[string]any{
		"grant_types": []string{"client_credentials"}, "scope": "mcp:tools", "client_name": "svc",
		"dpop_bound_access_tokens": true,
	})
	if reg.status != http.StatusCreated || reg.body["dpop_bound_access_tokens"] != true {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	id, secret := reg.body["client_id"].(string), reg.body["client_secret"].(string)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools"}}
	if r := n.token(t, form, id, secret); r.status != http.StatusBadRequest || r.body["error"] != "invalid_dpop_proof" {
		t.Fatalf("token without a proof: %d %s", r.status, r.raw)
	}
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := dpop.NewProof(key, http.MethodPost, n.issuer+"/oauth2/token", "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, n.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token with a proof: %d", resp.StatusCode)
	}

	up := n.call(t, http.MethodPut, reg.body["registration_client_uri"].(string), reg.body["registration_access_token"].(string), map[string]any{
		"client_id": id, "client_secret": secret, "grant_types": []string{"client_credentials"}, "scope": "mcp:tools", "client_name": "svc 2",
	})
	if up.status != http.StatusOK || up.body["dpop_bound_access_tokens"] != true {
		t.Fatalf("update: %d %s", up.status, up.raw)
	}
	c, err := n.a.Store.GetClient(context.Background(), id)
	if err != nil || !c.DPoPBoundAccessTokens {
		t.Fatalf("stored after update: %+v %v", c, err)
	}
}
