// Package server assembles writ's HTTP surface: the public OAuth endpoints
// (token, introspection, revocation, discovery, JWKS, health) and the admin
// API on its own listener. Each endpoint follows one path: route → bounded
// decoding into a typed request → client authentication → handler → one
// renderer for success and for the OAuth error type.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// Endpoint paths, relative to the issuer URL.
const (
	PathToken         = "/oauth2/token"
	PathIntrospect    = "/oauth2/introspect"
	PathRevoke        = "/oauth2/revoke"
	PathJWKS          = "/.well-known/jwks.json"
	PathASMetadata    = "/.well-known/oauth-authorization-server"
	PathOIDCMetadata  = "/.well-known/openid-configuration"
	PathHealth        = "/healthz"
	PathReady         = "/readyz"
	jwksMaxAge        = 5 * time.Minute
	defaultAccessTTL  = 15 * time.Minute
	readHeaderTimeout = 10 * time.Second
)

// Store is what New needs of the store: the union of the narrow interfaces
// it hands out, each to the one component that uses it. store.Store
// implements it.
type Store interface {
	// GetClient feeds the client cache.
	oauth.ClientGetter
	// UseJTI stops client assertion replay (the authenticator).
	store.ReplayStore
	// CreateToken stores opaque access tokens (the minter).
	mint.TokenWriter
	introspectionStore
	revocationStore
	pinger
	// The rest serves browser sign-in (Options.SignIn).
	signInStore
	accountStore
	logoutStore
	signInSetupStore
}

// Every backend serves the server.
var _ Store = store.Store(nil)

// Options are what New needs. Store, Ring, Hasher and Issuer are required.
type Options struct {
	Issuer string
	// Store is the composition root's store: New hands each handler the
	// narrow interface it needs, and the Server keeps no reference to the
	// whole of it.
	Store           Store
	Ring            *keys.Ring
	Hasher          *oauth.SecretHasher
	Logger          *slog.Logger
	Now             func() time.Time
	AccessTokenTTL  time.Duration
	DefaultAudience string // defaults to the issuer
	MaxRequestBytes int64
	// ClientCacheTTL bounds how stale a cached client registration may be on
	// a node that did not make the change; zero means DefaultClientCacheTTL,
	// negative disables the cache.
	ClientCacheTTL time.Duration
	// ClientKeys supplies private_key_jwt clients' keys; nil uses a
	// ClientKeyCache: the registered jwks, or else the jwks_uri fetched and
	// cached.
	ClientKeys oauth.ClientKeySource
	// SignIn turns on browser sign-in (authorization code flow, OpenID
	// Connect); nil leaves only the machine-to-machine endpoints.
	SignIn *SignInOptions
	// ExternalTokens verifies subject and actor tokens of trusted external
	// issuers for token exchange; nil trusts none.
	ExternalTokens grant.ExternalTokens
	// IDJAG issues ID-JAGs by token exchange; nil answers
	// requested_token_type id-jag with invalid_request.
	IDJAG grant.IDJAGIssuer
}

// Server holds the assembled endpoints.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	clients *ClientCache
	auth    *oauth.Authenticator
	minter  *mint.Minter
	grants  grant.Handlers
	public  http.Handler
	// ownTokens verifies access tokens this server issued, for
	// introspection and revocation.
	ownTokens *jwt.Verifier

	// Browser sign-in, when configured.
	signin         *signIn
	idTokens       *idTokenIssuer
	userinfo       *oidc.UserInfo
	logoutNotifier *oidc.Notifier
	idTokenHints   *jwt.Verifier

	// stores are the handlers' store interfaces, each the narrowest one
	// its handler needs, declared next to it; New fills them from
	// Options.Store.
	stores struct {
		introspection introspectionStore
		revocation    revocationStore
		ready         pinger
		signIn        signInStore
		account       accountStore
		logout        logoutStore
		userinfo      userInfoStore
	}
}

