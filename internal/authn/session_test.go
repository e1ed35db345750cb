package authn

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

var testUser = store.User{ID: "u-alice", Username: "alice"}

// startSession starts a session and returns it with the cookie set.
func startSession(t *testing.T, s *Sessions, user store.User) (store.Session, *http.Cookie, *http.Response) {
	t.Helper()
	w := httptest.NewRecorder()
	sess, err := s.Start(t.Context(), w, user, []string{"pwd"}, "urn:writ:acr:password")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	resp := w.Result()
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("%d cookies set, want 1", len(cs))
	}
	return sess, cs[0], resp
}

// withCookie is a request to the issuer carrying c.
func withCookie(c *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://id.example.com/authorize", nil)
	if c != nil {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return r
}

func TestSessionStartCookie(t *testing.T) {
	tests := []struct {
		name       string
		s          Sessions
		wantName   string
		wantMaxAge int
	}{
		{"defaults, http", Sessions{}, "writ_session", 86400},
		{"secure", Sessions{Secure: true}, "writ_session", 86400},
		{"custom", Sessions{Secure: true, CookieName: "__Host-writ_session", TTL: 2 * time.Hour}, "__Host-writ_session", 7200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			st := newFakeSessions()
			s := tc.s
			s.Store, s.Now = st, c.Now
			sess, ck, resp := startSession(t, &s, testUser)

			if ck.Name != tc.wantName || ck.Path != "/" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode ||
				ck.Secure != tc.s.Secure || ck.MaxAge != tc.wantMaxAge || ck.Domain != "" {
				t.Fatalf("cookie %+v", ck)
			}
			raw := resp.Header.Get("Set-Cookie")
			for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age="} {
				if !strings.Contains(raw, attr) {
					t.Errorf("Set-Cookie %q lacks %s", raw, attr)
				}
			}
			if strings.Contains(raw, "Secure") != tc.s.Secure {
				t.Errorf("Set-Cookie %q: Secure should be %t", raw, tc.s.Secure)
			}
			if !wellFormedSecret(ck.Value) {
				t.Fatalf("cookie value %q is not 256 random bits", ck.Value)
			}

			// The record: hash of the value, never the value; a separate
			// random sid; the times.
			sum := sha256.Sum256([]byte(ck.Value))
			stored, err := st.GetSession(t.Context(), sum[:])
			if err != nil {
				t.Fatalf("record not stored under the cookie's SHA-256: %v", err)
			}
			now := c.Now()
			if !slices.Equal(stored.Hash, sum[:]) || stored.ID != sess.ID || stored.UserID != "u-alice" ||
				!slices.Equal(stored.AMR, []string{"pwd"}) || stored.ACR != "urn:writ:acr:password" ||
				!stored.AuthTime.Equal(now) || !stored.CreatedAt.Equal(now) || !stored.LastSeenAt.Equal(now) ||
				!stored.ExpiresAt.Equal(now.Add(time.Duration(tc.wantMaxAge)*time.Second)) {
				t.Fatalf("record %+v", stored)
			}
			if len(sess.ID) < 22 || strings.Contains(ck.Value, sess.ID) || strings.Contains(sess.ID, ck.Value) {
				t.Fatalf("sid %q", sess.ID)
			}
		})
	}
}

func TestSessionStartUnique(t *testing.T) {
	s := &Sessions{Store: newFakeSessions()}
	seen := map[string]bool{}
	for range 20 {
		sess, ck, _ := startSession(t, s, testUser)
		if seen[ck.Value] || seen[sess.ID] {
			t.Fatal("repeated cookie value or sid")
		}
		seen[ck.Value], seen[sess.ID] = true, true
	}
}

func TestSessionStartErrors(t *testing.T) {
	st := newFakeSessions()
	s := &Sessions{Store: st}
	w := httptest.NewRecorder()
	if _, err := s.Start(t.Context(), w, store.User{ID: "u-bob", Disabled: true}, []string{"pwd"}, ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("disabled user: %v", err)
	}
	st.failNext = store.ErrConflict
	if _, err := s.Start(t.Context(), w, testUser, []string{"pwd"}, ""); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("store error: %v", err)
	}
	s.Rand = errReader{}
	if _, err := s.Start(t.Context(), w, testUser, []string{"pwd"}, ""); err == nil {
		t.Fatal("no error without randomness")
	}
	if len(w.Result().Cookies()) != 0 {
		t.Fatal("cookie set although the session was not started")
	}
	if _, err := (&Sessions{}).Start(t.Context(), w, testUser, nil, ""); err == nil {
		t.Fatal("no error without a store")
	}
}

