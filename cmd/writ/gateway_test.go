package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeGatewayFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const gatewayCheckFile = `listen: 127.0.0.1:0
issuers:
  - issuer: https://id.example
    audiences: [https://api.example]
routes:
  - path: /orders/{id}
    methods: [GET]
    upstream: http://127.0.0.1:1
    scopes: {all: [orders:read]}
  - path: /public/
    upstream: http://127.0.0.1:1
    anonymous: true
  - path: /mcp
    upstream: http://127.0.0.1:1
    mcp: {resource: https://gw.example/mcp, scopes: [tools]}
    deny: 'request.mcp.tool == "rm"'
tests:
  - name: an agent may echo
    request: {method: POST, path: /mcp, mcp: {method: tools/call, tool: echo}}
    claims: {scope: tools, aud: https://gw.example/mcp}
    expect: allow
  - name: no agent may rm
    request: {method: POST, path: /mcp, mcp: {method: tools/call, tool: rm}}
    claims: {scope: tools, aud: https://gw.example/mcp}
    expect: deny
    rule: deny
  - name: the MCP audience is the resource
    request: {method: POST, path: /mcp, mcp: {method: tools/call, tool: echo}}
    claims: {scope: tools, aud: https://api.example}
    expect: deny
    rule: audience
  - name: reader may read
    request: {method: GET, path: /orders/7}
    claims: {scope: "orders:read", sub: alice}
    expect: allow
  - name: dot segments do not escape
    request: {method: GET, path: /public/../orders/7}
    claims: {scope: "orders:write"}
    expect: deny
  - name: public
    request: {path: /public/x}
    expect: allow
    rule: anonymous
`

