// Package server assembles writ's HTTP surface: the public OAuth endpoints
// (token, introspection, revocation, discovery, JWKS, health) and the admin
// API on its own listener. Each endpoint follows one path: route → bounded
// decoding into a typed request → client authentication → handler → one
// renderer for success and for the OAuth error type.
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/cimd"
	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/metrics"
	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/ratelimit"
	"github.com/writ-dev/writ/internal/reqinfo"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/tracing"
	"github.com/writ-dev/writ/internal/ui"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// Endpoint paths, relative to the issuer URL.
const (
	PathToken        = "/oauth2/token"
	PathIntrospect   = "/oauth2/introspect"
	PathRevoke       = "/oauth2/revoke"
	PathJWKS         = "/.well-known/jwks.json"
	PathASMetadata   = "/.well-known/oauth-authorization-server"
	PathOIDCMetadata = "/.well-known/openid-configuration"
	PathHealth       = "/healthz"
	PathReady        = "/readyz"
	jwksMaxAge       = 5 * time.Minute
	defaultAccessTTL = 15 * time.Minute
	// defaultPublicAccessTTL caps public clients' access tokens: they hold
	// them where a confidential server cannot protect them (a desktop,
	// a browser, an agent), and refresh tokens, rotated on every use,
	// renew them.
	defaultPublicAccessTTL = 15 * time.Minute
	readHeaderTimeout      = 10 * time.Second
)

// Store is what New needs of the store: the union of the narrow interfaces
// it hands out, each to the one component that uses it. store.Store
// implements it.
type Store interface {
	// GetClient feeds the client cache.
	oauth.ClientGetter
	// CreateClient and UpdateClient keep metadata document clients
	// (Options.ClientMetadata) and dynamically registered ones
	// (Options.Registration).
	clientWriter
	// UseJTI stops client assertion replay (the authenticator).
	store.ReplayStore
	// CreateToken stores opaque access tokens (the minter).
	mint.TokenWriter
	introspectionStore
	revocationStore
	// Token exchange: subject tokens, delegations, the audit trail.
	exchangeStore
	pinger
	// The rest serves browser sign-in (Options.SignIn).
	signInStore
	accountStore
	logoutStore
	signInSetupStore
	parStore
}

// Every backend serves the server.
var _ Store = store.Store(nil)

// Options are what New needs. Store, Ring, Hasher and Issuer are required.
type Options struct {
	Issuer string
	// AuditRecorder, when set, turns on the audit of token issuance:
	// client credentials tokens are recorded through it (group commit)
	// before the response, and redemptions and rotations carry their
	// audit event into the store's transaction (store.Issue.Audit).
	AuditRecorder grant.Recorder
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
	// PublicAccessTokenTTL caps the access token lifetime of public
	// clients (token_endpoint_auth_method none); zero means
	// defaultPublicAccessTTL.
	PublicAccessTokenTTL time.Duration
	// MCPResources are the resource URIs (or "/*" prefixes,
	// oauth.ResourceSet) of MCP servers: a token with one of them as its
	// audience is issued only when the request names it with resource.
	MCPResources []string
	// DPoP configures DPoP proofs at the token endpoint; nil accepts them
	// with the defaults of DPoPOptions.
	DPoP *DPoPOptions
	// ClientMetadata turns on Client ID Metadata Documents; nil leaves
	// them off.
	ClientMetadata *ClientMetadataOptions
	// Registration turns on dynamic client registration (RFC 7591, RFC
	// 7592) at admin.PathRegister; nil leaves it off.
	Registration *RegistrationOptions
	// ExternalTokens verifies subject and actor tokens of trusted external
	// issuers for token exchange; nil trusts none.
	ExternalTokens grant.ExternalTokens
	// IDJAG issues ID-JAGs by token exchange; nil answers
	// requested_token_type id-jag with invalid_request.
	IDJAG grant.IDJAGIssuer
	// MTLS turns on mutual-TLS client authentication and
	// certificate-bound tokens (RFC 8705); nil leaves them off (a client
	// certificate is still taken from a TLS connection that carries one,
	// so that certificate-bound tokens can be presented, but the methods
	// are not advertised and no header is trusted).
	MTLS *MTLSOptions
	// FAPI2 holds every client to the FAPI 2.0 Security Profile, as if
	// each were registered with profile fapi2 (fapi.go), and narrows
	// discovery to what the profile allows.
	FAPI2 bool
	// Metrics counts and times requests, issued tokens, JWKS requests,
	// failed sign-ins and reuse detections; nil counts nothing.
	Metrics *metrics.Metrics
	// Tracing opens a span per request and for client authentication,
	// the grant and minting; nil (off) opens none.
	Tracing *tracing.Tracing
	// ReadyChecks are conditions of readiness (/readyz) beyond the
	// database and the signing key, each named in its answer.
	ReadyChecks []ReadyCheck
	// Limiter applies the rate limits (the Rule* names); nil limits
	// nothing.
	Limiter *ratelimit.Limiter
	// ClientIP finds each request's client address (trusted proxies); nil
	// takes the peer address.
	ClientIP *clientip.Resolver
	// SharedThrottle, when set, keeps the sign-in and device code
	// throttles' counts there (a backend every node shares) instead of
	// in this node's memory.
	SharedThrottle ratelimit.Backend
}

