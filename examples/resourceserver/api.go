package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
	"github.com/writ-dev/writ/rs/introspect"
)

// The scopes of the orders API.
const (
	scopeRead  = "orders:read"
	scopeWrite = "orders:write"
)

// Bounds of the API's own input.
const (
	maxOrderBody   = 4 << 10 // bytes of a POST /orders body
	maxOrders      = 10000   // orders kept in memory
	maxItemLength  = 100     // bytes of an order's item
	maxQuantity    = 1000    // of one order
	replayCapacity = 100000  // DPoP proofs remembered at once
)

// Config is what the orders API needs to know.
type Config struct {
	// Issuer is the authorization server's issuer identifier (writ's
	// issuer URL); its keys are found by discovery.
	Issuer string
	// Audience is this API's resource identifier: the aud the tokens must
	// carry and the resource of its RFC 9728 metadata.
	Audience string
	// PublicURL is the origin clients address this API by (for the htu of
	// DPoP proofs) when it sits behind a proxy; empty means the URL of
	// each request as it reaches this server.
	PublicURL string
	// Introspect makes the API accept opaque access tokens too, by asking
	// the issuer's introspection endpoint (RFC 7662) as client ClientID.
	// JWTs are still verified locally.
	Introspect bool
	// IntrospectionEndpoint overrides the endpoint found in the issuer's
	// metadata.
	IntrospectionEndpoint string
	// ClientID is this API's own client at the issuer, for introspection.
	ClientID string
	// ClientSecret is that client's secret.
	ClientSecret string
	// NonceSecret derives the DPoP server nonces (at least
	// dpop.MinNonceSecret bytes, the same on every replica).
	NonceSecret []byte
	// HTTPClient makes the requests to the issuer; nil means a client
	// with a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives the API's log lines; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// extraIssuers are trusted besides Issuer. Only the tests set them,
	// to mint DPoP-bound tokens with chosen claims under an issuer of
	// their own (writ's own bound tokens are tested too).
	extraIssuers []rs.IssuerConfig
}

// API is the orders API with its token checks.
type API struct {
	handler  http.Handler
	verifier *rs.Verifier
	logger   *slog.Logger
	now      func() time.Time
	orders   *orderBook
}

