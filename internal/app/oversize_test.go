package app_test

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
)

// TestOversizeBodies sends a body over max_request_bytes to every public
// and admin endpoint that takes one, through the real listeners: each
// answers a clear 4xx (413 where the body is read, 400, 401 or 403 where
// a check refuses first), never a 5xx, and never hangs.
func TestOversizeBodies(t *testing.T) {
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE": "development", "WRIT_DATA_DIR": filepath.Join(t.TempDir(), "node"),
		"WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0", "WRIT_LOG_LEVEL": "error",
		"WRIT_REGISTRATION": "open", "WRIT_MAX_REQUEST_BYTES": "4096",
	}, app.Options{Announce: io.Discard})
	const form, jsonType = "application/x-www-form-urlencoded", "application/json"
	big := bytes.Repeat([]byte("a"), 64<<10)
	formBody := append([]byte("x="), big...)
	jsonBody := append(append([]byte(`{"client_name":"`), big...), '"', '}')
	public := "http://" + a.PublicAddr().String()
	adminURL := "http://" + a.AdminAddr().String()
	cases := []struct {
		base, path, ctype string
		admin             bool
		// want413 marks the endpoints that read the body before any other
		// check, so that only 413 is right.
		want413 bool
	}{
		{public, "/oauth2/token", form, false, true},
		{public, "/oauth2/introspect", form, false, true},
		{public, "/oauth2/revoke", form, false, true},
		{public, "/oauth2/par", form, false, true},
		{public, "/oauth2/device_authorization", form, false, true},
		{public, "/oauth2/agents/revoke", form, false, true},
		{public, "/oauth2/authorize", form, false, false},
		{public, "/oauth2/userinfo", form, false, false},
		{public, "/oauth2/logout", form, false, false},
		{public, "/oauth2/register", jsonType, false, false},
		{public, "/login", form, false, false},
		{public, "/consent", form, false, false},
		{public, "/select-account", form, false, false},
		{public, "/logout", form, false, false},
		{public, "/device", form, false, false},
		// /account and /account/login are GET only.
		{public, "/account/revoke", form, false, false},
		{public, "/account/agents/revoke", form, false, false},
		{public, "/account/delegations/revoke", form, false, false},
		{adminURL, "/admin/clients", jsonType, true, true},
		{adminURL, "/admin/users", jsonType, true, true},
		{adminURL, "/admin/trusted-issuers", jsonType, true, true},
		{adminURL, "/admin/keys/rotate", jsonType, true, false},
	}
	hc := &http.Client{Timeout: time.Minute} // a guard against a hang, not a timing check
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			body := formBody
			if c.ctype == jsonType {
				body = jsonBody
			}
			req, _ := http.NewRequest(http.MethodPost, c.base+c.path, bytes.NewReader(body))
			req.Header.Set("Content-Type", c.ctype)
			if c.admin {
				req.Header.Set("Authorization", "Bearer "+a.AdminToken)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			switch {
			case resp.StatusCode >= 500:
				t.Fatalf("%d: a server error for an oversize body: %s", resp.StatusCode, msg)
			case c.want413 && resp.StatusCode != http.StatusRequestEntityTooLarge:
				t.Fatalf("%d, want 413: %s", resp.StatusCode, msg)
			case resp.StatusCode < 400 || resp.StatusCode == 404 || resp.StatusCode == 405:
				t.Fatalf("%d: want a refusal of the body (413, 400, 401, 403): %s", resp.StatusCode, msg)
			}
			t.Logf("%d", resp.StatusCode)
		})
	}
}
