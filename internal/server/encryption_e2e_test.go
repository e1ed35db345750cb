package server_test

// End to end: encrypted ID tokens and signed and encrypted UserInfo
// responses (OpenID Connect Core §5.3.2, §10.2) from a real writ node
// (internal/apptest, as "writ serve" starts it). Clients register their
// encryption keys through the admin API; a relying party built from
// x/oauth2 and go-oidc signs a user in; the ID token and the UserInfo
// responses are decrypted with go-jose, an implementation independent of
// writ's, and their inner JWS verified with go-oidc against the issuer's
// published keys.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/server"
)

// startEncryptionNode starts a development node and returns the testEnv of
// the browser helpers.
func startEncryptionNode(t *testing.T) (*testEnv, *app.App) {
	t.Helper()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   t.TempDir(),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
	}, app.Options{Announce: io.Discard})
	c := &http.Client{Timeout: 30 * time.Second}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.Cleanup(c.CloseIdleConnections)
	return &testEnv{Issuer: a.Issuer, Server: a.Server, Store: a.Store, Ring: a.Ring, Clock: realClock(), Client: c}, a
}

// publicJWK renders the public half of priv as a JWK with the members of
// extra, through go-jose.
func publicJWK(t *testing.T, pub any, extra map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(gojose.JSONWebKey{Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

type encClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
	// The registration echoes the metadata, enc defaults filled in.
	IDTokenAlg string `json:"id_token_encrypted_response_alg"`
	IDTokenEnc string `json:"id_token_encrypted_response_enc"`
	UISignAlg  string `json:"userinfo_signed_response_alg"`
	UIEncAlg   string `json:"userinfo_encrypted_response_alg"`
	UIEnc      string `json:"userinfo_encrypted_response_enc"`
}

// decryptGoJose decrypts a compact JWE with go-jose, allowing only alg and
// enc, and checks the kid and cty of its header.
func decryptGoJose(t *testing.T, token string, alg gojose.KeyAlgorithm, enc gojose.ContentEncryption, kid string, nested bool, priv any) []byte {
	t.Helper()
	if strings.Count(token, ".") != 4 {
		t.Fatalf("not a compact JWE (%d dots): %.60q", strings.Count(token, "."), token)
	}
	obj, err := gojose.ParseEncryptedCompact(token, []gojose.KeyAlgorithm{alg}, []gojose.ContentEncryption{enc})
	if err != nil {
		t.Fatalf("go-jose parse: %v", err)
	}
	if obj.Header.KeyID != kid {
		t.Errorf("kid = %q, want %q", obj.Header.KeyID, kid)
	}
	cty, _ := obj.Header.ExtraHeaders[gojose.HeaderContentType].(string)
	if nested && cty != "JWT" || !nested && cty != "" {
		t.Errorf("cty = %q, nested %v", cty, nested)
	}
	pt, err := obj.Decrypt(priv)
	if err != nil {
		t.Fatalf("go-jose decrypt: %v", err)
	}
	return pt
}

// userinfo calls UserInfo with the access token and returns the status,
// content type and body.
func userinfo(t *testing.T, e *testEnv, accessToken string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Issuer+server.PathUserInfo, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func TestEncryptedResponsesEndToEnd(t *testing.T) {
	e, a := startEncryptionNode(t)
	e.addUser(t, "u-enc", "erin", "erin's passphrase", named("Erin Example", "erin@example.com"))
	erin := user{Username: "erin", Password: "erin's passphrase"}
	cb := newCallbackServer(t).URL + "/callback"
	scopes := []string{"openid", "profile", "email", "offline_access"}

	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecSig, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	register := func(t *testing.T, extra map[string]any) encClient {
		t.Helper()
		body := map[string]any{"client_name": "encrypting rp", "redirect_uris": []string{cb},
			"grant_types": []string{"authorization_code", "refresh_token"}, "scope": strings.Join(scopes, " ")}
		for k, v := range extra {
			body[k] = v
		}
		var c encClient
		apptest.Admin(t, a, http.MethodPost, "/admin/clients", body, &c, http.StatusCreated)
		return c
	}

	t.Run("discovery lists what is supported", func(t *testing.T) {
		var m map[string]any
		decodeJSON(t, e.get(t, server.PathOIDCMetadata).Body, &m)
		list := func(name string) []string {
			var out []string
			for _, v := range m[name].([]any) {
				out = append(out, v.(string))
			}
			return out
		}
		algs := []string{"RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"}
		encs := []string{"A128CBC-HS256", "A256CBC-HS512", "A128GCM", "A256GCM"}
		for name, want := range map[string][]string{
			"id_token_encryption_alg_values_supported": algs, "id_token_encryption_enc_values_supported": encs,
			"userinfo_encryption_alg_values_supported": algs, "userinfo_encryption_enc_values_supported": encs,
			"userinfo_signing_alg_values_supported": list("id_token_signing_alg_values_supported"),
		} {
			if got := list(name); !slices.Equal(got, want) {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		for name := range m {
			if strings.HasPrefix(name, "request_object_encryption_") {
				t.Errorf("%s listed, but request objects are not decrypted", name)
			}
		}
	})

	t.Run("RSA-OAEP-256: ID token encrypted, UserInfo signed and encrypted", func(t *testing.T) {
		c := register(t, map[string]any{
			"jwks": map[string]any{"keys": []any{
				publicJWK(t, &ecSig.PublicKey, map[string]any{"kid": "sig-1", "use": "sig", "alg": "ES256"}),
				publicJWK(t, &rsaPriv.PublicKey, map[string]any{"kid": "rsa-enc", "use": "enc", "alg": "RSA-OAEP-256"}),
			}},
			"id_token_encrypted_response_alg": "RSA-OAEP-256",
			"userinfo_signed_response_alg":    "RS256",
			"userinfo_encrypted_response_alg": "RSA-OAEP-256", "userinfo_encrypted_response_enc": "A256GCM",
		})
		if c.IDTokenEnc != "A128CBC-HS256" {
			t.Errorf("id_token_encrypted_response_enc = %q, want the default A128CBC-HS256", c.IDTokenEnc)
		}
		rp := e.newRP(t, c.ID, c.Secret, cb, scopes...)
		b := e.newBrowser(t)
		r, tok, _ := rp.signIn(t, e, b, erin)

		raw, _ := tok.Extra("id_token").(string)
		inner := decryptGoJose(t, raw, gojose.RSA_OAEP_256, gojose.A128CBC_HS256, "rsa-enc", true, rsaPriv)
		_, claims := rp.verifyIDToken(t, tok.WithExtra(map[string]any{"id_token": string(inner)}), r.Nonce)
		if claims.Sub != "u-enc" {
			t.Errorf("sub = %q", claims.Sub)
		}

		// The refresh grant issues its ID token through the same path.
		next, err := rp.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		raw2, _ := next.Extra("id_token").(string)
		inner2 := decryptGoJose(t, raw2, gojose.RSA_OAEP_256, gojose.A128CBC_HS256, "rsa-enc", true, rsaPriv)
		if _, err := rp.Verifier.Verify(rp.Ctx, string(inner2)); err != nil {
			t.Fatalf("refreshed ID token: %v", err)
		}

		status, ct, body := userinfo(t, e, tok.AccessToken)
		if status != http.StatusOK || ct != "application/jwt" {
			t.Fatalf("userinfo: %d %q %s", status, ct, body)
		}
		signed := decryptGoJose(t, string(body), gojose.RSA_OAEP_256, gojose.A256GCM, "rsa-enc", true, rsaPriv)
		ui, err := rp.Verifier.Verify(rp.Ctx, string(signed)) // iss, aud = client, exp, signature
		if err != nil {
			t.Fatalf("go-oidc rejects the signed UserInfo: %v", err)
		}
		var uc struct {
			Sub, Email, Name string
		}
		if err := ui.Claims(&uc); err != nil || uc.Sub != "u-enc" || uc.Email != "erin@example.com" || uc.Name != "Erin Example" {
			t.Fatalf("UserInfo claims %+v %v", uc, err)
		}
	})

	t.Run("ECDH-ES+A256KW: ID token encrypted, UserInfo encrypted only", func(t *testing.T) {
		// A key with neither alg nor use: the registered algorithm binds it.
		c := register(t, map[string]any{
			"jwks":                            map[string]any{"keys": []any{publicJWK(t, &ecPriv.PublicKey, map[string]any{"kid": "ec-enc"})}},
			"id_token_encrypted_response_alg": "ECDH-ES+A256KW", "id_token_encrypted_response_enc": "A256CBC-HS512",
			"userinfo_encrypted_response_alg": "ECDH-ES",
		})
		rp := e.newRP(t, c.ID, c.Secret, cb, scopes...)
		b := e.newBrowser(t)
		r, tok, _ := rp.signIn(t, e, b, erin)
		raw, _ := tok.Extra("id_token").(string)
		inner := decryptGoJose(t, raw, gojose.ECDH_ES_A256KW, gojose.A256CBC_HS512, "ec-enc", true, ecPriv)
		rp.verifyIDToken(t, tok.WithExtra(map[string]any{"id_token": string(inner)}), r.Nonce)

		status, ct, body := userinfo(t, e, tok.AccessToken)
		if status != http.StatusOK || ct != "application/jwt" {
			t.Fatalf("userinfo: %d %q %s", status, ct, body)
		}
		plain := decryptGoJose(t, string(body), gojose.ECDH_ES, gojose.A128CBC_HS256, "ec-enc", false, ecPriv)
		var uc map[string]any
		if err := json.Unmarshal(plain, &uc); err != nil || uc["sub"] != "u-enc" || uc["email"] != "erin@example.com" {
			t.Fatalf("UserInfo claims %s %v", plain, err)
		}
	})

	t.Run("UserInfo signed only; ID token plain", func(t *testing.T) {
		c := register(t, map[string]any{"userinfo_signed_response_alg": "RS256"})
		rp := e.newRP(t, c.ID, c.Secret, cb, scopes...)
		b := e.newBrowser(t)
		r, tok, _ := rp.signIn(t, e, b, erin, oauth2.SetAuthURLParam("prompt", "consent"))
		rp.verifyIDToken(t, tok, r.Nonce)
		status, ct, body := userinfo(t, e, tok.AccessToken)
		if status != http.StatusOK || ct != "application/jwt" || strings.Count(string(body), ".") != 2 {
			t.Fatalf("userinfo: %d %q %s", status, ct, body)
		}
		if _, err := rp.Verifier.Verify(rp.Ctx, string(body)); err != nil {
			t.Fatalf("go-oidc rejects the signed UserInfo: %v", err)
		}
		// go-oidc's own UserInfo call accepts the signed response too.
		if _, err := rp.Provider.UserInfo(rp.Ctx, oauth2.StaticTokenSource(tok)); err != nil {
			t.Fatalf("go-oidc UserInfo: %v", err)
		}
	})

	t.Run("jwks_uri: the key is fetched when the ID token is encrypted", func(t *testing.T) {
		jwks, _ := json.Marshal(map[string]any{"keys": []any{
			publicJWK(t, &ecSig.PublicKey, map[string]any{"kid": "sig-1", "use": "sig"}),
			publicJWK(t, &ecPriv.PublicKey, map[string]any{"kid": "ec-remote", "use": "enc", "alg": "ECDH-ES+A128KW"}),
		}})
		keysrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwks)
		}))
		t.Cleanup(keysrv.Close)
		c := register(t, map[string]any{"jwks_uri": keysrv.URL + "/jwks", "id_token_encrypted_response_alg": "ECDH-ES+A128KW",
			"id_token_encrypted_response_enc": "A128GCM"})
		rp := e.newRP(t, c.ID, c.Secret, cb, scopes...)
		r, tok, _ := rp.signIn(t, e, e.newBrowser(t), erin)
		raw, _ := tok.Extra("id_token").(string)
		inner := decryptGoJose(t, raw, gojose.ECDH_ES_A128KW, gojose.A128GCM, "ec-remote", true, ecPriv)
		rp.verifyIDToken(t, tok.WithExtra(map[string]any{"id_token": string(inner)}), r.Nonce)
	})

	t.Run("jwks_uri without an encryption key: server_error at the token endpoint", func(t *testing.T) {
		jwks, _ := json.Marshal(map[string]any{"keys": []any{publicJWK(t, &ecSig.PublicKey, map[string]any{"kid": "sig-1", "use": "sig"})}})
		keysrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwks)
		}))
		t.Cleanup(keysrv.Close)
		// A jwks_uri is read when a response is encrypted, not at
		// registration.
		c := register(t, map[string]any{"jwks_uri": keysrv.URL + "/jwks", "id_token_encrypted_response_alg": "ECDH-ES"})
		rp := e.newRP(t, c.ID, c.Secret, cb, scopes...)
		b := e.newBrowser(t)
		r := rp.authorize()
		_, p := b.run(t, r.URL, erin)
		code := e.callback(t, p, cb, r.State)
		_, err := rp.Config.Exchange(rp.Ctx, code, oauth2.VerifierOption(r.Verifier))
		if code, status := retrieveError(t, err); code != "server_error" || status != http.StatusInternalServerError {
			t.Fatalf("got %q %d, want server_error 500", code, status)
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && !strings.Contains(re.ErrorDescription, "no key for its registered encryption algorithm") {
			t.Errorf("error_description = %q", re.ErrorDescription)
		}
	})

	t.Run("refused at registration without an encryption key", func(t *testing.T) {
		body := map[string]any{"client_name": "no key", "redirect_uris": []string{cb}, "scope": "openid"}
		cases := map[string]map[string]any{
			"no jwks": {"id_token_encrypted_response_alg": "RSA-OAEP-256"},
			"signature key only": {"id_token_encrypted_response_alg": "ECDH-ES",
				"jwks": map[string]any{"keys": []any{publicJWK(t, &ecSig.PublicKey, map[string]any{"kid": "sig-1", "use": "sig"})}}},
			"RSA1_5": {"userinfo_encrypted_response_alg": "RSA1_5",
				"jwks": map[string]any{"keys": []any{publicJWK(t, &rsaPriv.PublicKey, map[string]any{"kid": "r", "use": "enc"})}}},
			"enc without alg": {"userinfo_encrypted_response_enc": "A128GCM"},
		}
		// An update may not take away the key the encryption needs.
		c := register(t, map[string]any{
			"jwks":                            map[string]any{"keys": []any{publicJWK(t, &ecPriv.PublicKey, map[string]any{"kid": "ec-enc"})}},
			"userinfo_encrypted_response_alg": "ECDH-ES",
		})
		var out struct {
			Error string `json:"error"`
		}
		apptest.Admin(t, a, http.MethodPatch, "/admin/clients/"+c.ID, map[string]any{"jwks": nil}, &out, http.StatusBadRequest)
		if out.Error != "invalid_client_metadata" {
			t.Errorf("update without the key: error = %q", out.Error)
		}
		apptest.Admin(t, a, http.MethodPatch, "/admin/clients/"+c.ID, map[string]any{"jwks": nil, "userinfo_encrypted_response_alg": nil}, nil, http.StatusOK)
		for name, extra := range cases {
			t.Run(name, func(t *testing.T) {
				b := map[string]any{}
				for k, v := range body {
					b[k] = v
				}
				for k, v := range extra {
					b[k] = v
				}
				var out struct {
					Error string `json:"error"`
				}
				apptest.Admin(t, a, http.MethodPost, "/admin/clients", b, &out, http.StatusBadRequest)
				if out.Error != "invalid_client_metadata" {
					t.Errorf("error = %q", out.Error)
				}
			})
		}
	})
}
