package interop_test

// panva's openid-client (Node.js, the version pinned in
// testdata/openid-client/package-lock.json) on its default settings: the
// client secret goes by client_secret_post, ID tokens are expected signed
// with RS256, the authorization response's iss (RFC 9207) is checked. The
// only thing set besides the client's id, secret and redirect URI is
// NODE_EXTRA_CA_CERTS, so that Node trusts the test CA.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	openidClientDir = "testdata/openid-client"
	nodeRedirectURI = "http://127.0.0.1:9/openid-client/callback"
)

// needNodeModules makes sure the pinned openid-client is installed in
// testdata/openid-client/node_modules, running `npm ci` when it is not
// (.ci/run runs it beforehand).
func needNodeModules(t *testing.T) string {
	t.Helper()
	node := needProgram(t, "node", "install Node.js 20 or later")
	if _, err := os.Stat(filepath.Join(openidClientDir, "node_modules", "openid-client", "package.json")); err == nil {
		return node
	}
	npm := needProgram(t, "npm", "install npm (it comes with Node.js)")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = openidClientDir
	if out, err := cmd.CombinedOutput(); err != nil {
		if inCI() {
			t.Fatalf("npm ci in %s: %v\n%s", openidClientDir, err, out)
		}
		t.Skipf("npm ci in %s failed (offline?): %v\n%s", openidClientDir, err, out)
	}
	return node
}

// nodeResult is the last message of flow.mjs.
type nodeResult struct {
	Step   string `json:"step"`
	Error  string `json:"error"`
	Code   string `json:"code"`
	Cause  string `json:"cause"`
	Method string `json:"token_endpoint_auth_method"`
	IDAlg  string `json:"id_token_alg"`
	Claims struct {
		Sub string `json:"sub"`
	} `json:"claims"`
	UserInfo struct {
		Sub           string `json:"sub"`
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
	} `json:"userinfo"`
	Scope          string `json:"scope"`
	RefreshRotated bool   `json:"refresh_rotated"`
	RefreshedSub   string `json:"refreshed_sub"`
	Introspection  struct {
		Active   bool   `json:"active"`
		Sub      string `json:"sub"`
		ClientID string `json:"client_id"`
	} `json:"introspection"`
	RevokedActive *bool `json:"revoked_active"`
	// With DPOP=1: the token types openid-client saw, and what
	// introspection says of the refreshed access token.
	TokenType              string `json:"token_type"`
	RefreshedTokenType     string `json:"refreshed_token_type"`
	IntrospectionTokenType string `json:"introspection_token_type"`
	DPoPJKT                string `json:"dpop_jkt"`
}

// runOpenIDClient runs flow.mjs for client c, signs u in where it asks,
// and returns its result. extraEnv adds environment variables.
func runOpenIDClient(t *testing.T, node string, w *writNode, c client, u person, extraEnv ...string) nodeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "flow.mjs")
	cmd.Dir = openidClientDir
	cmd.Env = append(os.Environ(),
		"WRIT_ISSUER="+w.Issuer,
		"CLIENT_ID="+c.ID,
		"CLIENT_SECRET="+c.Secret,
		"REDIRECT_URI="+nodeRedirectURI,
		"NODE_EXTRA_CA_CERTS="+w.CAFile,
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	defer func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil && !t.Failed() {
			t.Errorf("node: %v\n%s", err, stderr.String())
		}
	}()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	next := func() nodeResult {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("node ended without an answer (%v)\nstderr:\n%s", lines.Err(), stderr.String())
		}
		var r nodeResult
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatalf("node said %q: %v", lines.Text(), err)
		}
		if r.Step == "error" {
			t.Fatalf("openid-client: %s (code %s, cause %s)\nstderr:\n%s", r.Error, r.Code, r.Cause, stderr.String())
		}
		return r
	}
	var first struct {
		Step string `json:"step"`
		URL  string `json:"url"`
	}
	r := next()
	if r.Step != "authorize" {
		t.Fatalf("first step %q, want authorize", r.Step)
	}
	if err := json.Unmarshal(lines.Bytes(), &first); err != nil {
		t.Fatal(err)
	}
	cb := w.newBrowser(t, u).callback(t, first.URL, nodeRedirectURI)
	msg, _ := json.Marshal(map[string]string{"callback": cb.String()})
	if _, err := stdin.Write(append(msg, '\n')); err != nil {
		t.Fatalf("write to node: %v", err)
	}
	r = next()
	if r.Step != "done" {
		t.Fatalf("last step %q, want done", r.Step)
	}
	return r
}

