package rs

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// issuerMetadataServer is an issuer on 127.0.0.1 that publishes metadata
// documents and a JWKS, and counts the requests per path.
type issuerMetadataServer struct {
	*httptest.Server
	key *jose.Key

	arrived chan string // receives each request's path, without blocking

	mu   sync.Mutex
	docs map[string]string // path → body; a missing path answers 404
	hits map[string]int
	hold chan struct{} // when not nil, requests wait until it is closed
}

func newIssuerMetadataServer(t *testing.T) *issuerMetadataServer {
	t.Helper()
	s := &issuerMetadataServer{key: genKey(t), docs: map[string]string{}, hits: map[string]int{}, arrived: make(chan string, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		body, ok := s.docs[r.URL.Path]
		hold := s.hold
		s.mu.Unlock()
		select {
		case s.arrived <- r.URL.Path:
		default:
		}
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	jwks, err := jose.NewKeySet(s.key.Public()).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s.set("/jwks", string(jwks))
	return s
}

func (s *issuerMetadataServer) set(path, body string) {
	s.mu.Lock()
	s.docs[path] = body
	s.mu.Unlock()
}

func (s *issuerMetadataServer) hitsOf(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *issuerMetadataServer) totalHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hits {
		n += h
	}
	return n
}

// metadataDoc returns a metadata document naming issuer and jwksURI.
func metadataDoc(issuer, jwksURI string) string {
	b, _ := json.Marshal(map[string]any{
		"issuer":                 issuer,
		"jwks_uri":               jwksURI,
		"token_endpoint":         issuer + "/token",
		"grant_types_supported":  []string{"authorization_code"},
		"code_challenge_methods": []string{"S256"},
	})
	return string(b)
}

func TestVerifierDiscovery(t *testing.T) {
	tests := []struct {
		name     string
		path     string // issuer path below the server URL
		docPath  string // where the document is published
		wantHits map[string]int
	}{
		{"OpenID Connect", "", OIDCDiscoveryPath, map[string]int{OIDCDiscoveryPath: 1, OAuthMetadataPath: 0}},
		{"OpenID Connect with a path", "/realms/main", "/realms/main" + OIDCDiscoveryPath, nil},
		{"RFC 8414", "", OAuthMetadataPath, map[string]int{OIDCDiscoveryPath: 1, OAuthMetadataPath: 1}},
		{"RFC 8414 with a path", "/tenant/a", OAuthMetadataPath + "/tenant/a", map[string]int{"/tenant/a" + OIDCDiscoveryPath: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newIssuerMetadataServer(t)
			issuer := srv.URL + tc.path
			srv.set(tc.docPath, metadataDoc(issuer, srv.URL+"/jwks"))
			clk := newClock()
			v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: issuer, Audiences: []string{vAudience}}})
			if st := v.Status()[0]; st.Source != KeysDiscovered || st.Available || st.JWKSURI != "" {
				t.Fatalf("Status before discovery = %+v", st)
			}
			raw := signJWT(t, srv.key, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "iss", issuer))
			for range 3 {
				if _, err := v.Verify(context.Background(), raw); err != nil {
					t.Fatal(err)
				}
			}
			if got := srv.hitsOf(tc.docPath); got != 1 {
				t.Errorf("%s fetched %d times, want 1", tc.docPath, got)
			}
			if got := srv.hitsOf("/jwks"); got != 1 {
				t.Errorf("/jwks fetched %d times, want 1", got)
			}
			for p, n := range tc.wantHits {
				if got := srv.hitsOf(p); got != n {
					t.Errorf("%s fetched %d times, want %d", p, got, n)
				}
			}
			st := v.Status()[0]
			if st.JWKSURI != srv.URL+"/jwks" || !st.Available || st.Keys != 1 || st.LastError != "" || st.LastFetch.IsZero() {
				t.Fatalf("Status after discovery = %+v", st)
			}
		})
	}
}

