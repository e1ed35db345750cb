package websession

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/writ-dev/writ/jwt"
)

// TokenType is the "typ" header of a session token. A token of any other
// type (an ID token, an access token, a transient cookie) is refused.
const TokenType = "session+jwt"

// MaxCookieSize bounds a cookie's name and value together. Browsers keep
// at least 4096 bytes per cookie (RFC 6265 §6.1) and drop larger ones
// silently; the Manager refuses to write one and refuses to read one.
const MaxCookieSize = 4096

// Defaults of Config.
const (
	// DefaultCookieName is the session cookie's name.
	DefaultCookieName = "__Host-session"
	// DefaultLifetime is the absolute lifetime of a session.
	DefaultLifetime = 12 * time.Hour
	// DefaultIdleTimeout ends a session not used for this long.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultRefreshAfter is the fraction of the idle timeout after which
	// the cookie is re-issued.
	DefaultRefreshAfter = 0.25
	// DefaultMaxDataSize bounds Session.Data, JSON-encoded, in bytes.
	DefaultMaxDataSize = 1024
	// DefaultCSRFHeader is the request header carrying the CSRF token.
	DefaultCSRFHeader = "X-CSRF-Token"
	// DefaultCSRFField is the form field carrying the CSRF token.
	DefaultCSRFField = "csrf_token"
	// DefaultMaxFormSize bounds the body read to find the CSRF form field.
	DefaultMaxFormSize = 1 << 20
)

// Errors. Every error the package returns about a request or a cookie
// wraps one of them; none ever contains a token or a secret.
var (
	// ErrNoSession: the request carries no session cookie.
	ErrNoSession = errors.New("websession: no session")
	// ErrInvalidSession: the cookie is not a session this application
	// signed (malformed, too large, bad signature, wrong typ, alg, iss or
	// aud, unknown key). The jwt sentinel is wrapped too.
	ErrInvalidSession = errors.New("websession: invalid session")
	// ErrExpired: the session's absolute lifetime is over.
	ErrExpired = errors.New("websession: session expired")
	// ErrIdle: the session was not used within the idle timeout.
	ErrIdle = errors.New("websession: session idle for too long")
	// ErrKeyRetired: the session was signed with a key that has retired.
	ErrKeyRetired = errors.New("websession: session signed with a retired key")
	// ErrTooLarge: the cookie would exceed MaxCookieSize, or the session
	// data exceeds Config.MaxDataSize.
	ErrTooLarge = errors.New("websession: too large")
	// ErrCSRF: an unsafe request of a session lacks a valid CSRF token.
	ErrCSRF = errors.New("websession: missing or invalid CSRF token")
	// ErrCrossOrigin: an unsafe request comes from another origin.
	ErrCrossOrigin = errors.New("websession: cross-origin request refused")
)

// Config configures a Manager. AppURL and Keys are required.
type Config struct {
	// AppURL is the application's origin, e.g. "https://app.example.com"
	// (scheme, host, optional port; no path). It is the "iss" and "aud" of
	// every session token, and the origin unsafe requests must come from.
	AppURL string
	// Keys is the key ring: Keys[0] signs, the others only verify until
	// their RetireAt.
	Keys []Key
	// CookieName must start with "__Host-"; default DefaultCookieName.
	CookieName string
	// SameSite is http.SameSiteLaxMode (the default) or
	// http.SameSiteStrictMode. With Strict the browser does not send the
	// cookie on the first page after a sign-in redirect from another site.
	SameSite http.SameSite
	// Lifetime is the absolute lifetime of a session from sign-in ("exp");
	// default DefaultLifetime.
	Lifetime time.Duration
	// IdleTimeout ends a session not used for this long; default
	// DefaultIdleTimeout. It must not exceed Lifetime.
	IdleTimeout time.Duration
	// RefreshAfter is the fraction of IdleTimeout after which a request
	// re-issues the cookie with a fresh idle expiry (0 < f < 1); default
	// DefaultRefreshAfter. Smaller values slide more precisely and write
	// the cookie more often.
	RefreshAfter float64
	// MaxDataSize bounds Session.Data, JSON-encoded; default
	// DefaultMaxDataSize.
	MaxDataSize int
	// TrustedOrigins are other origins (scheme://host[:port]) allowed to
	// send unsafe requests, e.g. a separate front-end.
	TrustedOrigins []string
	// CSRFHeader and CSRFField name where unsafe requests carry the CSRF
	// token; defaults DefaultCSRFHeader and DefaultCSRFField.
	CSRFHeader string
	// CSRFField is the form field of the CSRF token (see CSRFHeader).
	CSRFField string
	// MaxFormSize bounds the body the middleware reads to find the CSRF
	// form field; default DefaultMaxFormSize.
	MaxFormSize int64
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives one debug line per refused session or request
	// (reason only, never a token); nil discards.
	Logger *slog.Logger
}

