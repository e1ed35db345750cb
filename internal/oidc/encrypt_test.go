package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// jwksOf renders the public halves of keys as a JWK Set.
func jwksOf(t testing.TB, keys ...*jose.Key) []byte {
	t.Helper()
	var pub []*jose.Key
	for _, k := range keys {
		pub = append(pub, k.Public())
	}
	b, err := json.Marshal(map[string]any{"keys": pub})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func genEncKey(t testing.TB, alg jose.Algorithm, kid string) *jose.Key {
	t.Helper()
	k, err := jose.GenerateKey(alg, jose.WithKeyID(kid))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheckResponseMetadata(t *testing.T) {
	rsaEnc := genEncKey(t, jose.RSAOAEP256, "rsa-enc")
	ecEnc := genEncKey(t, jose.ECDHESA256KW, "ec-enc")
	sig := genKey(t, jose.ES256)
	withRSA, withEC, sigOnly := jwksOf(t, rsaEnc), jwksOf(t, ecEnc), jwksOf(t, sig)
	ring := []jose.Algorithm{jose.RS256, jose.ES256}
	tests := []struct {
		name    string
		c       store.Client
		wantErr string // substring; "" means accepted
	}{
		{"nothing registered", store.Client{}, ""},
		{"ID token RSA-OAEP-256 with key", store.Client{JWKS: withRSA, IDTokenEncryptedResponseAlg: "RSA-OAEP-256"}, ""},
		{"ID token RSA-OAEP-256 A256GCM", store.Client{JWKS: withRSA, IDTokenEncryptedResponseAlg: "RSA-OAEP-256", IDTokenEncryptedResponseEnc: "A256GCM"}, ""},
		{"ID token ECDH-ES+A256KW with key", store.Client{JWKS: withEC, IDTokenEncryptedResponseAlg: "ECDH-ES+A256KW", IDTokenEncryptedResponseEnc: "A256CBC-HS512"}, ""},
		{"ID token alg of another key type", store.Client{JWKS: withEC, IDTokenEncryptedResponseAlg: "RSA-OAEP"}, "needs a key in jwks"},
		{"ID token with only a signature key", store.Client{JWKS: sigOnly, IDTokenEncryptedResponseAlg: "ECDH-ES"}, "needs a key in jwks"},
		{"ID token without keys", store.Client{IDTokenEncryptedResponseAlg: "RSA-OAEP-256"}, "set jwks or jwks_uri"},
		{"ID token with jwks_uri (checked at issuance)", store.Client{JWKSURI: "https://rp.example.com/jwks", IDTokenEncryptedResponseAlg: "ECDH-ES"}, ""},
		{"ID token RSA1_5", store.Client{JWKS: withRSA, IDTokenEncryptedResponseAlg: "RSA1_5"}, "id_token_encrypted_response_alg \"RSA1_5\" is not supported"},
		{"ID token dir", store.Client{JWKS: withRSA, IDTokenEncryptedResponseAlg: "dir"}, "not supported"},
		{"ID token enc A192GCM", store.Client{JWKS: withRSA, IDTokenEncryptedResponseAlg: "RSA-OAEP-256", IDTokenEncryptedResponseEnc: "A192GCM"}, "id_token_encrypted_response_enc \"A192GCM\" is not supported"},
		{"ID token enc without alg", store.Client{JWKS: withRSA, IDTokenEncryptedResponseEnc: "A256GCM"}, "id_token_encrypted_response_enc needs id_token_encrypted_response_alg"},
		{"UserInfo signed ES256", store.Client{UserinfoSignedResponseAlg: "ES256"}, ""},
		{"UserInfo signed, alg not in the ring", store.Client{UserinfoSignedResponseAlg: "PS256"}, "userinfo_signed_response_alg \"PS256\" is not supported"},
		{"UserInfo signed none", store.Client{UserinfoSignedResponseAlg: "none"}, "not supported"},
		{"UserInfo signed HS256", store.Client{UserinfoSignedResponseAlg: "HS256"}, "not supported"},
		{"UserInfo encrypted with key", store.Client{JWKS: withEC, UserinfoEncryptedResponseAlg: "ECDH-ES+A256KW"}, ""},
		{"UserInfo encrypted, the key names another alg", store.Client{JWKS: withEC, UserinfoEncryptedResponseAlg: "ECDH-ES"}, "needs a key in jwks"},
		{"UserInfo encrypted without key", store.Client{UserinfoEncryptedResponseAlg: "ECDH-ES"}, "userinfo_encrypted_response_alg needs"},
		{"UserInfo enc without alg", store.Client{UserinfoEncryptedResponseEnc: "A128GCM"}, "userinfo_encrypted_response_enc needs"},
		{"UserInfo A128KW", store.Client{JWKS: withEC, UserinfoEncryptedResponseAlg: "A128KW"}, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckResponseMetadata(&tt.c, ring)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestResponseEncryptionDefaults(t *testing.T) {
	tests := []struct {
		alg, enc string
		want     ResponseEncryption
	}{
		{"", "", ResponseEncryption{}},
		{"RSA-OAEP", "", ResponseEncryption{jose.RSAOAEP, jose.A128CBCHS256}},
		{"ECDH-ES", "A256GCM", ResponseEncryption{jose.ECDHES, jose.A256GCM}},
	}
	for _, tt := range tests {
		c := &store.Client{IDTokenEncryptedResponseAlg: tt.alg, IDTokenEncryptedResponseEnc: tt.enc,
			UserinfoEncryptedResponseAlg: tt.alg, UserinfoEncryptedResponseEnc: tt.enc}
		if got := IDTokenEncryption(c); got != tt.want {
			t.Errorf("ID token %q/%q: %+v, want %+v", tt.alg, tt.enc, got, tt.want)
		}
		if got := UserInfoEncryption(c); got != tt.want || got.Enabled() != (tt.alg != "") {
			t.Errorf("UserInfo %q/%q: %+v, want %+v", tt.alg, tt.enc, got, tt.want)
		}
	}
}

// decryptNested decrypts a nested token with priv and verifies the inner
// JWS with sig.
func decryptNested(t *testing.T, token string, priv, sig *jose.Key, typ, aud string) map[string]any {
	t.Helper()
	inner, err := jose.DecryptNested(token, jose.NewKeySet(priv), 0)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	vt, err := verifier(t, sig, typ, aud, t0).Verify(context.Background(), inner)
	if err != nil {
		t.Fatalf("verify inner: %v", err)
	}
	return payload(t, vt)
}

func TestIDTokensIssueEncrypted(t *testing.T) {
	sig := genKey(t, jose.ES256)
	toks := IDTokens{Issuer: testIssuer, Keys: staticKeys{sig}, Now: fixedClock(t0)}
	for _, alg := range ResponseEncryptionAlgorithms() {
		for _, enc := range ResponseEncryptionEncs() {
			t.Run(string(alg)+"/"+string(enc), func(t *testing.T) {
				priv := genEncKey(t, alg, "enc-1")
				c := &store.Client{ID: "rp", JWKS: jwksOf(t, genKey(t, jose.ES256), priv),
					IDTokenEncryptedResponseAlg: string(alg), IDTokenEncryptedResponseEnc: string(enc)}
				tok, err := toks.Issue(context.Background(), c, IDToken{Subject: "user-1", ClientID: "rp", TTL: 300e9, Nonce: "n-1"})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Count(tok, ".") != 4 {
					t.Fatalf("not a compact JWE: %d dots", strings.Count(tok, "."))
				}
				h := jweHeader(t, tok)
				if h["alg"] != string(alg) || h["enc"] != string(enc) || h["kid"] != "enc-1" || h["cty"] != "JWT" {
					t.Fatalf("header %v", h)
				}
				p := decryptNested(t, tok, priv, sig, jwt.TypeJWT, "rp")
				if p["sub"] != "user-1" || p["nonce"] != "n-1" {
					t.Fatalf("claims %v", p)
				}
			})
		}
	}
	t.Run("not registered: signed only", func(t *testing.T) {
		tok, err := toks.Issue(context.Background(), &store.Client{ID: "rp"}, IDToken{Subject: "user-1", ClientID: "rp", TTL: 300e9})
		if err != nil || strings.Count(tok, ".") != 2 {
			t.Fatalf("%q, %v", tok, err)
		}
	})
	t.Run("no fit key: server_error, no panic", func(t *testing.T) {
		c := &store.Client{ID: "rp", JWKS: jwksOf(t, genKey(t, jose.ES256)), IDTokenEncryptedResponseAlg: "RSA-OAEP-256"}
		tok, err := toks.Issue(context.Background(), c, IDToken{Subject: "user-1", ClientID: "rp", TTL: 300e9})
		var oe *oauth.Error
		if tok != "" || !errors.As(err, &oe) || oe.Code != oauth.CodeServerError || !errors.Is(err, ErrNoEncryptionKey) {
			t.Fatalf("%q, %v", tok, err)
		}
	})
	t.Run("key set unavailable: temporarily_unavailable", func(t *testing.T) {
		toks := toks
		toks.Encrypter = &ResponseEncrypter{Keys: unavailableKeys{}}
		c := &store.Client{ID: "rp", JWKSURI: "https://rp.example/jwks", IDTokenEncryptedResponseAlg: "ECDH-ES"}
		_, err := toks.Issue(context.Background(), c, IDToken{Subject: "user-1", ClientID: "rp", TTL: 300e9})
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Code != oauth.CodeTemporarilyUnavailable || oe.Status != http.StatusServiceUnavailable {
			t.Fatalf("%v", err)
		}
	})
}

type unavailableKeys struct{}

func (unavailableKeys) ClientKeys(context.Context, *store.Client, *jose.Header) (*jose.KeySet, error) {
	return nil, errors.New("jwks_uri did not answer")
}

func jweHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	var m map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeClients is an oauth.ClientGetter over a map.
type fakeClients map[string]store.Client

func (f fakeClients) GetClient(_ context.Context, id string) (store.Client, error) {
	c, ok := f[id]
	if !ok {
		return store.Client{}, store.ErrNotFound
	}
	return c, nil
}

func TestUserInfoResponsesEncode(t *testing.T) {
	sig := genKey(t, jose.ES256)
	priv := genEncKey(t, jose.ECDHESA128KW, "ui-enc")
	jwks := jwksOf(t, priv)
	clients := fakeClients{
		"plain":  {ID: "plain"},
		"signed": {ID: "signed", UserinfoSignedResponseAlg: "ES256"},
		"enc":    {ID: "enc", JWKS: jwks, UserinfoEncryptedResponseAlg: "ECDH-ES+A128KW", UserinfoEncryptedResponseEnc: "A128GCM"},
		"both":   {ID: "both", JWKS: jwks, UserinfoSignedResponseAlg: "ES256", UserinfoEncryptedResponseAlg: "ECDH-ES+A128KW"},
		"nokey":  {ID: "nokey", JWKS: jwksOf(t, genKey(t, jose.ES256)), UserinfoEncryptedResponseAlg: "ECDH-ES"},
	}
	u := &UserInfoResponses{Issuer: testIssuer, Keys: staticKeys{sig}, Clients: clients, Now: fixedClock(t0)}
	claims := map[string]any{"sub": "user-1", "email": "a@example.com"}
	ctx := context.Background()

	if body, ct, err := u.Encode(ctx, "plain", claims); body != nil || ct != "" || err != nil {
		t.Fatalf("plain: %q %q %v", body, ct, err)
	}
	if body, _, err := (*UserInfoResponses)(nil).Encode(ctx, "signed", claims); body != nil || err != nil {
		t.Fatalf("nil responses: %q %v", body, err)
	}

	body, ct, err := u.Encode(ctx, "signed", claims)
	if err != nil || ct != ContentTypeJWT {
		t.Fatalf("signed: %q %v", ct, err)
	}
	vt, err := verifier(t, sig, jwt.TypeJWT, "signed", t0).Verify(ctx, string(body))
	if err != nil {
		t.Fatalf("signed: %v", err)
	}
	if p := payload(t, vt); p["sub"] != "user-1" || p["email"] != "a@example.com" || p["iss"] != testIssuer || p["aud"] != "signed" {
		t.Fatalf("signed claims %v", p)
	}

	body, ct, err = u.Encode(ctx, "enc", claims)
	if err != nil || ct != ContentTypeJWT {
		t.Fatalf("enc: %q %v", ct, err)
	}
	pt, h, err := jose.Decrypt(string(body), jose.NewKeySet(priv), 0)
	if err != nil || h.ContentType != "" || h.Encryption != jose.A128GCM || h.KeyID != "ui-enc" {
		t.Fatalf("enc: %+v %v", h, err)
	}
	var got map[string]any
	if err := json.Unmarshal(pt, &got); err != nil || got["sub"] != "user-1" || got["iss"] != nil {
		t.Fatalf("enc claims %s %v", pt, err)
	}

	body, _, err = u.Encode(ctx, "both", claims)
	if err != nil {
		t.Fatalf("both: %v", err)
	}
	if p := decryptNested(t, string(body), priv, sig, jwt.TypeJWT, "both"); p["sub"] != "user-1" || p["aud"] != "both" {
		t.Fatalf("both claims %v", p)
	}

	_, _, err = u.Encode(ctx, "nokey", claims)
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != oauth.CodeServerError {
		t.Fatalf("nokey: %v", err)
	}
	if _, _, err := u.Encode(ctx, "gone", claims); !errors.Is(err, errInvalidToken) {
		t.Fatalf("gone: %v", err)
	}
}

// TestIDTokensReady: Ready answers as Issue would about the encryption,
// without minting: nil when the client registered none or its key set
// holds a fit key, Issue's OAuth errors otherwise.
func TestIDTokensReady(t *testing.T) {
	toks := IDTokens{Issuer: testIssuer, Keys: staticKeys{genKey(t, jose.ES256)}, Now: fixedClock(t0)}
	ctx := context.Background()
	tests := []struct {
		name   string
		toks   IDTokens
		client *store.Client
		code   string
	}{
		{"not registered", toks, &store.Client{ID: "rp"}, ""},
		{"fit key", toks, &store.Client{ID: "rp", JWKS: jwksOf(t, genEncKey(t, jose.ECDHES, "enc-1")), IDTokenEncryptedResponseAlg: "ECDH-ES"}, ""},
		{"no fit key", toks, &store.Client{ID: "rp", JWKS: jwksOf(t, genKey(t, jose.ES256)), IDTokenEncryptedResponseAlg: "RSA-OAEP-256"}, oauth.CodeServerError},
		{"key set unavailable", IDTokens{Issuer: testIssuer, Encrypter: &ResponseEncrypter{Keys: unavailableKeys{}}},
			&store.Client{ID: "rp", JWKSURI: "https://rp.example/jwks", IDTokenEncryptedResponseAlg: "ECDH-ES"}, oauth.CodeTemporarilyUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.toks.Ready(ctx, tt.client)
			var oe *oauth.Error
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("Ready: %v, want nil", err)
			case tt.code != "" && (!errors.As(err, &oe) || oe.Code != tt.code):
				t.Fatalf("Ready: %v, want %s", err, tt.code)
			}
		})
	}
}
