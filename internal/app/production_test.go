package app

import (
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/config"
)

func TestCheckAdminToken(t *testing.T) {
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"openssl rand -base64 32", "q3bW1m0x9Kc2V+7LrTz8aYpN5dQe4HfGs6jUoXiC0Ek=", true},
		{"openssl rand -hex 16", "9f86d081884c7d659a2feaa0c55ad015", true},
		{"openssl rand -hex 32", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", true},
		{"base64url of 32 bytes", "Yk3q0HnJ8vZr2cW5tLxP9aDfGm1sQeBu7oIhT4yKjNw", true},
		{"too short", "Yk3q0HnJ8vZr2cW5tLxP9aDfGm1sQe", false},
		{"one character", strings.Repeat("a", 64), false},
		{"two characters", strings.Repeat("ab", 32), false},
		{"binary digits", "0110100110010110100101100110100101101001100101101001011001101001", false},
		{"alphabet in order", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", false},
		{"digits in order", "01234567890123456789012345678901234567890", false},
		{"a word repeated", "passwordpasswordpasswordpassword", false},
		{"a random half repeated", "Yk3q0HnJ8vZr2cW5tLYk3q0HnJ8vZr2cW5tL", false},
	}
	for _, tc := range tests {
		err := checkAdminToken(tc.token)
		if (err == nil) != tc.ok {
			t.Errorf("%s (%.0f bits): error %v, want ok=%t", tc.name, tokenEntropyBits(tc.token), err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: the error shows the token", tc.name)
		}
	}
}

func TestCheckProduction(t *testing.T) {
	strong := "q3bW1m0x9Kc2V+7LrTz8aYpN5dQe4HfGs6jUoXiC0Ek="
	tests := []struct {
		name      string
		mode      config.Mode
		adminAddr string
		adminTLS  bool
		token     string
		want      []string // substrings of the error; none means no error
	}{
		{"loopback IPv4", config.Production, "127.0.0.1:8081", false, strong, nil},
		{"loopback 127/8", config.Production, "127.0.0.2:8081", false, strong, nil},
		{"loopback IPv6", config.Production, "[::1]:8081", false, strong, nil},
		{"localhost", config.Production, "localhost:8081", false, strong, nil},
		{"every interface", config.Production, ":8081", false, strong, []string{"admin_addr :8081"}},
		{"0.0.0.0", config.Production, "0.0.0.0:8081", false, strong, []string{"admin-tls-cert-file"}},
		{"a LAN address", config.Production, "10.0.0.5:8081", false, strong, []string{"admin_addr"}},
		{"a host name", config.Production, "admin.internal:8081", false, strong, []string{"admin_addr"}},
		{"non-loopback with TLS", config.Production, "0.0.0.0:8081", true, strong, nil},
		{"no token: admin API off", config.Production, "127.0.0.1:8081", false, "", nil},
		{"weak token", config.Production, "127.0.0.1:8081", false, strings.Repeat("x", 40), []string{"guessable"}},
		{"both, one per line", config.Production, "0.0.0.0:8081", false, "short-token-123456", []string{"admin_addr", "\n", "at least 32"}},
		{"development allows both", config.Development, "0.0.0.0:8081", false, "short-token-123456", nil},
	}
	for _, tc := range tests {
		cfg := &config.Config{Mode: tc.mode, AdminAddr: tc.adminAddr}
		if tc.adminTLS {
			cfg.AdminTLSCertFile, cfg.AdminTLSKeyFile = "admin.pem", "admin.key"
		}
		err := checkProduction(cfg, func(k string) string {
			if k == EnvAdminToken {
				return tc.token
			}
			return ""
		})
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
}
