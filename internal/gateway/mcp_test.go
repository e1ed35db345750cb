package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadMCP(t *testing.T) {
	for _, c := range []struct {
		method, body string
		max          int64
		want         MCP
		status       int
	}{
		{"POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`, 1024, MCP{Method: "tools/call", Tool: "echo"}, 0},
		{"POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 1024, MCP{Method: "tools/list"}, 0},
		{"POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 1024, MCP{Method: "notifications/initialized"}, 0},
		{"POST", `{"jsonrpc":"2.0","id":1,"result":{}}`, 1024, MCP{}, 0},
		{"POST", `{"jsonrpc":"2.0","method":7}`, 1024, MCP{}, 400},
		{"GET", ``, 1024, MCP{}, 0},
		// A body is judged whatever the method: an upstream that does not
		// look at the method would run the call the rule did not see.
		{"PUT", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_everything"}}`, 1024, MCP{Method: "tools/call", Tool: "delete_everything"}, 0},
		{"GET", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_everything"}}`, 1024, MCP{Method: "tools/call", Tool: "delete_everything"}, 0},
		{"DELETE", `not json`, 1024, MCP{}, 400},
		{"POST", `{"jsonrpc":"2.0","method":"tools/list"}`, 10, MCP{}, 413},
		{"POST", `[{"jsonrpc":"2.0","method":"tools/list"}]`, 1024, MCP{}, 400},
		{"POST", `{"jsonrpc":"1.0","method":"tools/list"}`, 1024, MCP{}, 400},
		{"POST", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":7}}`, 1024, MCP{}, 400},
		// Keys are matched exactly and only once: encoding/json would take
		// "Name" for "name" and keep the last duplicate, while the upstream
		// (JavaScript, Python) reads "name" or another duplicate, so the
		// rule would judge another tool than the one called.
		{"POST", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_everything","Name":"echo"}}`, 1024, MCP{}, 400},
		{"POST", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_everything","name":"echo"}}`, 1024, MCP{}, 400},
		{"POST", `{"jsonrpc":"2.0","method":"tools/call","Method":"tools/list","params":{"name":"x"}}`, 1024, MCP{}, 400},
		{"POST", `{"jsonrpc":"2.0","method":"tools/list","method":"tools/call","params":{"name":"x"}}`, 1024, MCP{}, 400},
		{"POST", `{"JSONRPC":"2.0","method":"tools/list"}`, 1024, MCP{}, 400},
		{"POST", `{"jsonrpc":"2.0","METHOD":"tools/call","params":{"name":"x"}}`, 1024, MCP{}, 400},
		{"POST", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"name":"a","name":"b"}}}`, 1024, MCP{Method: "tools/call", Tool: "echo"}, 0},
	} {
		r := httptest.NewRequest(c.method, "/mcp", strings.NewReader(c.body))
		if c.body == "" {
			r.Body = http.NoBody
		}
		got, o, ok := readMCP(httptest.NewRecorder(), r, c.max)
		if c.status != 0 {
			if ok || o.status != c.status {
				t.Errorf("%s %q: ok %v status %d, want %d", c.method, c.body, ok, o.status, c.status)
			}
			continue
		}
		if !ok || *got != c.want {
			t.Errorf("%s %q = %+v %v %+v", c.method, c.body, got, ok, o)
			continue
		}
		if c.body != "" {
			replayed, _ := io.ReadAll(r.Body)
			if string(replayed) != c.body || r.ContentLength != int64(len(c.body)) {
				t.Errorf("replayed %q (%d)", replayed, r.ContentLength)
			}
		}
	}
}

func FuzzReadMCP(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`)
	f.Add(`[{}]`)
	f.Add(`{"jsonrpc":"2.0","method":"tools/call","params":null}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
		call, o, ok := readMCP(httptest.NewRecorder(), r, 256)
		if !ok {
			if o.status != 400 && o.status != 413 {
				t.Fatalf("status %d", o.status)
			}
			return
		}
		if call == nil || len(body) > 256 {
			t.Fatalf("accepted %q", body)
		}
		if call.Method == "tools/call" && call.Tool == "" {
			t.Fatalf("tools/call without a tool: %q", body)
		}
		replayed, _ := io.ReadAll(r.Body)
		if string(replayed) != body {
			t.Fatalf("replayed %q, want %q", replayed, body)
		}
	})
}

func TestSeveralAuthorizationHeaders(t *testing.T) {
	fx := newFixture(t)
	req, _ := http.NewRequest("GET", fx.srv.URL+"/orders/7", nil)
	req.Header.Add("Authorization", "Bearer alice")
	req.Header.Add("Authorization", "Bearer bob")
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
