package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Form field names the pages submit.
const (
	FieldCSRF     = "csrf_token" // every form
	FieldRequest  = "request"    // Page.RequestID, when set
	FieldUsername = "username"   // login
	FieldPassword = "password"   // login
	FieldDecision = "decision"   // consent, logout, select_account
	FieldAccount  = "account"    // select_account: the chosen Account.ID
	FieldClientID = "client_id"  // account: the application whose access is removed
	FieldUserCode = "user_code"  // device: the code shown on the device
)

// Values of FieldDecision.
const (
	DecisionApprove      = "approve" // consent: allow
	DecisionDeny         = "deny"    // consent: deny
	DecisionLogout       = "logout"  // logout: sign out
	DecisionCancel       = "cancel"  // logout: stay signed in
	DecisionOtherAccount = "other"   // select_account: sign in with another account
)

// ErrMissingCSRFToken is returned (and a 500 written) when a page with a
// form is rendered without Page.CSRFToken.
var ErrMissingCSRFToken = errors.New("ui: page has a form but no CSRF token")

// Page holds the fields every page with a form shares. Fields a page has no
// use for are ignored.
type Page struct {
	// Locale is a language tag, or a space-separated list of them (the
	// ui_locales parameter). Unsupported or empty: the request's
	// Accept-Language decides, then DefaultLocale. See PickLocale.
	Locale string
	// Status is the HTTP status code; 0 means 200.
	Status int
	// CSRFToken is rendered as the hidden input "csrf_token" of every form.
	// Required on pages with a form.
	CSRFToken string
	// FormAction is the URL forms post to; empty posts back to the page's
	// own URL.
	FormAction string
	// RequestID, when set, is rendered as the hidden input "request" so the
	// form submission can continue the pending authorization request.
	RequestID string
	// Hidden are further hidden inputs of every form. The names
	// "csrf_token" and "request" are taken by the fields above.
	Hidden []Field
	// ClientName names the application the user is signing in to.
	ClientName string
	// ClientURI is the application's home page; shown (as its host) only
	// when it is an http or https URL.
	ClientURI string
	// RedirectTarget is where a form submission on this page may redirect
	// the browser to, such as the client's redirect_uri or
	// post_logout_redirect_uri: its origin is added to the CSP form-action
	// directive (see CSP). Empty allows only this server.
	RedirectTarget string
	// Error, when set, is shown in an alert region and linked to the
	// form's inputs with aria-describedby.
	Error string
}

// Field is one hidden form input.
type Field struct {
	Name  string
	Value string
}

// LoginData is the data of the sign-in page.
type LoginData struct {
	Page
	// LoginHint prefills the username when Username is empty (the OpenID
	// Connect login_hint parameter).
	LoginHint string
	// Username prefills the username, e.g. after a failed attempt.
	Username string
}

// Scope is one requested permission. An empty Description is replaced by
// the locale's description of a standard scope (openid, profile, email,
// phone, address, offline_access) or by "Access: <name>".
type Scope struct {
	Name        string
	Description string
}

// Scopes turns scope names into Scopes with default descriptions.
func Scopes(names ...string) []Scope {
	s := make([]Scope, len(names))
	for i, n := range names {
		s[i] = Scope{Name: n}
	}
	return s
}

// ConsentData is the data of the consent page, whose form submits
// "decision" = "approve" or "deny".
type ConsentData struct {
	Page
	// Scopes are the permissions asked for, in display order.
	Scopes []Scope
	// DisplayName and Username identify the signed-in user.
	DisplayName string
	Username    string
	// SwitchAccountURL, when set, is linked as "Use a different account".
	SwitchAccountURL string
}

// LogoutData is the data of the sign-out confirmation page, whose form
// submits "decision" = "logout" or "cancel".
type LogoutData struct {
	Page
	// Username is the signed-in user.
	Username string
	// PostLogoutRedirectURI, when set, is shown as where the user goes next.
	PostLogoutRedirectURI string
}

// LoggedOutData is the data of the page shown after signing out.
type LoggedOutData struct {
	Page
	// ReturnURI, when set, is linked as "Return to <ClientName>".
	ReturnURI string
}

