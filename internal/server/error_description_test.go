package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/jose"
)

// echoMarker is put into every request input of TestErrorDescriptions; no
// error_description may contain it.
const echoMarker = "zq9echo"

// checkDescription fails when desc holds a character RFC 6749 §5.2 does
// not allow (outside %x20-21 / %x23-5B / %x5D-7E) or echoes the marker.
func checkDescription(t testing.TB, where, desc string) {
	t.Helper()
	for i := 0; i < len(desc); i++ {
		if c := desc[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("%s: error_description %q has the character %q, outside RFC 6749 §5.2", where, desc, c)
			break
		}
	}
	if strings.Contains(strings.ToLower(desc), echoMarker) {
		t.Errorf("%s: error_description %q echoes request input", where, desc)
	}
}

// checkErrorResponse checks every place an error description can travel:
// the JSON body, a WWW-Authenticate challenge and a redirect's query.
func checkErrorResponse(t testing.TB, where string, r *response) {
	t.Helper()
	if r.Status >= 500 {
		t.Errorf("%s: status %d: %s", where, r.Status, r.Body)
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && r.Status >= 400 {
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Errorf("%s: error body %q is not JSON", where, r.Body)
		}
		if d, ok := body["error_description"].(string); ok {
			checkDescription(t, where, d)
		}
	}
	for _, c := range r.Header.Values("WWW-Authenticate") {
		if strings.Contains(strings.ToLower(c), echoMarker) {
			t.Errorf("%s: WWW-Authenticate %q echoes request input", where, c)
		}
		if _, d, ok := strings.Cut(c, `error_description="`); ok {
			d, _, _ = strings.Cut(d, `"`)
			checkDescription(t, where+" (challenge)", d)
		}
	}
	if loc := r.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && u.Query().Has("error_description") {
			checkDescription(t, where+" (redirect)", u.Query().Get("error_description"))
		}
	}
}

