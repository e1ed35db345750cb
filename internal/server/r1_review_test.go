package server_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/writ-dev/writ/internal/server"
)

// TestGrantSecurityEventsCarryRequestID: a code replay and a refresh token
// reuse are logged with the request ID the response carries (issue item
// 12), so that a report can be matched to the log.
func TestGrantSecurityEventsCarryRequestID(t *testing.T) {
	logs := &logBuffer{}
	e := newSignInEnv(t, envOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	ce := &codeEnv{testEnv: e, redirect: redirect, b: e.newBrowser(t), secrets: map[string]string{}}
	ce.secrets["webapp"] = e.addConfidential(t, "webapp", webApp(redirect))
	ce.web = e.newRP(t, "webapp", ce.secrets["webapp"], redirect, webScopes...)
	ce.web.signIn(t, e, ce.b, user{Username: "alice", Password: alicePassword})

	code, r := ce.code(t, ce.web)
	form := func() url.Values {
		return url.Values{"code": {code}, "redirect_uri": {redirect}, "code_verifier": {r.Verifier}}
	}
	first := decodeTokens(t, ce.redeem(t, "webapp", form()))
	replay := ce.redeem(t, "webapp", form())
	wantOAuthError(t, replay, http.StatusBadRequest, "invalid_grant")
	replays := logs.entries(t, "authorization code replayed")
	if len(replays) != 1 {
		t.Fatalf("%d code replays logged, want 1", len(replays))
	}
	if id := replay.Header.Get(server.RequestIDHeader); id == "" || replays[0]["request_id"] != id {
		t.Errorf("code replay logged with request_id %v, response X-Request-Id %q", replays[0]["request_id"], id)
	}
	if replays[0]["source"] == "" || replays[0]["client_id"] != "webapp" || replays[0]["user_id"] != "u-alice" {
		t.Errorf("code replay logged as %v", replays[0])
	}

	code, r = ce.code(t, ce.web)
	tok := decodeTokens(t, ce.redeem(t, "webapp", form()))
	if tok.RefreshToken == "" || first.AccessToken == "" {
		t.Fatalf("no refresh token issued: %+v", tok)
	}
	decodeTokens(t, ce.refreshAs(t, "webapp", tok.RefreshToken, nil))
	reuse := ce.refreshAs(t, "webapp", tok.RefreshToken, nil)
	wantOAuthError(t, reuse, http.StatusBadRequest, "invalid_grant")
	reuses := logs.entries(t, "refresh token reused")
	if len(reuses) != 1 {
		t.Fatalf("%d refresh reuses logged, want 1", len(reuses))
	}
	if id := reuse.Header.Get(server.RequestIDHeader); id == "" || reuses[0]["request_id"] != id {
		t.Errorf("refresh reuse logged with request_id %v, response X-Request-Id %q", reuses[0]["request_id"], id)
	}
}
