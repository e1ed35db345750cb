package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

func newDPoPKey(t testing.TB) *jose.Key {
	t.Helper()
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proofAt makes a proof by key for method and u at the env's clock.
func (e *testEnv) proofAt(t testing.TB, key *jose.Key, method, u, nonce string) string {
	t.Helper()
	p, err := dpop.NewProof(key, method, u, "", nonce, e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func withDPoP(proofs ...string) func(*http.Request) {
	return func(r *http.Request) {
		for _, p := range proofs {
			r.Header.Add("DPoP", p)
		}
	}
}

func TestDPoPTokenEndpoint(t *testing.T) {
	e := newEnv(t, envOptions{})
	secret := e.addConfidential(t, "svc")
	opaqueSecret := e.addConfidential(t, "svc-opaque", opaqueFormat())
	e.addStoreUser(t, "u-alice") // the agent's owner
	agentSecret := e.addConfidential(t, "agent", func(c *store.Client) {
		c.Agent = &store.AgentPolicy{Owner: "user:u-alice", RequireDPoP: true}
	})
	key := newDPoPKey(t)
	jkt := key.ThumbprintSHA256()
	tokenURL := e.url(server.PathToken)
	cc := url.Values{"grant_type": {"client_credentials"}}

	t.Run("discovery", func(t *testing.T) {
		var m map[string]any
		decodeJSON(t, e.get(t, server.PathASMetadata).Body, &m)
		algs, _ := m["dpop_signing_alg_values_supported"].([]any)
		if !slices.Contains(algs, any("ES256")) || slices.Contains(algs, any("HS256")) {
			t.Errorf("dpop_signing_alg_values_supported = %v", m["dpop_signing_alg_values_supported"])
		}
	})

	t.Run("bound JWT", func(t *testing.T) {
		resp := e.post(t, server.PathToken, cc, basic("svc", secret), withDPoP(e.proofAt(t, key, "POST", tokenURL, "")))
		if resp.Status != http.StatusOK {
			t.Fatalf("token: %s", resp)
		}
		var tr tokenResponse
		decodeJSON(t, resp.Body, &tr)
		if tr.TokenType != "DPoP" {
			t.Errorf("token_type = %q", tr.TokenType)
		}
		cnf, _ := jwtPayload(t, tr.AccessToken)["cnf"].(map[string]any)
		if cnf["jkt"] != jkt {
			t.Errorf("cnf = %v, want jkt %s", cnf, jkt)
		}
		_, in := e.introspect(t, tr.AccessToken, basic("svc", secret))
		if in["token_type"] != "DPoP" || in["cnf"].(map[string]any)["jkt"] != jkt {
			t.Errorf("introspection token_type %v cnf %v", in["token_type"], in["cnf"])
		}
	})

	t.Run("bound opaque token", func(t *testing.T) {
		resp := e.post(t, server.PathToken, cc, basic("svc-opaque", opaqueSecret), withDPoP(e.proofAt(t, key, "POST", tokenURL, "")))
		var tr tokenResponse
		decodeJSON(t, resp.Body, &tr)
		if resp.Status != http.StatusOK || tr.TokenType != "DPoP" {
			t.Fatalf("token: %s", resp)
		}
		_, in := e.introspect(t, tr.AccessToken, basic("svc-opaque", opaqueSecret))
		cnf, _ := in["cnf"].(map[string]any)
		if in["token_type"] != "DPoP" || cnf["jkt"] != jkt {
			t.Errorf("introspection token_type %v cnf %v", in["token_type"], in["cnf"])
		}
	})

	t.Run("no proof: Bearer", func(t *testing.T) {
		tr := e.token(t, "svc", secret, nil)
		if tr.TokenType != "Bearer" || jwtPayload(t, tr.AccessToken)["cnf"] != nil {
			t.Errorf("token_type %q, claims %v", tr.TokenType, jwtPayload(t, tr.AccessToken))
		}
	})

	t.Run("agent with a proof", func(t *testing.T) {
		resp := e.post(t, server.PathToken, cc, basic("agent", agentSecret), withDPoP(e.proofAt(t, key, "POST", tokenURL, "")))
		if resp.Status != http.StatusOK {
			t.Fatalf("token: %s", resp)
		}
	})

	used := e.proofAt(t, key, "POST", tokenURL, "")
	if r := e.post(t, server.PathToken, cc, basic("svc", secret), withDPoP(used)); r.Status != http.StatusOK {
		t.Fatalf("first use: %s", r)
	}
	other := newDPoPKey(t)
	tests := []struct {
		name   string
		client string
		secret string
		proofs []string
	}{
		{"agent without proof", "agent", agentSecret, nil},
		{"not a JWS", "svc", secret, []string{"not-a-proof"}},
		{"empty header", "svc", secret, []string{""}},
		{"two headers", "svc", secret, []string{e.proofAt(t, key, "POST", tokenURL, ""), e.proofAt(t, other, "POST", tokenURL, "")}},
		{"wrong htu", "svc", secret, []string{e.proofAt(t, key, "POST", e.url(server.PathIntrospect), "")}},
		{"htu of another host", "svc", secret, []string{e.proofAt(t, key, "POST", "https://as.example.test"+server.PathToken, "")}},
		{"wrong htm", "svc", secret, []string{e.proofAt(t, key, "GET", tokenURL, "")}},
		{"replayed", "svc", secret, []string{used}},
		{"too old", "svc", secret, []string{func() string {
			p, err := dpop.NewProof(key, "POST", tokenURL, "", "", e.Clock.Now().Add(-10*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}()}},
		{"in the future", "svc", secret, []string{func() string {
			p, err := dpop.NewProof(key, "POST", tokenURL, "", "", e.Clock.Now().Add(10*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, server.PathToken, cc, basic(tc.client, tc.secret), withDPoP(tc.proofs...))
			wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeInvalidDPoPProof)
		})
	}
}

func TestDPoPNonce(t *testing.T) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{DPoP: &server.DPoPOptions{NonceSecret: secret}})
	svc := e.addConfidential(t, "svc")
	key := newDPoPKey(t)
	tokenURL := e.url(server.PathToken)
	cc := url.Values{"grant_type": {"client_credentials"}}

	r := e.post(t, server.PathToken, cc, basic("svc", svc), withDPoP(e.proofAt(t, key, "POST", tokenURL, "")))
	wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeUseDPoPNonce)
	nonce := r.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	r = e.post(t, server.PathToken, cc, basic("svc", svc), withDPoP(e.proofAt(t, key, "POST", tokenURL, "not-the-nonce")))
	wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeUseDPoPNonce)

	r = e.post(t, server.PathToken, cc, basic("svc", svc), withDPoP(e.proofAt(t, key, "POST", tokenURL, nonce)))
	if r.Status != http.StatusOK {
		t.Fatalf("with the nonce: %s", r)
	}
	if r.Header.Get("DPoP-Nonce") == "" {
		t.Error("no DPoP-Nonce on success")
	}
	var tr tokenResponse
	decodeJSON(t, r.Body, &tr)
	if tr.TokenType != "DPoP" {
		t.Errorf("token_type %q", tr.TokenType)
	}
	// The nonce outlives its period by one more, then is refused.
	e.Clock.Advance(11 * time.Minute)
	r = e.post(t, server.PathToken, cc, basic("svc", svc), withDPoP(e.proofAt(t, key, "POST", tokenURL, nonce)))
	wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeUseDPoPNonce)
	if got := r.Header.Get("DPoP-Nonce"); got == "" || got == nonce {
		t.Errorf("DPoP-Nonce after rotation = %q", got)
	}
}

func TestDPoPDisabled(t *testing.T) {
	e := newEnv(t, envOptions{DPoP: &server.DPoPOptions{Disabled: true}})
	svc := e.addConfidential(t, "svc")
	var m map[string]any
	decodeJSON(t, e.get(t, server.PathASMetadata).Body, &m)
	if _, ok := m["dpop_signing_alg_values_supported"]; ok {
		t.Errorf("discovery lists DPoP algorithms with DPoP off")
	}
	r := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("svc", svc), withDPoP("ignored"))
	var tr tokenResponse
	decodeJSON(t, r.Body, &tr)
	if r.Status != http.StatusOK || tr.TokenType != "Bearer" {
		t.Fatalf("with DPoP off: %s", r)
	}
}

