package oidc

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

func TestLogoutTokenContents(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.EdDSA} {
		key := genKey(t, alg)
		lt := LogoutTokens{Issuer: testIssuer, Keys: staticKeys{key}, Now: fixedClock(t0)}
		for _, c := range []struct{ sub, sid string }{{"user-1", "sid-1"}, {"user-1", ""}, {"", "sid-1"}} {
			raw, err := lt.Mint("client-a", c.sub, c.sid)
			if err != nil {
				t.Fatal(err)
			}
			v := verifier(t, key, TypeLogoutToken, "client-a", t0.Add(time.Minute))
			tok, err := v.Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("%s %+v: writ verifier: %v", alg, c, err)
			}
			if tok.Header().Type != "logout+jwt" || tok.Header().KeyID != key.KeyID() {
				t.Errorf("header typ %q kid %q", tok.Header().Type, tok.Header().KeyID)
			}
			got := payload(t, tok)
			jti, _ := got["jti"].(string)
			if len(jti) < 22 {
				t.Errorf("jti %q", jti)
			}
			delete(got, "jti")
			want := map[string]any{
				"iss":    testIssuer,
				"aud":    "client-a",
				"iat":    num(t0.Unix()),
				"exp":    num(t0.Add(2 * time.Minute).Unix()),
				"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
			}
			if c.sub != "" {
				want["sub"] = c.sub
			}
			if c.sid != "" {
				want["sid"] = c.sid
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %+v:\n got %v\nwant %v", alg, c, got, want)
			}
			if _, ok := got["nonce"]; ok {
				t.Error("logout token has a nonce")
			}
			// A relying party's library accepts it.
			cfg := &gooidc.Config{ClientID: "client-a", SupportedSigningAlgs: []string{string(alg)}, Now: fixedClock(t0.Add(time.Minute))}
			lo, err := gooidc.NewVerifier(testIssuer, &gooidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.PublicKey()}}, cfg).VerifyLogout(t.Context(), raw)
			if err != nil {
				t.Fatalf("go-oidc VerifyLogout: %v", err)
			}
			if lo.Subject != c.sub || lo.SessionID != c.sid || lo.TokenID == "" {
				t.Errorf("go-oidc sees %+v", lo)
			}
			// It is no ID token and no access token.
			for _, typ := range []string{jwt.TypeJWT, jwt.TypeAccessToken} {
				if _, err := verifier(t, key, typ, "client-a", t0).Verify(t.Context(), raw); !errors.Is(err, jwt.ErrType) {
					t.Errorf("logout token passes as typ %s: %v", typ, err)
				}
			}
		}
	}
}

func TestLogoutTokenRefusesBadInput(t *testing.T) {
	lt := LogoutTokens{Issuer: testIssuer, Keys: staticKeys{genKey(t, jose.ES256)}}
	if _, err := lt.Mint("", "user-1", "sid"); err == nil {
		t.Error("no client accepted")
	}
	if _, err := lt.Mint("client-a", "", ""); err == nil {
		t.Error("neither sub nor sid accepted")
	}
	if _, err := lt.Mint("client-a", "\xff", ""); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	if _, err := (LogoutTokens{Issuer: testIssuer, Keys: failingKeys{}}).Mint("client-a", "u", ""); err == nil {
		t.Error("no key accepted")
	}
}

// logoutRP is a relying party's back-channel logout endpoint on 127.0.0.1.
type logoutRP struct {
	srv      *httptest.Server
	mu       sync.Mutex
	received []url.Values
	ctypes   []string
}

func newLogoutRP(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *logoutRP {
	rp := &logoutRP{}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rp.mu.Lock()
		rp.received = append(rp.received, form)
		rp.ctypes = append(rp.ctypes, r.Header.Get("Content-Type"))
		rp.mu.Unlock()
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		handler(w, r)
	}))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *logoutRP) count() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.received)
}

func newNotifier(t *testing.T, key *jose.Key, logs *bytes.Buffer) *Notifier {
	return &Notifier{
		Tokens: LogoutTokens{Issuer: testIssuer, Keys: staticKeys{key}, Now: fixedClock(t0)},
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}
}