// Manager issues, verifies, refreshes and clears sessions. It is safe for
// concurrent use.
type Manager struct {
	cfg      Config
	origin   string
	trusted  map[string]bool
	ring     *keyRing
	verifier *jwt.Verifier
	tverify  *jwt.Verifier
	refresh  time.Duration
	now      func() time.Time
	log      *slog.Logger
}

// New validates cfg and returns a Manager.
func New(cfg Config) (*Manager, error) {
	origin, err := parseOrigin(cfg.AppURL)
	if err != nil {
		return nil, fmt.Errorf("websession: Config.AppURL: %w", err)
	}
	ring, err := newKeyRing(cfg.Keys)
	if err != nil {
		return nil, err
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if err := checkCookieName(cfg.CookieName); err != nil {
		return nil, err
	}
	switch cfg.SameSite {
	case 0, http.SameSiteDefaultMode:
		cfg.SameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	default:
		return nil, errors.New("websession: Config.SameSite must be Lax or Strict")
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Lifetime < time.Second || cfg.IdleTimeout < time.Second || cfg.IdleTimeout > cfg.Lifetime {
		return nil, errors.New("websession: need 1s <= IdleTimeout <= Lifetime")
	}
	if cfg.RefreshAfter == 0 {
		cfg.RefreshAfter = DefaultRefreshAfter
	}
	if cfg.RefreshAfter <= 0 || cfg.RefreshAfter >= 1 {
		return nil, errors.New("websession: Config.RefreshAfter must be between 0 and 1")
	}
	if cfg.MaxDataSize == 0 {
		cfg.MaxDataSize = DefaultMaxDataSize
	}
	if cfg.MaxDataSize < 0 || cfg.MaxDataSize > MaxCookieSize {
		return nil, fmt.Errorf("websession: Config.MaxDataSize must be between 0 and %d", MaxCookieSize)
	}
	if cfg.CSRFHeader == "" {
		cfg.CSRFHeader = DefaultCSRFHeader
	}
	if cfg.CSRFField == "" {
		cfg.CSRFField = DefaultCSRFField
	}
	if cfg.MaxFormSize == 0 {
		cfg.MaxFormSize = DefaultMaxFormSize
	}
	trusted := map[string]bool{origin: true}
	for _, o := range cfg.TrustedOrigins {
		p, err := parseOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("websession: Config.TrustedOrigins: %w", err)
		}
		trusted[p] = true
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		cfg: cfg, origin: origin, trusted: trusted, ring: ring, now: now, log: logger,
		refresh: time.Duration(float64(cfg.IdleTimeout) * cfg.RefreshAfter),
	}
	jcfg := jwt.Config{
		Issuer:         origin,
		Audience:       origin,
		Type:           TokenType,
		Algorithms:     ring.algs,
		Leeway:         -1, // the application checks its own tokens
		RequiredClaims: []string{"sub", "sid", "iat", "auth_time", "idle_exp", "csrf"},
		MaxSize:        MaxCookieSize,
		Now:            now,
	}
	if m.verifier, err = jwt.NewVerifier(jwt.StaticKeys(ring.set), jcfg); err != nil {
		return nil, fmt.Errorf("websession: %w", err)
	}
	jcfg.Type = transientType
	jcfg.RequiredClaims = []string{"use"}
	if m.tverify, err = jwt.NewVerifier(jwt.StaticKeys(ring.set), jcfg); err != nil {
		return nil, fmt.Errorf("websession: %w", err)
	}
	return m, nil
}

// parseOrigin returns the ASCII serialization of the origin of an absolute
// http(s) URL without path, query, fragment or user info.
func parseOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", raw)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port])", raw)
	}
	return originOf(u), nil
}

// originOf serializes the origin of u as browsers send it in Origin:
// lower case, without the scheme's default port.
func originOf(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if (scheme == "https" && strings.HasSuffix(host, ":443")) || (scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host
}

func checkCookieName(name string) error {
	if !strings.HasPrefix(name, "__Host-") || len(name) == len("__Host-") {
		return fmt.Errorf("websession: cookie name %q must start with __Host- and go on", name)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return fmt.Errorf("websession: cookie name %q is not an RFC 6265 token", name)
		}
	}
	return nil
}

// Origin returns the application's origin, the "iss" and "aud" of its
// session tokens.
func (m *Manager) Origin() string { return m.origin }

