package config

import (
	"slices"
	"strings"
	"testing"
)

// TestSigningAlgorithms: the key ring signs with key_algorithm, RS256
// (always: OIDC Discovery §3) and key_algorithms, without repeats.
func TestSigningAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{nil, []string{"ES256", "RS256", "EdDSA"}},
		{map[string]string{"WRIT_KEY_ALGORITHMS": ""}, []string{"ES256", "RS256", "EdDSA"}}, // empty is unset
		{map[string]string{"WRIT_KEY_ALGORITHMS": "ES256"}, []string{"ES256", "RS256"}},
		{map[string]string{"WRIT_KEY_ALGORITHMS": " PS256 , EdDSA,PS256"}, []string{"ES256", "RS256", "PS256", "EdDSA"}},
		{map[string]string{"WRIT_KEY_ALGORITHM": "EdDSA", "WRIT_KEY_ALGORITHMS": "RS256"}, []string{"EdDSA", "RS256"}},
		{map[string]string{"WRIT_KEY_ALGORITHM": "RS256", "WRIT_KEY_ALGORITHMS": ","}, []string{"RS256"}},
	} {
		c, err := Load(nil, envMap(tc.env))
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if got := c.SigningAlgorithms(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: SigningAlgorithms = %v, want %v", tc.env, got, tc.want)
		}
	}
	for _, bad := range []string{"HS256", "none", "rs256", "RS256,ES256K"} {
		_, err := Load(nil, envMap(map[string]string{"WRIT_KEY_ALGORITHMS": bad}))
		if err == nil || !strings.Contains(err.Error(), "WRIT_KEY_ALGORITHMS") {
			t.Errorf("key_algorithms %q: %v", bad, err)
		}
	}
}
