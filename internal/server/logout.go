package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/ui"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// logoutRequest is a validated RP-initiated logout request (OIDC
// RP-Initiated Logout 1.0 §2).
type logoutRequest struct {
	client      *store.Client // nil when neither id_token_hint nor client_id named one
	redirectURI string        // registered post_logout_redirect_uri, or empty
	state       string
	hintSID     string
	hintSub     string // the hint's sub, when hintSID is set
	locale      string
}

// logoutStore is what logout needs: the user shown on the confirmation
// page, the session an id_token_hint names, and the clients to notify on
// the back channel (those the user consented to, and first-party ones).
type logoutStore interface {
	// GetUser returns the session's user.
	GetUser(ctx context.Context, id string) (store.User, error)
	// GetSessionByID returns the session an id_token_hint's sid names.
	GetSessionByID(ctx context.Context, id string) (store.Session, error)
	// DeleteSession ends it.
	DeleteSession(ctx context.Context, hash []byte) (store.Session, error)
	// ListUserConsents lists the clients the user consented to.
	ListUserConsents(ctx context.Context, userID string) ([]store.Consent, error)
	// ListClients lists the clients, a page at a time.
	ListClients(ctx context.Context, opts store.ListOptions) ([]store.Client, error)
}

// handleEndSession is the end_session_endpoint: it validates the request
// and asks the user to confirm (skipped when id_token_hint names the
// current session).
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	params, ok := s.requestParams(w, r)
	if !ok {
		return
	}
	lr, msg := s.parseLogout(r.Context(), params)
	if msg != "" {
		s.pageError(w, r, http.StatusBadRequest, "Invalid sign-out request", msg)
		return
	}
	sess, err := s.signin.sessions.Current(r.Context(), r)
	if errors.Is(err, authn.ErrNoSession) {
		// No browser session (a back-end call, such as oauth2-proxy's
		// --backend-logout-url, or a browser whose cookie is gone): the
		// verified hint names the session to end.
		if err := s.endHintedSession(r.Context(), lr); err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
		s.finishLogout(w, r, lr)
		return
	} else if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	if lr.hintSID != "" && lr.hintSID == sess.ID {
		if err := s.endSession(w, r); err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
		s.finishLogout(w, r, lr)
		return
	}
	u, _ := s.stores.logout.GetUser(r.Context(), sess.UserID)
	hidden := []ui.Field{{Name: "state", Value: lr.state}, {Name: "post_logout_redirect_uri", Value: lr.redirectURI}}
	name := ""
	if lr.client != nil {
		hidden = append(hidden, ui.Field{Name: "client_id", Value: lr.client.ID})
		name = clientName(lr.client)
	}
	token, err := s.signin.csrf.Token(w, r)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	p := ui.Page{Locale: lr.locale, CSRFToken: token, FormAction: PathLogoutConfirm, Hidden: hidden, ClientName: name, RedirectTarget: lr.redirectURI}
	if err := s.signin.pages().Logout(w, r, ui.LogoutData{Page: p, Username: u.Username, PostLogoutRedirectURI: lr.redirectURI}); err != nil {
		s.log.ErrorContext(r.Context(), "render logout page", "error", err)
	}
}