// SAMLPostData is the data of the page that carries a SAML message to a
// service provider by the HTTP-POST binding: a form posted by the browser,
// at once when scripts run, else by the user's click.
type SAMLPostData struct {
	Page
	// Action is the URL the form posts to (the SP's ACS or SLO endpoint).
	Action string
	// MessageName is SAMLResponse or SAMLRequest.
	MessageName string
	// Message is the base64 message.
	Message string
	// RelayState is sent back as given, when not empty.
	RelayState string
}

// samlAutoSubmit is the one script of the pages: it posts the SAML form.
// Its hash is the only script source the SAML page's policy allows.
const samlAutoSubmit = `document.getElementById("saml-post").submit();`

// samlScriptSrc is the script-src directive that allows samlAutoSubmit.
var samlScriptSrc = func() string {
	sum := sha256.Sum256([]byte(samlAutoSubmit))
	return "; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// Account is one account offered on the account selection page.
type Account struct {
	// ID is submitted as "account" when the account is chosen.
	ID          string
	DisplayName string
	Username    string
}

// SelectAccountData is the data of the account selection page, whose form
// submits "account" = Account.ID, or "decision" = "other".
type SelectAccountData struct {
	Page
	Accounts []Account
}

// AppAccess is one application the user allowed to access their account,
// as listed on the account page.
type AppAccess struct {
	// ClientID is submitted as "client_id" when the user removes the
	// application's access.
	ClientID string
	// ClientName names the application; empty shows ClientID.
	ClientName string
	// Scopes are the permissions the user gave, in display order; empty
	// Descriptions are filled in as for ConsentData.Scopes.
	Scopes []Scope
	// GrantedAt is when the user first allowed access; the zero time
	// shows no date.
	GrantedAt time.Time
}

// AgentAccess is an agent the user owns (a client registered to act for
// them), as listed on the account page with a "Revoke" form that submits
// "client_id" = ClientID to AccountData.AgentAction.
type AgentAccess struct {
	// ClientID identifies the agent.
	ClientID string
	// ClientName names it; empty shows ClientID.
	ClientName string
	// MaxTokenTTL is the longest life of its tokens.
	MaxTokenTTL time.Duration
	// RequireDPoP is set when its tokens are bound to its key.
	RequireDPoP bool
}

// DelegationAccess is an active delegation that acts for the user (tokens
// issued by token exchange with the user as subject), as listed on the
// account page with a "Revoke" form that submits "delegation_id" = ID to
// AccountData.DelegationAction.
type DelegationAccess struct {
	// ID identifies the delegation.
	ID string
	// ClientID is the client that holds the tokens; ClientName names it
	// (empty shows ClientID).
	ClientID   string
	ClientName string
	// Actors is the act chain, the current actor first.
	Actors []string
	// Scopes and Audience are those of its tokens.
	Scopes   []string
	Audience []string
	// ExpiresAt is when its last token expires.
	ExpiresAt time.Time
}

// AccountData is the data of the account page: the signed-in user and the
// applications with access to their account, each with a "Remove access"
// form that submits "client_id" = AppAccess.ClientID to Page.FormAction.
// The page shows no client name from Page.ClientName.
type AccountData struct {
	Page
	// DisplayName, Username and Email describe the signed-in user; empty
	// ones are left out.
	DisplayName string
	Username    string
	Email       string
	// Apps are the applications with access, in display order.
	Apps []AppAccess
	// Agents are the agents the user owns; Delegations the active
	// delegations acting for the user. Each section is shown only when
	// not empty; its forms post to AgentAction and DelegationAction.
	Agents           []AgentAccess
	Delegations      []DelegationAccess
	AgentAction      string
	DelegationAction string
	// Removed shows a confirmation that an application's access was
	// removed.
	Removed bool
	// Revoked shows a confirmation that an agent or delegation was
	// revoked.
	Revoked bool
	// SignOutURL, when set, is linked as "Sign out".
	SignOutURL string
}

// DeviceData is the data of the device verification page (RFC 8628
// §3.3): a form that submits "user_code", or, with Result set, what
// became of the request.
type DeviceData struct {
	Page
	// UserCode prefills the code (from verification_uri_complete).
	UserCode string
	// DisplayName and Username identify the signed-in user.
	DisplayName string
	Username    string
	// Approved or Denied shows that outcome instead of the form.
	Approved, Denied bool
}

// ErrorData is the data of the error page. It has no form and never
// redirects.
type ErrorData struct {
	// Locale is as in Page.
	Locale string
	// Title is the heading; empty shows a generic one.
	Title string
	// Description explains what happened; empty shows a generic text.
	Description string
	// Code, when set, is shown as a reference such as "invalid_request".
	Code string
	// SignInURL, when set, is linked as a "Sign in" button (a page that
	// needs a signed-in user).
	SignInURL string
}

// frame is what the renderer adds to every page's data.
type frame struct {
	Lang       string
	Dir        string
	Product    string
	ClientHost string // host of an http(s) ClientURI
	ClientLink string // that URI, or ""
	msgs       map[string]string
	fallback   map[string]string
}

// T returns the message key of the page's locale, formatted with args.
func (f frame) T(key string, args ...any) (string, error) {
	s, ok := f.msgs[key]
	if !ok {
		s, ok = f.fallback[key]
	}
	if !ok {
		return "", fmt.Errorf("no message %q", key)
	}
	if len(args) > 0 {
		s = fmt.Sprintf(s, args...)
	}
	return s, nil
}

func (f frame) scopeDescription(name string) string {
	switch name {
	case "openid", "profile", "email", "phone", "address", "offline_access":
		s, _ := f.T("scope." + name)
		return s
	}
	s, _ := f.T("scope.other", name)
	return s
}

// Template data: the page's data with the frame.
type (
	loginView struct {
		LoginData
		frame
		Prefill string
	}
	consentView struct {
		ConsentData
		frame
		Who string
	}
	logoutView struct {
		LogoutData
		frame
	}
	loggedOutView struct {
		LoggedOutData
		frame
	}
	samlPostView struct {
		SAMLPostData
		frame
		Script template.JS
	}
	selectAccountView struct {
		SelectAccountData
		frame
	}
	errorView struct {
		ErrorData
		frame
		Heading string
		Text    string
	}
	deviceView struct {
		DeviceData
		frame
		Who string
	}
	accountView struct {
		AccountData
		frame
		Items           []appAccessView
		AgentItems      []agentView
		DelegationItems []delegationView
	}
	// agentView is an AgentAccess with what the template shows of it.
	agentView struct {
		AgentAccess
		Name string // ClientName, or ClientID
		TTL  string // MaxTokenTTL, e.g. "15m0s"
	}
	// delegationView is a DelegationAccess with what the template shows.
	delegationView struct {
		DelegationAccess
		Name     string // ClientName, or ClientID
		Chain    string // the actors, current first, joined by " ← "
		Scope    string // the scopes, space-separated
		Aud      string // the audiences, space-separated
		Date     string // ExpiresAt in the locale's layout
		DateTime string // ExpiresAt in RFC 3339
	}
	// appAccessView is an AppAccess with what the template shows of it.
	appAccessView struct {
		AppAccess
		Name     string // ClientName, or ClientID
		Date     string // GrantedAt in the locale's date layout, or ""
		DateTime string // GrantedAt in RFC 3339, for <time datetime>
	}
)

// Login renders the sign-in page: username and password, prefilled with
// d.Username or else d.LoginHint.
func (u *UI) Login(w http.ResponseWriter, r *http.Request, d LoginData) error {
	return u.renderForm(w, pageLogin, d.Page, u.loginView(u.lang(r, d.Locale), d))
}

// Device renders the device verification page: the user code form, or
// the result of the decision.
func (u *UI) Device(w http.ResponseWriter, r *http.Request, d DeviceData) error {
	return u.renderForm(w, pageDevice, d.Page, u.deviceView(u.lang(r, d.Locale), d))
}

func (u *UI) deviceView(lang string, d DeviceData) deviceView {
	v := deviceView{DeviceData: d, frame: u.frame(lang, d.ClientURI)}
	v.Who = u.consentView(lang, ConsentData{DisplayName: d.DisplayName, Username: d.Username}).Who
	return v
}

// Consent renders the consent page: the client, the signed-in user, the
// requested scopes and Allow/Deny buttons.
func (u *UI) Consent(w http.ResponseWriter, r *http.Request, d ConsentData) error {
	return u.renderForm(w, pageConsent, d.Page, u.consentView(u.lang(r, d.Locale), d))
}

// Logout renders the sign-out confirmation page: who asks, the signed-in
// user, where the browser goes afterwards, and Sign out/Stay signed in.
func (u *UI) Logout(w http.ResponseWriter, r *http.Request, d LogoutData) error {
	return u.renderForm(w, pageLogout, d.Page, u.logoutView(u.lang(r, d.Locale), d))
}

// LoggedOut renders the page shown after signing out, with a link back to
// the client when d.ReturnURI is set. It has no form.
func (u *UI) LoggedOut(w http.ResponseWriter, r *http.Request, d LoggedOutData) error {
	v := u.loggedOutView(u.lang(r, d.Locale), d)
	return u.render(w, pageLoggedOut, d.Status, d.RedirectTarget, v)
}

// SAMLPost renders the HTTP-POST binding's form to d.Action, which the
// Content-Security-Policy admits as a form target; the auto-submit script
// is allowed by its hash.
func (u *UI) SAMLPost(w http.ResponseWriter, r *http.Request, d SAMLPostData) error {
	return u.write(w, pageSAMLPost, d.Status, CSP(d.Action)+samlScriptSrc, u.samlPostView(u.lang(r, d.Locale), d))
}

func (u *UI) samlPostView(lang string, d SAMLPostData) samlPostView {
	return samlPostView{SAMLPostData: d, frame: u.frame(lang, d.ClientURI), Script: template.JS(samlAutoSubmit)}
}

// SelectAccount renders the account chooser: one button per account and
// one for another account.
func (u *UI) SelectAccount(w http.ResponseWriter, r *http.Request, d SelectAccountData) error {
	return u.renderForm(w, pageSelectAccount, d.Page, u.selectAccountView(u.lang(r, d.Locale), d))
}

// Account renders the user's account page: who is signed in, the
// applications with access to the account and a "Remove access" button for
// each, a confirmation when d.Removed is set, and a sign-out link when
// d.SignOutURL is set. It needs d.CSRFToken even when no application is
// listed.
func (u *UI) Account(w http.ResponseWriter, r *http.Request, d AccountData) error {
	return u.renderForm(w, pageAccount, d.Page, u.accountView(u.lang(r, d.Locale), d))
}

// Error renders the error page with the given status code (500 when it is
// not a valid 4xx or 5xx code): a title, a description and an optional
// error code. It never redirects.
func (u *UI) Error(w http.ResponseWriter, r *http.Request, status int, d ErrorData) error {
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	return u.render(w, pageError, status, "", u.errorView(u.lang(r, d.Locale), d))
}

func (u *UI) renderForm(w http.ResponseWriter, page string, p Page, view any) error {
	if p.CSRFToken == "" {
		writeFailure(w)
		return fmt.Errorf("ui: %s page: %w", page, ErrMissingCSRFToken)
	}
	return u.render(w, page, p.Status, p.RedirectTarget, view)
}

// render writes a page whose forms may also redirect to redirectTarget
// (see write).
func (u *UI) render(w http.ResponseWriter, page string, status int, redirectTarget string, view any) error {
	return u.write(w, page, status, CSP(redirectTarget), view)
}

// write executes a page into a buffer and writes it with the security
// headers and the Content-Security-Policy csp, or writes a plain 500 when
// it fails.
func (u *UI) write(w http.ResponseWriter, page string, status int, csp string, view any) error {
	var buf bytes.Buffer
	if err := u.pages[page].Execute(&buf, view); err != nil {
		writeFailure(w)
		return fmt.Errorf("ui: render %s: %w", page, err)
	}
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 599 {
		status = http.StatusInternalServerError
	}
	h := w.Header()
	SetPageHeaders(h)
	h.Set("Content-Security-Policy", csp)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	if err != nil {
		return fmt.Errorf("ui: write %s: %w", page, err)
	}
	return nil
}

func writeFailure(w http.ResponseWriter) {
	SetPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "Internal Server Error\n")
}

