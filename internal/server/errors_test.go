package server_test

// Every malformed token request gets the right OAuth error (RFC 6749 §5.2)
// with the right status and headers, never a 500.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	secret := e.addConfidential(t, "billing", withAudiences(audOrders, audBilling))
	postSecret := e.addConfidential(t, "poster", withMethod(oauth.AuthSecretPost))
	noGrantSecret := e.addConfidential(t, "no-grant", withGrants("authorization_code"))
	e.addPublic(t, "spa")
	oddID, oddSecret := "id:with%colon", "pa:ss%25word"
	e.addWithSecret(t, oddID, oddSecret)

	good := "grant_type=client_credentials"
	auth := "Basic " + b64("billing:"+secret)
	manyParams := good + strings.Repeat("&p=1", oauth.MaxParams)
	oversized := good + "&pad=" + strings.Repeat("a", oauth.DefaultMaxBody)

	tests := []struct {
		name        string
		method      string // POST when empty
		contentType string // form when empty; "-" for none
		body        string
		auth        string // Authorization header
		wantStatus  int
		wantCode    string // "" means success
		wantAllow   string
	}{
		// Transport-level rules.
		{name: "GET", method: http.MethodGet, body: "", auth: auth, wantStatus: 405, wantCode: oauth.CodeInvalidRequest, wantAllow: "POST"},
		{name: "PUT", method: http.MethodPut, body: good, auth: auth, wantStatus: 405, wantCode: oauth.CodeInvalidRequest, wantAllow: "POST"},
		{name: "JSON body", contentType: "application/json", body: `{"grant_type":"client_credentials"}`, auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "no content type", contentType: "-", body: good, auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: good, auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "JSON body under the form type", body: `{"grant_type":"client_credentials"}`, auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "form with charset", contentType: formType + "; charset=UTF-8", body: good, auth: auth, wantStatus: 200},
		{name: "oversized body", body: oversized, auth: auth, wantStatus: 413, wantCode: oauth.CodeInvalidRequest},
		{name: "too many parameters", body: manyParams, auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "invalid percent-encoding", body: good + "&scope=%zz", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "truncated percent-encoding", body: good + "&scope=%4", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "semicolon separator", body: good + ";scope=x", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},

		// Parameters.
		{name: "repeated grant_type", body: good + "&grant_type=client_credentials", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "repeated scope", body: good + "&scope=orders:read&scope=orders:write", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "repeated client_id", body: good + "&client_id=billing&client_id=billing", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "repeated resource", body: good + "&resource=" + url.QueryEscape(audOrders) + "&resource=" + url.QueryEscape(audBilling), auth: auth, wantStatus: 200},
		{name: "resource repeated too often", body: good + strings.Repeat("&resource="+url.QueryEscape(audOrders), oauth.MaxValuesPerParam+1), auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "missing grant_type", body: "scope=orders:read", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "empty grant_type", body: "grant_type=", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "empty body", body: "", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "unknown grant_type", body: "grant_type=password&username=a&password=b", auth: auth, wantStatus: 400, wantCode: oauth.CodeUnsupportedGrantType},
		{name: "grant_type case differs", body: "grant_type=Client_Credentials", auth: auth, wantStatus: 400, wantCode: oauth.CodeUnsupportedGrantType},
		{name: "query parameters are ignored", method: http.MethodPost, body: "scope=orders:read", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},

		// Client authentication.
		{name: "no client authentication", body: good, wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "Basic and client_secret", body: good + "&client_secret=" + secret, auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "Basic and assertion", body: good + "&client_assertion_type=" + url.QueryEscape(oauth.AssertionTypeJWTBearer) + "&client_assertion=a.b.c", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "Basic with a different client_id", body: good + "&client_id=spa", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidRequest},
		{name: "Basic with the same client_id", body: good + "&client_id=billing", auth: auth, wantStatus: 200},
		{name: "malformed Basic base64", body: good, auth: "Basic !!!not-base64!!!", wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "Basic without colon", body: good, auth: "Basic " + b64("billing"), wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "Basic with empty id", body: good, auth: "Basic " + b64(":"+secret), wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "Basic with bad encoding", body: good, auth: "Basic " + b64("bil%zzling:"+secret), wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "Basic scheme only", body: good, auth: "Basic", wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "Bearer scheme", body: good, auth: "Bearer abc", wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "huge Basic header", body: good, auth: "Basic " + b64("billing:"+strings.Repeat("s", 4000)), wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "basic scheme lower case", body: good, auth: "basic " + b64("billing:"+secret), wantStatus: 200},
		{name: "Basic with encoded ':' and '%'", body: good, auth: "Basic " + b64(url.QueryEscape(oddID)+":"+url.QueryEscape(oddSecret)), wantStatus: 200},
		{name: "Basic with unencoded '%'", body: good, auth: "Basic " + b64(oddID+":"+oddSecret), wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "Basic '+' decodes to space", body: good, auth: "Basic " + b64("bil+ling:"+secret), wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "post client with Basic", body: good, auth: "Basic " + b64("poster:"+postSecret), wantStatus: 200},
		{name: "post client with post", body: good + "&client_id=poster&client_secret=" + url.QueryEscape(postSecret), wantStatus: 200},
		{name: "Basic client with post", body: good + "&client_id=billing&client_secret=" + url.QueryEscape(secret), wantStatus: 200},
		{name: "post without client_id", body: good + "&client_secret=" + url.QueryEscape(postSecret), wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "public client given a secret", body: good + "&client_id=spa&client_secret=x", wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "unknown public client", body: good + "&client_id=nobody", wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "confidential client without secret", body: good + "&client_id=billing", wantStatus: 401, wantCode: oauth.CodeInvalidClient},
		{name: "over-long client_id", body: good, auth: "Basic " + b64(strings.Repeat("c", 300)+":x"), wantStatus: 401, wantCode: oauth.CodeInvalidClient},

		// The grant.
		{name: "public client", body: good + "&client_id=spa", wantStatus: 400, wantCode: oauth.CodeUnauthorizedClient},
		{name: "grant not registered", body: good, auth: "Basic " + b64("no-grant:"+noGrantSecret), wantStatus: 400, wantCode: oauth.CodeUnauthorizedClient},
		{name: "scope outside the client's", body: good + "&scope=orders:read+admin", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidScope},
		{name: "scope double space", body: good + "&scope=orders:read++orders:write", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidScope},
		{name: "scope leading space", body: good + "&scope=+orders:read", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidScope},
		{name: "scope quote char", body: good + "&scope=orders:read%22", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidScope},
		{name: "scope backslash", body: good + "&scope=orders%5Cread", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidScope},
		{name: "scope tab", body: good + "&scope=orders:read%09orders:write", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidScope},
		{name: "scope non-ASCII", body: good + "&scope=orders:r%C3%A9ad", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidScope},
		{name: "scope repeated value", body: good + "&scope=orders:read+orders:read", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidScope},
		{name: "scope subset", body: good + "&scope=orders:write", auth: auth, wantStatus: 200},
		{name: "resource not allowed", body: good + "&resource=" + url.QueryEscape("https://evil.test/"), auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidTarget},
		{name: "resource relative", body: good + "&resource=/orders", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidTarget},
		{name: "resource with fragment", body: good + "&resource=" + url.QueryEscape(audOrders+"#frag"), auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidTarget},
		{name: "resource with empty fragment", body: good + "&resource=" + url.QueryEscape(audOrders+"#"), auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidTarget},
		{name: "resource empty", body: good + "&resource=", auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidTarget},
		{name: "resource one good one bad", body: good + "&resource=" + url.QueryEscape(audOrders) + "&resource=" + url.QueryEscape("https://evil.test/"), auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidTarget},
		{name: "resource too long", body: good + "&resource=https://x.test/" + strings.Repeat("a", 2100), auth: auth, wantStatus: 400, wantCode: oauth.CodeInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			ct := tc.contentType
			switch ct {
			case "":
				ct = formType
			case "-":
				ct = ""
			}
			req := e.request(t, method, server.PathToken, ct, tc.body)
			if tc.name == "query parameters are ignored" {
				req.URL.RawQuery = "grant_type=client_credentials"
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp := e.do(t, req)
			if tc.wantCode == "" {
				if resp.Status != http.StatusOK {
					t.Fatalf("want success, got %s", resp)
				}
				var tr tokenResponse
				decodeJSON(t, resp.Body, &tr)
				if tr.AccessToken == "" || tr.TokenType != "Bearer" {
					t.Errorf("token response %s", resp.Body)
				}
				return
			}
			wantOAuthError(t, resp, tc.wantStatus, tc.wantCode)
			if got := resp.Header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
		})
	}
}

