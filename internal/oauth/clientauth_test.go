package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

func TestBasicAuth(t *testing.T) {
	b := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name       string
		header     string
		wantID     string
		wantSecret string
		wantOK     bool
		wantErr    bool
	}{
		{name: "absent"},
		{name: "plain", header: b("client:secret"), wantID: "client", wantSecret: "secret", wantOK: true},
		{name: "scheme case-insensitive", header: "bASIC " + base64.StdEncoding.EncodeToString([]byte("c:s")), wantID: "c", wantSecret: "s", wantOK: true},
		{name: "empty secret", header: b("client:"), wantID: "client", wantSecret: "", wantOK: true},
		{name: "colon in secret, raw", header: b("client:se:cret"), wantID: "client", wantSecret: "se:cret", wantOK: true},
		{name: "encoded colon in id", header: b(url.QueryEscape("a:b") + ":" + url.QueryEscape("c:d")), wantID: "a:b", wantSecret: "c:d", wantOK: true},
		{name: "encoded percent", header: b("100%25:50%25"), wantID: "100%", wantSecret: "50%", wantOK: true},
		{name: "plus is a space", header: b("a+b:c+d"), wantID: "a b", wantSecret: "c d", wantOK: true},
		{name: "UTF-8", header: b(url.QueryEscape("clé") + ":" + url.QueryEscape("sécret")), wantID: "clé", wantSecret: "sécret", wantOK: true},
		{name: "surrounding space", header: "Basic  " + base64.StdEncoding.EncodeToString([]byte("c:s")) + " ", wantID: "c", wantSecret: "s", wantOK: true},
		{name: "bad percent in id", header: b("a%zz:s"), wantErr: true},
		{name: "bad percent in secret", header: b("a:s%"), wantErr: true},
		{name: "no colon", header: b("clientsecret"), wantErr: true},
		{name: "empty id", header: b(":secret"), wantErr: true},
		{name: "not base64", header: "Basic ***", wantErr: true},
		{name: "unpadded base64", header: "Basic " + base64.RawStdEncoding.EncodeToString([]byte("c:s1")), wantErr: true},
		{name: "base64url alphabet", header: "Basic " + base64.URLEncoding.EncodeToString([]byte("c:s\xff\xfe")), wantErr: true},
		{name: "scheme only", header: "Basic", wantErr: true},
		{name: "empty credentials", header: "Basic ", wantErr: true},
		{name: "Bearer", header: "Bearer abc", wantErr: true},
		{name: "Digest", header: `Digest username="c"`, wantErr: true},
		{name: "too long", header: b("c:" + strings.Repeat("s", 4*(maxClientIDLen+maxSecretLen))), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			id, secret, ok, err := basicAuth(r)
			if tc.wantErr {
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeInvalidClient || e.Status != http.StatusUnauthorized || e.Challenge == "" {
					t.Fatalf("basicAuth = %q, %q, %v, %v; want invalid_client", id, secret, ok, err)
				}
				return
			}
			if err != nil || ok != tc.wantOK || id != tc.wantID || secret != tc.wantSecret {
				t.Errorf("basicAuth = %q, %q, %v, %v; want %q, %q, %v", id, secret, ok, err, tc.wantID, tc.wantSecret, tc.wantOK)
			}
		})
	}
}

// fakeClients is an in-memory ClientGetter.
type fakeClients struct {
	m   map[string]store.Client
	err error
}

func (f fakeClients) GetClient(_ context.Context, id string) (store.Client, error) {
	if f.err != nil {
		return store.Client{}, f.err
	}
	c, ok := f.m[id]
	if !ok {
		return store.Client{}, fmt.Errorf("client %q: %w", id, store.ErrNotFound)
	}
	return c, nil
}

// fakeReplay is an in-memory ReplayStore.
type fakeReplay struct {
	mu   sync.Mutex
	used map[string]time.Time
	err  error
}

func (f *fakeReplay) UseJTI(_ context.Context, clientID, jti string, exp time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	k := clientID + "\x00" + jti
	if _, ok := f.used[k]; ok {
		return store.ErrAlreadyExists
	}
	f.used[k] = exp
	return nil
}

// registeredKeys supplies a client's registered jwks.
type registeredKeys struct{}

func (registeredKeys) ClientKeys(_ context.Context, c *store.Client, _ *jose.Header) (*jose.KeySet, error) {
	return jose.ParseKeySet(c.JWKS)
}

