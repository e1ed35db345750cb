package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/ui"
)

// Account page paths: the signed-in user's own page, where they see the
// applications they allowed and remove their access.
const (
	PathAccount       = "/account"
	PathAccountRevoke = "/account/revoke"
	// PathAccountLogin starts a sign-in that ends on the account page.
	PathAccountLogin = "/account/login"
)

// accountRemovedQuery is the query string of the redirect after a removal.
// The page answers it with a fixed confirmation text: nothing of the query
// is shown.
const accountRemovedQuery = "removed=1"

// accountStore is what the account pages need: the signed-in user, their
// consents, and the revocation of their refresh tokens at a client whose
// access they remove.
type accountStore interface {
	// GetUser returns the session's user.
	GetUser(ctx context.Context, id string) (store.User, error)
	// ListUserConsents lists the applications the user allowed.
	ListUserConsents(ctx context.Context, userID string) ([]store.Consent, error)
	// GetConsent returns the user's consent to one client.
	GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error)
	// DeleteConsent removes it.
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// RevokeClientUserRefreshTokens revokes the user's refresh tokens at
	// the client.
	RevokeClientUserRefreshTokens(ctx context.Context, clientID, userID string) error
}

// handleAccount serves GET (and HEAD) /account: who is signed in and the
// applications holding their consent, each with a "Remove access" form.
// Without a session it shows a page asking the user to sign in (401), with
// a link to PathAccountLogin.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page with a link.")
		return
	}
	ctx := r.Context()
	u, ok := s.accountUser(w, r)
	if !ok {
		return
	}
	consents, err := s.stores.account.ListUserConsents(ctx, u.ID)
	if err != nil {
		s.accountServerError(w, r, err)
		return
	}
	apps := make([]ui.AppAccess, 0, len(consents))
	for _, c := range consents {
		client, err := s.clients.Registered(ctx, c.ClientID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Deleting a client deletes its consents; one deleted in
			// between has nothing left to remove.
			continue
		case err != nil:
			s.accountServerError(w, r, err)
			return
		}
		apps = append(apps, ui.AppAccess{
			ClientID:   client.ID,
			ClientName: clientName(&client),
			Scopes:     ui.Scopes(c.Scopes...),
			GrantedAt:  c.GrantedAt,
		})
	}
	agents, delegations, err := s.accountAgents(ctx, u.ID)
	if err != nil {
		s.accountServerError(w, r, err)
		return
	}
	token, err := s.signin.csrf.Token(w, r)
	if err != nil {
		s.accountServerError(w, r, err)
		return
	}
	d := ui.AccountData{
		Agents:           agents,
		Delegations:      delegations,
		AgentAction:      PathAccountAgentRevoke,
		DelegationAction: PathAccountDelegationRevoke,
		Revoked:          r.URL.Query().Get("revoked") == "1",
		Page:             ui.Page{Locale: u.Locale, CSRFToken: token, FormAction: PathAccountRevoke},
		DisplayName:      u.Name,
		Username:         u.Username,
		Email:            u.Email,
		Apps:             apps,
		Removed:          r.URL.Query().Get("removed") == "1",
		SignOutURL:       PathEndSession,
	}
	if err := s.signin.pages().Account(w, r, d); err != nil {
		s.log.ErrorContext(ctx, "render account page", "error", err)
	}
}