// A public client signs a user in and redeems the code with a proof: its
// access token is bound (and works at UserInfo only under DPoP with a
// proof), and so is its refresh token (refreshed only with a proof by the
// same key).
func TestDPoPSignInPublicClient(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	e.addPublic(t, "spa", webApp(redirect), firstParty())
	rp := e.newRP(t, "spa", "", redirect, webScopes...)
	b := e.newBrowser(t)
	ar := rp.authorize()
	_, p := b.run(t, ar.URL, user{Username: "alice", Password: alicePassword})
	code := e.callback(t, p, redirect, ar.State)
	key, thief := newDPoPKey(t), newDPoPKey(t)
	tokenURL := e.url(server.PathToken)

	r := e.post(t, server.PathToken, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"code_verifier": {ar.Verifier}, "client_id": {"spa"},
	}, withDPoP(e.proofAt(t, key, "POST", tokenURL, "")))
	if r.Status != http.StatusOK {
		t.Fatalf("code redemption: %s", r)
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
	}
	decodeJSON(t, r.Body, &tr)
	if tr.TokenType != "DPoP" || tr.RefreshToken == "" || tr.IDToken == "" {
		t.Fatalf("token response %s", r.Body)
	}
	if cnf, _ := jwtPayload(t, tr.AccessToken)["cnf"].(map[string]any); cnf["jkt"] != key.ThumbprintSHA256() {
		t.Fatalf("cnf = %v", cnf)
	}

	t.Run("UserInfo", func(t *testing.T) {
		userinfo := e.url(server.PathUserInfo)
		proof := func(k *jose.Key, method string) string {
			p, err := dpop.NewProof(k, method, userinfo, tr.AccessToken, "", e.Clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		for _, tc := range []struct {
			name   string
			auth   string
			proofs []string
			status int
			scheme string
		}{
			{"DPoP with a proof", "DPoP ", []string{proof(key, "GET")}, 200, ""},
			{"as Bearer", "Bearer ", nil, 401, "Bearer "},
			{"DPoP without a proof", "DPoP ", nil, 401, "DPoP "},
			{"a thief's proof", "DPoP ", []string{proof(thief, "GET")}, 401, "DPoP "},
			{"a proof for another URL", "DPoP ", []string{func() string {
				p, _ := dpop.NewProof(key, "GET", e.url(server.PathToken), tr.AccessToken, "", e.Clock.Now())
				return p
			}()}, 401, "DPoP "},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.get(t, server.PathUserInfo, header("Authorization", tc.auth+tr.AccessToken), withDPoP(tc.proofs...))
				if r.Status != tc.status || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), tc.scheme) {
					t.Fatalf("%d %q %s", r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
				}
			})
		}
	})

	t.Run("refresh", func(t *testing.T) {
		refresh := func(proofs ...string) *response {
			return e.post(t, server.PathToken, url.Values{
				"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"spa"},
			}, withDPoP(proofs...))
		}
		wantOAuthError(t, refresh(), http.StatusBadRequest, oauth.CodeInvalidGrant)
		wantOAuthError(t, refresh(e.proofAt(t, thief, "POST", tokenURL, "")), http.StatusBadRequest, oauth.CodeInvalidGrant)
		r := refresh(e.proofAt(t, key, "POST", tokenURL, ""))
		if r.Status != http.StatusOK {
			t.Fatalf("refresh with the key: %s", r)
		}
		var next tokenResponse
		decodeJSON(t, r.Body, &next)
		if next.TokenType != "DPoP" {
			t.Errorf("refreshed token_type %q", next.TokenType)
		}
	})
}

