package rs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// newClock returns the shared fake clock, standing still until advanced.
func newClock() *clocktest.Clock { return clocktest.Default() }

// jwksServer is an issuer's JWKS endpoint on 127.0.0.1 whose answer the
// test changes, and which counts the requests it gets.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int32
	// arrived receives (without blocking) once per request.
	arrived chan struct{}

	mu      sync.Mutex
	status  int
	body    []byte
	cc      string        // Cache-Control
	age     string        // Age
	release chan struct{} // when non-nil, requests wait until it is closed
}

func newJWKSServer(t *testing.T, keys ...*jose.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{arrived: make(chan struct{}, 1000), status: http.StatusOK}
	s.serve(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) handle(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	s.mu.Lock()
	status, body, cc, age, release := s.status, s.body, s.cc, s.age, s.release
	s.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	if age != "" {
		w.Header().Set("Age", age)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serve makes the server publish the public halves of keys.
func (s *jwksServer) serve(t *testing.T, keys ...*jose.Key) {
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

func (s *jwksServer) respond(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

func (s *jwksServer) setCache(cc, age string) {
	s.mu.Lock()
	s.cc, s.age = cc, age
	s.mu.Unlock()
}

// hold makes requests wait until the returned function is called.
func (s *jwksServer) hold() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.release = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.release = nil
			s.mu.Unlock()
			close(ch)
		})
	}
}

// waitArrival waits until a request has reached the server (the test's
// own timeout guards a request that never comes).
func (s *jwksServer) waitArrival(t *testing.T) {
	t.Helper()
	<-s.arrived
}

func (s *jwksServer) wantHits(t *testing.T, want int32) {
	t.Helper()
	if got := s.hits.Load(); got != want {
		t.Fatalf("JWKS requests = %d, want %d", got, want)
	}
}

// waitHits waits until the server has had want requests (background fetches
// are asynchronous): each request signals its arrival, so this waits on
// those signals, not on time.
func (s *jwksServer) waitHits(t *testing.T, want int32) {
	t.Helper()
	for s.hits.Load() < want {
		<-s.arrived
	}
}

// inflight returns the fetch r has under way, or nil.
func inflight(r *RemoteKeySet) *fetchCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inflight
}

// lastTry returns when r last started a fetch.
func lastTry(r *RemoteKeySet) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastTry
}

func genKey(t testing.TB) *jose.Key {
	t.Helper()
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hdr(kid string) *jose.Header {
	return &jose.Header{Algorithm: jose.ES256, KeyID: kid, HasKeyID: true}
}

func has(set *jose.KeySet, kid string) bool {
	return set != nil && len(set.Lookup(kid, jose.ES256, true)) > 0
}

// mustKeySet calls KeySet and fails the test on an error.
func mustKeySet(t *testing.T, r *RemoteKeySet, h *jose.Header) *jose.KeySet {
	t.Helper()
	set, err := r.KeySet(context.Background(), h)
	if err != nil {
		t.Fatalf("KeySet: %v", err)
	}
	if set == nil {
		t.Fatal("KeySet returned no set and no error")
	}
	return set
}

func TestRemoteKeySetLoadsOnceAndCaches(t *testing.T) {
	key := genKey(t)
	srv := newJWKSServer(t, key)
	clk := newClock()
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now))
	srv.wantHits(t, 0) // lazy
	for range 10 {
		if set := mustKeySet(t, r, hdr(key.KeyID())); !has(set, key.KeyID()) {
			t.Fatal("the published key is missing")
		}
		mustKeySet(t, r, nil)
		clk.Advance(10 * time.Second)
	}
	// 100 s passed, all within the 5 min default lifetime.
	srv.wantHits(t, 1)
}

func TestRemoteKeySetRefreshesOnUnknownKid(t *testing.T) {
	oldKey, newKey := genKey(t), genKey(t)
	srv := newJWKSServer(t, oldKey)
	clk := newClock()
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now))
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.wantHits(t, 1)

	// The issuer rotates; a token with the new kid arrives after the rate
	// limit window.
	srv.serve(t, newKey)
	clk.Advance(DefaultMinRefreshInterval)
	set := mustKeySet(t, r, hdr(newKey.KeyID()))
	srv.wantHits(t, 2)
	if !has(set, newKey.KeyID()) {
		t.Fatal("the refreshed set lacks the new key")
	}
	if has(set, oldKey.KeyID()) {
		t.Fatal("the refreshed set still holds the withdrawn key")
	}
	// Known now: no further fetch.
	mustKeySet(t, r, hdr(newKey.KeyID()))
	srv.wantHits(t, 2)
}