// checkNodeResult checks what openid-client saw.
func checkNodeResult(t *testing.T, r nodeResult, c client, u person) {
	t.Helper()
	// With an access token issued, profile and email claims go to UserInfo
	// (OIDC Core §5.4); the ID token names the user.
	if r.Claims.Sub != u.ID {
		t.Errorf("ID token sub %q, want %q", r.Claims.Sub, u.ID)
	}
	if r.UserInfo.Sub != u.ID || r.UserInfo.Email != u.Email || !r.UserInfo.EmailVerified || r.UserInfo.Name != u.Name {
		t.Errorf("userinfo = %+v, want sub %q email %q (verified) name %q", r.UserInfo, u.ID, u.Email, u.Name)
	}
	if !r.RefreshRotated {
		t.Error("refresh: no new refresh token")
	}
	if r.RefreshedSub != "" && r.RefreshedSub != u.ID {
		t.Errorf("refreshed ID token sub = %q, want %q", r.RefreshedSub, u.ID)
	}
	if !r.Introspection.Active || r.Introspection.Sub != u.ID || r.Introspection.ClientID != c.ID {
		t.Errorf("introspection = %+v, want active for %q at %q", r.Introspection, u.ID, c.ID)
	}
	if r.RevokedActive == nil || *r.RevokedActive {
		t.Errorf("a revoked refresh token introspects as active = %v, want false", r.RevokedActive)
	}
}

func TestOpenIDClientDefaults(t *testing.T) {
	node := needNodeModules(t)
	w := startWrit(t)
	bob := w.createUser(t, "bob")

	// A web application registered as docs/signin.md registers one (the
	// default method, client_secret_basic), used by openid-client on its
	// defaults (client_secret_post, RS256 ID tokens).
	t.Run("defaults", func(t *testing.T) {
		needFeature(t, w.hasRS256IDTokens(), "item 14: RS256 ID tokens (discovery lists no RS256 in id_token_signing_alg_values_supported)")
		needFeature(t, w.acceptsEitherSecretMethod(t), "item 16: a secret client accepts client_secret_post as well as client_secret_basic")
		c := w.createClient(t, map[string]any{
			"client_name":   "openid-client defaults",
			"redirect_uris": []string{nodeRedirectURI},
			"grant_types":   []string{"authorization_code", "refresh_token"},
			"scope":         "openid profile email offline_access",
		})
		r := runOpenIDClient(t, node, w, c, bob)
		if r.IDAlg != "RS256" {
			t.Errorf("ID token alg = %s, want RS256 (the OIDC default)", r.IDAlg)
		}
		checkNodeResult(t, r, c, bob)
	})

	// The rest of the protocol, independent of items 14 and 16: the client
	// registered for client_secret_post, and openid-client told the
	// algorithm the server signs ID tokens with when that is not RS256.
	t.Run("registered_for_client_secret_post", func(t *testing.T) {
		c := w.createClient(t, map[string]any{
			"client_name":                "openid-client, client_secret_post",
			"redirect_uris":              []string{nodeRedirectURI},
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"scope":                      "openid profile email offline_access",
			"token_endpoint_auth_method": "client_secret_post",
		})
		var env []string
		if !w.hasRS256IDTokens() {
			algs := w.discoveryList("id_token_signing_alg_values_supported")
			if len(algs) == 0 {
				t.Fatal("discovery lists no id_token_signing_alg_values_supported")
			}
			env = append(env, "ID_TOKEN_ALG="+algs[0])
			t.Logf("the server does not sign ID tokens with RS256 (item 14): openid-client is told to expect %s", algs[0])
		}
		r := runOpenIDClient(t, node, w, c, bob, env...)
		checkNodeResult(t, r, c, bob)
	})
}

// openid-client binding its tokens to a DPoP key of its own (RFC 9449):
// proofs at the token endpoint (code and refresh) and at UserInfo, with
// writ answering DPoP-bound tokens that UserInfo takes under the DPoP
// scheme and introspection reports as such.
func TestOpenIDClientDPoP(t *testing.T) {
	node := needNodeModules(t)
	w := startWrit(t)
	bob := w.createUser(t, "bob")
	c := w.createClient(t, map[string]any{
		"client_name":                "openid-client, DPoP",
		"redirect_uris":              []string{nodeRedirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"scope":                      "openid profile email offline_access",
		"token_endpoint_auth_method": "client_secret_post",
	})
	env := []string{"DPOP=1"}
	if !w.hasRS256IDTokens() {
		env = append(env, "ID_TOKEN_ALG="+w.discoveryList("id_token_signing_alg_values_supported")[0])
	}
	r := runOpenIDClient(t, node, w, c, bob, env...)
	checkNodeResult(t, r, c, bob)
	if !strings.EqualFold(r.TokenType, "DPoP") || !strings.EqualFold(r.RefreshedTokenType, "DPoP") {
		t.Errorf("token_type %q, after refresh %q; want DPoP", r.TokenType, r.RefreshedTokenType)
	}
	if r.IntrospectionTokenType != "DPoP" || r.DPoPJKT == "" {
		t.Errorf("introspection token_type %q, cnf.jkt %q", r.IntrospectionTokenType, r.DPoPJKT)
	}
}
