package grant_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

const (
	certA = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"
	certB = "LqXP1dRmsE3pNQ1Mz8c4H0ZMb8Q-bZ0sZmc0dmD9vLE"
)

// cnfOf returns the cnf of an access token, JWT (its signature is not
// checked here) or opaque, nil without one.
func cnfOf(t *testing.T, s store.Store, access string) map[string]string {
	t.Helper()
	var raw json.RawMessage
	if opaque.IsAccessToken(access) {
		rec, err := s.GetToken(t.Context(), opaque.Hash(access))
		if err != nil {
			t.Fatal(err)
		}
		var extra map[string]json.RawMessage
		if len(rec.Extra) > 0 {
			if err := json.Unmarshal(rec.Extra, &extra); err != nil {
				t.Fatal(err)
			}
		}
		raw = extra["cnf"]
	} else {
		var j jose.JWS
		if err := j.Parse(access, 1<<16); err != nil {
			t.Fatal(err)
		}
		var claims map[string]json.RawMessage
		if err := json.Unmarshal([]byte(j.Payload()), &claims); err != nil {
			t.Fatal(err)
		}
		raw = claims["cnf"]
	}
	if raw == nil {
		return nil
	}
	var cnf map[string]string
	if err := json.Unmarshal(raw, &cnf); err != nil {
		t.Fatal(err)
	}
	return cnf
}

// TestCertificateBoundCodeAndRefresh: RFC 8705 §3, §4 through the code
// and refresh grants.
func TestCertificateBoundCodeAndRefresh(t *testing.T) {
	for _, format := range []string{store.AccessTokenJWT, store.AccessTokenOpaque} {
		t.Run(format, func(t *testing.T) {
			backends(t, func(t *testing.T, js store.Store) {
				testCertificateBound(t, js, format)
			})
		})
	}
}

func testCertificateBound(t *testing.T, js store.Store, format string) {
	f := dpopFixture(t, js, format)
	ctx := t.Context()
	spa, err := js.GetClient(ctx, "spa")
	if err != nil {
		t.Fatal(err)
	}
	spa.TLSClientCertificateBoundAccessTokens = true
	web := f.client
	web.TLSClientCertificateBoundAccessTokens = true
	redeem := func(c store.Client, cert, jkt string) *grant.Response {
		t.Helper()
		fm := form("code", f.codeFor(t, c.ID), "redirect_uri", "https://app.test/cb", "code_verifier", verifier)
		resp, err := f.code.Handle(ctx, &grant.Request{Form: fm, Client: authed(c), CertThumbprint: cert, DPoPKey: jkt})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	refresh := func(c store.Client, rt, cert string) (*grant.Response, error) {
		return f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", rt), Client: authed(c), CertThumbprint: cert})
	}

	t.Run("public client: access and refresh bound, kept through refresh", func(t *testing.T) {
		resp := redeem(spa, certA, "")
		if resp.TokenType != "Bearer" || cnfOf(t, js, resp.AccessToken)[grant.CnfX5T] != certA {
			t.Fatalf("token_type %q, cnf %v", resp.TokenType, cnfOf(t, js, resp.AccessToken))
		}
		for _, tc := range []struct{ name, cert string }{{"no certificate", ""}, {"another certificate", certB}} {
			_, err := refresh(spa, resp.RefreshToken, tc.cert)
			wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		}
		next, err := refresh(spa, resp.RefreshToken, certA)
		if err != nil {
			t.Fatal(err)
		}
		if cnfOf(t, js, next.AccessToken)[grant.CnfX5T] != certA {
			t.Fatalf("refreshed: cnf %v", cnfOf(t, js, next.AccessToken))
		}
		_, err = refresh(spa, next.RefreshToken, certB)
		wantOAuthCode(t, err, oauth.CodeInvalidGrant)
		// The binding holds even once the client no longer asks for it.
		plain := spa
		plain.TLSClientCertificateBoundAccessTokens = false
		last, err := refresh(plain, next.RefreshToken, certA)
		if err != nil {
			t.Fatal(err)
		}
		if cnfOf(t, js, last.AccessToken)[grant.CnfX5T] != certA {
			t.Fatalf("refreshed by a client without the flag: cnf %v", cnfOf(t, js, last.AccessToken))
		}
	})

	t.Run("confidential client: access bound to the current certificate, refresh not", func(t *testing.T) {
		resp := redeem(web, certA, "")
		if cnfOf(t, js, resp.AccessToken)[grant.CnfX5T] != certA {
			t.Fatalf("cnf %v", cnfOf(t, js, resp.AccessToken))
		}
		next, err := refresh(web, resp.RefreshToken, certB)
		if err != nil {
			t.Fatal(err)
		}
		if cnfOf(t, js, next.AccessToken)[grant.CnfX5T] != certB {
			t.Fatalf("refreshed with a rotated certificate: cnf %v", cnfOf(t, js, next.AccessToken))
		}
	})

	t.Run("DPoP and certificate together", func(t *testing.T) {
		resp := redeem(spa, certA, jktA)
		cnf := cnfOf(t, js, resp.AccessToken)
		if resp.TokenType != "DPoP" || cnf["jkt"] != jktA || cnf[grant.CnfX5T] != certA {
			t.Fatalf("token_type %q, cnf %v", resp.TokenType, cnf)
		}
	})

	t.Run("a client without the flag gets bearer tokens", func(t *testing.T) {
		plain := spa
		plain.TLSClientCertificateBoundAccessTokens = false
		resp := redeem(plain, certA, "")
		if cnfOf(t, js, resp.AccessToken) != nil {
			t.Fatalf("cnf %v", cnfOf(t, js, resp.AccessToken))
		}
		if _, err := refresh(plain, resp.RefreshToken, certB); err != nil {
			t.Fatalf("unbound refresh: %v", err)
		}
	})
}

// TestTokenExchangeCertificateBound: a certificate-bound subject token is
// exchanged only with its certificate, and what is issued stays bound.
func TestTokenExchangeCertificateBound(t *testing.T) {
	f := newXFixture(t)
	bound := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"cnf": map[string]any{"x5t#S256": certA}})
	a := xClientA()
	a.Exchange = &store.ExchangePolicy{RefreshTokens: true}
	f.s.clients[a.ID] = a
	ex := func(cert string) (*grant.Response, error) {
		return f.g.Handle(t.Context(), &grant.Request{
			Form: form("grant_type", grant.TypeTokenExchange, "subject_token", bound, "subject_token_type", grant.TokenTypeAccessToken,
				"audience", "https://b.test"),
			Client: &oauth.Authenticated{Client: a, Method: oauth.MethodTLSClientAuth}, CertThumbprint: cert, RequestID: "req-1",
		})
	}
	for _, cert := range []string{"", certB} {
		_, err := ex(cert)
		wantOAuthCode(t, err, oauth.CodeInvalidRequest)
	}
	resp, err := ex(certA)
	if err != nil {
		t.Fatal(err)
	}
	var cnf map[string]string
	if err := json.Unmarshal(f.claimsOf(t, resp.AccessToken)["cnf"], &cnf); err != nil || cnf[grant.CnfX5T] != certA {
		t.Fatalf("exchanged token cnf %v, %v", cnf, err)
	}
	if resp.TokenType != "Bearer" {
		t.Fatalf("token_type %q", resp.TokenType)
	}
}