func TestRemoteKeySetRateLimitsUnknownKids(t *testing.T) {
	key := genKey(t)
	srv := newJWKSServer(t, key)
	clk := newClock()
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now), WithMinRefreshInterval(time.Minute))
	v, err := jwt.NewVerifier(r, jwt.Config{Issuer: "https://id.example", Audience: "api", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	stranger := genKey(t)
	tok := func(k *jose.Key) string {
		s, err := jwt.NewSigner(k, jwt.TypeJWT)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.Sign(map[string]any{"iss": "https://id.example", "aud": "api", "exp": clk.Now().Add(time.Minute).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if _, err := v.Verify(context.Background(), tok(key)); err != nil {
		t.Fatalf("Verify with the published key: %v", err)
	}
	srv.wantHits(t, 1)

	// An attacker sends tokens with made-up kids: no fetch within the window.
	for i := range 100 {
		mustKeySet(t, r, hdr(fmt.Sprintf("random-%d", i)))
	}
	if _, err := v.Verify(context.Background(), tok(stranger)); !errors.Is(err, jwt.ErrKeyNotFound) {
		t.Fatalf("Verify with an unknown kid: %v, want ErrKeyNotFound", err)
	}
	clk.Advance(time.Minute - time.Second)
	mustKeySet(t, r, hdr("random-again"))
	srv.wantHits(t, 1)

	// After the window one more fetch, then the window starts again.
	clk.Advance(time.Second)
	mustKeySet(t, r, hdr("random-after-window"))
	srv.wantHits(t, 2)
	mustKeySet(t, r, hdr("random-after-window-2"))
	srv.wantHits(t, 2)
	// The known key is unaffected throughout.
	if _, err := v.Verify(context.Background(), tok(key)); err != nil {
		t.Fatalf("Verify with the published key: %v", err)
	}
	srv.wantHits(t, 2)
}

func TestRemoteKeySetSharesOneFetch(t *testing.T) {
	key, newKey := genKey(t), genKey(t)
	srv := newJWKSServer(t, key)
	clk := newClock()
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now))

	// many runs n concurrent KeySet calls for kid while the server holds
	// the response, and returns how many saw kid in their set.
	many := func(kid string) int {
		t.Helper()
		const n = 50
		release := srv.hold()
		defer release()
		var (
			wg, started sync.WaitGroup
			found       atomic.Int32
		)
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				started.Done()
				set, err := r.KeySet(context.Background(), hdr(kid))
				if err != nil {
					errs <- err
					return
				}
				if has(set, kid) {
					found.Add(1)
				}
			}()
		}
		srv.waitArrival(t)
		// Every caller is running before the fetch is let go. One that
		// reaches KeySet only after the fetch finished finds the new set
		// cached, so the counts below hold however they are scheduled.
		started.Wait()
		release()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("KeySet: %v", err)
		}
		return int(found.Load())
	}

	// Cold start: 50 callers, one fetch, all served.
	if got := many(key.KeyID()); got != 50 {
		t.Errorf("cold start: %d of 50 callers got the key", got)
	}
	srv.wantHits(t, 1)

	// A rotation seen by 50 callers at once: one fetch again.
	srv.serve(t, key, newKey)
	clk.Advance(DefaultMinRefreshInterval)
	if got := many(newKey.KeyID()); got != 50 {
		t.Errorf("rotation: %d of 50 callers got the new key", got)
	}
	srv.wantHits(t, 2)
}

func TestRemoteKeySetCallerGivingUpDoesNotFailTheFetch(t *testing.T) {
	key := genKey(t)
	srv := newJWKSServer(t, key)
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(newClock().Now))
	release := srv.hold()
	defer release()

	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		_, err := r.KeySet(ctx, hdr(key.KeyID()))
		impatient <- err
	}()
	srv.waitArrival(t)
	patient := make(chan *jose.KeySet, 1)
	go func() {
		set, err := r.KeySet(context.Background(), hdr(key.KeyID()))
		if err != nil {
			t.Errorf("patient caller: %v", err)
		}
		patient <- set
	}()
	cancel()
	if err := <-impatient; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v, want context.Canceled", err)
	}
	release()
	if set := <-patient; !has(set, key.KeyID()) {
		t.Fatal("the patient caller did not get the key")
	}
	srv.wantHits(t, 1)
}

