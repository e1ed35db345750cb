package gateway

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/internal/testcert"
)

// startServer runs a Server for the file at path until the returned
// cancel is called; stopped receives Run's error.
func startServer(t *testing.T, path string, tick chan time.Time, hangup chan struct{}) (addr string, gw *Gateway, s *Server, cancel func(), stopped chan error) {
	t.Helper()
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	gw, err = New(context.Background(), f, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	s = &Server{Gateway: gw, Path: path, Tick: tick, Hangup: hangup, Ready: func(a, _ string) { ready <- a }}
	ctx, cancel := context.WithCancel(context.Background())
	stopped = make(chan error, 1)
	go func() { stopped <- s.Run(ctx) }()
	select {
	case addr = <-ready:
	case err := <-stopped:
		t.Fatalf("Run: %v", err)
	}
	return addr, gw, s, cancel, stopped
}

func TestServerTLSAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := testcert.Write(t, dir)
	entered, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/public/slow" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	}))
	defer up.Close()
	path := filepath.Join(dir, "gw.yaml")
	file := "listen: 127.0.0.1:0\ntls: {cert_file: " + certFile + ", key_file: " + keyFile + "}\nroutes:\n  - path: /public/\n    upstream: " + up.URL + "\n    anonymous: true\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _, _, cancel, stopped := startServer(t, path, make(chan time.Time), nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testcert.Pool(t, caFile)}}}
	resp, err := client.Get("https://" + addr + "/public/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("%s over TLS %v", resp.Status, resp.TLS != nil)
	}
	// A request in flight when the shutdown starts still completes.
	result := make(chan string, 1)
	go func() {
		resp, err := client.Get("https://" + addr + "/public/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-entered
	cancel()
	close(release)
	if got := <-result; got != "done" {
		t.Fatalf("in-flight request: %q", got)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestServerReload(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer up.Close()
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write := func(routePath string) {
		file := "listen: 127.0.0.1:0\nroutes:\n  - path: " + routePath + "\n    upstream: " + up.URL + "\n    anonymous: true\n"
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("/a/")
	_, gw, s, cancel, stopped := startServer(t, path, make(chan time.Time), nil)
	defer func() { cancel(); <-stopped }()
	ctx := context.Background()
	if s.ReloadIfChanged(ctx, false) {
		t.Fatal("reloaded an unchanged file")
	}
	if !s.ReloadIfChanged(ctx, true) {
		t.Fatal("SIGHUP did not reload")
	}
	write("/b/")
	if !s.ReloadIfChanged(ctx, false) || gw.File().Routes[0].Path != "/b/" {
		t.Fatal("a changed file was not reloaded")
	}
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:0\nroutes: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s.ReloadIfChanged(ctx, false) || gw.File().Routes[0].Path != "/b/" {
		t.Fatal("an invalid file replaced the configuration")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if s.ReloadIfChanged(ctx, true) || gw.File().Routes[0].Path != "/b/" {
		t.Fatal("a missing file replaced the configuration")
	}
	if got := restartOnly(&config.File{Listen: "a"}, &config.File{Listen: "b"}); len(got) != 1 || !strings.Contains(got[0], "listen") {
		t.Fatalf("restartOnly = %v", got)
	}
}