const testIssuer = "https://as.example.test"

type authFixture struct {
	a      *Authenticator
	replay *fakeReplay
	key    *jose.Key
	now    time.Time
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	h, err := NewSecretHasher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := jose.NewKeySet(key.Public()).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	clients := map[string]store.Client{
		"basic":  {ID: "basic", SecretHash: h.Hash("s3cret"), TokenEndpointAuthMethod: AuthSecretBasic},
		"post":   {ID: "post", SecretHash: h.Hash("s3cret"), TokenEndpointAuthMethod: AuthSecretPost},
		"nohash": {ID: "nohash", TokenEndpointAuthMethod: AuthSecretBasic},
		"public": {ID: "public", TokenEndpointAuthMethod: AuthNone},
		"pkjwt":  {ID: "pkjwt", TokenEndpointAuthMethod: AuthPrivateKeyJWT, JWKS: jwks},
	}
	replay := &fakeReplay{used: map[string]time.Time{}}
	return &authFixture{
		a: &Authenticator{
			Clients:   fakeClients{m: clients},
			Hasher:    h,
			Replay:    replay,
			Keys:      registeredKeys{},
			Audiences: []string{testIssuer, testIssuer + "/oauth2/token"},
			Now:       func() time.Time { return now },
		},
		replay: replay, key: key, now: now,
	}
}

func (f *authFixture) assertion(t *testing.T, mod func(map[string]any)) string {
	t.Helper()
	claims := map[string]any{
		"iss": "pkjwt", "sub": "pkjwt", "aud": testIssuer,
		"exp": f.now.Add(time.Minute).Unix(), "jti": fmt.Sprint(time.Now().UnixNano()),
	}
	if mod != nil {
		mod(claims)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.Sign(f.key, payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthenticate(t *testing.T) {
	f := newAuthFixture(t)
	basicHdr := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	replayed := f.assertion(t, nil)
	tests := []struct {
		name       string
		header     string
		form       url.Values
		wantClient string
		wantMethod string
		wantCode   string
		wantStatus int
	}{
		{name: "basic", header: basicHdr("basic", "s3cret"), wantClient: "basic", wantMethod: AuthSecretBasic},
		{name: "basic with matching client_id", header: basicHdr("basic", "s3cret"), form: url.Values{"client_id": {"basic"}}, wantClient: "basic", wantMethod: AuthSecretBasic},
		{name: "post", form: url.Values{"client_id": {"post"}, "client_secret": {"s3cret"}}, wantClient: "post", wantMethod: AuthSecretPost},
		{name: "public", form: url.Values{"client_id": {"public"}}, wantClient: "public", wantMethod: AuthNone},
		{name: "private_key_jwt", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {replayed}}, wantClient: "pkjwt", wantMethod: AuthPrivateKeyJWT},

		{name: "nothing", wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "wrong secret", header: basicHdr("basic", "wrong"), wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "unknown client", header: basicHdr("nobody", "s3cret"), wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "no stored hash", header: basicHdr("nohash", ""), wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "basic client via post", form: url.Values{"client_id": {"basic"}, "client_secret": {"s3cret"}}, wantClient: "basic", wantMethod: AuthSecretPost},
		{name: "post client via basic", header: basicHdr("post", "s3cret"), wantClient: "post", wantMethod: AuthSecretBasic},
		{name: "basic client via post, wrong secret", form: url.Values{"client_id": {"basic"}, "client_secret": {"wrong"}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "post client via basic, wrong secret", header: basicHdr("post", "wrong"), wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "confidential client as public", form: url.Values{"client_id": {"basic"}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "public client with a secret", form: url.Values{"client_id": {"public"}, "client_secret": {""}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "secret too long", header: basicHdr("basic", strings.Repeat("s", maxSecretLen+1)), wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "client_id too long", form: url.Values{"client_id": {strings.Repeat("c", maxClientIDLen+1)}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "basic and post", header: basicHdr("basic", "s3cret"), form: url.Values{"client_secret": {"s3cret"}}, wantCode: CodeInvalidRequest, wantStatus: 400},
		{name: "post and assertion", form: url.Values{"client_id": {"post"}, "client_secret": {"s3cret"}, "client_assertion_type": {AssertionTypeJWTBearer}}, wantCode: CodeInvalidRequest, wantStatus: 400},
		{name: "basic with other client_id", header: basicHdr("basic", "s3cret"), form: url.Values{"client_id": {"post"}}, wantCode: CodeInvalidRequest, wantStatus: 400},

		{name: "assertion replayed", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {replayed}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "assertion aud token endpoint", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, func(c map[string]any) { c["aud"] = testIssuer + "/oauth2/token" })}}, wantClient: "pkjwt", wantMethod: AuthPrivateKeyJWT},
		{name: "assertion aud other", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, func(c map[string]any) { c["aud"] = testIssuer + "/other" })}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "assertion exp at the bound", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, func(c map[string]any) { c["exp"] = f.now.Add(MaxAssertionLifetime).Unix() })}}, wantClient: "pkjwt", wantMethod: AuthPrivateKeyJWT},
		{name: "assertion exp beyond the bound", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, func(c map[string]any) { c["exp"] = f.now.Add(MaxAssertionLifetime + time.Second).Unix() })}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "assertion expired", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, func(c map[string]any) { c["exp"] = f.now.Add(-time.Minute).Unix() })}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "assertion sub mismatch", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, func(c map[string]any) { c["sub"] = "basic" })}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "assertion without sub", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, func(c map[string]any) { delete(c, "sub") })}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "assertion without type", form: url.Values{"client_assertion": {f.assertion(t, nil)}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "assertion type without assertion", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}}, wantCode: CodeInvalidClient, wantStatus: 401},
		{name: "assertion too large", form: url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {strings.Repeat("a", maxAssertionSize+1)}}, wantCode: CodeInvalidClient, wantStatus: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			got, err := f.a.Authenticate(context.Background(), r, NewForm(tc.form))
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if got.Client.ID != tc.wantClient || got.Method != tc.wantMethod {
					t.Errorf("Authenticate = %s via %s, want %s via %s", got.Client.ID, got.Method, tc.wantClient, tc.wantMethod)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.wantCode || e.Status != tc.wantStatus {
				t.Fatalf("Authenticate = %v, %v; want %s %d", got, err, tc.wantCode, tc.wantStatus)
			}
			if (e.Code == CodeInvalidClient) != (e.Challenge != "") {
				t.Errorf("challenge %q on %s", e.Challenge, e.Code)
			}
		})
	}
}