func TestRemoteKeySetLifetime(t *testing.T) {
	tests := []struct {
		cc, age string
		want    time.Duration
	}{
		{"", "", DefaultCacheAge},
		{"max-age=120", "", 2 * time.Minute},
		{"public, max-age=\"90\"", "", 90 * time.Second},
		{"Max-Age=600", "500", 100 * time.Second},
		{"max-age=600", "900", DefaultMinRefreshInterval},
		{"max-age=5", "", DefaultMinRefreshInterval},
		{"max-age=0", "", DefaultMinRefreshInterval},
		{"no-store", "", DefaultMinRefreshInterval},
		{"max-age=300, no-cache", "", DefaultMinRefreshInterval},
		{"max-age=999999999999999999999999", "", MaxCacheAge},
		{"max-age=172800", "", MaxCacheAge},
		{"max-age=300, max-age=60", "", time.Minute},
		{"max-age=-5", "", DefaultCacheAge},
		{"max-age=1e3", "", DefaultCacheAge},
		{"max-age=120", "x", 2 * time.Minute},
	}
	r := NewRemoteKeySet(context.Background(), "https://id.example/jwks")
	for _, tc := range tests {
		h := http.Header{}
		if tc.cc != "" {
			h.Set("Cache-Control", tc.cc)
		}
		if tc.age != "" {
			h.Set("Age", tc.age)
		}
		if got := r.lifetime(h); got != tc.want {
			t.Errorf("Cache-Control %q, Age %q: lifetime %v, want %v", tc.cc, tc.age, got, tc.want)
		}
	}
	long := NewRemoteKeySet(context.Background(), "https://id.example/jwks", WithMinRefreshInterval(48*time.Hour))
	if got := long.lifetime(http.Header{"Cache-Control": {"max-age=60"}}); got != 48*time.Hour {
		t.Errorf("a minimum refresh interval beyond MaxCacheAge: lifetime %v, want it to win", got)
	}
}

func TestRemoteKeySetRevalidatesAfterMaxAge(t *testing.T) {
	key := genKey(t)
	srv := newJWKSServer(t, key)
	srv.setCache("max-age=120", "")
	clk := newClock()
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now))
	mustKeySet(t, r, hdr(key.KeyID()))
	srv.wantHits(t, 1)

	first := lastTry(r)
	clk.Advance(89 * time.Second)
	mustKeySet(t, r, hdr(key.KeyID()))
	// A revalidation would have been started inside KeySet, before it
	// returned: none was.
	if inflight(r) != nil || !lastTry(r).Equal(first) {
		t.Fatal("a set within three quarters of its max-age was revalidated")
	}
	srv.wantHits(t, 1)

	// Three quarters of the lifetime have passed: the caller gets the
	// cached set at once, while the set is fetched again in the
	// background, before it expires.
	newKey := genKey(t)
	srv.serve(t, newKey)
	release := srv.hold()
	clk.Advance(time.Second)
	if set := mustKeySet(t, r, hdr(key.KeyID())); !has(set, key.KeyID()) {
		t.Fatal("the cached set was not served while it was refreshed ahead")
	}
	srv.waitHits(t, 2)
	call := inflight(r)
	if st := r.Status(); st.Stale || !st.Available || st.Keys != 1 {
		t.Fatalf("Status during the refresh-ahead = %+v", st)
	}
	release()
	if call != nil {
		<-call.done
	}
	// The refreshed set replaces the old one.
	if !has(mustKeySet(t, r, nil), newKey.KeyID()) {
		t.Fatal("the refreshed set did not replace the old one")
	}
	srv.wantHits(t, 2)

	// Expired (nobody used the set in its last quarter): the caller gets
	// the cached set at once, and the set is fetched again in the
	// background.
	newer := genKey(t)
	srv.serve(t, newer)
	release = srv.hold()
	clk.Advance(120 * time.Second)
	if st := r.Status(); !st.Stale || !st.Available {
		t.Fatalf("Status of an expired set = %+v", st)
	}
	if set := mustKeySet(t, r, hdr(newKey.KeyID())); !has(set, newKey.KeyID()) {
		t.Fatal("the expired set was not served while it was revalidated")
	}
	srv.waitHits(t, 3)
	call = inflight(r)
	release()
	if call != nil {
		<-call.done
	}
	if !has(mustKeySet(t, r, nil), newer.KeyID()) {
		t.Fatal("the revalidated set did not replace the old one")
	}
	srv.wantHits(t, 3)
}