func TestNotifierDelivers(t *testing.T) {
	key := genKey(t, jose.ES256)
	ok := newLogoutRP(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	noContent := newLogoutRP(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	logs := new(bytes.Buffer)
	n := newNotifier(t, key, logs)
	errs := n.Notify(t.Context(), []LogoutTarget{
		{ClientID: "client-a", URI: ok.srv.URL + "/logout"},
		{ClientID: "client-b", URI: noContent.srv.URL + "/bc?x=1"},
	}, "user-1", "sid-1")
	if errs != nil {
		t.Fatalf("errors: %v", errs)
	}
	for client, rp := range map[string]*logoutRP{"client-a": ok, "client-b": noContent} {
		if rp.count() != 1 {
			t.Fatalf("%s: %d deliveries", client, rp.count())
		}
		if rp.ctypes[0] != "application/x-www-form-urlencoded" {
			t.Errorf("%s: Content-Type %q", client, rp.ctypes[0])
		}
		form := rp.received[0]
		if len(form) != 1 || len(form["logout_token"]) != 1 {
			t.Fatalf("%s: form %v", client, form)
		}
		tok, err := verifier(t, key, TypeLogoutToken, client, t0).Verify(t.Context(), form.Get("logout_token"))
		if err != nil {
			t.Fatalf("%s: %v", client, err)
		}
		if tok.Claims().Subject != "user-1" {
			t.Errorf("%s: sub %q", client, tok.Claims().Subject)
		}
		if sid, _ := tok.StringClaim("sid"); sid != "sid-1" {
			t.Errorf("%s: sid %q", client, sid)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("successful deliveries logged: %s", logs)
	}
	if n.Notify(t.Context(), nil, "user-1", "") != nil {
		t.Error("no targets: errors")
	}
}

func TestNotifierReportsFailures(t *testing.T) {
	key := genKey(t, jose.ES256)
	okRP := newLogoutRP(t, func(w http.ResponseWriter, _ *http.Request) {})
	failing := newLogoutRP(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	redirectTarget := newLogoutRP(t, func(w http.ResponseWriter, _ *http.Request) {})
	redirecting := newLogoutRP(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, redirectTarget.srv.URL+"/stolen", http.StatusTemporaryRedirect)
	})
	release := make(chan struct{})
	slow := newLogoutRP(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)

	logs := new(bytes.Buffer)
	n := newNotifier(t, key, logs)
	n.Client = &http.Client{Timeout: time.Second} // follows redirects by default: the Notifier must not
	targets := []LogoutTarget{
		{ClientID: "ok", URI: okRP.srv.URL},
		{ClientID: "failing", URI: failing.srv.URL},
		{ClientID: "redirecting", URI: redirecting.srv.URL},
		{ClientID: "slow", URI: slow.srv.URL},
		{ClientID: "bad-uri", URI: "ftp://example.com/logout"},
		{ClientID: "relative", URI: "/logout"},
	}
	// The slow target never answers: Notify returns because the client's
	// timeout ends the call (a hang here is the failure).
	errs := n.Notify(t.Context(), targets, "user-1", "")
	byClient := map[string]*LogoutError{}
	for _, err := range errs {
		var le *LogoutError
		if !errors.As(err, &le) {
			t.Fatalf("error %v is not a *LogoutError", err)
		}
		byClient[le.ClientID] = le
	}
	if len(errs) != 5 || byClient["ok"] != nil {
		t.Fatalf("errors %v, want one per failing target", errs)
	}
	// Errors come in target order.
	var order []string
	for _, err := range errs {
		order = append(order, err.(*LogoutError).ClientID)
	}
	if !reflect.DeepEqual(order, []string{"failing", "redirecting", "slow", "bad-uri", "relative"}) {
		t.Errorf("order %v", order)
	}
	if le := byClient["failing"]; le.Status != 500 || !errors.Is(le, ErrLogoutStatus) {
		t.Errorf("failing: %+v", le)
	}
	if le := byClient["redirecting"]; le.Status != http.StatusTemporaryRedirect || !errors.Is(le, ErrLogoutStatus) {
		t.Errorf("redirecting: %+v", le)
	}
	if redirectTarget.count() != 0 {
		t.Error("the redirect was followed")
	}
	if le := byClient["slow"]; le.Status != 0 {
		t.Errorf("slow: %+v", le)
	}
	if okRP.count() != 1 || failing.count() != 1 || redirecting.count() != 1 {
		t.Errorf("deliveries: ok %d, failing %d, redirecting %d", okRP.count(), failing.count(), redirecting.count())
	}
	// Failures are logged, by client, never with a token.
	out := logs.String()
	for _, c := range []string{"failing", "redirecting", "slow", "bad-uri", "relative"} {
		if !strings.Contains(out, "client_id="+c) {
			t.Errorf("failure of %s not logged", c)
		}
	}
	for _, rp := range []*logoutRP{okRP, failing, redirecting, slow} {
		rp.mu.Lock()
		for _, f := range rp.received {
			if tok := f.Get("logout_token"); tok == "" || strings.Contains(out, tok) {
				t.Error("a logout token was logged")
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), f.Get("logout_token")) {
					t.Error("a logout token is in an error")
				}
			}
		}
		rp.mu.Unlock()
	}
	if n.Client.CheckRedirect != nil || n.Client.Timeout != time.Second {
		t.Error("Notify changed the caller's client")
	}
}

