package server

import "testing"

func TestCookieName(t *testing.T) {
	for _, tt := range []struct {
		secure bool
		want   string
	}{{true, "__Host-writ_session"}, {false, "writ_session"}} {
		if got := cookieName(tt.secure, "writ_session"); got != tt.want {
			t.Errorf("cookieName(%v) = %q, want %q", tt.secure, got, tt.want)
		}
	}
}
