package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/metrics"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/ui"
)

// Sign-in paths.
const (
	PathAuthorize     = "/oauth2/authorize"
	PathLogin         = "/login"
	PathConsent       = "/consent"
	PathSelectAccount = "/select-account"
	PathUserInfo      = "/oauth2/userinfo"
	PathEndSession    = "/oauth2/logout"
	PathLogoutConfirm = "/logout"
	PathStatic        = "/ui/static/"
)

// codeTTL is the lifetime of an authorization code: short, since the
// client redeems it at once (RFC 6749 §4.1.2 recommends at most 10 minutes).
const codeTTL = time.Minute

// pages is the current UI.
func (si *signIn) pages() *ui.UI { return si.ui.Load() }

// signIn holds the pieces of the browser sign-in.
type signIn struct {
	// ui is the current UI (swapped by a configuration reload that
	// changes the theme): read it with pages.
	ui       atomic.Pointer[ui.UI]
	login    *authn.Login
	devices  *authn.DeviceCookies
	sessions *authn.Sessions
	csrf     *authn.CSRF
	sealer   *authz.Sealer
}

// signInStore is what the sign-in pages (authorization, login, consent,
// account choice) need beyond the sessions and the password check: the
// users, their consents, the single use of consent forms, and the codes
// they issue.
type signInStore interface {
	// GetUser returns the session's user.
	GetUser(ctx context.Context, id string) (store.User, error)
	// GetUserByUsername finds the account a refused sign-in names, for the
	// log.
	GetUserByUsername(ctx context.Context, username string) (store.User, error)
	// GetConsent returns the user's consent to the client.
	GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error)
	// UpdateConsent merges newly consented scopes in one transaction.
	UpdateConsent(ctx context.Context, userID, clientID string, fn func(old store.Consent, found bool) (store.Consent, error)) (store.Consent, error)
	// UseJTI records a consent form's single use.
	UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error
	// CreateAuthCode stores the code the sign-in ends with.
	CreateAuthCode(ctx context.Context, c store.AuthCode) error
}

// flow carries what the pages of one sign-in learned so far.
type flow struct {
	req          *authz.Request
	client       *store.Client
	sess         *store.Session
	justSignedIn bool
	accountOK    bool
	// account marks a sign-in started from the account page: no client,
	// and back to PathAccount once signed in.
	account bool
	// username is what the login form last got, shown again with its
	// error.
	username string
}

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core
// §3.1.2): GET with a query, or POST with a form.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	params, ok := s.requestParams(w, r)
	if !ok {
		return
	}
	if s.dpop == nil {
		// DPoP is off: dpop_jkt is an unknown parameter, ignored (RFC
		// 6749 §3.1), not a binding no proof could ever satisfy.
		params.Del("dpop_jkt")
	}
	// request_uri (a pushed request, validated when it was pushed) or
	// request (a request object, whose parameters replace the query's).
	res, err := s.resolveRequest(r.Context(), params)
	if err != nil {
		s.authzError(w, r, err)
		return
	}
	req, client := res.req, res.client
	if req == nil {
		if req, client, err = authz.Parse(r.Context(), res.params, s.clients, s.now(), authz.Timeout); err == nil {
			// An MCP server's token is issued only for a request that
			// names it (MCP authorization, RFC 8707): a client that
			// registered it as its first audience does not get it by
			// default.
			err = s.checkAudience(req, client)
		}
		if err != nil {
			s.authzError(w, r, err)
			return
		}
	}
	f := &flow{req: req, client: client}
	if sess, err := s.signin.sessions.Current(r.Context(), r); err == nil {
		f.sess = &sess
	} else if !errors.Is(err, authn.ErrNoSession) {
		s.serverErrorPage(w, r, err)
		return
	}
	s.continueFlow(w, r, f)
}

// requestParams reads the parameters of a browser endpoint that takes GET
// (query) or POST (bounded form body). On failure it has written the error
// page and returns false.
func (s *Server) requestParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	switch r.Method {
	case http.MethodGet:
		return r.URL.Query(), true
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes)
		if err := r.ParseForm(); err != nil {
			s.pageError(w, r, http.StatusBadRequest, "Invalid request", "The request could not be read.")
			return nil, false
		}
		return r.PostForm, true
	}
	w.Header().Set("Allow", "GET, POST")
	s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Use GET or POST.")
	return nil, false
}