// SetPageHeaders sets the headers every page carries: HTML content type,
// no-store caching, framing denied, no referrer, no sniffing and the
// Content-Security-Policy of CSP(formTargets...).
func SetPageHeaders(h http.Header, formTargets ...string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", CSP(formTargets...))
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// CSP returns the Content-Security-Policy of the pages: nothing but the
// same-origin style sheet and images, no framing, no <base>, and forms that
// may submit to this server and redirect to the origins of formTargets.
//
// A form target is a URL such as a client's redirect URI: an http or https
// URL contributes its origin (scheme, host and port); a URL of another
// scheme (a native app's "com.example.app:/cb") contributes that scheme.
// Empty, malformed, hostless http(s), IP-literal IPv6 hosts (which CSP
// cannot express) and dangerous schemes (javascript, data, blob,
// filesystem, about) are left out.
func CSP(formTargets ...string) string {
	var b strings.Builder
	b.WriteString("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'")
	seen := make(map[string]bool, len(formTargets))
	for _, t := range formTargets {
		src, ok := cspSource(t)
		if !ok || seen[src] {
			continue
		}
		seen[src] = true
		b.WriteString(" ")
		b.WriteString(src)
	}
	b.WriteString("; frame-ancestors 'none'; base-uri 'none'")
	return b.String()
}

// cspSource turns a URL into a CSP source expression.
func cspSource(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	p, err := url.Parse(raw)
	if err != nil || p.Scheme == "" {
		return "", false
	}
	scheme := strings.ToLower(p.Scheme)
	if !isToken(scheme, "abcdefghijklmnopqrstuvwxyz0123456789+.-") {
		return "", false
	}
	switch scheme {
	case "javascript", "data", "blob", "filesystem", "about", "vbscript":
		return "", false
	case "http", "https":
		host := strings.ToLower(p.Host)
		if ip := net.ParseIP(p.Hostname()); ip != nil && ip.To4() == nil && ip.IsLoopback() && scheme == "http" {
			// CSP host sources cannot spell IPv6 literals. A native app's
			// loopback redirect (http://[::1]:port, RFC 8252) is allowed by
			// scheme instead: the server has already matched the target.
			return "http:", true
		}
		if p.Hostname() == "" || !isToken(host, "abcdefghijklmnopqrstuvwxyz0123456789.-:") {
			return "", false
		}
		if port := p.Port(); port == "" && strings.HasSuffix(host, ":") {
			host = strings.TrimSuffix(host, ":")
		}
		return scheme + "://" + host, true
	default:
		return scheme + ":", true
	}
}

// isToken reports whether s is non-empty and made of allowed bytes only.
func isToken(s, allowed string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(allowed, s[i]) < 0 {
			return false
		}
	}
	return true
}