func TestVerifierDiscoveryIsShared(t *testing.T) {
	srv := newIssuerMetadataServer(t)
	srv.set(OIDCDiscoveryPath, metadataDoc(srv.URL, srv.URL+"/jwks"))
	hold := make(chan struct{})
	srv.mu.Lock()
	srv.hold = hold
	srv.mu.Unlock()
	clk := newClock()
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: srv.URL, Audiences: []string{vAudience}}})
	raw := signJWT(t, srv.key, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "iss", srv.URL))
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := v.Verify(context.Background(), raw)
			errs <- err
		}()
	}
	// The first discovery request has arrived and waits; let the callers
	// pile up behind it (they may arrive before or after the release:
	// either way they share the one discovery).
	if p := <-srv.arrived; p != OIDCDiscoveryPath {
		t.Fatalf("first request to %s", p)
	}
	srv.mu.Lock()
	srv.hold = nil
	srv.mu.Unlock()
	close(hold)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.hitsOf(OIDCDiscoveryPath); got != 1 {
		t.Fatalf("%d discoveries for %d concurrent first tokens", got, n)
	}
	if got := srv.hitsOf("/jwks"); got != 1 {
		t.Fatalf("%d JWKS fetches for %d concurrent first tokens", got, n)
	}
}

func TestVerifierDiscoveryIssuerMismatch(t *testing.T) {
	for _, docIssuer := range []string{"https://evil.example", "{url}/", "{URL}"} {
		t.Run(docIssuer, func(t *testing.T) {
			srv := newIssuerMetadataServer(t)
			named := strings.ReplaceAll(strings.ReplaceAll(docIssuer, "{url}", srv.URL), "{URL}", strings.ToUpper(srv.URL))
			srv.set(OIDCDiscoveryPath, metadataDoc(named, srv.URL+"/jwks"))
			// A valid RFC 8414 document must not be tried after a
			// mismatching OpenID one.
			srv.set(OAuthMetadataPath, metadataDoc(srv.URL, srv.URL+"/jwks"))
			clk := newClock()
			v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: srv.URL, Audiences: []string{vAudience}}})
			raw := signJWT(t, srv.key, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "iss", srv.URL))
			_, err := v.Verify(context.Background(), raw)
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) || !errors.Is(err, errIssuerMismatch) {
				t.Fatalf("Verify with a mismatching discovery document: %v", err)
			}
			if srv.hitsOf("/jwks") != 0 || srv.hitsOf(OAuthMetadataPath) != 0 {
				t.Fatalf("fetched after the mismatch: %v", srv.hits)
			}
			st := v.Status()[0]
			if st.Available || !strings.Contains(st.LastError, "another issuer") {
				t.Fatalf("Status = %+v", st)
			}
			// Rate-limited: more tokens do not discover again at once.
			for range 5 {
				if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("Verify: %v", err)
				}
			}
			if got := srv.hitsOf(OIDCDiscoveryPath); got != 1 {
				t.Fatalf("discovery ran %d times within the interval", got)
			}
		})
	}
}

func TestVerifierDiscoveryFailsThenRecovers(t *testing.T) {
	srv := newIssuerMetadataServer(t) // no document yet: both answer 404
	clk := newClock()
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: srv.URL, Audiences: []string{vAudience}}})
	raw := signJWT(t, srv.key, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "iss", srv.URL))
	_, err := v.Verify(context.Background(), raw)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Verify without metadata: %v", err)
	}
	if srv.hitsOf(OIDCDiscoveryPath) != 1 || srv.hitsOf(OAuthMetadataPath) != 1 {
		t.Fatalf("hits = %v; want one of each document", srv.hits)
	}
	if err := v.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded without metadata")
	}
	srv.set(OIDCDiscoveryPath, metadataDoc(srv.URL, srv.URL+"/jwks"))
	// Within the interval: still the remembered failure, no request.
	before := srv.totalHits()
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify within the interval: %v", err)
	}
	if srv.totalHits() != before {
		t.Fatal("discovery was retried within the interval")
	}
	clk.Advance(DefaultMinRefreshInterval)
	raw = signJWT(t, srv.key, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "iss", srv.URL))
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("Verify after the issuer recovered: %v", err)
	}
}