// Session is a verified sign-in session. Treat it as read-only; change
// Data through Manager.Update.
type Session struct {
	// Subject is the signed-in user ("sub").
	Subject string
	// ID is the session's random identifier ("sid"), the same for every
	// re-issued cookie of one sign-in.
	ID string
	// AuthTime is when the user signed in ("auth_time").
	AuthTime time.Time
	// IssuedAt is when this cookie was issued ("iat"); it moves when the
	// session slides.
	IssuedAt time.Time
	// ExpiresAt is the absolute end ("exp"): AuthTime + Lifetime.
	ExpiresAt time.Time
	// IdleExpiresAt is when the session ends unless used ("idle_exp").
	IdleExpiresAt time.Time
	// Data is the application's own small, bounded data.
	Data map[string]string

	csrf []byte
}

// claims is the payload of a session token.
type claims struct {
	Iss      string            `json:"iss"`
	Aud      string            `json:"aud"`
	Sub      string            `json:"sub"`
	Sid      string            `json:"sid"`
	Iat      int64             `json:"iat"`
	Exp      int64             `json:"exp"`
	AuthTime int64             `json:"auth_time"`
	IdleExp  int64             `json:"idle_exp"`
	CSRF     string            `json:"csrf"`
	Data     map[string]string `json:"data,omitempty"`
}

const csrfSecretSize = 32

// NewSession starts a session for subject, signed in now, with data. It
// only builds the session; Issue or SetCookie signs it.
func (m *Manager) NewSession(subject string, data map[string]string) (*Session, error) {
	if subject == "" || len(subject) > 255 || !utf8.ValidString(subject) {
		return nil, errors.New("websession: the subject must be 1 to 255 bytes of UTF-8")
	}
	if err := m.checkData(data); err != nil {
		return nil, err
	}
	now := m.now().Truncate(time.Second)
	s := &Session{
		Subject:  subject,
		ID:       rand.Text(),
		AuthTime: now,
		Data:     cloneData(data),
		csrf:     make([]byte, csrfSecretSize),
	}
	_, _ = rand.Read(s.csrf)
	s.ExpiresAt = now.Add(m.cfg.Lifetime)
	m.stamp(s, now)
	return s, nil
}

// stamp sets the issue time and the idle expiry of s to now.
func (m *Manager) stamp(s *Session, now time.Time) {
	s.IssuedAt = now
	s.IdleExpiresAt = now.Add(m.cfg.IdleTimeout)
	if s.IdleExpiresAt.After(s.ExpiresAt) {
		s.IdleExpiresAt = s.ExpiresAt
	}
}

func (m *Manager) checkData(data map[string]string) error {
	if len(data) == 0 {
		return nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("websession: encode session data: %w", err)
	}
	if len(b) > m.cfg.MaxDataSize {
		return fmt.Errorf("%w: session data is %d bytes, the limit is %d", ErrTooLarge, len(b), m.cfg.MaxDataSize)
	}
	return nil
}

func cloneData(d map[string]string) map[string]string {
	if len(d) == 0 {
		return nil
	}
	c := make(map[string]string, len(d))
	for k, v := range d {
		c[k] = v
	}
	return c
}

// Encode signs s with the current key and returns the token, or ErrTooLarge
// when the cookie holding it would exceed MaxCookieSize.
func (m *Manager) Encode(s *Session) (string, error) {
	if err := m.checkData(s.Data); err != nil {
		return "", err
	}
	if len(s.csrf) != csrfSecretSize || s.Subject == "" || s.ID == "" {
		return "", errors.New("websession: Encode needs a session made by NewSession or Decode")
	}
	c := claims{
		Iss: m.origin, Aud: m.origin, Sub: s.Subject, Sid: s.ID,
		Iat: s.IssuedAt.Unix(), Exp: s.ExpiresAt.Unix(), AuthTime: s.AuthTime.Unix(), IdleExp: s.IdleExpiresAt.Unix(),
		CSRF: base64.RawURLEncoding.EncodeToString(s.csrf), Data: s.Data,
	}
	tok, err := m.sign(TokenType, c)
	if err != nil {
		return "", err
	}
	if n := len(m.cfg.CookieName) + 1 + len(tok); n > MaxCookieSize {
		return "", fmt.Errorf("%w: the session cookie would be %d bytes, the limit is %d", ErrTooLarge, n, MaxCookieSize)
	}
	return tok, nil
}

func (m *Manager) sign(typ string, claims any) (string, error) {
	signer, err := jwt.NewSigner(m.ring.signer, typ)
	if err != nil {
		return "", fmt.Errorf("websession: %w", err)
	}
	tok, err := signer.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("websession: sign: %w", err)
	}
	return tok, nil
}

