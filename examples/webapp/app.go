package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/websession"
)

// loginCookie holds state, nonce and PKCE verifier between /login and
// /callback, signed by the session keys.
const loginCookie = "__Host-webapp-login"

// loginTTL bounds how long a sign-in at the provider may take.
const loginTTL = 10 * time.Minute

// Config is what the app needs to know.
type Config struct {
	// IssuerURL is the OpenID provider (writ), e.g. http://127.0.0.1:8080.
	IssuerURL string
	// ClientID and ClientSecret are the app's registration at the provider.
	ClientID string
	// ClientSecret is the client's secret (see ClientID).
	ClientSecret string
	// AppURL is the app's own origin; the redirect URI is AppURL/callback.
	AppURL string
	// SessionKey is the HS256 secret of the session cookies (32+ bytes).
	SessionKey []byte
	// HTTPClient talks to the provider; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives the app's log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock of the sessions; nil means time.Now.
	Now func() time.Time
}

// App is the example web application.
type App struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	provider *oidc.Provider
	sessions *websession.Manager
	client   *http.Client
	issuer   string
	log      *slog.Logger
}

// New discovers the provider and returns the app.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.IssuerURL == "" || cfg.ClientID == "" || cfg.AppURL == "" {
		return nil, errors.New("webapp: the issuer URL, the client id and the app URL are required")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	key, err := websession.NewHMACKey(cfg.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("webapp: session key: %w", err)
	}
	sessions, err := websession.New(websession.Config{
		AppURL: cfg.AppURL,
		Keys:   []websession.Key{{Key: key}},
		Now:    cfg.Now,
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("webapp: %w", err)
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("webapp: discovery of %s: %w", cfg.IssuerURL, err)
	}
	return &App{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  sessions.Origin() + "/callback",
			Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now}),
		provider: provider,
		sessions: sessions,
		client:   client,
		issuer:   cfg.IssuerURL,
		log:      logger,
	}, nil
}

// Handler returns the app's routes behind the session middleware.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.Handle("POST /logout", websession.RequireSession(http.HandlerFunc(a.logout), nil))
	return securityHeaders(a.sessions.Handler(mux))
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>webapp</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>Example web app</h1>
{{if .Session}}
<p>Signed in as <strong id="user">{{.Name}}</strong> ({{.Email}}), subject <code id="sub">{{.Session.Subject}}</code>.</p>
<p>Session until {{.Session.ExpiresAt.UTC.Format "15:04:05 MST"}}; idle timeout at {{.Session.IdleExpiresAt.UTC.Format "15:04:05 MST"}}.</p>
<form method="post" action="/logout">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<button type="submit">Sign out</button>
</form>
{{else}}
<p>You are not signed in. <a id="login" href="/login">Sign in with writ</a></p>
{{end}}
</body></html>
`))

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Session           *websession.Session
		Name, Email, CSRF string
	}{}
	if s, ok := websession.FromContext(r.Context()); ok {
		data.Session, data.Name, data.Email, data.CSRF = s, s.Data["name"], s.Data["email"], s.CSRFToken()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := homePage.Execute(w, data); err != nil {
		a.log.Error("render home", "err", err)
	}
}

// login starts the authorization code flow with PKCE: a fresh state,
// nonce and verifier, kept in a short-lived signed cookie.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	err := a.sessions.SetTransient(w, loginCookie, map[string]string{
		"state": state, "nonce": nonce, "verifier": verifier,
	}, loginTTL)
	if err != nil {
		a.log.Error("login cookie", "err", err)
		http.Error(w, "cannot start the sign-in", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, a.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback finishes the sign-in: state, issuer (RFC 9207), code exchange
// with the PKCE verifier, ID token signature, issuer, audience, expiry,
// nonce and at_hash; then a new session.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	login, err := a.sessions.Transient(r, loginCookie)
	a.sessions.ClearTransient(w, loginCookie) // single use, whatever happens
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, "the sign-in expired or was not started here; start again", err)
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(login["state"])) != 1 || login["state"] == "" {
		a.fail(w, r, http.StatusBadRequest, "the sign-in response does not belong to this browser (state)", nil)
		return
	}
	if iss := q.Get("iss"); iss != "" && iss != a.issuer {
		a.fail(w, r, http.StatusBadRequest, "the sign-in response comes from another issuer", nil)
		return
	}
	if e := q.Get("error"); e != "" {
		a.fail(w, r, http.StatusForbidden, "the provider refused the sign-in: "+truncate(e, 64), nil)
		return
	}
	ctx := oidc.ClientContext(r.Context(), a.client)
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(login["verifier"]))
	if err != nil {
		a.fail(w, r, http.StatusBadGateway, "the code exchange failed", err)
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(ctx, rawID)
	if err != nil {
		a.fail(w, r, http.StatusBadGateway, "the ID token does not verify", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(login["nonce"])) != 1 {
		a.fail(w, r, http.StatusBadRequest, "the ID token's nonce does not match", nil)
		return
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			a.fail(w, r, http.StatusBadGateway, "the access token does not match the ID token's at_hash", err)
			return
		}
	}
	var claims struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		a.fail(w, r, http.StatusBadGateway, "the ID token's claims do not decode", err)
		return
	}
	if claims.Name == "" && claims.Email == "" {
		// The profile and email claims of a code flow are at UserInfo
		// (OpenID Connect Core §5.4); its sub must be the ID token's.
		ui, err := a.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil || ui.Subject != idt.Subject {
			a.fail(w, r, http.StatusBadGateway, "UserInfo failed", err)
			return
		}
		if err := ui.Claims(&claims); err != nil {
			a.fail(w, r, http.StatusBadGateway, "the UserInfo claims do not decode", err)
			return
		}
	}
	if _, err := a.sessions.Start(w, idt.Subject, map[string]string{
		"name": truncate(claims.Name, 100), "email": truncate(claims.Email, 100),
	}); err != nil {
		a.fail(w, r, http.StatusInternalServerError, "cannot start the session", err)
		return
	}
	a.log.Info("signed in", "sub", idt.Subject)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session. The middleware has checked the origin and the
// CSRF token already.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	s, _ := websession.FromContext(r.Context())
	a.sessions.Destroy(w)
	a.log.Info("signed out", "sub", s.Subject)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// fail answers with msg; err (never shown to the user) goes to the log.
func (a *App) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	attrs := []any{"status", status, "reason", msg}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	a.log.WarnContext(r.Context(), "sign-in failed", attrs...)
	http.Error(w, msg, status)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