// ReadyCheck is one condition of readiness.
type ReadyCheck struct {
	// Name names the check in the /readyz answer.
	Name string
	// Check returns nil when the condition holds; its error is logged,
	// never sent.
	Check func(ctx context.Context) error
	// Advisory checks are reported ("degraded") without making the node
	// unready: it still serves correctly, within a weaker bound.
	Advisory bool
}

// RegistrationOptions configure dynamic client registration.
type RegistrationOptions struct {
	// Open lets anyone register; otherwise InitialTokens must name the
	// initial access tokens.
	Open bool
	// InitialTokens returns the SHA-256 hashes of the initial access
	// tokens (e.g. admin.InitialTokensFile).
	InitialTokens func() ([][sha256.Size]byte, error)
	// Scopes and Audiences bound what a registered client may have.
	Scopes, Audiences []string
	// AllowPrivate lets the jwks_uri of registered clients be fetched from
	// private and loopback addresses (development only).
	AllowPrivate bool
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
	// mcpResources mark the audiences that are MCP servers.
	mcpResources *oauth.ResourceSet
	// ownTokens verifies access tokens this server issued, for
	// introspection and revocation.
	ownTokens *jwt.Verifier
	// dpop checks the DPoP proofs of token requests (nil: DPoP off);
	// dpopNonces are its server nonces (nil: none required).
	dpop       *dpop.Verifier
	dpopNonces *dpop.Nonces

	// deviceAuthz serves the device authorization endpoint and
	// deviceThrottle limits user code guesses, with sign-in on.
	deviceAuthz    *grant.DeviceAuthorization
	deviceThrottle *authn.Throttle

	// registration serves dynamic client registration, when on.
	registration http.Handler

	// Browser sign-in, when configured.
	signin         *signIn
	idTokens       *idTokenIssuer
	userinfo       *oidc.UserInfo
	logoutNotifier *oidc.Notifier
	idTokenHints   *jwt.Verifier
	// uiOptions are the options the sign-in pages were built with, for a
	// reload that changes the theme directory.
	uiOptions ui.Options
	// requestObjects verifies request objects (RFC 9101) at the
	// authorization and pushed authorization request endpoints.
	requestObjects *authz.RequestObjects
	// saml is the SAML 2.0 identity provider; nil without sign-in or a
	// store that keeps SAML service providers.
	saml *samlIdP

	// tracer opens the spans of the token endpoint (a no-op one when
	// tracing is off).
	tracer trace.Tracer

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
		// delegations is nil while the store keeps no delegations;
		// tokens that name one are then inactive.
		delegations delegationChecker
		// agents serves the revocation of agents by their owners; nil
		// while the store keeps no delegations.
		agents agentStore
		par    parStore
		device deviceStore
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
	if opts.PublicAccessTokenTTL <= 0 {
		opts.PublicAccessTokenTTL = defaultPublicAccessTTL
	}
	if opts.MTLS != nil {
		if err := checkMTLSOptions(opts.MTLS); err != nil {
			return nil, err
		}
	}
	mcp, err := oauth.NewResourceSet(opts.MCPResources)
	if err != nil {
		return nil, fmt.Errorf("server: MCP resources: %w", err)
	}
	if opts.ClientKeys == nil {
		kc := NewClientKeyCache(0, rs.WithClock(opts.Now))
		opts.ClientKeys = kc
		// The jwks_uri of a client nobody vetted (registered dynamically
		// or known from its metadata document) is fetched through the
		// guards of metadata documents: no special-use address, no
		// redirect.
		var guarded *http.Client
		switch {
		case opts.ClientMetadata != nil && opts.ClientMetadata.Resolver != nil:
			guarded = opts.ClientMetadata.Resolver.HTTPClient()
		case opts.Registration != nil:
			g := cimd.Guard{AllowPrivate: opts.Registration.AllowPrivate}
			guarded = g.NewHTTPClient(cimd.HTTPClientOptions{})
		}
		if guarded != nil {
			opts.ClientKeys = originKeys{
				admin:     kc,
				untrusted: NewClientKeyCache(0, rs.WithClock(opts.Now), rs.WithHTTPClient(guarded)),
			}
		}
	}
	st := opts.Store
	// No handler reaches the whole store: each gets its interface below.
	opts.Store = nil
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, mcpResources: mcp, tracer: opts.Tracing.Tracer()}
	if err := s.checkFAPIServer(); err != nil {
		return nil, err
	}
	s.stores.introspection = st
	s.stores.revocation = st
	s.stores.ready = st
	// Every backend keeps delegations once the store implements
	// store.DelegationStore and store.AuditStore.
	s.stores.delegations, _ = st.(delegationChecker)
	s.stores.agents, _ = st.(agentStore)
	s.clients = NewClientCache(st, opts.ClientCacheTTL, opts.Now)
	if m := opts.ClientMetadata; m != nil {
		if m.Resolver == nil {
			return nil, errors.New("server: ClientMetadata needs a Resolver")
		}
		s.clients.meta = &metadataClients{opts: *m, store: st, now: opts.Now, log: opts.Logger}
		if a, ok := st.(store.AuditStore); ok {
			s.clients.meta.audit = a
		}
	}
	s.auth = &oauth.Authenticator{
		Clients:   s.clients,
		Hasher:    opts.Hasher,
		Replay:    st,
		Keys:      opts.ClientKeys,
		Audiences: []string{opts.Issuer, opts.Issuer + PathToken, opts.Issuer + PathIntrospect, opts.Issuer + PathRevoke, opts.Issuer + PathPAR, opts.Issuer + PathDeviceAuthorization},
		Now:       opts.Now,
		Logger:    opts.Logger,
		RequestID: RequestID,
	}
	if m := opts.MTLS; m != nil {
		s.auth.ClientCAs = m.ClientCAs
		if m.BaseURL != "" {
			// A client assertion sent to an alias may name it.
			base := strings.TrimSuffix(m.BaseURL, "/")
			for _, p := range []string{PathToken, PathIntrospect, PathRevoke, PathPAR, PathDeviceAuthorization} {
				s.auth.Audiences = append(s.auth.Audiences, base+p)
			}
		}
	}
	s.minter = mint.New(opts.Issuer, opts.Ring, st, opts.Now)
	s.minter.SetTracer(s.tracer)
	s.grants = grant.Handlers{
		grant.TypeClientCredentials: &grant.ClientCredentials{Minter: s.minter, DefaultAudience: opts.DefaultAudience, DefaultTTL: opts.AccessTokenTTL, MCPResources: mcp,
			Audit: opts.AuditRecorder, Now: s.now},
	}
	if s.dpop, s.dpopNonces, err = newDPoP(opts.DPoP, opts.Now); err != nil {
		return nil, err
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
	if s.ownTokens, err = s.ownTokenVerifier(); err != nil {
		return nil, err
	}
	if err := s.setupExchange(st); err != nil {
		return nil, err
	}
	if opts.SignIn != nil {
		s.stores.signIn = st
		s.stores.account = st
		s.stores.logout = st
		s.stores.par = st
		s.requestObjects = &authz.RequestObjects{Keys: opts.ClientKeys, Replay: st, Issuer: opts.Issuer, Now: opts.Now}
		if err := s.setupSignIn(opts.SignIn, st); err != nil {
			return nil, err
		}
		if sps, ok := st.(samlStore); ok {
			if s.saml, err = newSAMLIdP(opts.Issuer, opts.SignIn.SealKey, sps); err != nil {
				return nil, err
			}
			// Token exchange accepts SAML assertions once the IdP exists.
			if x, ok := s.grants[grant.TypeTokenExchange].(*grant.TokenExchange); ok {
				trust, _ := st.(store.TrustStore)
				x.SAML = &samlAssertions{s: s, trust: trust, replay: st}
			}
		}
	}
	if err := s.setupRegistration(st); err != nil {
		return nil, err
	}
	s.public = s.routes()
	return s, nil
}

