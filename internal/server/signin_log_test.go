package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/server"
)

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// entries are the JSON log lines whose message starts with prefix.
func (l *logBuffer) entries(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// TestSignInEventsLogged: failed sign-ins, refusals and sign-ins are logged
// with client, user (when known), source address and request ID, which
// the response echoes; no password or cookie value is ever logged.
func TestSignInEventsLogged(t *testing.T) {
	logs := &logBuffer{}
	e := newSignInEnv(t, envOptions{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)

	b := e.newBrowser(t)
	p := b.get(t, rp.authorize().URL)
	var wrongIDs []string
	passwords := []string{}
	for i := range 9 {
		pw := "secret-guess-" + strconv.Itoa(i)
		passwords = append(passwords, pw)
		p = b.login(t, p, "alice", pw)
		wrongIDs = append(wrongIDs, p.Header.Get(server.RequestIDHeader))
	}
	if p.Status != http.StatusTooManyRequests {
		t.Fatalf("ninth failure: got %s, want 429", p)
	}
	p = b.login(t, b.get(t, rp.authorize().URL), "nobody", "secret-nobody")
	unknownID := p.Header.Get(server.RequestIDHeader)
	passwords = append(passwords, "secret-nobody")

	failed := logs.entries(t, "sign-in failed: wrong username or password")
	if len(failed) != 9 {
		t.Fatalf("%d failures logged, want 9 (8 for alice, 1 unknown)", len(failed))
	}
	for i, m := range failed {
		if m["level"] != "INFO" || m["client_id"] != "webapp" || m["source_ip"] != "127.0.0.1" || m["device_cookie"] != false {
			t.Errorf("failure %d: %v", i, m)
		}
		want := "u-alice"
		if i == 8 {
			want = "" // unknown account: no user ID
		}
		if got, _ := m["user_id"].(string); got != want {
			t.Errorf("failure %d: user_id %q, want %q", i, got, want)
		}
	}
	for i, id := range wrongIDs[:8] {
		if id == "" || failed[i]["request_id"] != id {
			t.Errorf("failure %d: logged request_id %v, response X-Request-Id %q", i, failed[i]["request_id"], id)
		}
	}
	if failed[8]["request_id"] != unknownID {
		t.Errorf("unknown user: logged request_id %v, response %q", failed[8]["request_id"], unknownID)
	}
	refused := logs.entries(t, "sign-in refused")
	if len(refused) != 1 || refused[0]["level"] != "WARN" || refused[0]["limit"] != authn.LimitAccount ||
		refused[0]["request_id"] != wrongIDs[8] || refused[0]["client_id"] != "webapp" || refused[0]["source_ip"] != "127.0.0.1" {
		t.Fatalf("refusal logged as %v", refused)
	}

	e.addUser(t, "u-bob", "bob", bobPassword)
	owner := e.newBrowser(t)
	p = owner.login(t, owner.get(t, rp.authorize().URL), "bob", bobPassword)
	signedIn := logs.entries(t, "signed in")
	if len(signedIn) != 1 || signedIn[0]["user_id"] != "u-bob" || signedIn[0]["request_id"] != p.Header.Get(server.RequestIDHeader) || signedIn[0]["client_id"] != "webapp" {
		t.Fatalf("sign-in logged as %v (page %s)", signedIn, p)
	}
	out := logs.String()
	for _, pw := range append(passwords, alicePassword, bobPassword) {
		if strings.Contains(out, pw) {
			t.Errorf("password %q logged", pw)
		}
	}
	for _, br := range []*browser{b, owner} {
		for _, name := range []string{authn.DefaultSessionCookie, authn.DefaultCSRFCookie, authn.DefaultDeviceCookie} {
			if v := br.cookie(name); v != "" && strings.Contains(out, v) {
				t.Errorf("cookie %s logged", name)
			}
		}
	}
}

func TestRequestIDMiddleware(t *testing.T) {
	var seen []string
	h := server.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, server.RequestID(r.Context()))
	}))
	ids := map[string]bool{}
	for range 3 {
		rec := httptest.NewRecorder()
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(server.RequestIDHeader, "client-chosen\nforged")
		h.ServeHTTP(rec, req)
		id := rec.Header().Get(server.RequestIDHeader)
		if len(id) != 16 || id != seen[len(seen)-1] || ids[id] {
			t.Fatalf("request ID %q (context %q), seen %v", id, seen[len(seen)-1], ids)
		}
		ids[id] = true
	}
	// An outer WithRequestID's ID is kept.
	outer := server.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if got := server.RequestID(r.Context()); got != seen[len(seen)-1] {
			t.Errorf("inner ID %q, outer %q", seen[len(seen)-1], got)
		}
	}))
	rec := httptest.NewRecorder()
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	outer.ServeHTTP(rec, req)
	if rec.Header().Get(server.RequestIDHeader) != seen[len(seen)-1] {
		t.Fatal("the response does not carry the outer ID")
	}
}