// TestUnknownClientLooksLikeWrongSecret: the two failures are the same
// response, byte for byte, so that client ids cannot be probed.
func TestUnknownClientLooksLikeWrongSecret(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.addConfidential(t, "billing")
	e.addConfidential(t, "poster", withMethod(oauth.AuthSecretPost))
	form := url.Values{"grant_type": {"client_credentials"}}
	post := func(id, secret string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		return f
	}
	tests := []struct {
		name string
		a, b *response
	}{
		{
			name: "Basic",
			a:    e.post(t, server.PathToken, form, basic("billing", "wrong-secret")),
			b:    e.post(t, server.PathToken, form, basic("nobody", "wrong-secret")),
		},
		{
			name: "post",
			a:    e.post(t, server.PathToken, post("poster", "wrong-secret")),
			b:    e.post(t, server.PathToken, post("nobody", "wrong-secret")),
		},
		{
			name: "method mismatch",
			a:    e.post(t, server.PathToken, post("billing", "wrong-secret")),
			b:    e.post(t, server.PathToken, form, basic("nobody", "")),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantOAuthError(t, tc.a, http.StatusUnauthorized, oauth.CodeInvalidClient)
			wantOAuthError(t, tc.b, http.StatusUnauthorized, oauth.CodeInvalidClient)
			if !bytes.Equal(tc.a.Body, tc.b.Body) {
				t.Errorf("bodies differ:\n%s\n%s", tc.a.Body, tc.b.Body)
			}
			if tc.a.Header.Get("WWW-Authenticate") != tc.b.Header.Get("WWW-Authenticate") {
				t.Errorf("challenges differ")
			}
		})
	}
}