// setupRegistration builds the registration endpoint when it is on.
func (s *Server) setupRegistration(st Store) error {
	o := s.opts.Registration
	if o == nil {
		return nil
	}
	clients, ok := st.(store.ClientStore)
	if !ok {
		return errors.New("server: registration needs a store that keeps clients (store.ClientStore)")
	}
	if !o.Open && o.InitialTokens == nil {
		return errors.New("server: registration without Open needs InitialTokens")
	}
	ro := admin.RegistrationOptions{
		Open:              o.Open,
		FAPI2:             s.opts.FAPI2,
		InitialTokens:     o.InitialTokens,
		Store:             clients,
		Hasher:            s.opts.Hasher,
		Clients:           s.clients,
		Scopes:            o.Scopes,
		Audiences:         o.Audiences,
		IDTokenAlgorithms: s.opts.Ring.Algorithms(),
		Endpoint:          s.opts.Issuer + admin.PathRegister,
		RequestID:         RequestID,
		Logger:            s.log,
		Now:               s.now,
		MaxBytes:          s.opts.MaxRequestBytes,
	}
	if u, ok := st.(admin.UserStore); ok {
		ro.Users = u
	}
	if a, ok := st.(store.AuditStore); ok {
		ro.Audit = a
	}
	s.registration = admin.NewRegistration(ro)
	return nil
}

