package websession

import (
	"errors"
	"net/http"
	"time"
)

// Handler is the session middleware. For every request it:
//
//   - reads the session cookie and verifies it; a valid session goes into
//     the request context (FromContext), an invalid or expired one is
//     cleared and the request goes on without a session;
//   - re-issues the cookie once RefreshAfter of the idle timeout has
//     passed since it was issued, never past the absolute lifetime;
//   - for unsafe methods (POST, PUT, PATCH, DELETE, ...), refuses with 403
//     a request from another origin, and, when there is a session, one
//     without the session's CSRF token in Config.CSRFHeader or the form
//     field Config.CSRFField.
//
// It never decides that a page needs a session: wrap such handlers in
// RequireSession, or check FromContext.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Load(r)
		switch {
		case err == nil:
		case errors.Is(err, ErrNoSession):
		default:
			m.log.DebugContext(r.Context(), "websession: session refused", "reason", err.Error())
			m.Destroy(w)
			s = nil
		}
		if unsafeMethod(r.Method) {
			if err := m.checkOrigin(r); err != nil {
				m.refuse(w, r, http.StatusForbidden, err)
				return
			}
			if s != nil {
				tok, status, err := m.csrfFromRequest(w, r)
				if err != nil {
					m.refuse(w, r, status, err)
					return
				}
				if tok == "" || !s.ValidCSRFToken(tok) {
					m.refuse(w, r, http.StatusForbidden, ErrCSRF)
					return
				}
			}
		}
		if s != nil {
			if s = m.slide(w, s); s != nil {
				r = r.WithContext(WithSession(r.Context(), s))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// slide re-issues s when enough of its idle timeout has passed. It returns
// the session to use (nil if re-issuing failed and the cookie was cleared).
func (m *Manager) slide(w http.ResponseWriter, s *Session) *Session {
	now := m.now().Truncate(time.Second)
	if now.Sub(s.IssuedAt) < m.refresh || !s.IdleExpiresAt.Before(s.ExpiresAt) {
		return s
	}
	n := *s
	m.stamp(&n, now)
	if err := m.Issue(w, &n); err != nil {
		m.log.Error("websession: re-issuing the session cookie failed", "err", err)
		return s
	}
	return &n
}

// refuse answers a refused request with status and a short plain-text
// reason naming what to fix.
func (m *Manager) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	m.log.DebugContext(r.Context(), "websession: request refused", "status", status, "reason", err.Error())
	msg := "Forbidden: " + err.Error()
	switch {
	case errors.Is(err, ErrCSRF):
		msg = "Forbidden: this request needs the session's CSRF token (header " + m.cfg.CSRFHeader +
			" or form field " + m.cfg.CSRFField + "); reload the page and try again."
	case errors.Is(err, ErrCrossOrigin):
		msg = "Forbidden: cross-origin request refused (" + err.Error() + ")."
	case status == http.StatusRequestEntityTooLarge:
		msg = "Request Entity Too Large: " + err.Error()
	case status == http.StatusBadRequest:
		msg = "Bad Request: " + err.Error()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, status)
}

// RequireSession wraps next so that requests without a session get
// onMissing (nil: 401 with a plain-text message). Use it inside Handler.
func RequireSession(next, onMissing http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		if onMissing != nil {
			onMissing.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "Unauthorized: sign in first.", http.StatusUnauthorized)
	})
}