// FuzzTokenEndpointDPoP throws arbitrary DPoP headers at the token endpoint
// with a valid client: the answer is never a 5xx; it is invalid_dpop_proof,
// or (for the seed proof's first use) a DPoP-bound token.
func FuzzTokenEndpointDPoP(f *testing.F) {
	e := newEnv(f, envOptions{})
	secret := e.addConfidential(f, "billing")
	handler := e.Server.Handler()
	key := newDPoPKey(f)
	valid := e.proofAt(f, key, "POST", e.url(server.PathToken), "")
	for _, s := range []string{valid, valid[:len(valid)/2], "", "a.b.c", strings.Repeat("e", 9000),
		"eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.", valid + "x"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, proof string, twice bool) {
		req := httptest.NewRequest(http.MethodPost, server.PathToken, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", formType)
		req.Header.Set("Authorization", "Basic "+b64("billing:"+secret))
		req.Header.Add("DPoP", proof)
		if twice {
			req.Header.Add("DPoP", proof)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		var doc struct {
			Error     string `json:"error"`
			TokenType string `json:"token_type"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		switch {
		case rec.Code == http.StatusOK && (doc.TokenType != "DPoP" || twice):
			t.Fatalf("issued a %q token for proof %q (twice %v)", doc.TokenType, proof, twice)
		case rec.Code != http.StatusOK && (rec.Code != http.StatusBadRequest || doc.Error != oauth.CodeInvalidDPoPProof):
			t.Fatalf("status %d %s for proof %q", rec.Code, rec.Body, proof)
		}
	})
}

// downCache is a replay cache that cannot answer.
type downCache struct{}

func (downCache) Use(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// A proof whose replay cannot be checked is not accepted: 503, and the
// client retries.
func TestDPoPReplayCacheDown(t *testing.T) {
	e := newEnv(t, envOptions{DPoP: &server.DPoPOptions{Replay: downCache{}}})
	svc := e.addConfidential(t, "svc")
	key := newDPoPKey(t)
	r := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("svc", svc),
		withDPoP(e.proofAt(t, key, "POST", e.url(server.PathToken), "")))
	wantOAuthError(t, r, http.StatusServiceUnavailable, oauth.CodeTemporarilyUnavailable)
	if strings.Contains(string(r.Body), "6379") {
		t.Errorf("the cause leaked: %s", r.Body)
	}
	// Without a proof the client still gets a bearer token.
	if tr := e.token(t, "svc", svc, nil); tr.TokenType != "Bearer" {
		t.Errorf("token_type %q", tr.TokenType)
	}
}
