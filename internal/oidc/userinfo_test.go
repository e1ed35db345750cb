package oidc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// fakeUsers is a UserGetter over a map.
type fakeUsers struct {
	users map[string]store.User
	err   error
}

func (f *fakeUsers) GetUser(_ context.Context, id string) (store.User, error) {
	if f.err != nil {
		return store.User{}, f.err
	}
	u, ok := f.users[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

// tokenDB keeps opaque token records, as the store does.
type tokenDB struct {
	mu   sync.Mutex
	recs map[string]store.TokenRecord
}

func (d *tokenDB) CreateToken(_ context.Context, r store.TokenRecord) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recs[string(r.Hash)] = r
	return nil
}

// userinfoEnv is a UserInfo endpoint with its minter, users and
// revocation list.
type userinfoEnv struct {
	key     *jose.Key
	h       *UserInfo
	minter  *mint.Minter
	users   *fakeUsers
	revoked map[string]bool
	revErr  error
	logs    *bytes.Buffer
}

func newUserinfoEnv(t testing.TB) *userinfoEnv {
	t.Helper()
	key := genKey(t, jose.ES256)
	db := &tokenDB{recs: map[string]store.TokenRecord{}}
	e := &userinfoEnv{
		key:     key,
		minter:  mint.New(testIssuer, staticKeys{key}, db, fixedClock(t0)),
		users:   &fakeUsers{users: map[string]store.User{"user-1": fullUser()}},
		revoked: map[string]bool{},
		logs:    new(bytes.Buffer),
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(key.Public())), jwt.Config{
		Issuer:            testIssuer,
		SkipAudienceCheck: true,
		Type:              jwt.TypeAccessToken,
		Algorithms:        []jose.Algorithm{jose.ES256},
		RequiredClaims:    []string{"jti", "client_id"},
		Leeway:            -1,
		Now:               fixedClock(t0.Add(time.Minute)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.h = &UserInfo{
		Verifier: v,
		Revoked: func(_ context.Context, jti string) (bool, error) {
			return e.revoked[jti], e.revErr
		},
		Opaque: func(_ context.Context, token string) (AccessGrant, bool, error) {
			db.mu.Lock()
			rec, ok := db.recs[string(opaque.Hash(token))]
			db.mu.Unlock()
			if !ok || rec.Revoked || !t0.Add(time.Minute).Before(rec.ExpiresAt) || rec.Kind != store.KindAccessToken {
				return AccessGrant{}, false, nil
			}
			return AccessGrant{Subject: rec.Subject, ClientID: rec.ClientID, Scopes: rec.Scopes, Extra: rec.Extra}, true, nil
		},
		Users:  e.users,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return e
}

// access mints an access token.
func (e *userinfoEnv) access(t *testing.T, format, subject string, scopes []string, extra map[string]any) mint.Issued {
	t.Helper()
	iss, err := e.minter.Access(t.Context(), mint.AccessToken{
		ClientID: "client-a", Subject: subject, Scopes: scopes, Audience: []string{testIssuer},
		TTL: 10 * time.Minute, Format: format, Extra: extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// call sends a request to the endpoint.
func (e *userinfoEnv) call(method, target string, header http.Header, body string) *httptest.ResponseRecorder {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

func decodeBody(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := decodeJSON(w.Body.String(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return m
}

const (
	challengeMissing = `Bearer realm="writ"`
	challengeInvalid = `Bearer realm="writ", error="invalid_token", error_description="the access token is invalid, expired or revoked"`
	challengeScope   = `Bearer realm="writ", error="insufficient_scope", error_description="the access token lacks the openid scope", scope="openid"`
)

func TestUserInfoReleasesClaims(t *testing.T) {
	e := newUserinfoEnv(t)
	u := fullUser()
	claimsReq := mustParse(t, `{"userinfo":{"department":null,"phone_number":null},"id_token":{"locale":null}}`)
	tests := []struct {
		name   string
		scopes []string
		extra  map[string]any
		want   map[string]any
	}{
		{"openid", []string{"openid"}, nil, map[string]any{"sub": "user-1"}},
		{"openid email", []string{"openid", "email"}, nil, map[string]any{"sub": "user-1", "email": "ada@example.com", "email_verified": true}},
		{"openid profile groups", []string{"openid", "profile", "groups"}, nil,
			merge(map[string]any{"sub": "user-1", "groups": []any{"admins", "dev"}}, profileClaims(u))},
		{"openid address", []string{"openid", "address"}, nil, map[string]any{"sub": "user-1", "address": map[string]any{
			"formatted": "12 St James's Square\nLondon", "street_address": "12 St James's Square",
			"locality": "London", "postal_code": "SW1Y 4JH", "country": "United Kingdom",
		}}},
		{"claims request carried in the token", []string{"openid"}, AccessTokenClaims(claimsReq),
			map[string]any{"sub": "user-1", "department": "analytics", "phone_number": "+44 20 7946 0000"}},
	}
	for _, tt := range tests {
		for _, format := range []string{store.AccessTokenJWT, store.AccessTokenOpaque} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				at := e.access(t, format, "user-1", tt.scopes, tt.extra).Value
				for _, how := range []string{"GET header", "POST header", "POST body"} {
					var w *httptest.ResponseRecorder
					switch how {
					case "GET header":
						w = e.call(http.MethodGet, "/userinfo", bearer(at), "")
					case "POST header":
						w = e.call(http.MethodPost, "/userinfo", bearer(at), "")
					case "POST body":
						w = e.call(http.MethodPost, "/userinfo", nil, url.Values{"access_token": {at}}.Encode())
					}
					if w.Code != http.StatusOK {
						t.Fatalf("%s: status %d, body %s", how, w.Code, w.Body)
					}
					if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
						t.Errorf("%s: Cache-Control %q", how, cc)
					}
					if ct := w.Header().Get("Content-Type"); ct != "application/json" {
						t.Errorf("%s: Content-Type %q", how, ct)
					}
					got := decodeBody(t, w)
					want := map[string]any{}
					for k, v := range tt.want {
						if d, ok := v.(jwt.NumericDate); ok {
							v = num(int64(d))
						}
						want[k] = v
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s:\n got %v\nwant %v", how, got, want)
					}
				}
			})
		}
	}
}

// TestUserInfoErrors checks every refusal: status, exact challenge, body.
func TestUserInfoErrors(t *testing.T) {
	e := newUserinfoEnv(t)
	good := e.access(t, store.AccessTokenJWT, "user-1", []string{"openid", "email"}, nil)
	goodOpaque := e.access(t, store.AccessTokenOpaque, "user-1", []string{"openid"}, nil).Value
	noOpenID := e.access(t, store.AccessTokenJWT, "user-1", []string{"email", "profile"}, nil).Value
	noOpenIDOpaque := e.access(t, store.AccessTokenOpaque, "user-1", []string{"email"}, nil).Value
	revoked := e.access(t, store.AccessTokenJWT, "user-1", []string{"openid"}, nil)
	e.revoked[revoked.ID] = true
	clientCreds := e.access(t, store.AccessTokenJWT, "client-a", []string{"openid"}, nil).Value
	deleted := e.access(t, store.AccessTokenJWT, "user-gone", []string{"openid"}, nil).Value
	disabledUser := fullUser()
	disabledUser.ID, disabledUser.Disabled = "user-off", true
	e.users.users["user-off"] = disabledUser
	disabled := e.access(t, store.AccessTokenJWT, "user-off", []string{"openid"}, nil).Value
	disabledOpaque := e.access(t, store.AccessTokenOpaque, "user-off", []string{"openid"}, nil).Value

	// Tokens this endpoint must not take: expired, another issuer, an ID
	// token, a token of a foreign key.
	otherKey := genKey(t, jose.ES256)
	foreign, _ := mint.New(testIssuer, staticKeys{otherKey}, nil, fixedClock(t0)).Access(t.Context(), mint.AccessToken{
		ClientID: "client-a", Subject: "user-1", Scopes: []string{"openid"}, Audience: []string{testIssuer}, TTL: time.Hour,
	})
	idt, err := IDTokens{Issuer: testIssuer, Keys: staticKeys{e.key}, Now: fixedClock(t0)}.Mint(IDToken{Subject: "user-1", ClientID: "client-a", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := mint.New(testIssuer, staticKeys{e.key}, nil, fixedClock(t0.Add(-time.Hour))).Access(t.Context(), mint.AccessToken{
		ClientID: "client-a", Subject: "user-1", Scopes: []string{"openid"}, Audience: []string{testIssuer}, TTL: 30 * time.Minute,
	})
	otherIssuer, _ := mint.New("https://evil.example", staticKeys{e.key}, nil, fixedClock(t0)).Access(t.Context(), mint.AccessToken{
		ClientID: "client-a", Subject: "user-1", Scopes: []string{"openid"}, Audience: []string{testIssuer}, TTL: time.Hour,
	})

	type tc struct {
		name      string
		method    string
		target    string
		header    http.Header
		body      string
		status    int
		challenge string
		code      string
	}
	form := func(v url.Values) string { return v.Encode() }
	tests := []tc{
		{"no token GET", "GET", "/userinfo", nil, "", 401, challengeMissing, ""},
		{"no token POST", "POST", "/userinfo", nil, "", 401, challengeMissing, ""},
		{"no token, form without access_token", "POST", "/userinfo", nil, "foo=bar", 401, challengeMissing, ""},
		{"other scheme only", "GET", "/userinfo", http.Header{"Authorization": {"Basic Y2xpZW50OnNlY3JldA=="}}, "", 401, challengeMissing, ""},
		{"token in query", "GET", "/userinfo?access_token=" + good.Value, nil, "", 400, "", "invalid_request"},
		{"token in query and header", "GET", "/userinfo?access_token=" + good.Value, bearer(good.Value), "", 400, "", "invalid_request"},
		{"empty token in query", "GET", "/userinfo?access_token=", bearer(good.Value), "", 400, "", "invalid_request"},
		{"malformed query", "GET", "/userinfo?a=%zz", bearer(good.Value), "", 400, "", "invalid_request"},
		{"token in header and body", "POST", "/userinfo", bearer(good.Value), form(url.Values{"access_token": {good.Value}}), 400, "", "invalid_request"},
		{"token twice in body", "POST", "/userinfo", nil, form(url.Values{"access_token": {good.Value, good.Value}}), 400, "", "invalid_request"},
		{"empty token in body", "POST", "/userinfo", nil, "access_token=", 400, "", "invalid_request"},
		{"malformed body", "POST", "/userinfo", nil, "access_token=%zz", 400, "", "invalid_request"},
		{"body too large", "POST", "/userinfo", nil, "x=" + strings.Repeat("a", 40<<10), 413, "", "invalid_request"},
		{"two Authorization headers", "GET", "/userinfo", http.Header{"Authorization": {"Bearer " + good.Value, "Bearer " + good.Value}}, "", 400, "", "invalid_request"},
		{"Bearer without token", "GET", "/userinfo", http.Header{"Authorization": {"Bearer"}}, "", 400, "", "invalid_request"},
		{"Bearer with blank token", "GET", "/userinfo", http.Header{"Authorization": {"Bearer   "}}, "", 400, "", "invalid_request"},
		{"Bearer with two tokens", "GET", "/userinfo", http.Header{"Authorization": {"Bearer a b"}}, "", 400, "", "invalid_request"},
		{"Bearer with bad characters", "GET", "/userinfo", http.Header{"Authorization": {"Bearer a\"b"}}, "", 400, "", "invalid_request"},
		{"garbage token", "GET", "/userinfo", bearer("not-a-token"), "", 401, challengeInvalid, "invalid_token"},
		{"garbage token in body", "POST", "/userinfo", nil, "access_token=abc.def.ghi", 401, challengeInvalid, "invalid_token"},
		{"tampered token", "GET", "/userinfo", bearer(good.Value[:len(good.Value)-4] + "AAAA"), "", 401, challengeInvalid, "invalid_token"},
		{"foreign key", "GET", "/userinfo", bearer(foreign.Value), "", 401, challengeInvalid, "invalid_token"},
		{"expired", "GET", "/userinfo", bearer(expired.Value), "", 401, challengeInvalid, "invalid_token"},
		{"other issuer", "GET", "/userinfo", bearer(otherIssuer.Value), "", 401, challengeInvalid, "invalid_token"},
		{"ID token as access token", "GET", "/userinfo", bearer(idt), "", 401, challengeInvalid, "invalid_token"},
		{"revoked", "GET", "/userinfo", bearer(revoked.Value), "", 401, challengeInvalid, "invalid_token"},
		{"unknown opaque", "GET", "/userinfo", bearer(opaque.AccessTokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "", 401, challengeInvalid, "invalid_token"},
		{"client credentials token", "GET", "/userinfo", bearer(clientCreds), "", 401, challengeInvalid, "invalid_token"},
		{"deleted user", "GET", "/userinfo", bearer(deleted), "", 401, challengeInvalid, "invalid_token"},
		{"disabled user", "POST", "/userinfo", bearer(disabled), "", 401, challengeInvalid, "invalid_token"},
		{"disabled user, opaque", "GET", "/userinfo", bearer(disabledOpaque), "", 401, challengeInvalid, "invalid_token"},
		{"too large", "GET", "/userinfo", bearer(strings.Repeat("a", MaxAccessTokenSize+1)), "", 401,
			`Bearer realm="writ", error="invalid_token", error_description="the access token is too large"`, "invalid_token"},
		{"no openid scope", "GET", "/userinfo", bearer(noOpenID), "", 403, challengeScope, "insufficient_scope"},
		{"no openid scope, opaque", "POST", "/userinfo", nil, form(url.Values{"access_token": {noOpenIDOpaque}}), 403, challengeScope, "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.call(tt.method, tt.target, tt.header, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			got := w.Header().Get("WWW-Authenticate")
			if tt.challenge != "" && got != tt.challenge {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, tt.challenge)
			}
			if tt.challenge == "" && !strings.HasPrefix(got, `Bearer realm="writ", error="`+tt.code+`", error_description="`) {
				t.Errorf("WWW-Authenticate %q, want a %s challenge", got, tt.code)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if tt.code == "" {
				if w.Body.Len() != 0 {
					t.Errorf("body %q for a request without a token", w.Body)
				}
			} else if body := decodeBody(t, w); body["error"] != tt.code {
				t.Errorf("body error %v, want %s", body["error"], tt.code)
			}
		})
	}
	// The good tokens still work: nothing above was a side effect.
	for _, at := range []string{good.Value, goodOpaque} {
		if w := e.call("GET", "/userinfo", bearer(at), ""); w.Code != 200 {
			t.Errorf("good token: %d %s", w.Code, w.Body)
		}
	}
	// Lowercase scheme and extra spaces are accepted (RFC 7235: the scheme is
	// case-insensitive).
	if w := e.call("GET", "/userinfo", http.Header{"Authorization": {"bearer  " + good.Value}}, ""); w.Code != 200 {
		t.Errorf("lowercase bearer: %d %s", w.Code, w.Body)
	}
	// No token ever reaches the log.
	for _, tok := range []string{good.Value, revoked.Value, noOpenID, expired.Value, idt, disabled} {
		if strings.Contains(e.logs.String(), tok) {
			t.Fatal("a token was logged")
		}
	}
}

func TestUserInfoMethods(t *testing.T) {
	e := newUserinfoEnv(t)
	at := e.access(t, store.AccessTokenJWT, "user-1", []string{"openid"}, nil).Value
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions} {
		w := e.call(m, "/userinfo", bearer(at), "")
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d", m, w.Code)
		}
		if a := w.Header().Get("Allow"); a != "GET, POST" {
			t.Errorf("%s: Allow %q", m, a)
		}
	}
}

func TestUserInfoServerErrors(t *testing.T) {
	e := newUserinfoEnv(t)
	at := e.access(t, store.AccessTokenJWT, "user-1", []string{"openid"}, nil).Value
	e.revErr = errors.New("database down")
	if w := e.call("GET", "/userinfo", bearer(at), ""); w.Code != 500 || decodeBody(t, w)["error"] != "server_error" {
		t.Errorf("revocation list failure: %d %s", w.Code, w.Body)
	}
	e.revErr = nil
	e.users.err = errors.New("database down")
	if w := e.call("GET", "/userinfo", bearer(at), ""); w.Code != 500 {
		t.Errorf("user store failure: %d %s", w.Code, w.Body)
	}
	e.users.err = nil
	opaque := e.access(t, store.AccessTokenOpaque, "user-1", []string{"openid"}, nil).Value
	e.h.Opaque = func(context.Context, string) (AccessGrant, bool, error) {
		return AccessGrant{}, false, errors.New("down")
	}
	if w := e.call("GET", "/userinfo", bearer(opaque), ""); w.Code != 500 {
		t.Errorf("opaque lookup failure: %d %s", w.Code, w.Body)
	}
	// Without an opaque lookup, opaque tokens are invalid.
	e.h.Opaque = nil
	if w := e.call("GET", "/userinfo", bearer(opaque), ""); w.Code != 401 || w.Header().Get("WWW-Authenticate") != challengeInvalid {
		t.Errorf("opaque without lookup: %d %s", w.Code, w.Body)
	}
	// Misconfiguration fails closed.
	e.h.Revoked = nil
	if w := e.call("GET", "/userinfo", bearer(at), ""); w.Code != 500 {
		t.Errorf("no revocation check: %d", w.Code)
	}
	if strings.Contains(e.logs.String(), at) || strings.Contains(e.logs.String(), opaque) {
		t.Error("a token was logged")
	}
}

// TestUserInfoWithGoOIDC calls the endpoint the way a relying party does,
// through a real HTTP server on 127.0.0.1 and go-oidc's UserInfo client.
func TestUserInfoWithGoOIDC(t *testing.T) {
	e := newUserinfoEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	p := (&gooidc.ProviderConfig{IssuerURL: testIssuer, UserInfoURL: srv.URL}).NewProvider(t.Context())
	for _, format := range []string{store.AccessTokenJWT, store.AccessTokenOpaque} {
		at := e.access(t, format, "user-1", []string{"openid", "email", "groups"}, nil).Value
		ui, err := p.UserInfo(t.Context(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at, TokenType: "Bearer"}))
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		var c struct {
			Groups []string `json:"groups"`
		}
		if err := ui.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if ui.Subject != "user-1" || ui.Email != "ada@example.com" || !ui.EmailVerified || !reflect.DeepEqual(c.Groups, []string{"admins", "dev"}) {
			t.Errorf("%s: %+v %+v", format, ui, c)
		}
	}
	// A revoked token is refused over the wire too.
	at := e.access(t, store.AccessTokenJWT, "user-1", []string{"openid"}, nil)
	e.revoked[at.ID] = true
	if _, err := p.UserInfo(t.Context(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at.Value, TokenType: "Bearer"})); err == nil {
		t.Error("revoked token accepted")
	}
}

func TestIsB64Token(t *testing.T) {
	for _, s := range []string{"a", "abc.def-ghi_jkl~mno+pqr/stu", "abc==", "A0=", opaque.AccessTokenPrefix + "x"} {
		if !isB64Token(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "=", "==a", "a=b", "a b", "a\tb", "a,b", "é", "a\x00"} {
		if isB64Token(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