// parseLogout validates id_token_hint, client_id and
// post_logout_redirect_uri. It returns a user-facing message on error.
func (s *Server) parseLogout(ctx context.Context, params url.Values) (*logoutRequest, string) {
	for name, vs := range params {
		if len(vs) > 1 || len(vs[0]) > 8192 {
			return nil, "The parameter " + truncate(name, 40) + " is repeated or too long."
		}
	}
	lr := &logoutRequest{state: params.Get("state"), locale: params.Get("ui_locales")}
	clientID := params.Get("client_id")
	if hint := params.Get("id_token_hint"); hint != "" {
		tok, err := s.idTokenHints.Verify(ctx, hint)
		// Only an ID token (typ JWT, or none) names a sign-in: not an
		// access token, a logout token or an introspection response
		// signed by the same keys (RFC 8725 §3.11).
		if err != nil || (tok.Header().Type != "" && normalizedType(tok.Header().Type) != strings.ToLower(jwt.TypeJWT)) {
			return nil, "The id_token_hint is not an ID token issued here."
		}
		aud := tok.Claims().Audience
		if clientID != "" && !aud.Contains(clientID) {
			return nil, "client_id does not match the id_token_hint."
		}
		if clientID == "" && len(aud) > 0 {
			clientID = aud[0]
		}
		lr.hintSID, _ = tok.StringClaim("sid")
		lr.hintSub = tok.Claims().Subject
	}
	if clientID != "" {
		c, err := s.clients.GetClient(ctx, clientID)
		if err != nil {
			return nil, "The application is not registered."
		}
		lr.client = &c
	}
	if uri := params.Get("post_logout_redirect_uri"); uri != "" {
		if lr.client == nil {
			return nil, "post_logout_redirect_uri needs id_token_hint or client_id."
		}
		if !slices.Contains(lr.client.PostLogoutRedirectURIs, uri) {
			return nil, "post_logout_redirect_uri is not registered for this application."
		}
		lr.redirectURI = uri
	}
	return lr, ""
}

// handleLogoutConfirm ends the session after the user confirmed.
func (s *Server) handleLogoutConfirm(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Use the sign-out form.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return
	}
	if err := s.signin.csrf.Check(r); err != nil {
		s.pageError(w, r, http.StatusForbidden, "Request refused", "The form expired or came from another site.")
		return
	}
	// Re-validate what the form carries: it came back through the browser.
	lr, msg := s.parseLogout(r.Context(), url.Values{
		"client_id":                {r.PostForm.Get("client_id")},
		"post_logout_redirect_uri": {r.PostForm.Get("post_logout_redirect_uri")},
		"state":                    {r.PostForm.Get("state")},
	})
	if msg != "" {
		s.pageError(w, r, http.StatusBadRequest, "Invalid sign-out request", msg)
		return
	}
	if r.PostForm.Get(ui.FieldDecision) != ui.DecisionLogout {
		// The user stays signed in: back to their account page. (The
		// error page cannot say so: ui.Error turns a 200 into a 500.)
		http.Redirect(w, r, PathAccount, http.StatusSeeOther)
		return
	}
	if err := s.endSession(w, r); err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	s.finishLogout(w, r, lr)
}

// endHintedSession ends the session a verified id_token_hint names by its
// sid, when that session belongs to the hint's subject, and notifies the
// clients on the back channel as a logout does. A session that is gone
// already, or a hint without sid, is nothing to do; a sid of another user's
// session is refused silently (logged), so that a hint cannot end someone
// else's session.
func (s *Server) endHintedSession(ctx context.Context, lr *logoutRequest) error {
	if lr.hintSID == "" || lr.hintSub == "" {
		return nil
	}
	sess, err := s.stores.logout.GetSessionByID(ctx, lr.hintSID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case sess.UserID != lr.hintSub:
		s.log.WarnContext(ctx, "logout: id_token_hint names a session of another user; not ended",
			"sid", lr.hintSID, "request_id", RequestID(ctx))
		return nil
	}
	ended, err := s.stores.logout.DeleteSession(ctx, sess.Hash)
	switch {
	case errors.Is(err, store.ErrNotFound): // ended concurrently
		return nil
	case err != nil:
		return err
	}
	s.log.InfoContext(ctx, "logout: session ended by id_token_hint", "user_id", ended.UserID, "request_id", RequestID(ctx))
	s.NotifyLogout(ctx, ended.UserID, []store.Session{ended})
	return nil
}

