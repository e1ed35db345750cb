package config

import (
	"strings"
	"testing"
	"time"
)

func TestDPoPSettings(t *testing.T) {
	load := func(env map[string]string) (*Config, error) {
		return Load(nil, func(k string) string { return env[k] })
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.DPoP || c.DPoPNonce || c.DPoPReplay != "memory" || c.DPoPMaxAge != 2*time.Minute || len(c.DPoPAlgorithms) == 0 {
		t.Errorf("defaults: %+v", c)
	}
	tests := []struct {
		name string
		env  map[string]string
		bad  string // part of the error; "" = accepted
	}{
		{"redis", map[string]string{"WRIT_DPOP_REPLAY": "redis://127.0.0.1:6379/0"}, ""},
		{"rediss", map[string]string{"WRIT_DPOP_REPLAY": "rediss://cache.example.test:6380"}, ""},
		{"not a URL", map[string]string{"WRIT_DPOP_REPLAY": "disk"}, "WRIT_DPOP_REPLAY"},
		{"http URL", map[string]string{"WRIT_DPOP_REPLAY": "http://u:hunter2@127.0.0.1"}, "WRIT_DPOP_REPLAY"},
		{"symmetric algorithm", map[string]string{"WRIT_DPOP_ALGORITHMS": "HS256"}, "WRIT_DPOP_ALGORITHMS"},
		{"nonce", map[string]string{"WRIT_DPOP_NONCE": "true"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.env)
			switch {
			case tc.bad == "" && err != nil:
				t.Fatal(err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("err = %v, want one naming %s", err, tc.bad)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	t.Run("password hidden in the effective configuration", func(t *testing.T) {
		c, err := load(map[string]string{"WRIT_DPOP_REPLAY": "redis://writ:hunter2@127.0.0.1:6379/0"})
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range c.Effective() {
			if strings.Contains(kv[1], "hunter2") {
				t.Errorf("%s = %s", kv[0], kv[1])
			}
		}
		if c.DPoPReplay != "redis://writ:hunter2@127.0.0.1:6379/0" {
			t.Errorf("DPoPReplay = %q", c.DPoPReplay)
		}
	})
	t.Run("max age bounds", func(t *testing.T) {
		for _, v := range []string{"5s", "11m"} {
			c, err := load(map[string]string{"WRIT_DPOP_MAX_AGE": v})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "dpop_max_age") {
				t.Errorf("%s: Validate = %v", v, err)
			}
		}
	})
}
