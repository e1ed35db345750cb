package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/ratelimit"
	"github.com/writ-dev/writ/internal/ui"
)

// Rate limit rules: the names Options.Limiter's limits are keyed by. A
// rule without a limit is off. Rules named *_client count per
// authenticated client (after client authentication); the others per
// client address (clientip), before any work.
const (
	// RuleToken limits POST /oauth2/token per address.
	RuleToken = "token"
	// RuleTokenClient limits the token endpoint per client.
	RuleTokenClient = "token_client"
	// RuleAuthorize limits /oauth2/authorize and /oauth2/par per address.
	RuleAuthorize = "authorize"
	// RuleAuthorizeClient limits /oauth2/par per client.
	RuleAuthorizeClient = "authorize_client"
	// RuleDevice limits /oauth2/device_authorization and the /device
	// verification page per address.
	RuleDevice = "device"
	// RuleDeviceClient limits /oauth2/device_authorization per client.
	RuleDeviceClient = "device_client"
	// RuleLogin limits the sign-in pages (/login, /account/login) per
	// address, whatever the outcome; failed sign-ins are also throttled
	// by authn.Throttle.
	RuleLogin = "login"
	// RuleRegister limits dynamic client registration
	// (/oauth2/register) per address.
	RuleRegister = "register"
)

// Rules lists every rule, for configuration and documentation.
func Rules() []string {
	return []string{RuleToken, RuleTokenClient, RuleAuthorize, RuleAuthorizeClient, RuleDevice, RuleDeviceClient, RuleLogin, RuleRegister}
}

// rateLimitedCode is the OAuth error code of a rate-limited request: OAuth
// has none of its own, and temporarily_unavailable (RFC 6749 §4.1.2.1,
// the OAuth Extensions Error Registry) is what clients already read as
// "try again later"; the status is 429 and Retry-After says when.
const rateLimitedCode = "temporarily_unavailable"

// refusal is how a rule's refusal is rendered.
type refusal int

const (
	// asJSON is an OAuth JSON error.
	asJSON refusal = iota
	// asPage is an HTML page (sign-in pages, the authorization
	// endpoint, the device verification page).
	asPage
)

// limitAddr wraps h in rule, counted per client address.
func (s *Server) limitAddr(rule string, as refusal, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.allow(w, r, rule, authn.AddressKey(clientip.Of(r)), as) {
			return
		}
		h(w, r)
	}
}

// clientKey is what a per-client rule counts for an authenticated client:
// its client_id, and for a public client, which anyone can name, its
// client_id and the caller's address, so that a stranger's flood cannot
// lock out every user of the client.
func clientKey(r *http.Request, c *oauth.Authenticated) string {
	if c.Method == oauth.AuthNone {
		return c.Client.ID + " " + authn.AddressKey(clientip.Of(r))
	}
	return c.Client.ID
}

// allow counts one event of rule for value and, when it is refused,
// writes the 429 and reports false.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, rule, value string, as refusal) bool {
	d := s.opts.Limiter.Allow(r.Context(), rule, value)
	if d.Allowed {
		return true
	}
	secs := ratelimit.RetryAfterSeconds(d.RetryAfter)
	s.log.InfoContext(r.Context(), "rate limited", "rule", rule, "path", r.URL.Path, "source", clientip.Of(r),
		"retry_after_s", secs, "request_id", RequestID(r.Context()))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	if as == asPage && s.signin != nil {
		s.pageError(w, r, http.StatusTooManyRequests, "Too many requests",
			"Too many requests came from your network. Wait "+waitText(secs)+" and try again.")
		return false
	}
	oauth.WriteError(w, &oauth.Error{Status: http.StatusTooManyRequests, Code: rateLimitedCode,
		Description: "too many requests; retry after " + strconv.FormatInt(secs, 10) + " seconds"})
	return false
}

// sharedThrottle is the shared counting of the throttle name, or nil to
// count in this node's memory. Its backend failures are logged as the
// rate limits' are: at most once per ratelimit.WarnInterval.
func (s *Server) sharedThrottle(name string) *authn.SharedThrottle {
	if s.opts.SharedThrottle == nil {
		return nil
	}
	var warned ratelimit.Warner
	return &authn.SharedThrottle{Backend: s.opts.SharedThrottle, Name: name, Errors: func(err error) {
		if warned.Due(time.Now()) {
			s.log.Warn("sign-in throttle backend failed: attempts are allowed without throttling until it answers (fail open)", "throttle", name, "error", err.Error())
		}
	}}
}

// SetUIDir rebuilds the sign-in pages with the theme directory dir (empty:
// the built-in pages) and swaps them in; on error the pages in use stay.
// Without sign-in it does nothing.
func (s *Server) SetUIDir(dir string) error {
	if s.signin == nil {
		return nil
	}
	o := s.uiOptions
	o.Dir = dir
	pages, err := ui.New(o)
	if err != nil {
		return err
	}
	s.signin.ui.Store(pages)
	return nil
}