// handleAccountRevoke serves POST /account/revoke: the signed-in user
// removes an application's access. The user's refresh tokens at that
// client are revoked first and the consent deleted second, so that a
// failure in between leaves the consent listed to retry with; then the
// browser goes back to the account page (303) with a confirmation.
//
// A client_id the user holds no consent for (unknown, never consented,
// already removed, or another user's) gets a 404 page and changes
// nothing; the answer is the same in every case, so it tells nothing about
// other users or clients.
func (s *Server) handleAccountRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Use the form on your account page.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return
	}
	if err := s.signin.csrf.Check(r); err != nil {
		s.pageError(w, r, http.StatusForbidden, "Request refused",
			"The form expired or came from another site. Open your account page again and retry.")
		return
	}
	ctx := r.Context()
	u, ok := s.accountUser(w, r)
	if !ok {
		return
	}
	clientIDs := r.PostForm[ui.FieldClientID]
	if len(clientIDs) != 1 || store.CheckID("client_id", clientIDs[0]) != nil {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "Choose the application whose access to remove.")
		return
	}
	clientID := clientIDs[0]
	if _, err := s.stores.account.GetConsent(ctx, u.ID, clientID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.pageError(w, r, http.StatusNotFound, "Application not found",
				"This application has no access to your account, or its access was removed already. Open your account page again to see the applications that have access.")
			return
		}
		s.accountServerError(w, r, err)
		return
	}
	if err := s.stores.account.RevokeClientUserRefreshTokens(ctx, clientID, u.ID); err != nil {
		s.accountServerError(w, r, err)
		return
	}
	// Gone already means a concurrent removal won: the outcome is the same.
	// The event is committed with the deletion.
	err := s.auditedChange(ctx, store.AuditConsentWithdrawn, clientID, u.ID, map[string]any{"by": "user"},
		func(ctx context.Context) error {
			return ignoreNotFound(s.stores.account.DeleteConsent(ctx, u.ID, clientID))
		})
	if err != nil {
		s.accountServerError(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "account: consent revoked by the user", "user_id", u.ID, "client_id", clientID)
	ui.SetPageHeaders(w.Header())
	http.Redirect(w, r, PathAccount+"?"+accountRemovedQuery, http.StatusSeeOther)
}

// accountUser returns the signed-in user of the request. Without a usable
// session (none, expired, or its user deleted or disabled, in which case
// the session is ended) it writes the sign-in-needed page and reports
// false; on a store failure it writes a server error page.
func (s *Server) accountUser(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	ctx := r.Context()
	sess, err := s.signin.sessions.Current(ctx, r)
	if errors.Is(err, authn.ErrNoSession) {
		s.accountSignInNeeded(w, r)
		return store.User{}, false
	}
	if err != nil {
		s.accountServerError(w, r, err)
		return store.User{}, false
	}
	u, err := s.stores.account.GetUser(ctx, sess.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled):
		_, _ = s.signin.sessions.End(ctx, w, r)
		s.accountSignInNeeded(w, r)
		return store.User{}, false
	case err != nil:
		s.accountServerError(w, r, err)
		return store.User{}, false
	}
	return u, true
}

// accountSignInNeeded is the answer to a request for the account page
// without a session: a 401 page that says so and links to a sign-in that
// comes back to the account page; it shows nothing else.
func (s *Server) accountSignInNeeded(w http.ResponseWriter, r *http.Request) {
	d := ui.ErrorData{
		Title:       "Sign in to manage your account",
		Description: "You are not signed in, or your session has ended. Sign in to see the applications that use your account.",
		SignInURL:   PathAccountLogin,
	}
	if err := s.signin.pages().Error(w, r, http.StatusUnauthorized, d); err != nil {
		s.log.ErrorContext(r.Context(), "render error page", "error", err)
	}
}

// handleAccountLogin serves GET (and HEAD) /account/login: the login page
// of a sign-in for no application, which ends on the account page. A
// browser already signed in goes straight there.
func (s *Server) handleAccountLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page with a link.")
		return
	}
	if _, err := s.signin.sessions.Current(r.Context(), r); err == nil {
		http.Redirect(w, r, PathAccount, http.StatusSeeOther)
		return
	}
	req := &authz.Request{RedirectURI: PathAccount, MaxAge: -1, Expires: s.now().Add(authz.Timeout).Unix()}
	s.renderLogin(w, r, &flow{req: req, account: true}, "", http.StatusOK)
}

// isAccountSignIn reports whether a sealed request is one of
// handleAccountLogin's, the device verification page's or the SAML single
// sign-on's: no client
// (authz.Parse never yields one without), and the account page or the
// verification page to return to.
func isAccountSignIn(req *authz.Request) bool {
	return req.ClientID == "" && (req.RedirectURI == PathAccount || isDeviceReturn(req.RedirectURI) || isSAMLReturn(req.RedirectURI))
}

// accountServerError logs err and shows a generic server error page.
func (s *Server) accountServerError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "account page failed", "path", r.URL.Path, "error", err)
	s.pageError(w, r, serverErrorStatus(err), "Something went wrong",
		"The server could not complete the request. Try again in a moment.")
}