// lang picks the locale of a page from its Locale and the request.
func (u *UI) lang(r *http.Request, locale string) string {
	var accept string
	if r != nil {
		accept = r.Header.Get("Accept-Language")
	}
	return PickLocale(locale, accept)
}

func (u *UI) frame(lang, clientURI string) frame {
	f := frame{
		Lang:     lang,
		Product:  u.product,
		msgs:     u.catalog[lang],
		fallback: u.catalog[DefaultLocale],
	}
	f.Dir, _ = f.T("meta.dir")
	if f.Dir != "rtl" {
		f.Dir = "ltr"
	}
	if c, err := url.Parse(clientURI); err == nil && (c.Scheme == "https" || c.Scheme == "http") && c.Hostname() != "" {
		f.ClientHost = c.Hostname()
		f.ClientLink = c.String()
	}
	return f
}

func (u *UI) loginView(lang string, d LoginData) loginView {
	v := loginView{LoginData: d, frame: u.frame(lang, d.ClientURI), Prefill: d.Username}
	if v.Prefill == "" {
		v.Prefill = d.LoginHint
	}
	return v
}

// describeScopes returns scopes without empty names and duplicates, with
// empty descriptions filled in.
func (f frame) describeScopes(in []Scope) []Scope {
	scopes := make([]Scope, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if s.Name == "" || seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		if s.Description == "" {
			s.Description = f.scopeDescription(s.Name)
		}
		scopes = append(scopes, s)
	}
	return scopes
}