// endSession ends the browser session and notifies the clients that
// registered a back-channel logout URI. A browser without a session is
// nothing to end; the error is the store's failure to end it.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess, err := s.signin.sessions.End(ctx, w, r)
	switch {
	case errors.Is(err, authn.ErrNoSession):
		return nil
	case err != nil:
		return err
	}
	s.NotifyLogout(ctx, sess.UserID, []store.Session{sess})
	return nil
}

// NotifyLogout sends back-channel logout tokens for the ended sessions of a
// user to the clients that registered a back-channel logout URI. It returns
// at once: delivery runs in the background, bounded in time, so that a slow
// relying party never holds a browser or an admin call.
func (s *Server) NotifyLogout(ctx context.Context, userID string, sessions []store.Session) {
	if s.logoutNotifier == nil || len(sessions) == 0 {
		return
	}
	targets := s.backchannelTargets(ctx, userID)
	if len(targets) == 0 {
		return
	}
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	go func() {
		defer cancel()
		for _, sess := range sessions {
			for _, err := range s.logoutNotifier.Notify(nctx, targets, userID, sess.ID) {
				if err != nil {
					s.log.Warn("back-channel logout failed", "error", err)
				}
			}
		}
	}()
}

// backchannelTargets are the clients with a back-channel logout URI that
// the user signed in to: those holding the user's consent, and first-party
// clients.
func (s *Server) backchannelTargets(ctx context.Context, userID string) []oidc.LogoutTarget {
	consented := map[string]bool{}
	list, err := s.stores.logout.ListUserConsents(ctx, userID)
	if err != nil {
		// The first-party clients are still notified.
		s.log.ErrorContext(ctx, "back-channel logout: cannot list the user's consents; clients the user consented to are not notified",
			"user_id", userID, "request_id", RequestID(ctx), "error", err)
	}
	for _, c := range list {
		consented[c.ClientID] = true
	}
	var out []oidc.LogoutTarget
	after := ""
	for {
		page, err := s.stores.logout.ListClients(ctx, store.ListOptions{Limit: store.MaxListLimit, After: after})
		if err != nil {
			s.log.ErrorContext(ctx, "back-channel logout: cannot list the clients; some are not notified",
				"user_id", userID, "request_id", RequestID(ctx), "error", err)
			return out
		}
		if len(page) == 0 {
			return out
		}
		for _, c := range page {
			if c.BackchannelLogoutURI != "" && (c.FirstParty || consented[c.ID]) {
				out = append(out, oidc.LogoutTarget{ClientID: c.ID, URI: c.BackchannelLogoutURI, Algorithm: jose.Algorithm(c.IDTokenSignedResponseAlg)})
			}
		}
		if len(page) < store.MaxListLimit {
			return out
		}
		after = page[len(page)-1].ID
	}
}

func (s *Server) finishLogout(w http.ResponseWriter, r *http.Request, lr *logoutRequest) {
	if lr.redirectURI != "" {
		target := lr.redirectURI
		if lr.state != "" {
			target = authz.AppendQuery(target, url.Values{"state": {lr.state}})
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	p := ui.Page{Locale: lr.locale}
	if lr.client != nil {
		p.ClientName = clientName(lr.client)
	}
	if err := s.signin.pages().LoggedOut(w, r, ui.LoggedOutData{Page: p}); err != nil {
		s.log.ErrorContext(r.Context(), "render logged-out page", "error", err)
	}
}

// idTokenHintVerifier accepts this server's ID tokens even after they
// expired, as RP-Initiated Logout allows for id_token_hint.
func (s *Server) idTokenHintVerifier() (*jwt.Verifier, error) {
	return jwt.NewVerifier(s.opts.Ring, jwt.Config{
		Issuer:             s.opts.Issuer,
		SkipAudienceCheck:  true,
		Type:               "",
		AllowMissingExpiry: true,
		Leeway:             366 * 24 * time.Hour,
		Now:                s.now,
	})
}

// normalizedType lower-cases a typ and drops an "application/" prefix.
func normalizedType(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}