// TestRemoteKeySetFailedRefreshKeepsLastGoodSet covers every way a fetch
// can fail: each keeps the old set until it is too stale.
func TestRemoteKeySetFailedRefreshKeepsLastGoodSet(t *testing.T) {
	privateJWK := func() []byte {
		k := genKey(t)
		b, err := k.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return []byte(`{"keys":[` + string(b) + `]}`)
	}
	big := []byte(`{"keys":[]` + strings.Repeat(" ", MaxResponseSize) + `}`)
	tests := []struct {
		name   string
		status int
		body   []byte
	}{
		{"500", http.StatusInternalServerError, []byte(`{"keys":[]}`)},
		{"404", http.StatusNotFound, nil},
		{"204", http.StatusNoContent, nil},
		{"garbage", http.StatusOK, []byte("<html>maintenance</html>")},
		{"empty body", http.StatusOK, nil},
		{"no keys member", http.StatusOK, []byte(`{"kids":[]}`)},
		{"duplicate members", http.StatusOK, []byte(`{"keys":[],"keys":[]}`)},
		{"private key", http.StatusOK, privateJWK()},
		{"symmetric key", http.StatusOK, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256","kid":"h"}]}`)},
		{"over 1 MiB", http.StatusOK, big},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := genKey(t)
			srv := newJWKSServer(t, key)
			clk := newClock()
			r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now), WithMaxStale(time.Hour))
			if err := r.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			srv.respond(tc.status, tc.body)

			if err := r.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh succeeded on a bad response")
			}
			clk.Advance(DefaultMinRefreshInterval)
			// A kid the last good set lacks may be in the set that could
			// not be fetched: an outage, not a bad token.
			if _, err := r.KeySet(context.Background(), hdr("unknown")); !errors.Is(err, ErrKeySetUnavailable) {
				t.Fatalf("KeySet of an unknown kid during the outage: %v", err)
			}
			srv.wantHits(t, 3)
			if set := mustKeySet(t, r, hdr(key.KeyID())); !has(set, key.KeyID()) {
				t.Fatal("the last good set was not kept")
			}
			srv.wantHits(t, 3)
			// Rate-limited, the answer is the same.
			if _, err := r.KeySet(context.Background(), hdr("unknown")); !errors.Is(err, ErrKeySetUnavailable) {
				t.Fatalf("KeySet of an unknown kid during the outage: %v", err)
			}
			srv.wantHits(t, 3)

			// Past its lifetime (5 min) and within MaxStale: still served.
			clk.Advance(DefaultCacheAge + 59*time.Minute)
			if set := mustKeySet(t, r, hdr(key.KeyID())); !has(set, key.KeyID()) {
				t.Fatal("the stale set was not served")
			}
			srv.waitHits(t, 4) // revalidation, which fails
			// Stale for longer than MaxStale: no set.
			clk.Advance(time.Minute)
			_, err := r.KeySet(context.Background(), hdr(key.KeyID()))
			if !errors.Is(err, ErrKeySetUnavailable) {
				t.Fatalf("KeySet past MaxStale: %v, want ErrKeySetUnavailable", err)
			}
			// The issuer recovers.
			srv.serve(t, key)
			clk.Advance(DefaultMinRefreshInterval)
			mustKeySet(t, r, hdr(key.KeyID()))
		})
	}
}

func TestRemoteKeySetStopsReadingAtTheSizeLimit(t *testing.T) {
	// An endless body: the fetch must give up at MaxResponseSize, not
	// read until the timeout.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[`))
		chunk := []byte(strings.Repeat(" ", 64<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	r := NewRemoteKeySet(context.Background(), srv.URL)
	// The error names the size limit: a fetch that read on until its
	// timeout would fail with the deadline instead. No clock is read.
	err := r.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than") || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refresh of an endless body: %v", err)
	}
}

func TestRemoteKeySetColdFailureIsRateLimited(t *testing.T) {
	key := genKey(t)
	srv := newJWKSServer(t, key)
	srv.respond(http.StatusServiceUnavailable, nil)
	clk := newClock()
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now))
	for range 20 {
		set, err := r.KeySet(context.Background(), hdr(key.KeyID()))
		if !errors.Is(err, ErrKeySetUnavailable) || set != nil {
			t.Fatalf("KeySet = %v, %v; want ErrKeySetUnavailable", set, err)
		}
		if !strings.Contains(err.Error(), "503") {
			t.Errorf("error %q does not say what failed", err)
		}
	}
	srv.wantHits(t, 1)
	srv.serve(t, key)
	clk.Advance(DefaultMinRefreshInterval)
	mustKeySet(t, r, hdr(key.KeyID()))
	srv.wantHits(t, 2)
}