func (u *UI) consentView(lang string, d ConsentData) consentView {
	v := consentView{ConsentData: d, frame: u.frame(lang, d.ClientURI)}
	v.Scopes = v.describeScopes(d.Scopes)
	switch {
	case d.DisplayName != "" && d.Username != "" && d.DisplayName != d.Username:
		v.Who = d.DisplayName + " (" + d.Username + ")"
	case d.DisplayName != "":
		v.Who = d.DisplayName
	default:
		v.Who = d.Username
	}
	return v
}

func (u *UI) logoutView(lang string, d LogoutData) logoutView {
	return logoutView{LogoutData: d, frame: u.frame(lang, d.ClientURI)}
}

func (u *UI) loggedOutView(lang string, d LoggedOutData) loggedOutView {
	return loggedOutView{LoggedOutData: d, frame: u.frame(lang, d.ClientURI)}
}

func (u *UI) selectAccountView(lang string, d SelectAccountData) selectAccountView {
	return selectAccountView{SelectAccountData: d, frame: u.frame(lang, d.ClientURI)}
}

func (u *UI) accountView(lang string, d AccountData) accountView {
	v := accountView{AccountData: d, frame: u.frame(lang, d.ClientURI)}
	layout, _ := v.T("account.date_layout")
	v.Items = make([]appAccessView, 0, len(d.Apps))
	for _, a := range d.Apps {
		a.Scopes = v.describeScopes(a.Scopes)
		item := appAccessView{AppAccess: a, Name: a.ClientName}
		if item.Name == "" {
			item.Name = a.ClientID
		}
		if !a.GrantedAt.IsZero() {
			t := a.GrantedAt.UTC()
			item.Date = t.Format(layout)
			item.DateTime = t.Format(time.RFC3339)
		}
		v.Items = append(v.Items, item)
	}
	for _, a := range d.Agents {
		item := agentView{AgentAccess: a, Name: cmpOr(a.ClientName, a.ClientID), TTL: a.MaxTokenTTL.String()}
		v.AgentItems = append(v.AgentItems, item)
	}
	timeLayout, _ := v.T("account.time_layout")
	for _, dl := range d.Delegations {
		item := delegationView{
			DelegationAccess: dl, Name: cmpOr(dl.ClientName, dl.ClientID),
			Chain: strings.Join(dl.Actors, " ← "), Scope: strings.Join(dl.Scopes, " "), Aud: strings.Join(dl.Audience, " "),
		}
		if !dl.ExpiresAt.IsZero() {
			t := dl.ExpiresAt.UTC()
			item.Date = t.Format(timeLayout)
			item.DateTime = t.Format(time.RFC3339)
		}
		v.DelegationItems = append(v.DelegationItems, item)
	}
	return v
}

