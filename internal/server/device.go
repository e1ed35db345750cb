package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/ui"
)

// Device authorization paths (RFC 8628).
const (
	// PathDeviceAuthorization is the device authorization endpoint.
	PathDeviceAuthorization = "/oauth2/device_authorization"
	// PathDevice is the verification page (verification_uri).
	PathDevice = "/device"
)

// Brute force of user codes (RFC 8628 §5.1): wrong codes lock the browser
// session after deviceSessionLimit and the client address after
// deviceAddressLimit, for deviceLockWindow.
const (
	deviceSessionLimit = 5
	deviceAddressLimit = 20
	deviceLockWindow   = 15 * time.Minute
)

// deviceStore is what the verification page needs.
type deviceStore interface {
	GetDeviceCodeByUserCode(ctx context.Context, userCode string) (store.DeviceCode, error)
	DecideDeviceCode(ctx context.Context, userCode string, now time.Time, d store.DeviceDecision) (store.DeviceCode, error)
}

// newDeviceThrottle counts wrong user codes per session (the throttle's
// device key) and per address.
func newDeviceThrottle(now func() time.Time) *authn.Throttle {
	return &authn.Throttle{DeviceLimit: deviceSessionLimit, IPLimit: deviceAddressLimit, Window: deviceLockWindow, Now: now}
}

// handleDeviceAuthorization is the device authorization endpoint (RFC
// 8628 §3.1): client authentication as at the token endpoint (public
// clients included), then grant.DeviceAuthorization.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, err := oauth.ParseForm(w, r, s.opts.MaxRequestBytes, "resource")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	client, err := s.auth.Authenticate(ctx, r, form)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.allow(w, r, RuleDeviceClient, clientKey(r, client), asJSON) {
		return
	}
	resp, err := s.deviceAuthz.Authorize(ctx, &grant.Request{Form: form, Client: client, RequestID: RequestID(ctx), SourceAddr: clientip.Of(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, resp)
}

// handleDevice is the verification page (RFC 8628 §3.3). GET shows the
// user code form (prefilled from verification_uri_complete); POST with a
// user code shows the consent page of the code's client and scopes; POST
// with a decision approves or denies. Every step needs a signed-in user:
// without one the login page comes first and returns here.
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes)
		if err := r.ParseForm(); err != nil {
			s.pageError(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.")
			return
		}
		if err := s.signin.csrf.Check(r); err != nil {
			s.pageError(w, r, http.StatusForbidden, "Request refused", "The form expired or came from another site. Open the page again.")
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Use GET or POST.")
		return
	}
	typed := r.FormValue(ui.FieldUserCode)
	if len(typed) > 64 {
		typed = ""
	}
	sess, u, ok := s.deviceUser(w, r, typed)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		s.renderDevice(w, r, ui.DeviceData{UserCode: typed}, &u, http.StatusOK)
		return
	}
	// Every guess counts, whether it names a code or not.
	ip := clientip.Of(r)
	if v := s.deviceThrottle.Check("", ip, sess.ID); v.Locked > 0 {
		s.log.WarnContext(ctx, "device: user code refused: too many wrong codes", "user_id", u.ID, "source_ip", ip, "limit", v.Limit, "request_id", RequestID(ctx))
		w.Header().Set("Retry-After", fmt.Sprint(int64((v.Locked+time.Second-1)/time.Second)))
		s.renderDevice(w, r, ui.DeviceData{Page: ui.Page{Error: fmt.Sprintf("Too many wrong codes. Wait %s and try again.",
			waitText(int64((v.Locked+time.Second-1)/time.Second)))}}, &u, http.StatusTooManyRequests)
		return
	}
	uc, valid := grant.NormalizeUserCode(typed)
	var d store.DeviceCode
	var err error
	if valid {
		d, err = s.stores.device.GetDeviceCodeByUserCode(ctx, uc)
	}
	now := s.now()
	switch {
	case !valid || errors.Is(err, store.ErrNotFound) || (err == nil && (d.Status != store.DevicePending || !now.Before(d.ExpiresAt))):
		s.deviceThrottle.Failure("", ip, sess.ID)
		s.log.InfoContext(ctx, "device: wrong or used user code", "user_id", u.ID, "source_ip", ip, "request_id", RequestID(ctx))
		s.renderDevice(w, r, ui.DeviceData{UserCode: typed, Page: ui.Page{
			Error: "That code is not valid, or it expired or was used already. Check the code on your device."}}, &u, http.StatusBadRequest)
		return
	case err != nil:
		s.serverErrorPage(w, r, err)
		return
	}
	c, err := s.clients.GetClient(ctx, d.ClientID)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	decision := r.PostForm.Get(ui.FieldDecision)
	if decision == "" {
		s.renderDeviceConsent(w, r, &c, &u, d)
		return
	}
	if decision != ui.DecisionApprove && decision != ui.DecisionDeny {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "Choose Allow or Deny.")
		return
	}
	if decision == ui.DecisionApprove {
		// The approval is a consent, remembered as the consent page's
		// is: the refresh grant checks it still covers the scopes.
		if err := s.mergeConsent(ctx, u.ID, c.ID, d.Scopes, now); err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
	}
	_, err = s.stores.device.DecideDeviceCode(ctx, uc, now, store.DeviceDecision{
		Approve: decision == ui.DecisionApprove, UserID: u.ID, SessionID: sess.ID,
		AuthTime: sess.AuthTime, AMR: sess.AMR, ACR: sess.ACR,
	})
	switch {
	case errors.Is(err, store.ErrReused), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrNotFound):
		s.pageError(w, r, http.StatusConflict, "Already answered",
			"This code was answered already or expired. Start again on your device.")
		return
	case err != nil:
		s.serverErrorPage(w, r, err)
		return
	}
	// No Success: anyone can start a device authorization and approve it,
	// so a right code must not wipe the session's wrong ones.
	s.log.LogAttrs(ctx, slog.LevelInfo, "device: user decided", slog.String("client_id", c.ID), slog.String("user_id", u.ID),
		slog.String("decision", decision), slog.String("request_id", RequestID(ctx)))
	s.renderDevice(w, r, ui.DeviceData{Approved: decision == ui.DecisionApprove, Denied: decision == ui.DecisionDeny}, &u, http.StatusOK)
}