// Decode verifies a session token: size, signature by a key of the ring
// that has not retired, typ, alg, iss and aud, absolute expiry, idle
// expiry, and the shape of every claim.
func (m *Manager) Decode(ctx context.Context, token string) (*Session, error) {
	if len(m.cfg.CookieName)+1+len(token) > MaxCookieSize {
		return nil, fmt.Errorf("%w: %w: cookie larger than %d bytes", ErrInvalidSession, ErrTooLarge, MaxCookieSize)
	}
	t, err := m.verifier.Verify(ctx, token)
	if err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			return nil, fmt.Errorf("%w: %w", ErrExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidSession, err)
	}
	now := m.now()
	if m.ring.retired(t.Key(), now) {
		return nil, ErrKeyRetired
	}
	c, err := readClaims(t)
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidSession, err)
	}
	s := &Session{
		Subject: c.Sub, ID: c.Sid, Data: c.Data,
		AuthTime: time.Unix(c.AuthTime, 0), IssuedAt: time.Unix(c.Iat, 0),
		ExpiresAt: time.Unix(c.Exp, 0), IdleExpiresAt: time.Unix(c.IdleExp, 0),
	}
	s.csrf, err = base64.RawURLEncoding.Strict().DecodeString(c.CSRF)
	switch {
	case err != nil || len(s.csrf) != csrfSecretSize:
		return nil, fmt.Errorf("%w: bad csrf claim", ErrInvalidSession)
	case c.Sub == "" || c.Sid == "":
		return nil, fmt.Errorf("%w: empty sub or sid", ErrInvalidSession)
	case c.AuthTime > c.Iat || c.IdleExp > c.Exp:
		return nil, fmt.Errorf("%w: inconsistent times", ErrInvalidSession)
	case c.Exp-c.AuthTime > int64(m.cfg.Lifetime/time.Second):
		// A shorter configured lifetime applies to sessions issued before.
		return nil, fmt.Errorf("%w: beyond the configured lifetime", ErrExpired)
	}
	if raw, _ := t.Claim("data"); len(raw) > m.cfg.MaxDataSize {
		return nil, fmt.Errorf("%w: %w: session data is %d bytes, the limit is %d", ErrInvalidSession, ErrTooLarge, len(raw), m.cfg.MaxDataSize)
	}
	idleEnd := min(c.IdleExp, c.Iat+int64(m.cfg.IdleTimeout/time.Second))
	if now.Unix() >= idleEnd {
		return nil, ErrIdle
	}
	return s, nil
}

// Issue signs s and sets it as the session cookie on w.
func (m *Manager) Issue(w http.ResponseWriter, s *Session) error {
	tok, err := m.Encode(s)
	if err != nil {
		return err
	}
	// The browser forgets the cookie when the session goes idle.
	http.SetCookie(w, m.cookie(m.cfg.CookieName, tok, s.IdleExpiresAt, m.cfg.SameSite))
	return nil
}

// Start begins a session for subject (after the user has signed in), sets
// its cookie on w and returns it. Always start a new session at sign-in,
// never reuse one from before: the new ID and CSRF secret defeat session
// fixation.
func (m *Manager) Start(w http.ResponseWriter, subject string, data map[string]string) (*Session, error) {
	s, err := m.NewSession(subject, data)
	if err != nil {
		return nil, err
	}
	if err := m.Issue(w, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Update replaces the data of s, re-issues its cookie, and returns the new
// session (s is left unchanged).
func (m *Manager) Update(w http.ResponseWriter, s *Session, data map[string]string) (*Session, error) {
	n := *s
	n.Data = cloneData(data)
	m.stamp(&n, m.now().Truncate(time.Second))
	if err := m.Issue(w, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// Destroy clears the session cookie. The token itself stays valid until it
// expires (it is stateless); an application that must end sessions at once
// on every device keeps a deny list of Session.ID.
func (m *Manager) Destroy(w http.ResponseWriter) {
	http.SetCookie(w, m.clearCookie(m.cfg.CookieName, m.cfg.SameSite))
}

// Load reads and verifies the session cookie of r. It returns ErrNoSession
// without one.
func (m *Manager) Load(r *http.Request) (*Session, error) {
	c, err := r.Cookie(m.cfg.CookieName)
	if err != nil {
		return nil, ErrNoSession
	}
	return m.Decode(r.Context(), c.Value)
}

func (m *Manager) cookie(name, value string, expires time.Time, sameSite http.SameSite) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		Expires:  expires.UTC(),
		MaxAge:   max(1, int(expires.Sub(m.now()).Seconds())),
		Secure:   true,
		HttpOnly: true,
		SameSite: sameSite,
	}
}

func (m *Manager) clearCookie(name string, sameSite http.SameSite) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0).UTC(),
		Secure: true, HttpOnly: true, SameSite: sameSite,
	}
}

type ctxKey struct{}

// WithSession returns a copy of ctx carrying s.
func WithSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// FromContext returns the session the middleware put in ctx, if any.
func FromContext(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(*Session)
	return s, ok && s != nil
}
