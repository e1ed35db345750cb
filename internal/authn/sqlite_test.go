package authn_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
)

// TestWithSQLite signs a user in and runs a session through its life
// against the real SQLite store, opened as the server opens it.
func TestWithSQLite(t *testing.T) {
	ctx := t.Context()
	st, err := storeopen.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "writ.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	// A user whose hash was made with older parameters.
	old := authn.Hasher{Params: authn.Params{Memory: 32, Time: 1, Threads: 1}}
	hash, err := old.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{
		ID: "u-alice", Username: "Alice", PasswordHash: hash, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{ID: "u-bob", Username: "bob", CreatedAt: now, UpdatedAt: now, Disabled: true}); err != nil {
		t.Fatal(err)
	}

	login := &authn.Login{
		Users:      st,
		Hasher:     authn.Hasher{Params: authn.Params{Memory: 64, Time: 1, Threads: 1}},
		Throttle:   &authn.Throttle{Now: clock},
		UpdateUser: st.UpdateUser,
		Now:        clock,
	}
	for _, tc := range []struct{ username, password string }{
		{"mallory", "correct horse battery staple"},
		{"alice", "wrong password"},
		{"bob", "correct horse battery staple"},
	} {
		if _, err := login.Authenticate(ctx, authn.Attempt{Username: tc.username, Password: tc.password, IP: "192.0.2.1"}); !errors.Is(err, authn.ErrInvalidCredentials) {
			t.Fatalf("%s: %v", tc.username, err)
		}
	}
	u, err := login.Authenticate(ctx, authn.Attempt{Username: "ALICE", Password: "correct horse battery staple", IP: "192.0.2.1"})
	if err != nil || u.ID != "u-alice" {
		t.Fatalf("Authenticate = %q, %v", u.ID, err)
	}
	stored, err := st.GetUser(ctx, "u-alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || stored.PasswordHash != u.PasswordHash {
		t.Fatal("hash not upgraded to the current parameters")
	}

	sessions := &authn.Sessions{Store: st, Secure: true, Now: clock}
	w := httptest.NewRecorder()
	sess, err := sessions.Start(ctx, w, u, []string{"pwd"}, "")
	if err != nil {
		t.Fatal(err)
	}
	ck := w.Result().Cookies()[0]
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "https://id.example.com/", nil)
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		return r
	}
	now = now.Add(2 * time.Minute)
	got, err := sessions.Current(ctx, req())
	if err != nil || got.ID != sess.ID || !got.LastSeenAt.Equal(now) {
		t.Fatalf("Current = %+v, %v", got, err)
	}
	if rec, err := st.GetSessionByID(ctx, sess.ID); err != nil || !rec.LastSeenAt.Equal(now) {
		t.Fatalf("touch not stored: %+v, %v", rec, err)
	}
	now = now.Add(authn.DefaultIdleTimeout)
	if _, err := sessions.Current(ctx, req()); err != authn.ErrNoSession {
		t.Fatalf("idle session: %v", err)
	}

	// A fresh session, ended by logout; another, ended by EndAll.
	w = httptest.NewRecorder()
	sess, err = sessions.Start(ctx, w, u, []string{"pwd"}, "")
	if err != nil {
		t.Fatal(err)
	}
	ck = w.Result().Cookies()[0]
	ended, err := sessions.End(ctx, httptest.NewRecorder(), req())
	if err != nil || ended.ID != sess.ID {
		t.Fatalf("End = %+v, %v", ended, err)
	}
	if _, err := st.GetSessionByID(ctx, sess.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record after End: %v", err)
	}
	for range 2 {
		if _, err := sessions.Start(ctx, httptest.NewRecorder(), u, []string{"pwd"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	all, err := sessions.EndAll(ctx, "u-alice")
	if err != nil || len(all) != 3 { // the idle one is still stored
		t.Fatalf("EndAll = %d sessions, %v", len(all), err)
	}
}