// cmpOr returns a, or b when a is empty.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (u *UI) errorView(lang string, d ErrorData) errorView {
	v := errorView{ErrorData: d, frame: u.frame(lang, ""), Heading: d.Title, Text: d.Description}
	if v.Heading == "" {
		v.Heading, _ = v.T("error.title")
	}
	if v.Text == "" {
		v.Text, _ = v.T("error.description")
	}
	return v
}

// sample is one page rendering New tries before accepting the templates.
type sample struct {
	page string
	view any
}

// samples returns, for every page, views with every optional field set
// and with none, so that New exercises each branch of the templates.
func (u *UI) samples() []sample {
	full := Page{
		CSRFToken:      "csrf",
		FormAction:     "/authorize",
		RequestID:      "req",
		Hidden:         []Field{{Name: "n", Value: "v"}},
		ClientName:     "Client",
		ClientURI:      "https://client.example/",
		RedirectTarget: "https://client.example/cb",
		Error:          "Error",
	}
	bare := Page{CSRFToken: "csrf"}
	var out []sample
	for _, lang := range strings.Fields(supportedLocales) {
		out = append(out,
			sample{pageLogin, u.loginView(lang, LoginData{Page: full, LoginHint: "hint", Username: "user"})},
			sample{pageLogin, u.loginView(lang, LoginData{Page: bare})},
			sample{pageConsent, u.consentView(lang, ConsentData{Page: full,
				Scopes:      Scopes("openid", "profile", "email", "phone", "address", "offline_access", "custom"),
				DisplayName: "Name", Username: "user", SwitchAccountURL: "/switch"})},
			sample{pageConsent, u.consentView(lang, ConsentData{Page: bare})},
			sample{pageLogout, u.logoutView(lang, LogoutData{Page: full, Username: "user",
				PostLogoutRedirectURI: "https://client.example/bye"})},
			sample{pageLogout, u.logoutView(lang, LogoutData{Page: bare})},
			sample{pageLoggedOut, u.loggedOutView(lang, LoggedOutData{Page: full, ReturnURI: "https://client.example/"})},
			sample{pageLoggedOut, u.loggedOutView(lang, LoggedOutData{})},
			sample{pageSAMLPost, u.samlPostView(lang, SAMLPostData{Page: full, Action: "https://sp.example/acs",
				MessageName: "SAMLResponse", Message: "PHNhbWw+", RelayState: "/after"})},
			sample{pageSAMLPost, u.samlPostView(lang, SAMLPostData{Action: "https://sp.example/acs", MessageName: "SAMLRequest"})},
			sample{pageSelectAccount, u.selectAccountView(lang, SelectAccountData{Page: full, Accounts: []Account{
				{ID: "1", DisplayName: "Name", Username: "user"}, {ID: "2", Username: "user2"}}})},
			sample{pageSelectAccount, u.selectAccountView(lang, SelectAccountData{Page: bare})},
			sample{pageError, u.errorView(lang, ErrorData{Title: "T", Description: "D", Code: "invalid_request"})},
			sample{pageError, u.errorView(lang, ErrorData{})},
			sample{pageError, u.errorView(lang, ErrorData{Title: "T", SignInURL: "/account/login"})},
			sample{pageAccount, u.accountView(lang, AccountData{Page: full,
				DisplayName: "Name", Username: "user", Email: "user@example.com",
				Apps: []AppAccess{
					{ClientID: "c1", ClientName: "Client", Scopes: Scopes("profile", "email", "custom"),
						GrantedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
					{ClientID: "c2"},
				},
				Agents: []AgentAccess{{ClientID: "a1", ClientName: "Agent", MaxTokenTTL: 15 * time.Minute, RequireDPoP: true}, {ClientID: "a2"}},
				Delegations: []DelegationAccess{
					{ID: "d1", ClientID: "c1", ClientName: "Client", Actors: []string{"a1", "c1"}, Scopes: []string{"read"},
						Audience: []string{"https://api.example"}, ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
					{ID: "d2", ClientID: "c2"},
				},
				AgentAction: "/account/agents/revoke", DelegationAction: "/account/delegations/revoke",
				Removed: true, Revoked: true, SignOutURL: "/logout"})},
			sample{pageAccount, u.accountView(lang, AccountData{Page: bare})},
			sample{pageDevice, u.deviceView(lang, DeviceData{Page: full, UserCode: "BCDF-GHJK", DisplayName: "Name", Username: "user"})},
			sample{pageDevice, u.deviceView(lang, DeviceData{Page: bare})},
			sample{pageDevice, u.deviceView(lang, DeviceData{Page: bare, Approved: true})},
			sample{pageDevice, u.deviceView(lang, DeviceData{Page: bare, Denied: true})},
		)
	}
	return out
}
