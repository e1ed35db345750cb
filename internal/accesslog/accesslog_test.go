package accesslog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

type idKey struct{}

func TestHandler(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/oauth2/token") {
			_ = r.ParseForm() // the handler reads the body
		}
		switch r.URL.Path {
		case "/fail":
			http.Error(w, "no", http.StatusUnauthorized)
		case "/empty":
		default:
			io.WriteString(w, "hello")
		}
	})
	secret := "s3cr3t-value"
	long := strings.Repeat("x", captureLimit)
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"signer","sub":"signer","aud":"x"}`))
	tests := []struct {
		name        string
		req         func() *http.Request
		status      int
		clientID    string
		path        string
		notInOutput []string
	}{
		{"basic", func() *http.Request {
			r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(url.QueryEscape("my client"), secret)
			return r
		}, 200, "my client", "/oauth2/token", []string{secret}},
		{"form", func() *http.Request {
			r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=authorization_code&code=CODE123&client_id=web&client_secret="+secret))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 200, "web", "/oauth2/token", []string{secret, "CODE123"}},
		{"client assertion", func() *http.Request {
			r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJFUzI1NiJ9."+payload+".SIGNATURE"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 200, "signer", "/oauth2/token", []string{"SIGNATURE", payload}},
		{"form cut by the capture limit", func() *http.Request {
			r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("pad="+long+"&client_id=late"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 200, "", "/oauth2/token", nil},
		{"query: client_id only, never the query", func() *http.Request {
			return httptest.NewRequest("GET", "/oauth2/authorize?client_id=web&code_challenge=CH&state=ST", nil)
		}, 200, "web", "/oauth2/authorize", []string{"CH", "ST", "code_challenge"}},
		{"refused: no client_id", func() *http.Request {
			r := httptest.NewRequest("POST", "/fail", nil)
			r.SetBasicAuth("attacker", secret)
			return r
		}, 401, "", "/fail", []string{"attacker", secret}},
		{"no write: 200", func() *http.Request { return httptest.NewRequest("GET", "/empty", nil) }, 200, "", "/empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			now := time.Unix(0, 0)
			h := Handler(inner, Options{
				Logger:    slog.New(slog.NewJSONHandler(&buf, nil)),
				Listener:  "public",
				RequestID: func(ctx context.Context) string { s, _ := ctx.Value(idKey{}).(string); return s },
				Now:       func() time.Time { now = now.Add(5 * time.Millisecond); return now },
			})
			r := tt.req()
			r = r.WithContext(context.WithValue(r.Context(), idKey{}, "req-1"))
			h.ServeHTTP(httptest.NewRecorder(), r)
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("not one JSON line: %q", buf.String())
			}
			if line["msg"] != "http request" || line["method"] != r.Method || line["path"] != tt.path ||
				line["status"] != float64(tt.status) || line["request_id"] != "req-1" || line["listener"] != "public" ||
				line["duration"] != float64(5*time.Millisecond) {
				t.Errorf("line %v", line)
			}
			if got, _ := line["client_id"].(string); got != tt.clientID {
				t.Errorf("client_id %q, want %q", got, tt.clientID)
			}
			for _, s := range tt.notInOutput {
				if strings.Contains(buf.String(), s) {
					t.Errorf("the line carries %q: %s", s, buf.String())
				}
			}
		})
	}
}