// continueFlow takes the sign-in to its next step: the login page, the
// account choice, the consent page, or the code.
func (s *Server) continueFlow(w http.ResponseWriter, r *http.Request, f *flow) {
	ctx := r.Context()
	req := f.req
	none := req.HasPrompt(authz.PromptNone)
	if f.sess != nil {
		u, err := s.stores.signIn.GetUser(ctx, f.sess.UserID)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled):
			_, _ = s.signin.sessions.End(ctx, w, r)
			f.sess = nil
		case err != nil:
			s.serverErrorPage(w, r, err)
			return
		}
	}
	needLogin := f.sess == nil
	if !needLogin && !f.justSignedIn {
		if req.HasPrompt(authz.PromptLogin) {
			needLogin = true
		}
		if req.MaxAge >= 0 && s.now().Sub(f.sess.AuthTime) > time.Duration(req.MaxAge)*time.Second {
			needLogin = true
		}
	}
	if needLogin {
		if none {
			s.redirectError(w, r, f, "login_required", "the user is not signed in")
			return
		}
		s.renderLogin(w, r, f, "", http.StatusOK)
		return
	}
	// The pages shown from here on vouch for this session: the consent
	// form issues a code only for it (handleConsent).
	req.SessionID = f.sess.ID
	if req.HasPrompt(authz.PromptSelectAccount) && !f.justSignedIn && !f.accountOK {
		s.renderSelectAccount(w, r, f)
		return
	}
	if s.needsConsent(ctx, f) {
		if none {
			s.redirectError(w, r, f, "consent_required", "the user has not consented")
			return
		}
		s.renderConsent(w, r, f)
		return
	}
	s.issueCode(w, r, f)
}

// needsConsent reports whether the user must approve the request: not for
// first-party clients, and not when a remembered consent covers the scopes
// (unless prompt=consent).
func (s *Server) needsConsent(ctx context.Context, f *flow) bool {
	if f.client.Origin == store.OriginMetadataDocument {
		// Anyone on the internet can publish a metadata document: the
		// user approves such a client every time, seeing its host.
		return true
	}
	if f.client.FirstParty {
		return false
	}
	if f.req.HasPrompt(authz.PromptConsent) {
		return true
	}
	if len(extraClaims(f.req)) > 0 {
		// Claims beyond the scopes are not remembered: the user approves
		// them each time.
		return true
	}
	c, err := s.stores.signIn.GetConsent(ctx, f.sess.UserID, f.client.ID)
	if err != nil {
		return true
	}
	return !c.Covers(f.req.Scopes)
}

// extraClaims are the claims the request's claims parameter asks for
// beyond what its scopes release (validated by authz.Parse).
func extraClaims(req *authz.Request) []string {
	return oidc.ClaimsBeyondScopes(req.Claims, req.Scopes)
}

// formPage builds the page data of a sign-in form posting to action: the
// sealed request to continue, a CSRF token, the client's name. On failure
// it has written the error page and returns false.
func (s *Server) formPage(w http.ResponseWriter, r *http.Request, f *flow, action string) (ui.Page, bool) {
	sealed, err := s.signin.sealer.Seal(f.req)
	if err == nil {
		var token string
		if token, err = s.signin.csrf.Token(w, r); err == nil {
			return ui.Page{
				Locale:         f.req.UILocales,
				CSRFToken:      token,
				FormAction:     action,
				RequestID:      sealed,
				ClientName:     flowClientName(f),
				ClientURI:      flowClientURI(f),
				RedirectTarget: f.req.RedirectURI,
			}, true
		}
	}
	s.serverErrorPage(w, r, err)
	return ui.Page{}, false
}

// sessionUser reads the user of the flow's session. On failure it has
// written the error page and returns false.
func (s *Server) sessionUser(w http.ResponseWriter, r *http.Request, f *flow) (store.User, bool) {
	u, err := s.stores.signIn.GetUser(r.Context(), f.sess.UserID)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return store.User{}, false
	}
	return u, true
}