func TestVerifierRefresh(t *testing.T) {
	srv := newIssuerMetadataServer(t)
	srv.set(OIDCDiscoveryPath, metadataDoc(srv.URL, srv.URL+"/jwks"))
	other := newJWKSIssuer(t)
	clk := newClock()
	v := newClockedVerifier(t, clk, []IssuerConfig{
		{Issuer: srv.URL, Audiences: []string{vAudience}},
		{Issuer: vIssuer, JWKSURI: other.srv.URL, Audiences: []string{vAudience}},
		{Issuer: "static", Keys: jose.NewKeySet(genKey(t).Public()), Audiences: []string{vAudience}},
	})
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if srv.hitsOf("/jwks") != 1 || other.srv.hits.Load() != 1 {
		t.Fatal("Refresh did not fetch every key set")
	}
	st := v.Status()
	if len(st) != 3 || st[0].Issuer != srv.URL || st[1].Issuer != vIssuer || st[2].Issuer != "static" {
		t.Fatalf("Status order = %+v", st)
	}
	for _, s := range st {
		if !s.Available || s.LastError != "" {
			t.Errorf("Status = %+v", s)
		}
	}
	if st[1].Source != KeysJWKSURI || st[1].JWKSURI != other.srv.URL {
		t.Errorf("Status of the jwks_uri issuer = %+v", st[1])
	}
	clk.Advance(time.Minute)
	if st := v.Status(); st[0].KeyAge != time.Minute {
		t.Errorf("KeyAge = %v, want 1m", st[0].KeyAge)
	}
	// A failing JWKS shows in Refresh's error and in Status.
	other.srv.respond(http.StatusBadGateway, nil)
	if err := v.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), vIssuer) {
		t.Fatalf("Refresh with a failing JWKS: %v", err)
	}
	if st := v.Status()[1]; !strings.Contains(st.LastError, "502") || !st.Available {
		t.Fatalf("Status = %+v", st)
	}
}

func TestStatusHidesThePassword(t *testing.T) {
	is := newJWKSIssuer(t)
	u := strings.Replace(is.srv.URL, "http://", "http://user:s3cret@", 1)
	is.srv.respond(http.StatusInternalServerError, nil)
	clk := newClock()
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, JWKSURI: u, Audiences: []string{vAudience}}})
	_, err := v.Verify(context.Background(), signJWT(t, is.key, jwt.TypeAccessToken, validClaims(clk.Now())))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Verify: %v", err)
	}
	st := v.Status()[0]
	if st.LastError == "" || strings.Contains(st.LastError, "s3cret") || strings.Contains(st.JWKSURI, "s3cret") {
		t.Fatalf("Status shows the password: %+v", st)
	}
}