// TestNotifierDefaultClientTimesOut checks the client Notify uses, instead
// of timing a call: without a client, or with one that sets no timeout, the
// requests get DefaultNotifyTimeout, and the whole call is bounded by the
// client's timeout (TestNotifierBoundsConcurrencyAndTotalTime).
func TestNotifierDefaultClientTimesOut(t *testing.T) {
	for _, c := range []*http.Client{nil, {}, {Timeout: -1}} {
		n := &Notifier{Client: c}
		if got := n.client().Timeout; got != DefaultNotifyTimeout {
			t.Errorf("client %+v: timeout %v, want %v", c, got, DefaultNotifyTimeout)
		}
	}
	n := &Notifier{Client: &http.Client{Timeout: 3 * time.Second}}
	if got := n.client().Timeout; got != 3*time.Second {
		t.Errorf("the caller's timeout became %v", got)
	}
}

func TestNotifierBoundsConcurrencyAndTotalTime(t *testing.T) {
	// Each delivery reports its arrival and waits for the test to let it
	// answer; the test keeps two waiting at a time, so the peak is
	// measured by synchronisation, not by how long anything takes.
	var inFlight, peak atomic.Int32
	arrivals := make(chan struct{}, 16)
	proceed := make(chan struct{})
	rp := newLogoutRP(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		arrivals <- struct{}{}
		select {
		case <-proceed:
		case <-r.Context().Done():
		}
		inFlight.Add(-1)
	})
	n := newNotifier(t, genKey(t, jose.ES256), new(bytes.Buffer))
	n.MaxConcurrent = 2
	n.Client = &http.Client{Timeout: time.Hour} // the test's own timeout guards a hang
	var targets []LogoutTarget
	for i := range 8 {
		targets = append(targets, LogoutTarget{ClientID: "c" + string(rune('a'+i)), URI: rp.srv.URL})
	}
	done := make(chan []error, 1)
	go func() { done <- n.Notify(t.Context(), targets, "u", "s") }()
	<-arrivals
	<-arrivals // two in flight: the bound allows it
	for range len(targets) - 2 {
		proceed <- struct{}{}
		<-arrivals
	}
	proceed <- struct{}{}
	proceed <- struct{}{}
	if errs := <-done; errs != nil {
		t.Fatalf("errors: %v", errs)
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
	if rp.count() != 8 {
		t.Errorf("%d deliveries", rp.count())
	}

	// More work than fits in the timeout: a target that never answers
	// holds the only slot until the deadline, so the call still ends, and
	// every target fails, the ones never started included.
	release := make(chan struct{})
	defer close(release)
	stuck := newLogoutRP(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	for i := range targets {
		targets[i].URI = stuck.srv.URL
	}
	n.Client = &http.Client{Timeout: 250 * time.Millisecond}
	n.MaxConcurrent = 1
	errs := n.Notify(t.Context(), targets, "u", "s")
	if len(errs) != len(targets) {
		t.Errorf("%d errors, want all %d targets to miss the deadline", len(errs), len(targets))
	}
}

func TestNotifierHonorsCanceledContext(t *testing.T) {
	rp := newLogoutRP(t, func(w http.ResponseWriter, _ *http.Request) {})
	n := newNotifier(t, genKey(t, jose.ES256), new(bytes.Buffer))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	errs := n.Notify(ctx, []LogoutTarget{{ClientID: "a", URI: rp.srv.URL}}, "u", "")
	if len(errs) != 1 {
		t.Errorf("canceled context: %v", errs)
	}
}
