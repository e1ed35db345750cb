package cimd

import (
	"net/http"
	"testing"
	"time"
)

func TestFreshness(t *testing.T) {
	date := "Wed, 02 Dec 2026 12:00:00 GMT"
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"nothing", http.Header{}, 0, false},
		{"max-age", http.Header{"Cache-Control": {"public, max-age=600"}}, 10 * time.Minute, true},
		{"max-age quoted", http.Header{"Cache-Control": {`max-age="60"`}}, time.Minute, true},
		{"max-age and Age", http.Header{"Cache-Control": {"max-age=600"}, "Age": {"100"}}, 500 * time.Second, true},
		{"Age beyond max-age", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"100"}}, 0, true},
		{"no-store", http.Header{"Cache-Control": {"max-age=600, no-store"}}, 0, true},
		{"no-cache", http.Header{"Cache-Control": {"No-Cache"}}, 0, true},
		{"bad max-age", http.Header{"Cache-Control": {"max-age=soon"}}, 0, true},
		{"negative max-age", http.Header{"Cache-Control": {"max-age=-1"}}, 0, true},
		{"huge max-age", http.Header{"Cache-Control": {"max-age=99999999999999999"}}, 0, true},
		{"Expires", http.Header{"Date": {date}, "Expires": {"Wed, 02 Dec 2026 13:00:00 GMT"}}, time.Hour, true},
		{"Expires in the past", http.Header{"Date": {date}, "Expires": {"Wed, 02 Dec 2026 11:00:00 GMT"}}, 0, true},
		{"Expires without Date", http.Header{"Expires": {"Wed, 02 Dec 2026 13:00:00 GMT"}}, 0, true},
		{"bad Expires", http.Header{"Date": {date}, "Expires": {"0"}}, 0, true},
		{"max-age wins over Expires", http.Header{"Cache-Control": {"max-age=60"}, "Date": {date}, "Expires": {"Wed, 02 Dec 2026 13:00:00 GMT"}}, time.Minute, true},
	}
	for _, tt := range tests {
		got, ok := freshness(tt.header)
		if tt.name == "huge max-age" {
			// A year at most, whatever is sent.
			if !ok || got != 365*24*time.Hour {
				t.Errorf("%s: %v %v", tt.name, got, ok)
			}
			continue
		}
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: freshness = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzFreshness(f *testing.F) {
	f.Add("max-age=60", "10", "", "")
	f.Add("no-store", "", "Wed, 02 Dec 2026 13:00:00 GMT", "Wed, 02 Dec 2026 12:00:00 GMT")
	f.Fuzz(func(t *testing.T, cc, age, expires, date string) {
		h := http.Header{}
		for k, v := range map[string]string{"Cache-Control": cc, "Age": age, "Expires": expires, "Date": date} {
			if v != "" {
				h.Set(k, v)
			}
		}
		d, ok := freshness(h)
		if d < 0 {
			t.Fatalf("negative freshness %v", d)
		}
		r := New(Options{})
		if ttl := r.ttl(h); ttl < DefaultMinTTL || ttl > DefaultMaxTTL {
			t.Fatalf("ttl %v outside the bounds (freshness %v, %v)", ttl, d, ok)
		}
	})
}