func TestSessionCurrent(t *testing.T) {
	c := newClock()
	st := newFakeSessions()
	s := &Sessions{Store: st, Now: c.Now}
	sess, ck, _ := startSession(t, s, testUser)

	got, err := s.Current(t.Context(), withCookie(ck))
	if err != nil || got.ID != sess.ID || got.UserID != "u-alice" {
		t.Fatalf("Current = %+v, %v", got, err)
	}

	random, _ := randomString(nil, 32)
	tests := []struct {
		name   string
		cookie *http.Cookie
		lookup bool // whether the store is asked
	}{
		{"no cookie", nil, false},
		{"empty", &http.Cookie{Name: "writ_session", Value: ""}, false},
		{"short", &http.Cookie{Name: "writ_session", Value: "abc"}, false},
		{"long", &http.Cookie{Name: "writ_session", Value: ck.Value + "A"}, false},
		{"std alphabet", &http.Cookie{Name: "writ_session", Value: "+/" + ck.Value[2:]}, false},
		{"other name", &http.Cookie{Name: "writ_sessionx", Value: ck.Value}, false},
		{"unknown", &http.Cookie{Name: "writ_session", Value: random}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gets := st.gets
			if _, err := s.Current(t.Context(), withCookie(tc.cookie)); err != ErrNoSession {
				t.Fatalf("error %v, want ErrNoSession", err)
			}
			if asked := st.gets != gets; asked != tc.lookup {
				t.Fatalf("store asked: %t, want %t", asked, tc.lookup)
			}
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	c := newClock()
	st := newFakeSessions()
	s := &Sessions{Store: st, Now: c.Now, TTL: 10 * time.Hour, IdleTimeout: 2 * time.Hour}
	_, ck, _ := startSession(t, s, testUser)
	// Used every hour, it survives the idle timeout but not the TTL.
	for range 9 {
		c.Advance(time.Hour)
		if _, err := s.Current(t.Context(), withCookie(ck)); err != nil {
			t.Fatalf("at %v: %v", c.Now(), err)
		}
	}
	c.Advance(time.Hour - time.Microsecond)
	if _, err := s.Current(t.Context(), withCookie(ck)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	c.Advance(time.Microsecond)
	if _, err := s.Current(t.Context(), withCookie(ck)); err != ErrNoSession {
		t.Fatalf("at expiry: %v", err)
	}

	// Idle: unused for IdleTimeout.
	_, ck, _ = startSession(t, s, testUser)
	c.Advance(2*time.Hour - time.Microsecond)
	if _, err := s.Current(t.Context(), withCookie(ck)); err != nil {
		t.Fatalf("just before idle timeout: %v", err)
	}
	c.Advance(2 * time.Hour)
	if _, err := s.Current(t.Context(), withCookie(ck)); err != ErrNoSession {
		t.Fatalf("after idle timeout: %v", err)
	}
}

func TestSessionDefaultTimeouts(t *testing.T) {
	c := newClock()
	s := &Sessions{Store: newFakeSessions(), Now: c.Now}
	_, ck, _ := startSession(t, s, testUser)
	c.Advance(DefaultIdleTimeout - time.Second)
	if _, err := s.Current(t.Context(), withCookie(ck)); err != nil {
		t.Fatal(err)
	}
	c.Advance(DefaultIdleTimeout)
	if _, err := s.Current(t.Context(), withCookie(ck)); err != ErrNoSession {
		t.Fatalf("idle for the default timeout: %v", err)
	}
}

func TestSessionTouch(t *testing.T) {
	c := newClock()
	st := newFakeSessions()
	s := &Sessions{Store: st, Now: c.Now}
	sess, ck, _ := startSession(t, s, testUser)
	steps := []struct {
		advance   time.Duration
		wantTouch bool
	}{
		{30 * time.Second, false},
		{29 * time.Second, false},
		{time.Second, true}, // a minute since the start
		{59 * time.Second, false},
		{time.Hour, true},
	}
	lastSeen := sess.LastSeenAt
	for i, step := range steps {
		c.Advance(step.advance)
		touches := st.touches
		got, err := s.Current(t.Context(), withCookie(ck))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if touched := st.touches != touches; touched != step.wantTouch {
			t.Fatalf("step %d: touched %t, want %t", i, touched, step.wantTouch)
		}
		if step.wantTouch {
			lastSeen = c.Now()
		}
		if !got.LastSeenAt.Equal(lastSeen) {
			t.Fatalf("step %d: LastSeenAt %v, want %v", i, got.LastSeenAt, lastSeen)
		}
	}
}

func TestSessionCurrentStoreError(t *testing.T) {
	st := newFakeSessions()
	s := &Sessions{Store: st}
	_, ck, _ := startSession(t, s, testUser)
	st.err = store.ErrConflict
	_, err := s.Current(t.Context(), withCookie(ck))
	if !errors.Is(err, store.ErrConflict) || errors.Is(err, ErrNoSession) {
		t.Fatalf("error %v, want the store's", err)
	}
	if strings.Contains(err.Error(), ck.Value) {
		t.Fatal("error contains the cookie value")
	}
}

func TestSessionEnd(t *testing.T) {
	c := newClock()
	st := newFakeSessions()
	s := &Sessions{Store: st, Now: c.Now, Secure: true}
	sess, ck, _ := startSession(t, s, testUser)
	other, _, _ := startSession(t, s, testUser)

	cleared := func(w *httptest.ResponseRecorder) {
		t.Helper()
		cs := w.Result().Cookies()
		raw := w.Result().Header.Get("Set-Cookie")
		if len(cs) != 1 || cs[0].Name != "writ_session" || cs[0].Value != "" || cs[0].MaxAge >= 0 ||
			!strings.Contains(raw, "Max-Age=0") || !cs[0].HttpOnly || !cs[0].Secure || cs[0].Path != "/" {
			t.Fatalf("cookie not cleared: %q", raw)
		}
	}
	w := httptest.NewRecorder()
	ended, err := s.End(t.Context(), w, withCookie(ck))
	if err != nil || ended.ID != sess.ID || ended.UserID != "u-alice" {
		t.Fatalf("End = %+v, %v", ended, err)
	}
	cleared(w)
	if _, err := st.GetSessionByID(t.Context(), sess.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("record not deleted")
	}
	if _, err := st.GetSessionByID(t.Context(), other.ID); err != nil {
		t.Fatal("another session was deleted")
	}
	if _, err := s.Current(t.Context(), withCookie(ck)); err != ErrNoSession {
		t.Fatalf("Current after End: %v", err)
	}
	// Again, and without a cookie: ErrNoSession, cookie cleared anyway.
	for _, c := range []*http.Cookie{ck, nil} {
		w := httptest.NewRecorder()
		if _, err := s.End(t.Context(), w, withCookie(c)); err != ErrNoSession {
			t.Fatalf("End: %v", err)
		}
		cleared(w)
	}
}

func TestSessionEndAll(t *testing.T) {
	st := newFakeSessions()
	s := &Sessions{Store: st}
	a1, ck1, _ := startSession(t, s, testUser)
	a2, ck2, _ := startSession(t, s, testUser)
	_, ckb, _ := startSession(t, s, store.User{ID: "u-bob"})
	ended, err := s.EndAll(t.Context(), "u-alice")
	if err != nil || len(ended) != 2 {
		t.Fatalf("EndAll = %d sessions, %v", len(ended), err)
	}
	ids := []string{ended[0].ID, ended[1].ID}
	if !slices.Contains(ids, a1.ID) || !slices.Contains(ids, a2.ID) {
		t.Fatalf("ended %v, want %s and %s", ids, a1.ID, a2.ID)
	}
	for _, ck := range []*http.Cookie{ck1, ck2} {
		if _, err := s.Current(t.Context(), withCookie(ck)); err != ErrNoSession {
			t.Fatalf("alice's session survived: %v", err)
		}
	}
	if _, err := s.Current(t.Context(), withCookie(ckb)); err != nil {
		t.Fatalf("bob's session ended: %v", err)
	}
	if ended, err := s.EndAll(t.Context(), "u-alice"); err != nil || len(ended) != 0 {
		t.Fatalf("second EndAll = %d, %v", len(ended), err)
	}
	if st.len() != 1 {
		t.Fatalf("%d records left, want 1", st.len())
	}
}