// TestAuthenticateSameFailure: an unknown client and a wrong secret give
// the same error.
func TestAuthenticateSameFailure(t *testing.T) {
	f := newAuthFixture(t)
	do := func(id, secret string) *Error {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.SetBasicAuth(id, secret)
		_, err := f.a.Authenticate(context.Background(), r, NewForm(nil))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Authenticate(%q) = %v", id, err)
		}
		return e
	}
	a, b, c := do("basic", "wrong"), do("nobody", "wrong"), do("post", "wrong")
	for _, e := range []*Error{b, c} {
		if e.Code != a.Code || e.Description != a.Description || e.Status != a.Status || e.Challenge != a.Challenge {
			t.Errorf("%+v differs from %+v", e, a)
		}
	}
}

// TestAuthenticateStoreFailure: a failing store is a server error, never
// "invalid_client" (which would hide an outage behind a client problem).
func TestAuthenticateStoreFailure(t *testing.T) {
	f := newAuthFixture(t)
	f.a.Clients = fakeClients{err: errors.New("connection refused")}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.SetBasicAuth("basic", "s3cret")
	_, err := f.a.Authenticate(context.Background(), r, NewForm(nil))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeServerError || e.Status != 500 || strings.Contains(e.Description, "refused") {
		t.Fatalf("Authenticate = %v, want a server_error that hides the cause", err)
	}

	f = newAuthFixture(t)
	f.replay.err = errors.New("disk full")
	form := url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, nil)}}
	_, err = f.a.Authenticate(context.Background(), httptest.NewRequest(http.MethodPost, "/", nil), NewForm(form))
	if !errors.As(err, &e) || e.Code != CodeServerError {
		t.Fatalf("Authenticate with a failing replay store = %v, want server_error", err)
	}
}