// flowClientName is the name of the flow's client, or empty for a sign-in
// to the account page.
func flowClientName(f *flow) string {
	if f.client == nil {
		return ""
	}
	return clientName(f.client)
}

// flowClientURI is the address whose host the sign-in pages show: for a
// client known from its metadata document, the client_id itself (the
// draft's advice against phishing: the user sees which site the
// application is).
func flowClientURI(f *flow) string {
	if f.client != nil && f.client.Origin == store.OriginMetadataDocument {
		return f.client.ID
	}
	return ""
}

func clientName(c *store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, f *flow, message string, status int) {
	f.req.SessionID = "" // a login page vouches for no session
	p, ok := s.formPage(w, r, f, PathLogin)
	if !ok {
		return
	}
	p.Error = message
	p.Status = status
	if err := s.signin.pages().Login(w, r, ui.LoginData{Page: p, LoginHint: f.req.LoginHint, Username: f.username}); err != nil {
		s.log.ErrorContext(r.Context(), "render login page", "error", err)
	}
}

func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, f *flow) {
	u, ok := s.sessionUser(w, r, f)
	if !ok {
		return
	}
	p, ok := s.formPage(w, r, f, PathConsent)
	if !ok {
		return
	}
	scopes := ui.Scopes(append(slices.Clone(f.req.Scopes), extraClaims(f.req)...)...)
	if err := s.signin.pages().Consent(w, r, ui.ConsentData{Page: p, Scopes: scopes, DisplayName: displayName(&u), Username: u.Username}); err != nil {
		s.log.ErrorContext(r.Context(), "render consent page", "error", err)
	}
}

func (s *Server) renderSelectAccount(w http.ResponseWriter, r *http.Request, f *flow) {
	u, ok := s.sessionUser(w, r, f)
	if !ok {
		return
	}
	p, ok := s.formPage(w, r, f, PathSelectAccount)
	if !ok {
		return
	}
	acct := ui.Account{ID: u.ID, DisplayName: displayName(&u), Username: u.Username}
	if err := s.signin.pages().SelectAccount(w, r, ui.SelectAccountData{Page: p, Accounts: []ui.Account{acct}}); err != nil {
		s.log.ErrorContext(r.Context(), "render account page", "error", err)
	}
}

func displayName(u *store.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Username
}

// resume reads the CSRF token and the sealed request of a sign-in form.
func (s *Server) resume(w http.ResponseWriter, r *http.Request) (*flow, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Use the sign-in form.")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return nil, false
	}
	if err := s.signin.csrf.Check(r); err != nil {
		s.pageError(w, r, http.StatusForbidden, "Request refused", "The form expired or came from another site. Go back to the application and start again.")
		return nil, false
	}
	req, err := s.signin.sealer.Open(r.PostForm.Get("request"), s.now())
	if err != nil {
		msg := "The sign-in request is not valid. Go back to the application and start again."
		if errors.Is(err, authz.ErrExpired) {
			msg = "The sign-in took too long. Go back to the application and start again."
		}
		s.pageError(w, r, http.StatusBadRequest, "Sign-in expired", msg)
		return nil, false
	}
	if isAccountSignIn(req) {
		f := &flow{req: req, account: true}
		if sess, err := s.signin.sessions.Current(r.Context(), r); err == nil {
			f.sess = &sess
		}
		return f, true
	}
	c, err := s.clients.GetClient(r.Context(), req.ClientID)
	if err != nil {
		s.pageError(w, r, http.StatusBadRequest, "Unknown application", "The application is no longer registered.")
		return nil, false
	}
	f := &flow{req: req, client: &c}
	if sess, err := s.signin.sessions.Current(r.Context(), r); err == nil {
		f.sess = &sess
	}
	return f, true
}

// resumeClientFlow is resume for the pages only a client's sign-in shows
// (consent, account choice).
func (s *Server) resumeClientFlow(w http.ResponseWriter, r *http.Request) (*flow, bool) {
	f, ok := s.resume(w, r)
	if ok && f.account {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "This form does not belong to a sign-in for an application.")
		return nil, false
	}
	return f, ok
}

