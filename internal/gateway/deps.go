package gateway

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
	"github.com/writ-dev/writ/rs/introspect"
)

// NewVerifier builds the multi-issuer JWT verifier (rs.Verifier) of the
// route file's issuers: a jwks_file is read once (explicit keys, never
// fetched), a jwks_uri fetched, and an issuer with neither discovered.
func NewVerifier(ctx context.Context, issuers []config.Issuer, opts ...rs.VerifierOption) (*rs.Verifier, error) {
	cfgs := make([]rs.IssuerConfig, 0, len(issuers))
	for _, iss := range issuers {
		c := rs.IssuerConfig{
			Issuer: iss.Issuer, JWKSURI: iss.JWKSURI, Audiences: iss.Audiences, Types: iss.Types,
			AllowUntypedTokens: iss.AllowUntypedTokens, ClaimMapping: iss.ClaimMapping,
			RequiredClaims: iss.RequiredClaims, Leeway: iss.Leeway,
		}
		for _, a := range iss.Algorithms {
			c.Algorithms = append(c.Algorithms, jose.Algorithm(a))
		}
		if iss.JWKSFile != "" {
			data, err := os.ReadFile(iss.JWKSFile)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", iss.Issuer, err)
			}
			ks, err := jose.ParseKeySet(data)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: jwks_file %s: %w", iss.Issuer, iss.JWKSFile, err)
			}
			c.Keys = ks
		}
		cfgs = append(cfgs, c)
	}
	return rs.NewVerifier(ctx, cfgs, opts...)
}

// NewIntrospector builds the introspection client (rs/introspect) of the
// route file's introspection section. The client secret is read from its
// file; RFC 9701 responses are verified with the issuer's JWKS.
func NewIntrospector(ctx context.Context, cfg config.Introspection) (*introspect.Client, error) {
	secret, err := os.ReadFile(cfg.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("client_secret_file: %w", err)
	}
	ic := introspect.Config{
		Endpoint: cfg.Endpoint, ClientID: cfg.ClientID, ClientSecret: strings.TrimSpace(string(secret)),
		AuthMethod: cfg.AuthMethod, TokenTypeHint: "access_token", Timeout: cfg.Timeout, AllowHTTP: cfg.AllowHTTP,
		JWTResponse: cfg.JWTResponse, Issuer: cfg.Issuer, Audience: cfg.Audience,
		// Without an audience, the routes' audiences (or the server's
		// introspection policy) decide.
		AnyAudience: cfg.Audience == "",
		CacheSize:   cfg.CacheSize, CacheTTL: cfg.CacheTTL,
	}
	if cfg.JWTResponse {
		uri := cfg.JWKSURI
		if uri == "" {
			uri = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/jwks.json"
		}
		ic.ResponseKeys = rs.NewRemoteKeySet(ctx, uri)
	}
	return introspect.New(ic)
}

// NewDPoP builds the DPoP proof checker (rs/dpop) of the route file's dpop
// section: its replay cache in memory or in Redis (shared by several
// gateway nodes), server nonces when asked for (from a shared secret file,
// or a random secret per process), and the origin clients address.
func NewDPoP(ctx context.Context, cfg config.DPoP) (*dpop.Verifier, error) {
	dc := dpop.Config{MaxAge: cfg.MaxAge}
	for _, a := range cfg.Algorithms {
		dc.Algorithms = append(dc.Algorithms, jose.Algorithm(a))
	}
	switch cfg.Replay {
	case "redis":
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("dpop.redis_url: %w", err)
		}
		prefix := cfg.RedisPrefix
		if prefix == "" {
			prefix = "writ-gateway:dpop:"
		}
		dc.Replay = dpop.NewRedisReplayCache(redis.NewClient(opts), prefix)
	default:
		dc.Replay = dpop.NewMemoryReplayCache(cfg.CacheSize, nil)
	}
	if cfg.Nonce {
		secret := make([]byte, 32)
		if cfg.NonceSecretFile != "" {
			data, err := os.ReadFile(cfg.NonceSecretFile)
			if err != nil {
				return nil, fmt.Errorf("dpop.nonce_secret_file: %w", err)
			}
			secret = []byte(strings.TrimSpace(string(data)))
		} else if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		n, err := dpop.NewNonces(secret, 0, nil)
		if err != nil {
			return nil, fmt.Errorf("dpop: %w", err)
		}
		dc.Nonces = n
	}
	if cfg.Origin != "" {
		dc.URL = dpop.OriginURL(cfg.Origin)
	}
	return dpop.NewVerifier(dc)
}