// TestErrorDescriptions sends requests whose every input carries a marker
// (and characters RFC 6749 §5.2 forbids) to every OAuth endpoint, with every
// way of authenticating, and checks that no error description echoes the
// input or leaves the allowed characters.
func TestErrorDescriptions(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "billing", withAudiences(audOrders))
	postSecret := e.addConfidential(t, "poster", withMethod(oauth.AuthSecretPost))
	webSecret := e.addConfidential(t, "webapp", webApp(redirect))
	e.addPublic(t, "native", webApp(redirect))
	key := e.addKeyJWT(t, "signer")
	stranger, err := jose.GenerateKey(jose.ES256, jose.WithKeyID(echoMarker+`"kid§`))
	if err != nil {
		t.Fatal(err)
	}

	m := echoMarker
	odd := echoMarker + "\"\\§\x01é"
	oddHeader := echoMarker + "\"\\§é" // no control character: the client refuses those in headers
	exp := time.Now().Add(time.Minute)
	auths := map[string]func(url.Values) []func(*http.Request){
		"none":          func(url.Values) []func(*http.Request) { return nil },
		"basic":         func(url.Values) []func(*http.Request) { return []func(*http.Request){basic("billing", secret)} },
		"basic web":     func(url.Values) []func(*http.Request) { return []func(*http.Request){basic("webapp", webSecret)} },
		"basic unknown": func(url.Values) []func(*http.Request) { return []func(*http.Request){basic(odd, odd)} },
		"basic wrong":   func(url.Values) []func(*http.Request) { return []func(*http.Request){basic("billing", odd)} },
		"bearer scheme": func(url.Values) []func(*http.Request) {
			return []func(*http.Request){header("Authorization", "Bearer "+m)}
		},
		"basic garbage": func(url.Values) []func(*http.Request) {
			return []func(*http.Request){header("Authorization", "Basic "+m)}
		},
		"post": func(f url.Values) []func(*http.Request) {
			f.Set("client_id", "poster")
			f.Set("client_secret", postSecret)
			return nil
		},
		"post unknown": func(f url.Values) []func(*http.Request) {
			f.Set("client_id", odd)
			f.Set("client_secret", odd)
			return nil
		},
		"public":         func(f url.Values) []func(*http.Request) { f.Set("client_id", "native"); return nil },
		"public unknown": func(f url.Values) []func(*http.Request) { f.Set("client_id", odd); return nil },
		"assertion garbage": func(f url.Values) []func(*http.Request) {
			f.Set("client_assertion_type", odd)
			f.Set("client_assertion", odd)
			return nil
		},
		"assertion stranger": func(f url.Values) []func(*http.Request) {
			f.Set("client_assertion_type", oauth.AssertionTypeJWTBearer)
			f.Set("client_assertion", assertion(t, stranger, assertionClaims(odd, odd, odd, exp)))
			return nil
		},
		"assertion wrong aud": func(f url.Values) []func(*http.Request) {
			f.Set("client_assertion_type", oauth.AssertionTypeJWTBearer)
			f.Set("client_assertion", assertion(t, key, assertionClaims("signer", "signer", odd, exp)))
			return nil
		},
	}
	bodies := map[string]url.Values{
		"empty":                {},
		"grant_type":           {"grant_type": {odd}},
		"scope":                {"grant_type": {"client_credentials"}, "scope": {odd}},
		"scope repeated":       {"grant_type": {"client_credentials"}, "scope": {m + " " + m}},
		"resource":             {"grant_type": {"client_credentials"}, "resource": {odd}},
		"resource uri":         {"grant_type": {"client_credentials"}, "resource": {"https://" + m + ".example/"}},
		"repeated parameter":   {"grant_type": {"client_credentials"}, m: {"1", "2"}},
		"repeated odd":         {"grant_type": {"client_credentials"}, odd: {"1", "2"}},
		"code":                 {"grant_type": {"authorization_code"}, "code": {odd}, "redirect_uri": {odd}, "code_verifier": {odd}},
		"code without params":  {"grant_type": {"authorization_code"}},
		"refresh":              {"grant_type": {"refresh_token"}, "refresh_token": {odd}, "scope": {odd}},
		"refresh prefixed":     {"grant_type": {"refresh_token"}, "refresh_token": {"writ_rt_" + m}},
		"token":                {"token": {odd}, "token_type_hint": {odd}},
		"token prefixed":       {"token": {"writ_at_" + m}, "token_type_hint": {"refresh_token"}},
		"token exchange":       {"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {odd}},
		"client_credentials":   {"grant_type": {"client_credentials"}},
		"audience":             {"grant_type": {"client_credentials"}, "audience": {odd}},
		"duplicate grant_type": {"grant_type": {"client_credentials", odd}},
	}
	for _, path := range []string{server.PathToken, server.PathIntrospect, server.PathRevoke, server.PathUserInfo} {
		for an, auth := range auths {
			for bn, body := range bodies {
				form := url.Values{}
				for k, v := range body {
					form[k] = append([]string(nil), v...)
				}
				mods := auth(form)
				where := path + " " + an + " " + bn
				checkErrorResponse(t, where, e.post(t, path, form, mods...))
			}
		}
	}

	// Transport-level errors.
	for _, path := range []string{server.PathToken, server.PathIntrospect, server.PathRevoke, server.PathUserInfo} {
		for _, ct := range []string{"application/" + m, "application/json", formType + "; charset=" + m} {
			req := e.request(t, http.MethodPost, path, ct, `{"`+m+`":"`+m+`"}`)
			checkErrorResponse(t, path+" content type "+ct, e.do(t, req))
		}
		req := e.request(t, http.MethodPut, path+"?"+m+"="+m, formType, m+"="+m)
		checkErrorResponse(t, path+" PUT", e.do(t, req))
	}
	for _, mod := range []func(*http.Request){
		header("Authorization", "Bearer "+m),
		header("Authorization", "Bearer "+oddHeader),
		header("Authorization", m+" "+m),
	} {
		checkErrorResponse(t, "userinfo GET", e.get(t, server.PathUserInfo+"?access_token="+m, mod))
		checkErrorResponse(t, "userinfo GET", e.get(t, server.PathUserInfo, mod))
	}

	// The authorization endpoint's errors travel in the redirect.
	challenge := strings.Repeat("a", 43)
	valid := func() url.Values {
		return url.Values{
			"response_type": {"code"}, "client_id": {"webapp"}, "redirect_uri": {redirect},
			"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}
	}
	for _, name := range []string{"response_type", "scope", "prompt", "max_age", "code_challenge", "code_challenge_method",
		"resource", "claims", "response_mode", "request", "request_uri", "ui_locales", "acr_values", "id_token_hint", "login_hint", "nonce", m} {
		for _, v := range []string{m, odd, m + " " + m} {
			q := valid()
			q.Set(name, v)
			checkErrorResponse(t, "authorize "+name, e.get(t, server.PathAuthorize+"?"+q.Encode()))
		}
	}
}
