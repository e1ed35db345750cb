package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
)

// clientJWKS is a client's jwks_uri on 127.0.0.1: it serves what the test
// sets and counts the requests it gets.
type clientJWKS struct {
	*httptest.Server
	hits atomic.Int32

	mu     sync.Mutex
	status int
	body   []byte
}

func newClientJWKS(t *testing.T, keys ...*jose.Key) *clientJWKS {
	t.Helper()
	s := &clientJWKS{}
	s.publish(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// publish serves the public halves of keys.
func (s *clientJWKS) publish(t *testing.T, keys ...*jose.Key) {
	t.Helper()
	pub := make([]*jose.Key, len(keys))
	for i, k := range keys {
		pub[i] = k.Public()
	}
	b, err := jose.NewKeySet(pub...).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s.respond(http.StatusOK, b)
}

func (s *clientJWKS) respond(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

func (s *clientJWKS) wantHits(t *testing.T, want int32) {
	t.Helper()
	if got := s.hits.Load(); got != want {
		t.Fatalf("jwks_uri requests = %d, want %d", got, want)
	}
}

// addJWKSURIClient registers a private_key_jwt client that gives only a
// jwks_uri.
func (e *testEnv) addJWKSURIClient(t *testing.T, id, jwksURI string) {
	t.Helper()
	c := e.baseClient(id)
	c.TokenEndpointAuthMethod = oauth.AuthPrivateKeyJWT
	c.JWKSURI = jwksURI
	e.create(t, c)
}

// assertionToken asks for a client_credentials token with a client
// assertion signed by key.
func (e *testEnv) assertionToken(t *testing.T, id string, key *jose.Key) *response {
	t.Helper()
	a := assertion(t, key, assertionClaims(id, id, e.Issuer, e.Clock.Now().Add(time.Minute)))
	return e.post(t, server.PathToken, url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {oauth.AssertionTypeJWTBearer},
		"client_assertion":      {a},
	})
}

func newES256(t *testing.T) *jose.Key {
	t.Helper()
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestJWKSURIClientRotatesItsKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	oldKey, newKey, stranger := newES256(t), newES256(t), newES256(t)
	jwks := newClientJWKS(t, oldKey)
	e.addJWKSURIClient(t, "uri-client", jwks.URL+"/jwks.json")

	// The first assertion fetches the set; the next ones use the cache.
	for range 3 {
		if r := e.assertionToken(t, "uri-client", oldKey); r.Status != http.StatusOK {
			t.Fatalf("token with the published key: %s", r)
		}
	}
	jwks.wantHits(t, 1)

	// The client rotates: its jwks_uri now serves only the new key. An
	// assertion with the new kid refreshes the set.
	jwks.publish(t, newKey)
	e.Clock.Advance(rs.DefaultMinRefreshInterval)
	if r := e.assertionToken(t, "uri-client", newKey); r.Status != http.StatusOK {
		t.Fatalf("token with the rotated key: %s", r)
	}
	jwks.wantHits(t, 2)

	// The withdrawn key and a stranger's key are refused, and within the
	// rate limit window their unknown kids cause no fetch.
	for _, k := range []*jose.Key{oldKey, stranger, stranger} {
		wantOAuthError(t, e.assertionToken(t, "uri-client", k), http.StatusUnauthorized, oauth.CodeInvalidClient)
	}
	jwks.wantHits(t, 2)
	if r := e.assertionToken(t, "uri-client", newKey); r.Status != http.StatusOK {
		t.Fatalf("token with the current key: %s", r)
	}
	jwks.wantHits(t, 2)

	// After the window an unknown kid is looked up once more, and only once.
	e.Clock.Advance(rs.DefaultMinRefreshInterval)
	wantOAuthError(t, e.assertionToken(t, "uri-client", stranger), http.StatusUnauthorized, oauth.CodeInvalidClient)
	wantOAuthError(t, e.assertionToken(t, "uri-client", stranger), http.StatusUnauthorized, oauth.CodeInvalidClient)
	jwks.wantHits(t, 3)
}

func TestJWKSURIBadResponsesAreInvalidClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	key := newES256(t)
	privateSet := func() []byte {
		b, err := key.MarshalJSON() // private members included
		if err != nil {
			t.Fatal(err)
		}
		return []byte(`{"keys":[` + string(b) + `]}`)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name   string
		status int
		body   []byte
	}{
		{"500", http.StatusInternalServerError, nil},
		{"garbage", http.StatusOK, []byte("<html>not a key set</html>")},
		{"private-key", http.StatusOK, privateSet()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jwks := newClientJWKS(t)
			jwks.respond(tc.status, tc.body)
			id := "bad-jwks-" + tc.name
			e.addJWKSURIClient(t, id, jwks.URL)
			wantOAuthError(t, e.assertionToken(t, id, key), http.StatusUnauthorized, oauth.CodeInvalidClient)
			jwks.wantHits(t, 1)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		e.addJWKSURIClient(t, "unreachable-jwks", closed.URL)
		wantOAuthError(t, e.assertionToken(t, "unreachable-jwks", key), http.StatusUnauthorized, oauth.CodeInvalidClient)
	})
}

func TestJWKSURIOutageKeepsTheLastGoodSet(t *testing.T) {
	e := newEnv(t, envOptions{})
	key := newES256(t)
	jwks := newClientJWKS(t, key)
	e.addJWKSURIClient(t, "outage", jwks.URL)
	if r := e.assertionToken(t, "outage", key); r.Status != http.StatusOK {
		t.Fatalf("token: %s", r)
	}
	jwks.respond(http.StatusInternalServerError, nil)
	// An unknown kid after the window makes a fetch, which fails; the
	// cached key still works.
	e.Clock.Advance(rs.DefaultMinRefreshInterval)
	wantOAuthError(t, e.assertionToken(t, "outage", newES256(t)), http.StatusUnauthorized, oauth.CodeInvalidClient)
	jwks.wantHits(t, 2)
	if r := e.assertionToken(t, "outage", key); r.Status != http.StatusOK {
		t.Fatalf("token during the outage: %s", r)
	}
}

func TestJWKSURIMustBeHTTPSOrLoopback(t *testing.T) {
	e := newEnv(t, envOptions{})
	key := newES256(t)
	jwks := newClientJWKS(t, key)
	// A loopback jwks_uri that redirects off loopback over http.
	redirect := httptest.NewServer(http.RedirectHandler("http://jwks.example.invalid/keys", http.StatusFound))
	t.Cleanup(redirect.Close)

	for i, uri := range []string{
		"http://jwks.example.invalid/keys", // plain http off loopback: never fetched
		"http://127.0.0.2" + jwks.URL[len("http://127.0.0.1"):],
		"ftp://127.0.0.1/keys",
		"http://user:pw@" + jwks.URL[len("http://"):],
		redirect.URL,
	} {
		id := "bad-uri-" + string(rune('a'+i))
		e.addJWKSURIClient(t, id, uri)
		wantOAuthError(t, e.assertionToken(t, id, key), http.StatusUnauthorized, oauth.CodeInvalidClient)
	}
	jwks.wantHits(t, 0)
}

func TestClientKeysPrefersRegisteredJWKS(t *testing.T) {
	key := newES256(t)
	jwks := newClientJWKS(t, key)
	registered, err := jose.NewKeySet(key.Public()).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	kc := server.NewClientKeyCache(0)
	h := &jose.Header{Algorithm: jose.ES256, KeyID: key.KeyID(), HasKeyID: true}
	set, err := kc.ClientKeys(context.Background(), &store.Client{ID: "both", JWKS: registered, JWKSURI: jwks.URL}, h)
	if err != nil || set.Len() != 1 {
		t.Fatalf("ClientKeys = %v, %v", set, err)
	}
	jwks.wantHits(t, 0)
	if _, err := kc.ClientKeys(context.Background(), &store.Client{ID: "neither"}, h); err == nil {
		t.Fatal("a client with neither jwks nor jwks_uri got keys")
	}
}

func TestClientKeysEvictsLeastRecentlyUsed(t *testing.T) {
	key := newES256(t)
	a, b, c := newClientJWKS(t, key), newClientJWKS(t, key), newClientJWKS(t, key)
	kc := server.NewClientKeyCache(2)
	get := func(s *clientJWKS) {
		t.Helper()
		h := &jose.Header{Algorithm: jose.ES256, KeyID: key.KeyID(), HasKeyID: true}
		if _, err := kc.ClientKeys(context.Background(), &store.Client{ID: "c", JWKSURI: s.URL}, h); err != nil {
			t.Fatalf("ClientKeys(%s): %v", s.URL, err)
		}
	}
	get(a)
	get(b)
	get(a) // a is now the most recently used
	get(c) // evicts b
	get(a)
	get(b) // fetched again
	a.wantHits(t, 1)
	b.wantHits(t, 2)
	c.wantHits(t, 1)
}
