package server_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/logctx"
	"github.com/writ-dev/writ/internal/metrics"
	"github.com/writ-dev/writ/internal/server"
)

// TestNoSecretsInDebugLogs runs a whole browser sign-in with debug logs
// captured: a wrong password, the code flow, a refresh, a replayed
// refresh token and a replayed code, client credentials with a wrong
// secret. No password, client secret, code, access, refresh or ID token,
// session cookie or CSRF token may appear in the logs (nor in the
// metrics), every line logged while serving a request carries its
// request ID, and the metrics count the failures and reuses.
func TestNoSecretsInDebugLogs(t *testing.T) {
	logs := &logBuffer{}
	handler := logctx.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
		logctx.Field{Key: "request_id", Value: server.RequestID})
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newSignInEnv(t, envOptions{Logger: slog.New(handler), Metrics: m})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	const wrongPassword = "not-alices-password-42"
	secrets := []string{alicePassword, wrongPassword, secret}

	b := e.newBrowser(t)
	req := rp.authorize()
	p := b.get(t, req.URL)
	secrets = append(secrets, p.Hidden.Get(authn.CSRFField), p.Hidden.Get("request"))
	p = b.login(t, p, "alice", wrongPassword)
	if p.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %s", p)
	}
	p = b.login(t, p, "alice", alicePassword)
	secrets = append(secrets, b.cookie(authn.DefaultSessionCookie))
	p = b.consent(t, p, "approve")
	code := e.callback(t, p, redirect, req.State)
	secrets = append(secrets, code, req.Verifier)
	tok := rp.exchange(t, code, req)
	idToken, _ := tok.Extra("id_token").(string)
	secrets = append(secrets, tok.AccessToken, tok.RefreshToken, idToken)

	next, err := rp.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	secrets = append(secrets, next.AccessToken, next.RefreshToken)
	if _, err := rp.refresh(tok.RefreshToken); err == nil {
		t.Fatal("a rotated refresh token was accepted again")
	}
	if _, err := rp.Config.Exchange(rp.Ctx, code, oauth2.VerifierOption(req.Verifier)); err == nil {
		t.Fatal("a redeemed code was accepted again")
	}
	wrongSecret := "wrong-client-secret-0123456789"
	secrets = append(secrets, wrongSecret)
	bad := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("webapp", wrongSecret))
	if bad.Status != http.StatusUnauthorized {
		t.Fatalf("wrong client secret: %s", bad)
	}

	text := logs.String()
	for _, s := range secrets {
		if s == "" {
			t.Fatal("a secret of the flow is empty: the test would prove nothing")
		}
		if strings.Contains(text, s) || (len(s) > 20 && strings.Contains(text, s[len(s)-20:])) {
			t.Errorf("the logs contain a secret (%.4s…)", s)
		}
	}
	var lines int
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var entry map[string]any
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines++
		if id, _ := entry["request_id"].(string); id == "" {
			t.Errorf("a line logged while serving a request has no request_id: %s", sc.Text())
		}
	}
	if lines < 4 {
		t.Errorf("only %d log lines at debug: the flow should have logged its failures", lines)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`writ_login_failures_total{reason="invalid_credentials"} 1`,
		`writ_token_reuse_detected_total{grant_type="refresh_token"} 1`,
		`writ_token_reuse_detected_total{grant_type="authorization_code"} 1`,
		`writ_tokens_issued_total{client="webapp",grant_type="authorization_code"} 1`,
		`writ_tokens_issued_total{client="webapp",grant_type="refresh_token"} 1`,
		`writ_http_requests_total{endpoint="/oauth2/token",error="invalid_grant",status="4xx"} 2`,
		`writ_http_requests_total{endpoint="/oauth2/token",error="invalid_client",status="4xx"} 1`,
		`writ_http_requests_total{endpoint="/login",error="none",status="4xx"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("the metrics contain a secret (%.4s…)", s)
		}
	}
}

// TestRequestIDNotTakenFromClient: an X-Request-Id the client sends is
// replaced by the server's own (no client input becomes the ID of the
// logs), and every response carries one.
func TestRequestIDNotTakenFromClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, sent := range []string{"", "abc", strings.Repeat("x", 5000), "AAAAAAAAAAAAAAAA"} {
		r := e.get(t, server.PathHealth, header(server.RequestIDHeader, sent))
		got := r.Header.Get(server.RequestIDHeader)
		if len(got) != 16 || got == sent {
			t.Errorf("sent %.20q: X-Request-Id %q, want a fresh 16-character ID", sent, got)
		}
	}
}