func TestRemoteKeySetNoStaleServing(t *testing.T) {
	key := genKey(t)
	srv := newJWKSServer(t, key)
	clk := newClock()
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now), WithMaxStale(0))
	mustKeySet(t, r, nil)
	srv.respond(http.StatusInternalServerError, nil)
	clk.Advance(DefaultCacheAge)
	if _, err := r.KeySet(context.Background(), nil); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("KeySet past the lifetime with MaxStale 0: %v", err)
	}
}

func TestRemoteKeySetTokenWithoutKid(t *testing.T) {
	key := genKey(t)
	srv := newJWKSServer(t, key)
	clk := newClock()
	r := NewRemoteKeySet(context.Background(), srv.URL, WithClock(clk.Now))
	noKid := &jose.Header{Algorithm: jose.ES256}
	if set := mustKeySet(t, r, noKid); len(set.Lookup("", jose.ES256, false)) != 1 {
		t.Fatal("no ES256 key for a token without kid")
	}
	srv.wantHits(t, 1)
	// No key bound to the algorithm: a refresh, as for an unknown kid.
	clk.Advance(DefaultMinRefreshInterval)
	mustKeySet(t, r, &jose.Header{Algorithm: jose.RS256})
	srv.wantHits(t, 2)
}

func TestRemoteKeySetRedirects(t *testing.T) {
	key := genKey(t)
	srv := newJWKSServer(t, key)
	redirect := func(to string) *httptest.Server {
		s := httptest.NewServer(http.RedirectHandler(to, http.StatusFound))
		t.Cleanup(s.Close)
		return s
	}
	// Same scheme: followed.
	r := NewRemoteKeySet(context.Background(), redirect(srv.URL+"/jwks").URL)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatalf("http redirect to http: %v", err)
	}
	// Other schemes: refused.
	for _, to := range []string{"file:///etc/passwd", "ftp://127.0.0.1/jwks", "gopher://127.0.0.1/"} {
		r := NewRemoteKeySet(context.Background(), redirect(to).URL)
		if err := r.Refresh(context.Background()); err == nil {
			t.Errorf("redirect to %s was followed", to)
		}
	}
	// https to http: refused, also with a caller's client.
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(srv.URL, http.StatusFound))
	t.Cleanup(tlsSrv.Close)
	client := tlsSrv.Client()
	r = NewRemoteKeySet(context.Background(), tlsSrv.URL, WithHTTPClient(client))
	if err := r.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "https to http") {
		t.Errorf("https to http redirect: %v", err)
	}
	if client.CheckRedirect != nil {
		t.Error("WithHTTPClient changed the caller's client")
	}
	// A loop: stopped.
	var loop *httptest.Server
	loop = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusFound)
	}))
	t.Cleanup(loop.Close)
	r = NewRemoteKeySet(context.Background(), loop.URL)
	if err := r.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("redirect loop: %v", err)
	}
	// The caller's CheckRedirect is asked too.
	own := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("caller says no") }}
	r = NewRemoteKeySet(context.Background(), redirect(srv.URL).URL, WithHTTPClient(own))
	if err := r.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "caller says no") {
		t.Errorf("caller's CheckRedirect: %v", err)
	}
}

func TestRemoteKeySetBadURLs(t *testing.T) {
	for _, u := range []string{"", "not a url", "ftp://127.0.0.1/jwks", "file:///etc/passwd", "/relative/jwks", "http://", "http://[::1"} {
		r := NewRemoteKeySet(context.Background(), u)
		if err := r.Refresh(context.Background()); err == nil {
			t.Errorf("Refresh of %q succeeded", u)
		}
		if _, err := r.KeySet(context.Background(), nil); !errors.Is(err, ErrKeySetUnavailable) {
			t.Errorf("KeySet of %q: %v, want ErrKeySetUnavailable", u, err)
		}
	}
}

func TestRemoteKeySetContextEndsFetches(t *testing.T) {
	srv := newJWKSServer(t, genKey(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := NewRemoteKeySet(ctx, srv.URL)
	if err := r.Refresh(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh under a cancelled key set context: %v", err)
	}
}