// New builds the API. It fetches nothing except, in introspection mode
// without an explicit endpoint, the issuer's metadata; call Refresh to load
// the issuer's keys before serving.
func New(ctx context.Context, cfg Config) (*API, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("the issuer and the audience are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	// One Verifier for writ: keys by discovery, tokens for this API only,
	// with the claims RFC 9068 says an access token carries.
	issuers := append([]rs.IssuerConfig{{
		Issuer:         cfg.Issuer,
		Audiences:      []string{cfg.Audience},
		RequiredClaims: []string{"sub", "client_id", "iat", "jti"},
	}}, cfg.extraIssuers...)
	verifier, err := rs.NewVerifier(ctx, issuers, rs.WithHTTPClient(cfg.HTTPClient), rs.WithClock(cfg.Now))
	if err != nil {
		return nil, fmt.Errorf("token verifier: %w", err)
	}
	var tokens rs.TokenVerifier = verifier
	if cfg.Introspect {
		if tokens, err = withIntrospection(ctx, cfg, verifier); err != nil {
			return nil, err
		}
	}

	// DPoP (RFC 9449): proofs remembered in memory until they expire,
	// and server nonces, so that a proof cannot be made in advance.
	nonces, err := dpop.NewNonces(cfg.NonceSecret, 0, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("DPoP nonces: %w", err)
	}
	dcfg := dpop.Config{
		Replay: dpop.NewMemoryReplayCache(replayCapacity, cfg.Now),
		Nonces: nonces,
		Now:    cfg.Now,
	}
	if cfg.PublicURL != "" {
		dcfg.URL = dpop.OriginURL(strings.TrimSuffix(cfg.PublicURL, "/"))
	}
	proofs, err := dpop.NewVerifier(dcfg)
	if err != nil {
		return nil, fmt.Errorf("DPoP verifier: %w", err)
	}
	algs := algNames(proofs.Algorithms())

	// RFC 9728: where clients learn which issuer to ask and for what.
	md := rs.ResourceMetadata{
		Resource:                      cfg.Audience,
		AuthorizationServers:          []string{cfg.Issuer},
		ScopesSupported:               []string{scopeRead, scopeWrite},
		BearerMethodsSupported:        []string{"header"},
		DPoPSigningAlgValuesSupported: algs,
		ResourceName:                  "Orders API (writ example)",
	}
	if err := md.Validate(); err != nil {
		return nil, fmt.Errorf("resource metadata: %w", err)
	}
	mdURL, err := rs.MetadataURL(cfg.Audience)
	if err != nil {
		return nil, err
	}
	mdPath, err := url.Parse(mdURL)
	if err != nil {
		return nil, err
	}

	mw := rs.NewMiddleware(tokens,
		rs.WithDPoP(proofs),
		rs.WithDPoPAlgorithms(algs...),
		rs.WithResourceMetadataURL(mdURL),
		rs.WithLogger(cfg.Logger),
		rs.WithErrorHandler(writeRefusal),
	)
	a := &API{verifier: verifier, logger: cfg.Logger, now: cfg.Now, orders: &orderBook{}}
	mux := http.NewServeMux()
	mux.Handle("GET "+mdPath.Path, md.Handler())
	mux.HandleFunc("GET /readyz", a.ready)
	mux.Handle("GET /orders", mw.Handler(rs.RequireScopes(scopeRead)(http.HandlerFunc(a.listOrders))))
	mux.Handle("POST /orders", mw.Handler(rs.RequireScopes(scopeWrite)(http.HandlerFunc(a.createOrder))))
	a.handler = a.logRequests(freshNonce(nonces, mux))
	return a, nil
}

// Handler returns the API's HTTP handler.
func (a *API) Handler() http.Handler { return a.handler }

// Refresh discovers the issuer and loads its keys now, so that the first
// request does not wait for them.
func (a *API) Refresh(ctx context.Context) error { return a.verifier.Refresh(ctx) }

// withIntrospection returns a TokenVerifier that verifies JWTs with v and
// introspects every other token at the issuer.
func withIntrospection(ctx context.Context, cfg Config, v *rs.Verifier) (rs.TokenVerifier, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("introspection needs the API's client id and secret")
	}
	endpoint := cfg.IntrospectionEndpoint
	if endpoint == "" {
		var err error
		if endpoint, err = discoverIntrospection(ctx, cfg.HTTPClient, cfg.Issuer); err != nil {
			return nil, err
		}
	}
	ic, err := introspect.New(introspect.Config{
		Endpoint:      endpoint,
		ClientID:      cfg.ClientID,
		ClientSecret:  cfg.ClientSecret,
		TokenTypeHint: "access_token",
		HTTPClient:    cfg.HTTPClient,
		Issuer:        cfg.Issuer,
		Audience:      cfg.Audience,
		Now:           cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("introspection client: %w", err)
	}
	return rs.TokenVerifierFunc(func(ctx context.Context, raw string) (*rs.Token, error) {
		if strings.Count(raw, ".") == 2 {
			return v.Verify(ctx, raw)
		}
		return ic.Verify(ctx, raw)
	}), nil
}

// discoverIntrospection reads the introspection_endpoint of the issuer's
// RFC 8414 metadata.
func discoverIntrospection(ctx context.Context, c *http.Client, issuer string) (string, error) {
	urls, err := rs.IssuerMetadataURLs(issuer)
	if err != nil {
		return "", err
	}
	u := urls[len(urls)-1] // the RFC 8414 document
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("issuer metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("issuer metadata: %s answered %d", u, resp.StatusCode)
	}
	var md struct {
		Issuer        string `json:"issuer"`
		Introspection string `json:"introspection_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, rs.MaxIssuerMetadataSize)).Decode(&md); err != nil {
		return "", fmt.Errorf("issuer metadata: %w", err)
	}
	if md.Issuer != issuer || md.Introspection == "" {
		return "", fmt.Errorf("issuer metadata at %s: not issuer %s's, or no introspection_endpoint", u, issuer)
	}
	return md.Introspection, nil
}

// algNames returns the names of algs.
func algNames(algs []jose.Algorithm) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}

// freshNonce sends the current DPoP nonce with every answer to a request
// that carries a DPoP proof (RFC 9449 §8.2), so that a client always has
// the nonce its next proof needs.
func freshNonce(n *dpop.Nonces, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(dpop.Header) != "" {
			w.Header().Set(dpop.NonceHeader, n.Current())
		}
		next.ServeHTTP(w, r)
	})
}

// writeRefusal is the middleware's error handler: a JSON body with the
// same error code as the WWW-Authenticate challenge. err is never written:
// only the fixed description rs.RefusalFor gives.
func writeRefusal(w http.ResponseWriter, _ *http.Request, status int, err error) {
	rf := rs.RefusalFor(err)
	body := map[string]string{"error": rf.Code, "error_description": rf.Description}
	if rf.Code == "" {
		body["error"] = strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		delete(body, "error_description")
	}
	writeJSON(w, status, body)
}

// writeJSON writes v as the JSON body of a status answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusWriter records the status of an answer for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter.
func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// logRequests logs one line per request: method, path, status, duration.
// Never the query, a header or a token.
func (a *API) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		a.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", a.now().Sub(start)))
	})
}

// ready answers 200 when the issuer's keys are at hand, 503 otherwise.
// The reason of an outage goes to the log, not to this public answer.
func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	st := a.verifier.Status()[0]
	if !st.Available {
		a.logger.WarnContext(r.Context(), "not ready: no keys of the issuer", "issuer", st.Issuer, "err", st.LastError)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "issuer": st.Issuer})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true, "issuer": st.Issuer, "keys": st.Keys})
}

// order is one order.
type order struct {
	ID        int       `json:"id"`
	Item      string    `json:"item"`
	Quantity  int       `json:"quantity"`
	ClientID  string    `json:"client_id"`
	CreatedAt time.Time `json:"created_at"`
}

// orderBook keeps the orders in memory.
type orderBook struct {
	mu     sync.Mutex
	orders []order
}

// errFull is returned when the order book holds maxOrders.
var errFull = errors.New("the order book is full")

// add stores o with the next id and returns it.
func (b *orderBook) add(o order) (order, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.orders) >= maxOrders {
		return order{}, errFull
	}
	o.ID = len(b.orders) + 1
	b.orders = append(b.orders, o)
	return o, nil
}

// list returns a copy of the orders.
func (b *orderBook) list() []order {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]order{}, b.orders...)
}

// listOrders is GET /orders (scope orders:read).
func (a *API) listOrders(w http.ResponseWriter, r *http.Request) {
	tok, _ := rs.TokenFromContext(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"orders": a.orders.list(), "caller": caller(tok)})
}

// createOrder is POST /orders (scope orders:write): a JSON body
// {"item": "...", "quantity": n}.
func (a *API) createOrder(w http.ResponseWriter, r *http.Request) {
	tok, _ := rs.TokenFromContext(r.Context())
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOrderBody))
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "the body is larger than 4 KiB"})
		return
	} else if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body could not be read"})
		return
	}
	item, quantity, err := parseOrder(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	o, err := a.orders.add(order{Item: item, Quantity: quantity, ClientID: caller(tok), CreatedAt: a.now().UTC()})
	if err != nil {
		writeJSON(w, http.StatusInsufficientStorage, map[string]string{"error": err.Error()})
		return
	}
	a.logger.Info("order created", "id", o.ID, "client_id", o.ClientID)
	writeJSON(w, http.StatusCreated, o)
}

// Errors of parseOrder, fit for the client.
var (
	errOrderJSON   = errors.New(`the body must be one JSON object {"item": string, "quantity": number}`)
	errOrderValues = fmt.Errorf("item must be 1 to %d bytes of text, quantity 1 to %d", maxItemLength, maxQuantity)
)

// parseOrder reads the body of POST /orders: one JSON object with exactly
// the members item (text, trimmed, 1 to maxItemLength bytes) and quantity
// (1 to maxQuantity).
func parseOrder(body []byte) (item string, quantity int, err error) {
	var in struct {
		Item     *string `json:"item"`
		Quantity *int    `json:"quantity"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() || in.Item == nil || in.Quantity == nil {
		return "", 0, errOrderJSON
	}
	item = strings.TrimSpace(*in.Item)
	if item == "" || len(item) > maxItemLength || !utf8.ValidString(item) || *in.Quantity < 1 || *in.Quantity > maxQuantity {
		return "", 0, errOrderValues
	}
	return item, *in.Quantity, nil
}

// caller names the client a token was issued to (its subject when it has
// no client_id).
func caller(tok *rs.Token) string {
	if tok == nil {
		return ""
	}
	if tok.ClientID != "" {
		return tok.ClientID
	}
	return tok.Subject
}