// New assembles the server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Ring == nil || opts.Hasher == nil || opts.Issuer == "" {
		return nil, errors.New("server: Store, Ring, Hasher and Issuer are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = defaultAccessTTL
	}
	if opts.DefaultAudience == "" {
		opts.DefaultAudience = opts.Issuer
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = oauth.DefaultMaxBody
	}
	if opts.ClientKeys == nil {
		opts.ClientKeys = NewClientKeyCache(0, rs.WithClock(opts.Now))
	}
	st := opts.Store
	// No handler reaches the whole store: each gets its interface below.
	opts.Store = nil
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now}
	s.stores.introspection = st
	s.stores.revocation = st
	s.stores.ready = st
	s.clients = NewClientCache(st, opts.ClientCacheTTL, opts.Now)
	s.auth = &oauth.Authenticator{
		Clients:   s.clients,
		Hasher:    opts.Hasher,
		Replay:    st,
		Keys:      opts.ClientKeys,
		Audiences: []string{opts.Issuer, opts.Issuer + PathToken, opts.Issuer + PathIntrospect, opts.Issuer + PathRevoke},
		Now:       opts.Now,
		Logger:    opts.Logger,
		RequestID: RequestID,
	}
	s.minter = mint.New(opts.Issuer, opts.Ring, st, opts.Now)
	s.grants = grant.Handlers{
		grant.TypeClientCredentials: &grant.ClientCredentials{Minter: s.minter, DefaultAudience: opts.DefaultAudience, DefaultTTL: opts.AccessTokenTTL},
	}
	// The jwt-bearer grant (RFC 7523 assertions and ID-JAGs of trusted
	// issuers) is served when external tokens can be verified; it audits
	// into the store when the store keeps the audit trail.
	if opts.ExternalTokens != nil {
		audit, _ := st.(store.AuditStore)
		s.grants[grant.TypeJWTBearer] = &grant.JWTBearer{
			Minter:          s.minter,
			External:        opts.ExternalTokens,
			Replay:          st,
			Audit:           audit,
			Issuer:          opts.Issuer,
			TokenEndpoint:   opts.Issuer + PathToken,
			DefaultAudience: opts.DefaultAudience,
			DefaultTTL:      opts.AccessTokenTTL,
			Now:             opts.Now,
			Logger:          opts.Logger,
		}
	}
	var err error
	if s.ownTokens, err = s.ownTokenVerifier(); err != nil {
		return nil, err
	}
	if opts.SignIn != nil {
		s.stores.signIn = st
		s.stores.account = st
		s.stores.logout = st
		if err := s.setupSignIn(opts.SignIn, st); err != nil {
			return nil, err
		}
	}
	s.public = s.routes()
	return s, nil
}

// Clients returns the client cache, so that the admin API can invalidate
// entries it changes.
func (s *Server) Clients() *ClientCache { return s.clients }

// Handler returns the public HTTP handler.
func (s *Server) Handler() http.Handler { return s.public }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathToken, s.handleToken)
	mux.HandleFunc(PathIntrospect, s.handleIntrospect)
	mux.HandleFunc(PathRevoke, s.handleRevoke)
	mux.HandleFunc("GET "+PathJWKS, s.handleJWKS)
	mux.HandleFunc("GET "+PathASMetadata, s.handleMetadata)
	mux.HandleFunc("GET "+PathOIDCMetadata, s.handleMetadata)
	mux.HandleFunc("GET "+PathHealth, s.handleHealth)
	mux.HandleFunc("GET "+PathReady, s.handleReady)
	if s.signin != nil {
		mux.HandleFunc(PathAuthorize, s.handleAuthorize)
		mux.HandleFunc(PathLogin, s.handleLogin)
		mux.HandleFunc(PathConsent, s.handleConsent)
		mux.HandleFunc(PathSelectAccount, s.handleSelectAccount)
		mux.HandleFunc(PathEndSession, s.handleEndSession)
		mux.HandleFunc(PathLogoutConfirm, s.handleLogoutConfirm)
		mux.HandleFunc(PathAccount, s.handleAccount)
		mux.HandleFunc(PathAccountRevoke, s.handleAccountRevoke)
		mux.HandleFunc(PathAccountLogin, s.handleAccountLogin)
		mux.Handle(PathUserInfo, s.userinfo)
		mux.Handle(PathStatic, s.signin.ui.Static())
	}
	return WithRequestID(withHSTS(s.opts.Issuer, recoverer(s.log, mux)))
}

// handleToken is the token endpoint (RFC 6749 §3.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, err := oauth.ParseForm(w, r, s.opts.MaxRequestBytes, "resource", "audience")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gt := form.Get("grant_type")
	if gt == "" {
		s.fail(w, r, oauth.InvalidRequest("grant_type is required"))
		return
	}
	h, ok := s.grants[gt]
	if !ok {
		s.fail(w, r, oauth.UnsupportedGrantType("the grant_type is not supported; use one of: %s", strings.Join(s.grants.Names(), ", ")))
		return
	}
	client, err := s.auth.Authenticate(ctx, r, form)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := h.Handle(ctx, &grant.Request{Form: form, Client: client, RequestID: RequestID(ctx), SourceAddr: r.RemoteAddr})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, resp)
}

// fail renders err and logs server errors with their cause.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	if e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", e.Cause)
	} else {
		s.log.DebugContext(r.Context(), "request rejected", "path", r.URL.Path, "error", e.Code, "description", e.Description, "cause", e.Cause)
	}
	oauth.WriteError(w, e)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// recoverer turns a panic into a server_error response instead of a dropped
// connection, and logs it.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "request_id", RequestID(r.Context()), "panic", fmt.Sprint(v))
				oauth.WriteError(w, oauth.ServerError(fmt.Errorf("panic: %v", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Serve runs h on ln until ctx is done, then shuts down gracefully, waiting
// at most grace for requests in flight.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("server: graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