// Clients returns the client cache, so that the admin API can invalidate
// entries it changes.
func (s *Server) Clients() *ClientCache { return s.clients }

// Handler returns the public HTTP handler.
func (s *Server) Handler() http.Handler { return s.public }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathToken, s.limitAddr(RuleToken, asJSON, s.handleToken))
	mux.HandleFunc(PathIntrospect, s.handleIntrospect)
	mux.HandleFunc(PathRevoke, s.handleRevoke)
	mux.HandleFunc(PathAgentRevoke, s.handleAgentRevoke)
	mux.HandleFunc("GET "+PathJWKS, s.handleJWKS)
	mux.HandleFunc("GET "+PathASMetadata, s.handleMetadata)
	mux.HandleFunc("GET "+PathOIDCMetadata, s.handleMetadata)
	mux.HandleFunc("GET "+PathHealth, s.handleHealth)
	mux.HandleFunc("GET "+PathReady, s.handleReady)
	if s.registration != nil {
		reg := s.limitAddr(RuleRegister, asJSON, s.registration.ServeHTTP)
		mux.Handle(admin.PathRegister, reg)
		mux.Handle(admin.PathRegister+"/", reg)
	}
	if s.signin != nil {
		mux.HandleFunc(PathAuthorize, s.limitAddr(RuleAuthorize, asPage, s.handleAuthorize))
		mux.HandleFunc(PathPAR, s.limitAddr(RuleAuthorize, asJSON, s.handlePAR))
		mux.HandleFunc(PathLogin, s.limitAddr(RuleLogin, asPage, s.handleLogin))
		mux.HandleFunc(PathConsent, s.handleConsent)
		mux.HandleFunc(PathSelectAccount, s.handleSelectAccount)
		mux.HandleFunc(PathEndSession, s.handleEndSession)
		mux.HandleFunc(PathLogoutConfirm, s.handleLogoutConfirm)
		mux.HandleFunc(PathAccount, s.handleAccount)
		mux.HandleFunc(PathAccountRevoke, s.handleAccountRevoke)
		mux.HandleFunc(PathAccountAgentRevoke, s.handleAccountAgentRevoke)
		mux.HandleFunc(PathAccountDelegationRevoke, s.handleAccountDelegationRevoke)
		mux.HandleFunc(PathAccountLogin, s.limitAddr(RuleLogin, asPage, s.handleAccountLogin))
		mux.HandleFunc(PathDevice, s.limitAddr(RuleDevice, asPage, s.handleDevice))
		mux.HandleFunc("POST "+PathDeviceAuthorization, s.limitAddr(RuleDevice, asJSON, s.handleDeviceAuthorization))
		mux.Handle(PathUserInfo, s.userinfo)
		mux.HandleFunc(PathStatic, func(w http.ResponseWriter, r *http.Request) { s.signin.pages().Static().ServeHTTP(w, r) })
		if s.saml != nil {
			mux.HandleFunc("GET "+PathSAMLMetadata, s.handleSAMLMetadata)
			mux.HandleFunc(PathSAMLSSO, s.handleSAMLSSO)
			mux.HandleFunc(PathSAMLResume, s.handleSAMLResume)
			mux.HandleFunc("GET "+PathSAMLIdPInitiated, s.handleSAMLIdPInitiated)
			mux.HandleFunc(PathSAMLSLO, s.handleSAMLSLO)
		}
	}
	// Outside in: the client address, the request ID, the record of the
	// route and error, the span, the metrics (which see a recovered
	// panic's 500), HSTS, the recoverer, the bounds on body and time, and
	// the mux, which records the route that matched.
	h := withHSTS(s.opts.Issuer, recoverer(s.log, Bounded(s.opts.MaxRequestBytes, s.withClientCert(reqinfo.Patterns(mux)))))
	h = s.opts.Metrics.Middleware(h)
	h = s.opts.Tracing.Middleware(h)
	return s.opts.ClientIP.Middleware(WithRequestID(reqinfo.Middleware(h)))
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
	// The proof is checked before the client authenticates, so that a
	// use_dpop_nonce retry does not spend a single-use client assertion.
	jkt, err := s.checkDPoP(ctx, w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	actx, span := tracing.Start(ctx, s.tracer, "oauth.client_authentication")
	client, err := s.auth.Authenticate(actx, r, form)
	tracing.End(span, err)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.allow(w, r, RuleTokenClient, clientKey(r, client), asJSON) {
		return
	}
	req := &grant.Request{Form: form, Client: client, RequestID: RequestID(ctx), SourceAddr: clientip.Of(r), DPoPKey: jkt, CertThumbprint: certThumbprint(r)}
	if s.fapi2(&client.Client) {
		if err := s.fapiTokenRequest(r, req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := grant.RequireDPoP(req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := grant.RequireCertificate(req); err != nil {
		s.fail(w, r, err)
		return
	}
	if a := client.Client.Agent; a != nil {
		// An agent acts for its owner; without a live one it acts for no
		// one, and what it would get introspection calls inactive.
		live, err := s.ownerActive(ctx, a.Owner)
		if err != nil {
			s.fail(w, r, oauth.ServerError(err))
			return
		}
		if !live {
			s.fail(w, r, oauth.UnauthorizedClient("this agent's owner is no longer active"))
			return
		}
	}
	gctx, span := tracing.Start(ctx, s.tracer, "oauth.grant", attribute.String("oauth.grant_type", gt))
	resp, err := h.Handle(gctx, req)
	tracing.End(span, err)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.opts.Metrics.TokenIssued(gt, &client.Client)
	oauth.WriteJSON(w, http.StatusOK, resp)
}

// fail renders err and logs server errors with their cause.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	reqinfo.SetError(r.Context(), e.Code)
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
