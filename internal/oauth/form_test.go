package oauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestParseForm(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		maxBody     int64
		repeatable  []string
		wantStatus  int // 0 for success
		wantAllow   bool
		check       func(t *testing.T, f Form)
	}{
		{name: "simple", body: "a=1&b=2", check: func(t *testing.T, f Form) {
			if f.Get("a") != "1" || f.Get("b") != "2" || f.Get("c") != "" {
				t.Errorf("values %q %q %q", f.Get("a"), f.Get("b"), f.Get("c"))
			}
		}},
		{name: "decoding", body: "s=a+b%20c%2Bd&e=%C3%A9", check: func(t *testing.T, f Form) {
			if f.Get("s") != "a b c+d" || f.Get("e") != "é" {
				t.Errorf("decoded %q %q", f.Get("s"), f.Get("e"))
			}
		}},
		{name: "empty value is present", body: "a=&b", check: func(t *testing.T, f Form) {
			if !f.Has("a") || !f.Has("b") || f.Has("c") || f.Get("a") != "" {
				t.Errorf("Has a=%v b=%v c=%v", f.Has("a"), f.Has("b"), f.Has("c"))
			}
		}},
		{name: "charset parameter", contentType: form + "; charset=utf-8", body: "a=1"},
		{name: "content type case", contentType: "Application/X-WWW-Form-URLEncoded", body: "a=1"},
		{name: "empty body", body: ""},
		{name: "repeatable", body: "r=1&r=2&a=x", repeatable: []string{"r"}, check: func(t *testing.T, f Form) {
			if got := f.All("r"); !slices.Equal(got, []string{"1", "2"}) || f.Get("r") != "1" {
				t.Errorf("All(r) = %q", got)
			}
		}},
		{name: "query ignored", body: "a=body", check: func(t *testing.T, f Form) {
			if f.Get("a") != "body" || f.Has("q") {
				t.Errorf("the URL query leaked into the form")
			}
		}},
		{name: "exactly the limit", body: "a=" + strings.Repeat("x", 98), maxBody: 100},
		{name: "MaxParams distinct parameters", body: manyDistinct(MaxParams)},

		{name: "GET", method: http.MethodGet, wantStatus: 405, wantAllow: true},
		{name: "HEAD", method: http.MethodHead, wantStatus: 405, wantAllow: true},
		{name: "JSON", contentType: "application/json", body: "{}", wantStatus: 400},
		{name: "no content type", contentType: "-", body: "a=1", wantStatus: 400},
		{name: "bad media type", contentType: "application/x-www-form-urlencoded; =", body: "a=1", wantStatus: 400},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: "a=1", wantStatus: 400},
		{name: "JSON object under the form type", body: `{"grant_type":"client_credentials"}`, wantStatus: 400},
		{name: "JSON array under the form type", body: " \n[1]", wantStatus: 400},
		{name: "over the limit", body: "a=" + strings.Repeat("x", 99), maxBody: 100, wantStatus: 413},
		{name: "default limit", body: "a=" + strings.Repeat("x", DefaultMaxBody), wantStatus: 413},
		{name: "too many parameters", body: manyDistinct(MaxParams + 1), wantStatus: 400},
		{name: "repeated", body: "a=1&a=2", wantStatus: 400},
		{name: "repeated with the same value", body: "a=1&a=1", wantStatus: 400},
		{name: "repeated empty", body: "a=&a=", wantStatus: 400},
		{name: "repeatable too often", body: "r=1" + strings.Repeat("&r=1", MaxValuesPerParam), repeatable: []string{"r"}, wantStatus: 400},
		{name: "repeatable at the bound", body: "r=1" + strings.Repeat("&r=1", MaxValuesPerParam-1), repeatable: []string{"r"}},
		{name: "bad escape", body: "a=%zz", wantStatus: 400},
		{name: "bad escape in name", body: "%g=1", wantStatus: 400},
		{name: "semicolon", body: "a=1;b=2", wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/oauth2/token?q=query&a=query", strings.NewReader(tc.body))
			switch tc.contentType {
			case "":
				r.Header.Set("Content-Type", form)
			case "-":
			default:
				r.Header.Set("Content-Type", tc.contentType)
			}
			w := httptest.NewRecorder()
			f, err := ParseForm(w, r, tc.maxBody, tc.repeatable...)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("ParseForm: %v", err)
				}
				if tc.check != nil {
					tc.check(t, f)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseForm = %v, want an *Error", err)
			}
			if e.Status != tc.wantStatus || e.Code != CodeInvalidRequest {
				t.Errorf("error %s status %d, want invalid_request %d", e.Code, e.Status, tc.wantStatus)
			}
			if got := w.Header().Get("Allow"); (got == "POST") != tc.wantAllow {
				t.Errorf("Allow = %q", got)
			}
		})
	}
}

func manyDistinct(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "p" + strings.Repeat("x", i) + "=1"
	}
	return strings.Join(parts, "&")
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
		challenge  bool
	}{
		{"invalid_request", InvalidRequest("bad %s", "thing"), 400, `{"error":"invalid_request","error_description":"bad thing"}`, false},
		{"invalid_client", InvalidClient("no"), 401, `{"error":"invalid_client","error_description":"no"}`, true},
		{"invalid_scope", InvalidScope("s"), 400, `{"error":"invalid_scope","error_description":"s"}`, false},
		{"invalid_target", InvalidTarget("r"), 400, `{"error":"invalid_target","error_description":"r"}`, false},
		{"unauthorized_client", UnauthorizedClient("u"), 400, `{"error":"unauthorized_client","error_description":"u"}`, false},
		{"unsupported_grant_type", UnsupportedGrantType("g"), 400, `{"error":"unsupported_grant_type","error_description":"g"}`, false},
		{"invalid_grant", InvalidGrant("x"), 400, `{"error":"invalid_grant","error_description":"x"}`, false},
		{"plain error hides its text", errors.New("database password is hunter2"), 500, `{"error":"server_error","error_description":"the server could not complete the request"}`, false},
		{"wrapped oauth error", errorsJoin(InvalidScope("w")), 400, `{"error":"invalid_scope","error_description":"w"}`, false},
		{"no HTML escaping", InvalidRequest("<&>"), 400, `{"error":"invalid_request","error_description":"<&>"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, tc.err)
			if w.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tc.wantStatus)
			}
			if got := strings.TrimSpace(w.Body.String()); got != tc.wantBody {
				t.Errorf("body = %s, want %s", got, tc.wantBody)
			}
			h := w.Header()
			if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" {
				t.Errorf("headers %v", h)
			}
			if got := h.Get("WWW-Authenticate"); (got != "") != tc.challenge {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("context"), err) }