// TestErrorsOnOtherEndpoints covers the form rules at introspection and
// revocation, which share the decoder.
func TestErrorsOnOtherEndpoints(t *testing.T) {
	e := newEnv(t, envOptions{})
	secret := e.addConfidential(t, "rs")
	auth := "Basic " + b64("rs:"+secret)
	for _, path := range []string{server.PathIntrospect, server.PathRevoke} {
		tests := []struct {
			name, method, ct, body string
			status                 int
		}{
			{"GET", http.MethodGet, "", "", 405},
			{"JSON", http.MethodPost, "application/json", `{"token":"x"}`, 400},
			{"JSON under the form type", http.MethodPost, formType, `{"token":"x"}`, 400},
			{"repeated token", http.MethodPost, formType, "token=a&token=b", 400},
			{"oversized", http.MethodPost, formType, "token=" + strings.Repeat("a", oauth.DefaultMaxBody), 413},
			{"bad encoding", http.MethodPost, formType, "token=%zz", 400},
		}
		for _, tc := range tests {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				req := e.request(t, tc.method, path, tc.ct, tc.body)
				req.Header.Set("Authorization", auth)
				wantOAuthError(t, e.do(t, req), tc.status, oauth.CodeInvalidRequest)
			})
		}
	}
}

// TestUnknownPaths: paths that do not exist are 404, not an OAuth error.
func TestUnknownPaths(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, p := range []string{"/", "/oauth2/authorize", "/.well-known/jwks", "/oauth2/token/extra"} {
		if r := e.get(t, p); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.Status)
		}
	}
}

// FuzzTokenEndpoint throws arbitrary bodies at the token endpoint, with and
// without valid client credentials: the answer is never a 5xx and always a
// JSON object with "error" or "access_token".
func FuzzTokenEndpoint(f *testing.F) {
	e := newEnv(f, envOptions{})
	secret := e.addConfidential(f, "billing", withAudiences(audOrders))
	e.addConfidential(f, "billing-opaque", opaqueFormat())
	e.addPublic(f, "spa")
	e.addKeyJWT(f, "signer")
	handler := e.Server.Handler()
	auth := "Basic " + b64("billing:"+secret)

	seeds := []string{
		"",
		"grant_type=client_credentials",
		"grant_type=client_credentials&scope=orders:read&resource=" + url.QueryEscape(audOrders),
		"grant_type=client_credentials&scope=orders:read&scope=x",
		"grant_type=client_credentials&client_id=spa",
		"grant_type=client_credentials&client_id=billing-opaque&client_secret=x",
		"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzaWduZXIifQ.AAAA",
		"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=e30.e30.",
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange",
		"grant_type=client_credentials&resource=%00&scope=%FF",
		"grant_type=client_credentials&resource=http://[::1",
		"%%%&&&===;;;",
		"grant_type=client_credentials&scope=" + strings.Repeat("a ", 70),
	}
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, withAuth bool) {
		req := httptest.NewRequest(http.MethodPost, server.PathToken, bytes.NewReader(body))
		req.Header.Set("Content-Type", formType)
		if withAuth {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("body for %q is not a JSON object: %q", body, rec.Body)
		}
		_, isErr := doc["error"]
		_, isTok := doc["access_token"]
		if isErr == isTok {
			t.Fatalf("body for %q has neither or both of error and access_token: %s", body, rec.Body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
		}
	})
}
