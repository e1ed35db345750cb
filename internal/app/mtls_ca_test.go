package app_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/testcert"
)

func TestMTLSClientCAFileUnusable(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile := testcert.Write(t, dir)
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("no certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, ca := range map[string]string{"missing": filepath.Join(dir, "none.pem"), "not PEM": notPEM} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"WRIT_DATA_DIR": t.TempDir(), "WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0",
				"WRIT_TLS_CERT_FILE": certFile, "WRIT_TLS_KEY_FILE": keyFile, "WRIT_MTLS_ADDR": "127.0.0.1:0", "WRIT_MTLS_CLIENT_CA_FILE": ca}
			getenv := func(k string) string { return env[k] }
			cfg, err := config.Load(nil, getenv)
			if err != nil {
				t.Fatal(err)
			}
			a, err := app.Open(context.Background(), cfg, app.Options{Getenv: getenv, Announce: io.Discard})
			if err == nil {
				a.Close()
				t.Fatal("Open accepted an unusable mtls_client_ca_file")
			}
			if !strings.Contains(err.Error(), "mtls_client_ca_file") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