func TestGatewayCheckCommand(t *testing.T) {
	t.Run("all pass", func(t *testing.T) {
		r := writ(t, "", "gateway", "check", writeGatewayFile(t, gatewayCheckFile)).mustSucceed(t)
		if !strings.Contains(r.stdout, "PASS  reader may read") || !strings.Contains(r.stdout, "PASS: 6/6") {
			t.Fatalf("stdout %q", r.stdout)
		}
	})
	t.Run("a case fails", func(t *testing.T) {
		file := gatewayCheckFile + `  - name: writer may read
    request: {method: GET, path: /orders/7}
    claims: {scope: "orders:write"}
    expect: allow
`
		r := writ(t, "", "gateway", "check", writeGatewayFile(t, file)).mustFail(t, 1, "policy tests failed", "1 of 7")
		for _, want := range []string{"FAIL  writer may read", "expected: allow", "got:      deny by rule scopes", "missing scope orders:read", "FAIL: 1/7 failed, 6 passed"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("the contract file", func(t *testing.T) {
		r := writ(t, "", "gateway", "check", "../../internal/gateway/config/testdata/contract.yaml").mustSucceed(t)
		if !strings.Contains(r.stdout, "PASS  reader may read") {
			t.Fatalf("stdout %q", r.stdout)
		}
	})
	t.Run("the route file of docs/gateway.md", func(t *testing.T) {
		doc, err := os.ReadFile("../../docs/gateway.md")
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(doc), "```yaml\n")
		file, _, _ := strings.Cut(rest, "```")
		writ(t, "", "gateway", "check", writeGatewayFile(t, file)).mustSucceed(t)
	})
	t.Run("CEL errors at load", func(t *testing.T) {
		file := strings.Replace(gatewayCheckFile, "scopes: {all: [orders:read]}", "allow: 'claims.scope.split(\" \").exists(s, s == 1)'", 1)
		r := writ(t, "", "gateway", "check", writeGatewayFile(t, file))
		if r.code != 2 || !strings.Contains(r.stderr, "routes[0]") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("invalid file", func(t *testing.T) {
		file := strings.Replace(gatewayCheckFile, "    anonymous: true", "    anonymous: true\n    anonymus: true", 1)
		file = strings.Replace(file, "upstream: http://127.0.0.1:1\n    scopes", "upstream: ftp://x\n    scopes", 1)
		r := writ(t, "", "gateway", "check", writeGatewayFile(t, file))
		if r.code != 2 || !strings.Contains(r.stderr, `line 13: unknown key "anonymus"`) {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("invalid file, several problems", func(t *testing.T) {
		r := writ(t, "", "gateway", "check", writeGatewayFile(t, "listen: nope\nroutes:\n  - path: x\n    upstream: ftp://x\n    allow: 'true'\n"))
		for _, want := range []string{"line 1: listen", "line 3: routes[0].path", "line 4: routes[0].upstream"} {
			if r.code != 2 || !strings.Contains(r.stderr, want) {
				t.Errorf("exit %d, stderr %q lacks %q", r.code, r.stderr, want)
			}
		}
	})
	t.Run("usage", func(t *testing.T) {
		writ(t, "", "gateway", "check").mustFail(t, 2, "one argument")
		writ(t, "", "gateway").mustFail(t, 2, "--config is required")
		writ(t, "", "gateway", "check", filepath.Join(t.TempDir(), "none.yaml")).mustFail(t, 2, "no such file")
	})
	t.Run("help", func(t *testing.T) {
		r := writ(t, "", "gateway", "check", "--help").mustSucceed(t)
		if !strings.Contains(r.stdout, "Exit status: 0 when the file is valid") {
			t.Fatalf("help %q", r.stdout)
		}
	})
}

// TestGatewayServeCommand runs "writ gateway --config" in-process in front
// of a loopback upstream, reloads the file when it changes, and stops on
// cancellation.
func TestGatewayServeCommand(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream "+r.URL.Path+" user="+r.Header.Get("X-User"))
	}))
	defer up.Close()
	file := `listen: 127.0.0.1:0
metrics: {listen: 127.0.0.1:0}
issuers:
  - issuer: https://id.example
    jwks_uri: http://127.0.0.1:1/jwks.json
    audiences: [https://api.example]
routes:
  - path: /public/
    upstream: ` + up.URL + `
    anonymous: true
  - path: /private/
    upstream: ` + up.URL + `
    allow: 'true'
    headers: {X-User: sub}
`
	path := writeGatewayFile(t, file)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan result, 1)
	go func() {
		var out strings.Builder
		code := run(ctx, []string{"gateway", "--config", path}, strings.NewReader(""), &out, pw)
		pw.Close()
		done <- result{code: code, stdout: out.String()}
	}()
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	waitFor := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("the gateway stopped before %q", msg)
				}
				if m["msg"] == msg {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q log line", msg)
			}
		}
	}
	ready := waitFor("writ gateway serving")
	base := "http://" + ready["addr"].(string)
	get := func(p string, h map[string]string) (int, string) {
		req, _ := http.NewRequest("GET", base+p, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/public/a", map[string]string{"X-User": "forged"}); code != 200 || body != "upstream /public/a user=" {
		t.Fatalf("public: %d %q", code, body)
	}
	if d := waitFor("decision"); d["decision"] != "anonymous" || d["route"] != "/public/" {
		t.Fatalf("decision %v", d)
	}
	if code, _ := get("/private/a", nil); code != 401 {
		t.Fatalf("private without token: %d", code)
	}
	if code, _ := get("/private/a", map[string]string{"Authorization": "Bearer a.b.c"}); code != 401 {
		t.Fatalf("private with a bad token: %d", code)
	}
	resp, err := http.Get("http://" + ready["metrics"].(string) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `writ_gateway_requests_total{decision="anonymous",route="/public/",status="2xx"} 1`) {
		t.Errorf("metrics lack the request:\n%s", metrics)
	}
	// An invalid file keeps the old configuration.
	if err := os.WriteFile(path, []byte(file+"  - pth: /x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if m := waitFor("route file not reloaded: the old configuration stays"); !strings.Contains(m["error"].(string), `unknown key "pth"`) {
		t.Fatalf("reload error %v", m)
	}
	if code, _ := get("/public/a", nil); code != 200 {
		t.Fatalf("after a bad reload: %d", code)
	}
	// A valid change is served.
	if err := os.WriteFile(path, []byte(strings.Replace(file, "/public/", "/open/", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("route file reloaded")
	if code, _ := get("/public/a", nil); code != 404 {
		t.Fatalf("old route after reload: %d", code)
	}
	if code, _ := get("/open/a", nil); code != 200 {
		t.Fatalf("new route after reload: %d", code)
	}
	cancel()
	r := <-done
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
}

func TestCollectorTarget(t *testing.T) {
	for _, c := range []struct {
		name, setting, gogc string
		want                int
	}{
		{"default", "", "", defaultGCPercent},
		{"setting wins over GOGC", "150", "50", 150},
		{"setting -1 turns it off", "-1", "", -1},
		{"setting off", "off", "200", -1},
		{"GOGC number", "", "250", 250},
		{"GOGC off", "", "off", -1},
		{"GOGC unreadable is the runtime's 100", "", "lots", 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := collectorTarget(c.setting, c.gogc, defaultGCPercent); got != c.want {
				t.Errorf("collectorTarget(%q, %q) = %d, want %d", c.setting, c.gogc, got, c.want)
			}
		})
	}
}