// deviceUser returns the signed-in session and user. Without one it shows
// the login page of a sign-in that returns to the verification page with
// the code typed so far, and reports false.
func (s *Server) deviceUser(w http.ResponseWriter, r *http.Request, typed string) (store.Session, store.User, bool) {
	ctx := r.Context()
	sess, err := s.signin.sessions.Current(ctx, r)
	if err == nil {
		u, err := s.stores.signIn.GetUser(ctx, sess.UserID)
		switch {
		case err == nil && !u.Disabled:
			return sess, u, true
		case err == nil || errors.Is(err, store.ErrNotFound):
			_, _ = s.signin.sessions.End(ctx, w, r)
		default:
			s.serverErrorPage(w, r, err)
			return store.Session{}, store.User{}, false
		}
	} else if !errors.Is(err, authn.ErrNoSession) {
		s.serverErrorPage(w, r, err)
		return store.Session{}, store.User{}, false
	}
	back := PathDevice
	if uc, ok := grant.NormalizeUserCode(typed); ok {
		back += "?" + url.Values{ui.FieldUserCode: {grant.FormatUserCode(uc)}}.Encode()
	}
	req := &authz.Request{RedirectURI: back, MaxAge: -1, Expires: s.now().Add(authz.Timeout).Unix()}
	s.renderLogin(w, r, &flow{req: req, account: true}, "", http.StatusOK)
	return store.Session{}, store.User{}, false
}

// renderDevice renders the verification page with a fresh CSRF token.
func (s *Server) renderDevice(w http.ResponseWriter, r *http.Request, d ui.DeviceData, u *store.User, status int) {
	token, err := s.signin.csrf.Token(w, r)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	d.CSRFToken, d.FormAction, d.Status = token, PathDevice, status
	d.DisplayName, d.Username = displayName(u), u.Username
	if err := s.signin.pages().Device(w, r, d); err != nil {
		s.log.ErrorContext(r.Context(), "render device page", "error", err)
	}
}

// renderDeviceConsent shows the client and scopes of a pending device code
// with Allow and Deny, posting back with the code.
func (s *Server) renderDeviceConsent(w http.ResponseWriter, r *http.Request, c *store.Client, u *store.User, d store.DeviceCode) {
	token, err := s.signin.csrf.Token(w, r)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	f := &flow{client: c}
	p := ui.Page{
		CSRFToken: token, FormAction: PathDevice,
		Hidden:     []ui.Field{{Name: ui.FieldUserCode, Value: grant.FormatUserCode(d.UserCode)}},
		ClientName: clientName(c), ClientURI: flowClientURI(f),
	}
	if err := s.signin.pages().Consent(w, r, ui.ConsentData{Page: p, Scopes: ui.Scopes(d.Scopes...), DisplayName: displayName(u), Username: u.Username}); err != nil {
		s.log.ErrorContext(r.Context(), "render device consent page", "error", err)
	}
}

// isDeviceReturn reports whether a sealed sign-in returns to the
// verification page (deviceUser).
func isDeviceReturn(redirect string) bool {
	u, err := url.Parse(redirect)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Path == PathDevice
}