func TestMetadataURLs(t *testing.T) {
	tests := []struct {
		issuer string
		want   []string
	}{
		{"https://a.example", []string{"https://a.example/.well-known/openid-configuration", "https://a.example/.well-known/oauth-authorization-server"}},
		{"https://a.example/", []string{"https://a.example/.well-known/openid-configuration", "https://a.example/.well-known/oauth-authorization-server"}},
		{"https://a.example/t/1", []string{"https://a.example/t/1/.well-known/openid-configuration", "https://a.example/.well-known/oauth-authorization-server/t/1"}},
		{"http://127.0.0.1:8080/t/", []string{"http://127.0.0.1:8080/t/.well-known/openid-configuration", "http://127.0.0.1:8080/.well-known/oauth-authorization-server/t"}},
		{"https://a.example?", nil},
		{"https://a.example/?q", nil},
		{"https://a.example/#f", nil},
		{"https://u:p@a.example", nil},
		{"a.example", nil},
		{"file:///etc", nil},
		{"", nil},
	}
	for _, tc := range tests {
		got, err := IssuerMetadataURLs(tc.issuer)
		if tc.want == nil {
			if err == nil {
				t.Errorf("IssuerMetadataURLs(%q) = %q; want an error", tc.issuer, got)
			}
			continue
		}
		if err != nil || len(got) != 2 || got[0] != tc.want[0] || got[1] != tc.want[1] {
			t.Errorf("IssuerMetadataURLs(%q) = %q, %v; want %q", tc.issuer, got, err, tc.want)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	const iss = "https://a.example"
	tests := []struct {
		name string
		body string
		want string // "" = error
	}{
		{"valid", `{"issuer":"https://a.example","jwks_uri":"https://a.example/jwks"}`, "https://a.example/jwks"},
		{"extra members", `{"issuer":"https://a.example","x":{"y":[1,2,{"z":null}]},"jwks_uri":"https://keys.example/j"}`, "https://keys.example/j"},
		{"escaped issuer", `{"issuer":"https:\/\/a.example","jwks_uri":"https://a.example/jwks"}`, "https://a.example/jwks"},
		{"other issuer", `{"issuer":"https://b.example","jwks_uri":"https://a.example/jwks"}`, ""},
		{"issuer with slash", `{"issuer":"https://a.example/","jwks_uri":"https://a.example/jwks"}`, ""},
		{"no issuer", `{"jwks_uri":"https://a.example/jwks"}`, ""},
		{"issuer not a string", `{"issuer":1,"jwks_uri":"https://a.example/jwks"}`, ""},
		{"no jwks_uri", `{"issuer":"https://a.example"}`, ""},
		{"empty jwks_uri", `{"issuer":"https://a.example","jwks_uri":""}`, ""},
		{"jwks_uri not a string", `{"issuer":"https://a.example","jwks_uri":["x"]}`, ""},
		{"http jwks_uri for https issuer", `{"issuer":"https://a.example","jwks_uri":"http://a.example/jwks"}`, ""},
		{"relative jwks_uri", `{"issuer":"https://a.example","jwks_uri":"/jwks"}`, ""},
		{"file jwks_uri", `{"issuer":"https://a.example","jwks_uri":"file:///etc/passwd"}`, ""},
		{"jwks_uri with fragment", `{"issuer":"https://a.example","jwks_uri":"https://a.example/jwks#x"}`, ""},
		{"duplicate issuer", `{"issuer":"https://b.example","issuer":"https://a.example","jwks_uri":"https://a.example/jwks"}`, ""},
		{"duplicate jwks_uri", `{"issuer":"https://a.example","jwks_uri":"https://evil/jwks","jwks_uri":"https://a.example/jwks"}`, ""},
		{"not an object", `["issuer"]`, ""},
		{"trailing garbage", `{"issuer":"https://a.example","jwks_uri":"https://a.example/jwks"}x`, ""},
		{"too deep", `{"issuer":"https://a.example","jwks_uri":"https://a.example/jwks","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, ""},
		{"empty", ``, ""},
		{"too large", `{"issuer":"https://a.example","jwks_uri":"https://a.example/jwks"}` + strings.Repeat(" ", MaxIssuerMetadataSize), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIssuerMetadata([]byte(tc.body), iss)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseIssuerMetadata = %q; want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseIssuerMetadata = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// An http issuer may publish its keys over http (a local issuer).
	if got, err := ParseIssuerMetadata([]byte(`{"issuer":"http://127.0.0.1:8080","jwks_uri":"http://127.0.0.1:8080/jwks"}`), "http://127.0.0.1:8080"); err != nil || got == "" {
		t.Fatalf("http issuer: %q, %v", got, err)
	}
}

func TestVerifierDiscoveryBadDocuments(t *testing.T) {
	// Each bad OpenID document falls back to RFC 8414, which is absent:
	// the issuer stays unavailable and its tokens get 503s.
	for name, body := range map[string]string{
		"garbage":     "<html>",
		"no jwks_uri": `{"issuer":"{url}"}`,
		"too large":   `{"issuer":"{url}","jwks_uri":"{url}/jwks","x":"` + strings.Repeat("a", MaxIssuerMetadataSize) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newIssuerMetadataServer(t)
			srv.set(OIDCDiscoveryPath, strings.ReplaceAll(body, "{url}", srv.URL))
			clk := newClock()
			v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: srv.URL, Audiences: []string{vAudience}}})
			raw := signJWT(t, srv.key, jwt.TypeAccessToken, withClaims(validClaims(clk.Now()), "iss", srv.URL))
			if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Verify: %v", err)
			}
			if srv.hitsOf(OAuthMetadataPath) != 1 || srv.hitsOf("/jwks") != 0 {
				t.Fatalf("hits = %v", srv.hits)
			}
		})
	}
}
