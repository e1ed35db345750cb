package app

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/testcert"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestAdminListenerTLS: with admin TLS files the admin API answers over
// TLS only.
func TestAdminListenerTLS(t *testing.T) {
	caFile, certFile, keyFile := testcert.Write(t, t.TempDir())
	pool := testcert.Pool(t, caFile)
	env := envOf(map[string]string{
		"WRIT_DATA_DIR":            t.TempDir(),
		"WRIT_ADDR":                "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":          "127.0.0.1:0",
		"WRIT_ADMIN_TLS_CERT_FILE": certFile,
		"WRIT_ADMIN_TLS_KEY_FILE":  keyFile,
	})
	cfg, err := config.Load(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(t.Context(), cfg, Options{Getenv: env})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	url := "https://" + a.AdminAddr().String() + "/admin/clients"
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("admin API over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin API over TLS without a token: %d, want 401", resp.StatusCode)
	}
	plain, err := http.Get("http://" + a.AdminAddr().String() + "/admin/clients")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode != http.StatusBadRequest { // Go's TLS server answers plain HTTP with 400
			t.Errorf("admin API over plain HTTP: %d", plain.StatusCode)
		}
	}
}

// TestOpenRefusesExposedAdminInProduction: production mode does not start
// with an admin listener on other interfaces without TLS, or a weak token.
func TestOpenRefusesExposedAdminInProduction(t *testing.T) {
	env := envOf(map[string]string{
		"WRIT_MODE":             "production",
		"WRIT_ISSUER":           "https://id.example.com",
		"WRIT_MASTER_KEY":       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"WRIT_TLS_TERMINATED":   "true",
		"WRIT_DATA_DIR":         t.TempDir(),
		"WRIT_ADDR":             "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":       "0.0.0.0:0",
		"WRIT_ADMIN_TOKEN":      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"WRIT_DATABASE":         "sqlite:" + filepath.Join(t.TempDir(), "w.db"),
		"WRIT_AUTO_MIGRATE":     "true",
		"WRIT_KEY_ALGORITHM":    "ES256",
		"WRIT_SHUTDOWN_TIMEOUT": "1s",
	})
	cfg, err := config.Load(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), cfg, Options{Getenv: env})
	if err == nil {
		t.Fatal("production started with an exposed admin listener and a weak token")
	}
	for _, want := range []string{"admin_addr 0.0.0.0:0", "guessable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
