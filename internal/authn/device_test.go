package authn

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func deviceCookies(c *clock) *DeviceCookies {
	return &DeviceCookies{Key: bytes.Repeat([]byte{7}, 32), Secure: true, CookieName: "__Host-writ_device", Now: c.Now}
}

// issueDevice returns the Set-Cookie of a new device cookie for username.
func issueDevice(t *testing.T, d *DeviceCookies, username string) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := d.Issue(rec, username); err != nil {
		t.Fatal(err)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("%d cookies set", len(cs))
	}
	return cs[0]
}

func withDevice(c *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	return r
}

func TestDeviceCookie(t *testing.T) {
	c := newClock()
	d := deviceCookies(c)
	ck := issueDevice(t, d, "Alice")
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.MaxAge != int(DefaultDeviceTTL/time.Second) {
		t.Fatalf("cookie attributes %+v", ck)
	}
	id := d.Trusted(withDevice(ck), "alice")
	if id == "" {
		t.Fatal("a fresh device cookie is not trusted")
	}
	if d.Trusted(withDevice(ck), "ALICE") != id {
		t.Fatal("the username is not compared as a username key")
	}
	if again := d.Trusted(withDevice(issueDevice(t, d, "alice")), "alice"); again == "" || again == id {
		t.Fatalf("a new cookie has device ID %q (old %q), want a new one", again, id)
	}

	other := *d
	other.Key = bytes.Repeat([]byte{8}, 32)
	flip := func(v string, i int) string {
		b := []byte(v)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	p64, m64, _ := strings.Cut(ck.Value, ".")
	tests := []struct {
		name, value, username string
		d                     *DeviceCookies
	}{
		{"another account", ck.Value, "bob", d},
		{"another key", ck.Value, "alice", &other},
		{"payload changed", flip(p64, 5) + "." + m64, "alice", d},
		{"mac changed", p64 + "." + flip(m64, 3), "alice", d},
		{"no mac", p64, "alice", d},
		{"empty", "", "alice", d},
		{"garbage", "%%%.%%%", "alice", d},
		{"too long", strings.Repeat("A", maxDeviceCookie+1), "alice", d},
		{"empty username", ck.Value, "", d},
	}
	for _, tc := range tests {
		if got := tc.d.Trusted(withDevice(&http.Cookie{Name: ck.Name, Value: tc.value}), tc.username); got != "" {
			t.Errorf("%s: trusted as %q", tc.name, got)
		}
	}
	if d.Trusted(httptest.NewRequest(http.MethodPost, "/login", nil), "alice") != "" {
		t.Error("no cookie: trusted")
	}

	// It expires after its TTL.
	c.Advance(DefaultDeviceTTL - time.Second)
	if d.Trusted(withDevice(ck), "alice") == "" {
		t.Fatal("expired early")
	}
	c.Advance(time.Second)
	if d.Trusted(withDevice(ck), "alice") != "" {
		t.Fatal("an expired device cookie is trusted")
	}
	// One issued in the future (a clock far off) is not trusted either.
	future := deviceCookies(newClock())
	future.Now = func() time.Time { return c.Now().Add(time.Hour) }
	if d.Trusted(withDevice(issueDevice(t, future, "alice")), "alice") != "" {
		t.Fatal("a device cookie from the future is trusted")
	}
	// Without a key, nothing is issued or trusted.
	if err := (&DeviceCookies{}).Issue(httptest.NewRecorder(), "alice"); err == nil {
		t.Fatal("issued without a key")
	}
}
