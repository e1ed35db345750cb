package server_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withLogger starts a second server on e's store, key ring and hasher that
// logs to log, and returns e pointed at it.
func withLogger(t testing.TB, e *testEnv, log *slog.Logger) *testEnv {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	srv, err := server.New(server.Options{Issuer: issuer, Store: e.Store, Ring: e.Ring, Hasher: e.Hasher, Now: e.Clock.Now, Logger: log})
	if err != nil {
		ts.Close()
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	c := *e
	c.Issuer, c.Server, c.HTTP, c.Client = issuer, srv, ts, ts.Client()
	return &c
}

// TestSecretMethodsInterchangeable: a client registered with a secret
// presents it by client_secret_basic or client_secret_post alike, at every
// endpoint that authenticates clients (openid-client's default is post;
// most others default to Basic). private_key_jwt and none stay exact, and
// the refusal names both methods.
func TestSecretMethodsInterchangeable(t *testing.T) {
	e := newEnv(t, envOptions{})
	basicSecret := e.addConfidential(t, "basic-client")
	postSecret := e.addConfidential(t, "post-client", withMethod(oauth.AuthSecretPost))
	e.addKeyJWT(t, "signer")
	e.addPublic(t, "spa")

	viaPost := func(id, secret string) (url.Values, []func(*http.Request)) {
		return url.Values{"client_id": {id}, "client_secret": {secret}}, nil
	}
	viaBasic := func(id, secret string) (url.Values, []func(*http.Request)) {
		return url.Values{}, []func(*http.Request){basic(id, secret)}
	}
	for _, tc := range []struct {
		name, id, secret string
		how              func(id, secret string) (url.Values, []func(*http.Request))
	}{
		{"basic client via basic", "basic-client", basicSecret, viaBasic},
		{"basic client via post", "basic-client", basicSecret, viaPost},
		{"post client via post", "post-client", postSecret, viaPost},
		{"post client via basic", "post-client", postSecret, viaBasic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form, mods := tc.how(tc.id, tc.secret)
			form.Set("grant_type", "client_credentials")
			resp := e.post(t, server.PathToken, form, mods...)
			if resp.Status != http.StatusOK {
				t.Fatalf("token: %s", resp)
			}
			var tr tokenResponse
			decodeJSON(t, resp.Body, &tr)
			for _, path := range []string{server.PathIntrospect, server.PathRevoke} {
				form, mods := tc.how(tc.id, tc.secret)
				form.Set("token", tr.AccessToken)
				if r := e.post(t, path, form, mods...); r.Status != http.StatusOK {
					t.Errorf("%s: %s", path, r)
				}
			}
			// A wrong secret still fails, the same way as an unknown client.
			form, mods = tc.how(tc.id, "wrong")
			form.Set("grant_type", "client_credentials")
			wrong := e.post(t, server.PathToken, form, mods...)
			form, mods = tc.how("nobody", "wrong")
			form.Set("grant_type", "client_credentials")
			unknown := e.post(t, server.PathToken, form, mods...)
			wantOAuthError(t, wrong, http.StatusUnauthorized, oauth.CodeInvalidClient)
			if !bytes.Equal(wrong.Body, unknown.Body) {
				t.Errorf("wrong secret %s differs from unknown client %s", wrong.Body, unknown.Body)
			}
		})
	}

	for _, tc := range []struct {
		name string
		form url.Values
		mods []func(*http.Request)
		want string
	}{
		{"private_key_jwt client via basic", url.Values{}, []func(*http.Request){basic("signer", "guess")}, "the client is registered for private_key_jwt but authenticated with client_secret_basic"},
		{"private_key_jwt client via post", url.Values{"client_id": {"signer"}, "client_secret": {"guess"}}, nil, "the client is registered for private_key_jwt but authenticated with client_secret_post"},
		{"public client via basic", url.Values{}, []func(*http.Request){basic("spa", "guess")}, "the client is registered for none but authenticated with client_secret_basic"},
		{"secret client without its secret", url.Values{"client_id": {"basic-client"}}, nil, "the client is registered for client_secret_basic but authenticated with none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("grant_type", "client_credentials")
			r := e.post(t, server.PathToken, tc.form, tc.mods...)
			wantOAuthError(t, r, http.StatusUnauthorized, oauth.CodeInvalidClient)
			var body struct {
				Description string `json:"error_description"`
			}
			decodeJSON(t, r.Body, &body)
			if body.Description != tc.want {
				t.Errorf("error_description %q, want %q", body.Description, tc.want)
			}
		})
	}

	t.Run("discovery lists both secret methods", func(t *testing.T) {
		var m map[string]any
		decodeJSON(t, e.get(t, server.PathASMetadata).Body, &m)
		for _, field := range []string{"token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
			got, _ := json.Marshal(m[field])
			for _, method := range []string{oauth.AuthSecretBasic, oauth.AuthSecretPost} {
				if !strings.Contains(string(got), `"`+method+`"`) {
					t.Errorf("%s = %s lacks %s", field, got, method)
				}
			}
		}
	})
}

// TestClientAuthFailureLogged: the server logs a failed client
// authentication as a warning with the client_id, the method and the source
// address, never the secret (the request id, when the server gives one, is
// covered by the oauth package's test).
func TestClientAuthFailureLogged(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	e := withLogger(t, newEnv(t, envOptions{}), log)
	e.addConfidential(t, "billing")
	const secret = "not-the-secret-but-secret-anyway"
	for _, path := range []string{server.PathToken, server.PathIntrospect, server.PathRevoke} {
		form := url.Values{"grant_type": {"client_credentials"}, "token": {"x"}}
		r := e.post(t, path, form, basic("billing", secret), header("X-Request-Id", "sent-by-the-client"))
		wantOAuthError(t, r, http.StatusUnauthorized, oauth.CodeInvalidClient)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var found int
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] != "client authentication failed" {
			continue
		}
		found++
		source, _ := rec["source"].(string)
		if rec["level"] != "WARN" || rec["client_id"] != "billing" || rec["auth_method"] != "client_secret_basic" ||
			source != "127.0.0.1" {
			t.Errorf("log record %s", line)
		}
		// The request id is the server's, never one the client sent.
		if rec["request_id"] == "sent-by-the-client" {
			t.Errorf("the client's X-Request-Id was logged as the request id: %s", line)
		}
	}
	if found != 3 {
		t.Errorf("%d failure records, want 3:\n%s", found, buf.String())
	}
	if strings.Contains(buf.String(), secret) {
		t.Errorf("the log holds the secret:\n%s", buf.String())
	}
}
