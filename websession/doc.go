// Package websession keeps a web application's sign-in session in a cookie
// that the application signs itself: a short JWT (typ "session+jwt") signed
// with HS256 or EdDSA by the application's own key ring, verified on every
// request, sliding its idle expiry and never living past its absolute
// lifetime.
//
// The cookie is named with the "__Host-" prefix and set HttpOnly, Secure,
// SameSite=Lax (or Strict), Path=/ and without Domain, so that no other
// host, path or script can read or plant it; a cookie that would exceed
// 4096 bytes is refused rather than silently dropped by the browser.
//
// A Manager's Handler is the middleware: it puts the verified Session in
// the request context (FromContext), re-issues the cookie when enough of
// the idle timeout has passed, clears a cookie that no longer verifies, and
// guards unsafe methods (POST, PUT, PATCH, DELETE) twice: the request must
// come from the application's own origin (Sec-Fetch-Site, else Origin), and,
// when a session exists, carry the session's CSRF token in a header or form
// field. Failures answer 403 with a short plain-text reason.
//
// Keys rotate: the first key of Config.Keys signs; older keys keep
// verifying sessions they signed until their RetireAt, after which those
// sessions are refused.
//
// A Manager also signs short-lived "transient" cookies, for example the
// state, nonce and PKCE verifier of an OpenID Connect sign-in between the
// redirect to the provider and the callback.
package websession