// TestAuthenticateMethodMismatch: a known client that used a method other
// than the one it registered (beyond the two secret methods, which are
// interchangeable) is told both, and nothing else of the request.
func TestAuthenticateMethodMismatch(t *testing.T) {
	f := newAuthFixture(t)
	basicHdr := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	tests := []struct {
		name, header string
		form         url.Values
		want         string
	}{
		{"private_key_jwt client via basic", basicHdr("pkjwt", "guess"), nil, "the client is registered for private_key_jwt but authenticated with client_secret_basic"},
		{"private_key_jwt client via post", "", url.Values{"client_id": {"pkjwt"}, "client_secret": {"guess"}}, "the client is registered for private_key_jwt but authenticated with client_secret_post"},
		{"private_key_jwt client as public", "", url.Values{"client_id": {"pkjwt"}}, "the client is registered for private_key_jwt but authenticated with none"},
		{"public client via basic", basicHdr("public", "guess"), nil, "the client is registered for none but authenticated with client_secret_basic"},
		{"public client via post", "", url.Values{"client_id": {"public"}, "client_secret": {""}}, "the client is registered for none but authenticated with client_secret_post"},
		{"basic client as public", "", url.Values{"client_id": {"basic"}}, "the client is registered for client_secret_basic but authenticated with none"},
		{"post client as public", "", url.Values{"client_id": {"post"}}, "the client is registered for client_secret_post but authenticated with none"},
		{"basic client via assertion", "", url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {f.assertion(t, func(c map[string]any) { c["iss"], c["sub"] = "basic", "basic" })}}, "the client is registered for client_secret_basic but authenticated with private_key_jwt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			_, err := f.a.Authenticate(context.Background(), r, NewForm(tc.form))
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidClient || e.Status != 401 || e.Challenge == "" {
				t.Fatalf("Authenticate = %v, want invalid_client 401 with a challenge", err)
			}
			if e.Description != tc.want {
				t.Errorf("description %q, want %q", e.Description, tc.want)
			}
		})
	}
}

// TestAuthenticateLogsFailures: every failed client authentication is a
// warning naming the client_id, the method, the source address and the
// request id, and never the secret or the assertion.
func TestAuthenticateLogsFailures(t *testing.T) {
	f := newAuthFixture(t)
	var buf bytes.Buffer
	f.a.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	type ridKey struct{}
	f.a.RequestID = func(ctx context.Context) string { id, _ := ctx.Value(ridKey{}).(string); return id }
	const secret = "Sup3r-s3cret-VALUE"
	assertion := f.assertion(t, func(c map[string]any) { c["aud"] = "https://elsewhere.test" })
	tests := []struct {
		name      string
		header    string
		form      url.Values
		requestID string
		client    string
		method    string
	}{
		{"wrong secret via basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("basic:"+secret)), nil, "req-42", "basic", AuthSecretBasic},
		{"unknown client via post", "", url.Values{"client_id": {"nobody"}, "client_secret": {secret}}, "", "nobody", AuthSecretPost},
		{"rejected assertion", "", url.Values{"client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {assertion}}, "abc", "pkjwt", AuthPrivateKeyJWT},
		{"confidential client as public", "", url.Values{"client_id": {"basic"}}, "", "basic", AuthNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = "192.0.2.7:4711"
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			r.Header.Set("X-Request-Id", "sent-by-the-client") // never logged as the id
			if tc.requestID != "" {
				r = r.WithContext(context.WithValue(r.Context(), ridKey{}, tc.requestID))
			}
			if _, err := f.a.Authenticate(r.Context(), r, NewForm(tc.form)); err == nil {
				t.Fatal("Authenticate succeeded")
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log %q: %v", buf.String(), err)
			}
			wantID := tc.requestID
			want := map[string]any{"level": "WARN", "msg": "client authentication failed", "client_id": tc.client,
				"auth_method": tc.method, "source": "192.0.2.7", "error": CodeInvalidClient}
			for k, v := range want {
				if rec[k] != v {
					t.Errorf("%s = %v, want %v (log %s)", k, rec[k], v, buf.String())
				}
			}
			if got, _ := rec["request_id"].(string); got != wantID {
				t.Errorf("request_id = %q, want %q", got, wantID)
			}
			if strings.Contains(buf.String(), secret) || strings.Contains(buf.String(), assertion) {
				t.Errorf("the log holds a credential: %s", buf.String())
			}
		})
	}

	t.Run("success is not logged", func(t *testing.T) {
		buf.Reset()
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.SetBasicAuth("basic", "s3cret")
		if _, err := f.a.Authenticate(context.Background(), r, NewForm(nil)); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != 0 {
			t.Errorf("logged %s", buf.String())
		}
	})
}