// handleLogin checks the username and password of the login form.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	f, ok := s.resume(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	username := r.PostForm.Get("username")
	f.username = username
	ip := clientip.Of(r)
	// A browser that signed in to this account before presents its device
	// cookie: strangers' failures on the account do not hold it up.
	device := s.signin.devices.Trusted(r, username)
	u, err := s.signin.login.Authenticate(ctx, authn.Attempt{
		Username: username,
		Password: r.PostForm.Get("password"),
		IP:       ip,
		Device:   device,
	})
	var (
		throttled *authn.ThrottledError
		wrong     *authn.CredentialsError
	)
	switch {
	case errors.As(err, &throttled):
		s.opts.Metrics.LoginFailed(metrics.LoginThrottled)
		uid := s.userIDForLog(ctx, username)
		s.logSignIn(r, slog.LevelWarn, "sign-in refused: too many failed attempts", f, uid, ip, device != "",
			slog.String("limit", throttled.Limit), slog.Int64("retry_after_s", throttled.RetrySeconds()))
		_ = s.recordAudit(ctx, store.AuditSignInFailed, flowClientID(f), uid, map[string]any{"reason": "throttled", "source": ip})
		w.Header().Set("Retry-After", fmt.Sprint(throttled.RetrySeconds()))
		s.renderLogin(w, r, f, fmt.Sprintf("Too many failed attempts. Wait %s and try again.", waitText(throttled.RetrySeconds())), http.StatusTooManyRequests)
		return
	case errors.Is(err, authn.ErrInvalidCredentials):
		s.opts.Metrics.LoginFailed(metrics.LoginInvalidCredentials)
		userID := ""
		if errors.As(err, &wrong) {
			userID = wrong.UserID
		}
		s.logSignIn(r, slog.LevelInfo, "sign-in failed: wrong username or password", f, userID, ip, device != "")
		_ = s.recordAudit(ctx, store.AuditSignInFailed, flowClientID(f), userID, map[string]any{"reason": "wrong_credentials", "source": ip})
		s.renderLogin(w, r, f, "The username or password is not correct.", http.StatusUnauthorized)
		return
	case err != nil:
		s.serverErrorPage(w, r, err)
		return
	}
	s.logSignIn(r, slog.LevelInfo, "signed in", f, u.ID, ip, device != "")
	if f.sess != nil {
		// A new sign-in replaces the old session (no fixation): end it the
		// way a logout does, so its clients hear of it on the back channel.
		if err := s.endSession(w, r); err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
	}
	// The sign-in event is committed with the session record.
	var sess store.Session
	err = s.auditedChange(ctx, store.AuditSignIn, flowClientID(f), u.ID, map[string]any{"amr": "pwd", "source": ip},
		func(ctx context.Context) error {
			var err error
			sess, err = s.signin.sessions.Start(ctx, w, u, []string{"pwd"}, "")
			return err
		})
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	// A new device cookie (new device ID) at every sign-in; without one the
	// browser is only a stranger next time.
	if err := s.signin.devices.Issue(w, u.Username); err != nil {
		s.log.WarnContext(ctx, "sign-in: device cookie not issued", "error", err)
	}
	f.sess, f.justSignedIn = &sess, true
	if f.account {
		back := PathAccount
		if isDeviceReturn(f.req.RedirectURI) || isSAMLReturn(f.req.RedirectURI) {
			back = f.req.RedirectURI
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	s.continueFlow(w, r, f)
}

// handleConsent records the user's decision on the consent page.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	f, ok := s.resumeClientFlow(w, r)
	if !ok {
		return
	}
	if f.sess == nil {
		s.renderLogin(w, r, f, "", http.StatusOK)
		return
	}
	decision := r.PostForm.Get(ui.FieldDecision)
	if decision != ui.DecisionApprove && decision != ui.DecisionDeny {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "Choose Allow or Deny.")
		return
	}
	if !s.useConsentForm(w, r, f) {
		return
	}
	if decision == ui.DecisionDeny {
		s.redirectError(w, r, f, oauth.CodeAccessDenied, "the user denied the request")
		return
	}
	if f.req.SessionID != f.sess.ID {
		// The form was not shown to this session after the checks of the
		// request (a login page's request, or another sign-in since):
		// take the request from the start, so that prompt=login, max_age
		// and the consent page apply to the session there is now.
		s.continueFlow(w, r, f)
		return
	}
	if err := s.mergeConsent(r.Context(), f.sess.UserID, f.client.ID, f.req.Scopes, s.now()); err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	s.issueCode(w, r, f)
}

