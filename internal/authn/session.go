package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// Session defaults.
const (
	// DefaultSessionCookie is the name of the session cookie.
	DefaultSessionCookie = "writ_session"
	// DefaultSessionTTL is a session's absolute lifetime.
	DefaultSessionTTL = 24 * time.Hour
	// DefaultIdleTimeout ends a session unused for this long.
	DefaultIdleTimeout = 8 * time.Hour
	// TouchInterval is how stale LastSeenAt must be before Current records
	// a use, so that a busy session costs at most one write a minute.
	TouchInterval = time.Minute
)

// Sizes of session secrets and identifiers.
const (
	// sessionSecretSize is the entropy of a session cookie value: 256 bits.
	sessionSecretSize = 32
	// sessionIDSize is the entropy of a public session ID (sid): 128 bits.
	sessionIDSize = 16
)

// ErrNoSession reports that the request carries no usable session: no
// cookie, a malformed one, an unknown one, or one whose session expired or
// was idle for too long.
var ErrNoSession = errors.New("authn: no session")

// Sessions manages browser sign-in sessions: a random cookie whose SHA-256
// keys a store.Session. The zero value (with Store set) uses the defaults.
type Sessions struct {
	// Store keeps the session records; required.
	Store store.SessionStore
	// CookieName names the cookie; empty means DefaultSessionCookie. With
	// Secure set, "__Host-writ_session" additionally stops sibling
	// subdomains from setting the cookie.
	CookieName string
	// Secure marks the cookie Secure; set it whenever the issuer is https.
	Secure bool
	// TTL is a session's absolute lifetime from sign-in; zero or negative
	// means DefaultSessionTTL.
	TTL time.Duration
	// IdleTimeout ends a session not used for this long (judged by
	// LastSeenAt, which is recorded at most every TouchInterval); zero or
	// negative means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of cookie values and session IDs; nil means
	// crypto/rand.Reader.
	Rand io.Reader
}

// Start begins a session for user, authenticated now with the methods amr
// (e.g. "pwd") reaching acr (or empty), stores it and sets the session
// cookie on w: a random 256-bit value, HttpOnly, SameSite=Lax, Path=/,
// Secure when configured, with Max-Age the session's TTL. The returned
// session's ID is a new random sid. The cookie value is never stored or
// returned: only its SHA-256 (Session.Hash).
//
// Start does not end a session the browser had before; to replace one (a
// new sign-in while signed in), call End first so that its record does not
// linger. A disabled user is refused with ErrInvalidCredentials.
func (s *Sessions) Start(ctx context.Context, w http.ResponseWriter, user store.User, amr []string, acr string) (store.Session, error) {
	if s.Store == nil {
		return store.Session{}, errors.New("authn: Sessions needs a Store")
	}
	if user.Disabled {
		return store.Session{}, fmt.Errorf("authn: start session: %w", ErrInvalidCredentials)
	}
	secret, err := s.random(sessionSecretSize)
	if err != nil {
		return store.Session{}, fmt.Errorf("authn: start session: %w", err)
	}
	sid, err := s.random(sessionIDSize)
	if err != nil {
		return store.Session{}, fmt.Errorf("authn: start session: %w", err)
	}
	now := s.now().UTC().Truncate(store.TimePrecision)
	sum := sha256.Sum256([]byte(secret))
	sess := store.Session{
		Hash:       sum[:],
		ID:         sid,
		UserID:     user.ID,
		AuthTime:   now,
		AMR:        append([]string(nil), amr...),
		ACR:        acr,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(s.ttl()),
	}
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return store.Session{}, fmt.Errorf("authn: start session: %w", err)
	}
	http.SetCookie(w, s.cookie(secret, int(s.ttl()/time.Second)))
	return sess, nil
}

// Current returns the session of the request's cookie, recording its use
// (LastSeenAt) when the recorded one is older than TouchInterval. It is
// ErrNoSession when there is no well-formed cookie, no such session, or the
// session expired or was idle for IdleTimeout; other errors are the
// store's, wrapped. The caller still loads the user and treats a missing or
// disabled one as no session.
func (s *Sessions) Current(ctx context.Context, r *http.Request) (store.Session, error) {
	if s.Store == nil {
		return store.Session{}, errors.New("authn: Sessions needs a Store")
	}
	hash, ok := s.cookieHash(r)
	if !ok {
		return store.Session{}, ErrNoSession
	}
	sess, err := s.Store.GetSession(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, ErrNoSession
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("authn: current session: %w", err)
	}
	now := s.now().UTC().Truncate(store.TimePrecision)
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= s.idleTimeout() {
		return store.Session{}, ErrNoSession
	}
	if now.Sub(sess.LastSeenAt) >= TouchInterval {
		err := s.Store.TouchSession(ctx, hash, now)
		if errors.Is(err, store.ErrNotFound) {
			return store.Session{}, ErrNoSession
		}
		if err != nil {
			return store.Session{}, fmt.Errorf("authn: touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	return sess, nil
}

// End signs the browser out: it clears the session cookie on w and deletes
// the session of r's cookie, returning it as it was (expired or not) so
// that the caller can notify the clients it signed in to. ErrNoSession if
// there was no well-formed cookie or no such session; the cookie is
// cleared either way.
func (s *Sessions) End(ctx context.Context, w http.ResponseWriter, r *http.Request) (store.Session, error) {
	if s.Store == nil {
		return store.Session{}, errors.New("authn: Sessions needs a Store")
	}
	hash, ok := s.cookieHash(r)
	http.SetCookie(w, s.cookie("", -1))
	if !ok {
		return store.Session{}, ErrNoSession
	}
	sess, err := s.Store.DeleteSession(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, ErrNoSession
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("authn: end session: %w", err)
	}
	return sess, nil
}

// EndAll deletes every session of the user and returns them, ordered by ID,
// for logout notifications; none if there were none. Call it after
// disabling the user, so that no new session starts in between.
func (s *Sessions) EndAll(ctx context.Context, userID string) ([]store.Session, error) {
	if s.Store == nil {
		return nil, errors.New("authn: Sessions needs a Store")
	}
	sessions, err := s.Store.DeleteUserSessions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("authn: end all sessions: %w", err)
	}
	return sessions, nil
}

// cookieHash returns the SHA-256 of the request's session cookie value, if
// the request has one of the right form.
func (s *Sessions) cookieHash(r *http.Request) ([]byte, bool) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || !wellFormedSecret(c.Value) {
		return nil, false
	}
	sum := sha256.Sum256([]byte(c.Value))
	return sum[:], true
}

func (s *Sessions) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     s.cookieName(),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   s.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

func (s *Sessions) random(n int) (string, error) {
	return randomString(s.Rand, n)
}

func (s *Sessions) cookieName() string {
	if s.CookieName == "" {
		return DefaultSessionCookie
	}
	return s.CookieName
}

func (s *Sessions) ttl() time.Duration {
	if s.TTL <= 0 {
		return DefaultSessionTTL
	}
	return s.TTL
}

func (s *Sessions) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// randomString returns n random bytes from r (crypto/rand when nil),
// base64url without padding.
func randomString(r io.Reader, n int) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// wellFormedSecret reports whether v has the form of a 256-bit cookie
// secret: 43 characters of canonical unpadded base64url.
func wellFormedSecret(v string) bool {
	if len(v) != base64.RawURLEncoding.EncodedLen(sessionSecretSize) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil && len(b) == sessionSecretSize
}
