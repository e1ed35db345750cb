package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

func TestEffectiveLimit(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{0, store.DefaultListLimit}, {-5, store.DefaultListLimit}, {1, 1}, {250, 250},
		{store.MaxListLimit, store.MaxListLimit}, {store.MaxListLimit + 1, store.MaxListLimit},
	} {
		if got := (store.ListOptions{Limit: c.in}).EffectiveLimit(); got != c.want {
			t.Errorf("EffectiveLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"a", strings.Repeat("x", store.MaxIDLength), "é", "'; DROP TABLE x; --"} {
		if err := store.CheckID("id", id); err != nil {
			t.Errorf("CheckID(%q): %v", id, err)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", store.MaxIDLength+1), "\xff", "a\x00"} {
		err := store.CheckID("id", id)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CheckID(%q): %v, want ErrInvalid", id, err)
		}
		if id != "" && strings.Contains(err.Error(), id) {
			t.Errorf("CheckID error quotes the value: %v", err)
		}
	}
}

func TestCheckTime(t *testing.T) {
	ok := []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Now()}
	for _, tm := range ok {
		if err := store.CheckTime("t", tm); err != nil {
			t.Errorf("CheckTime(%v): %v", tm, err)
		}
	}
	bad := []time.Time{time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, tm := range bad {
		if err := store.CheckTime("t", tm); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CheckTime(%v): %v, want ErrInvalid", tm, err)
		}
	}
	if err := store.CheckExpiry("exp", time.Time{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CheckExpiry(zero): %v, want ErrInvalid", err)
	}
}

// TestAuditEventDetails pins the rule for an audit event's details: a
// JSON object as encoding/json accepts it, whichever check answers (the
// fast strict scanner, or encoding/json for what the scanner refuses).
func TestAuditEventDetails(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	for _, c := range []struct {
		name, details string
		ok            bool
	}{
		{"none", "", true},
		{"object", `{"grant_type":"client_credentials","aud":["a","b"]}`, true},
		{"spaces around", " \t{\"k\":1}\n", true},
		{"duplicate names", `{"k":1,"k":2}`, true},
		{"lone surrogate escape", `{"k":"\ud800"}`, true},
		{"deeper than the strict scanner goes", deep, true},
		{"array", `[1,2]`, false},
		{"string", `"x"`, false},
		{"truncated", `{"k":`, false},
		{"trailing bytes", `{"k":1}x`, false},
		{"invalid UTF-8", "{\"k\":\"\xff\"}", false},
		{"two values", `{} {}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := store.AuditEvent{Time: time.Unix(1700000000, 0), Type: "token.issued"}
			if c.details != "" {
				e.Details = []byte(c.details)
			}
			err := e.Validate()
			if c.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !c.ok && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
		})
	}
}