// flowClientID is the client of a sign-in flow, or "" (the account page).
func flowClientID(f *flow) string {
	if f.client == nil {
		return ""
	}
	return f.client.ID
}

// mergeConsent adds scopes to the user's consent to the client, in one
// transaction that also records the consent given.
func (s *Server) mergeConsent(ctx context.Context, userID, clientID string, scopes []string, now time.Time) error {
	return s.auditedChange(ctx, store.AuditConsentGiven, clientID, userID, map[string]any{"scope": oauth.JoinScope(scopes)},
		func(ctx context.Context) error { return s.mergeConsentStore(ctx, userID, clientID, scopes, now) })
}

// mergeConsentStore is mergeConsent's store transaction.
func (s *Server) mergeConsentStore(ctx context.Context, userID, clientID string, scopes []string, now time.Time) error {
	_, err := s.stores.signIn.UpdateConsent(ctx, userID, clientID, func(c store.Consent, found bool) (store.Consent, error) {
		if !found {
			c = store.Consent{UserID: userID, ClientID: clientID, GrantedAt: now}
		}
		for _, sc := range store.ConsentScopes(scopes) {
			if !slices.Contains(c.Scopes, sc) {
				c.Scopes = append(c.Scopes, sc)
			}
		}
		c.UpdatedAt = now
		return c, nil
	})
	return err
}

// useConsentForm lets a consent form be answered once: the first answer
// records the form's sealed request (by hash, until it expires) in the
// replay store, and any later POST of the same form (the back button, a
// double click, a replayed request) gets a page saying it was answered,
// never a second code. On failure it has written the page and returns
// false.
func (s *Server) useConsentForm(w http.ResponseWriter, r *http.Request, f *flow) bool {
	sum := sha256.Sum256([]byte(r.PostForm.Get("request")))
	id := "consent-form:" + hex.EncodeToString(sum[:])
	// A second after the sealed request expires, Open refuses it anyway.
	until := time.Unix(f.req.Expires, 0).Add(time.Second)
	err := s.stores.signIn.UseJTI(r.Context(), f.client.ID, id, until)
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		s.log.InfoContext(r.Context(), "consent form submitted again; refused",
			"client_id", f.client.ID, "user_id", f.sess.UserID, "request_id", RequestID(r.Context()))
		s.pageError(w, r, http.StatusConflict, "Already answered",
			"This request was answered already. Go back to the application; if it still needs your permission, it will ask again.")
		return false
	case err != nil:
		s.serverErrorPage(w, r, err)
		return false
	}
	return true
}

// handleSelectAccount continues with the signed-in account or asks for
// another one.
func (s *Server) handleSelectAccount(w http.ResponseWriter, r *http.Request) {
	f, ok := s.resumeClientFlow(w, r)
	if !ok {
		return
	}
	if f.sess == nil || r.PostForm.Get(ui.FieldDecision) == ui.DecisionOtherAccount || r.PostForm.Get(ui.FieldAccount) != f.sess.UserID {
		s.renderLogin(w, r, f, "", http.StatusOK)
		return
	}
	f.accountOK = true
	s.continueFlow(w, r, f)
}

// issueCode stores an authorization code and redirects to the client with
// code, state and iss (RFC 9207).
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, f *flow) {
	ctx := r.Context()
	code, hash, err := newCode()
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	now := s.now()
	aud := f.req.Resources
	if len(aud) == 0 {
		aud = grant.DefaultAudience(f.client, s.opts.DefaultAudience)
	}
	var claims []byte
	if f.req.Claims != nil {
		if claims, err = f.req.Claims.MarshalJSON(); err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
	}
	ac := store.AuthCode{
		Hash: hash, ClientID: f.client.ID, UserID: f.sess.UserID, SessionID: f.sess.ID,
		RedirectURI: codeRedirectURI(f.req), Scopes: f.req.Scopes, Audience: aud, Nonce: f.req.Nonce,
		CodeChallenge: f.req.CodeChallenge, CodeChallengeMethod: f.req.CodeChallengeMethod,
		AuthTime: f.sess.AuthTime, AMR: f.sess.AMR, ACR: f.sess.ACR, Claims: claims, DPoPJKT: f.req.DPoPJKT,
		CreatedAt: now, ExpiresAt: now.Add(codeTTL),
	}
	if err := s.stores.signIn.CreateAuthCode(ctx, ac); err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	q := url.Values{"code": {code}, "iss": {s.opts.Issuer}}
	if f.req.State != "" {
		q.Set("state", f.req.State)
	}
	http.Redirect(w, r, authz.AppendQuery(f.req.RedirectURI, q), http.StatusSeeOther)
}

// codeRedirectURI is the redirect_uri the token request must repeat: the
// one the authorization request named, or none when it named none (RFC 6749
// §4.1.3: "REQUIRED, if the redirect_uri parameter was included").
func codeRedirectURI(r *authz.Request) string {
	if r.RedirectOmitted {
		return ""
	}
	return r.RedirectURI
}

func newCode() (string, []byte, error) {
	v, h := opaque.New(opaque.CodePrefix)
	return v, h, nil
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, f *flow, code, desc string) {
	e := &authz.RedirectError{RedirectURI: f.req.RedirectURI, State: f.req.State, Code: code, Description: desc}
	http.Redirect(w, r, e.Location(s.opts.Issuer), http.StatusSeeOther)
}

func (s *Server) authzError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *authz.PageError
	var re *authz.RedirectError
	switch {
	case errors.As(err, &pe):
		s.pageError(w, r, http.StatusBadRequest, pe.Title, pe.Description)
	case errors.As(err, &re):
		http.Redirect(w, r, re.Location(s.opts.Issuer), http.StatusSeeOther)
	default:
		s.serverErrorPage(w, r, err)
	}
}

func (s *Server) pageError(w http.ResponseWriter, r *http.Request, status int, title, desc string) {
	if err := s.signin.pages().Error(w, r, status, ui.ErrorData{Title: title, Description: desc}); err != nil {
		s.log.ErrorContext(r.Context(), "render error page", "error", err)
	}
}

func (s *Server) serverErrorPage(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "sign-in failed", "path", r.URL.Path, "request_id", RequestID(r.Context()), "error", err)
	s.pageError(w, r, serverErrorStatus(err), "Something went wrong", "The server could not complete the sign-in. Try again in a moment.")
}

// logSignIn logs a sign-in event with the client, the user when known, the
// source address, whether the browser presented the account's device
// cookie, and the request ID: never the username as typed (it may be a
// password typed in the wrong field), a password or a cookie value.
func (s *Server) logSignIn(r *http.Request, level slog.Level, msg string, f *flow, userID, ip string, trusted bool, extra ...slog.Attr) {
	attrs := make([]slog.Attr, 0, 6+len(extra))
	if f.client != nil {
		attrs = append(attrs, slog.String("client_id", f.client.ID))
	}
	if userID != "" {
		attrs = append(attrs, slog.String("user_id", userID))
	}
	attrs = append(attrs, slog.String("source_ip", ip), slog.Bool("device_cookie", trusted), slog.String("request_id", RequestID(r.Context())))
	attrs = append(attrs, extra...)
	s.log.LogAttrs(r.Context(), level, msg, attrs...)
}

// userIDForLog is the ID of the account username names, for the log of
// a refused sign-in (the throttle refuses before any lookup), or "" when
// there is none or it cannot be read: the username as typed is never
// logged.
func (s *Server) userIDForLog(ctx context.Context, username string) string {
	if store.CheckID("username", username) != nil {
		return ""
	}
	u, err := s.stores.signIn.GetUserByUsername(ctx, username)
	if err != nil {
		return ""
	}
	return u.ID
}

// waitText says how long to wait, in seconds or whole minutes rounded up.
func waitText(seconds int64) string {
	switch {
	case seconds <= 1:
		return "a second"
	case seconds < 120:
		return fmt.Sprintf("%d seconds", seconds)
	default:
		return fmt.Sprintf("%d minutes", (seconds+59)/60)
	}
}
