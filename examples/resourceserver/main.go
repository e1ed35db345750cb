// Command resourceserver is an example orders API protected by writ's
// relying-party library (package rs): it accepts the access tokens writ
// issues for it, under the Bearer and DPoP schemes, and nothing else.
//
//	GET  /orders                                 scope orders:read
//	POST /orders {"item": "...", "quantity": n}  scope orders:write
//	GET  /.well-known/oauth-protected-resource   RFC 9728 metadata (public)
//	GET  /readyz                                 200 once writ's keys are loaded (public)
//
// Every flag has an environment variable:
//
//	-issuer                  ORDERS_ISSUER                  writ's issuer URL (default http://127.0.0.1:8080)
//	-audience                ORDERS_AUDIENCE                this API's resource identifier, the tokens' aud (default http://127.0.0.1:9300)
//	-listen                  ORDERS_LISTEN                  the listen address (default 127.0.0.1:9300)
//	-public-url              ORDERS_PUBLIC_URL              the origin clients use, behind a proxy (for DPoP's htu)
//	-introspect              ORDERS_INTROSPECT              also accept opaque tokens, by introspection (true/false)
//	-introspection-endpoint  ORDERS_INTROSPECTION_ENDPOINT  default: from writ's metadata
//	-client-id               ORDERS_CLIENT_ID               the API's own client at writ, for introspection
//	-client-secret           ORDERS_CLIENT_SECRET           its secret
//	-dpop-nonce-secret       ORDERS_DPOP_NONCE_SECRET       32+ random bytes, base64, the same on every replica (default: random)
//	-log-level               ORDERS_LOG_LEVEL               debug, info, warn or error (default info)
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/writ-dev/writ/rs/dpop"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil, nil); err != nil {
		fmt.Fprintln(os.Stderr, "resourceserver:", err)
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	issuer, audience, listen, publicURL           string
	introspect                                    bool
	introspectionEndpoint, clientID, clientSecret string
	nonceSecret, logLevel                         string
}

// parseFlags reads the flags, each defaulting to its environment variable.
func parseFlags(args []string, getenv func(string) string) (options, error) {
	var o options
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("resourceserver", flag.ContinueOnError)
	fs.StringVar(&o.issuer, "issuer", env("ORDERS_ISSUER", "http://127.0.0.1:8080"), "writ's issuer URL")
	fs.StringVar(&o.audience, "audience", env("ORDERS_AUDIENCE", "http://127.0.0.1:9300"), "this API's resource identifier (the tokens' aud)")
	fs.StringVar(&o.listen, "listen", env("ORDERS_LISTEN", "127.0.0.1:9300"), "the listen address")
	fs.StringVar(&o.publicURL, "public-url", env("ORDERS_PUBLIC_URL", ""), "the origin clients address this API by, when behind a proxy")
	introspect, err := strconv.ParseBool(env("ORDERS_INTROSPECT", "false"))
	if err != nil {
		return o, errors.New("ORDERS_INTROSPECT must be true or false")
	}
	fs.BoolVar(&o.introspect, "introspect", introspect, "also accept opaque access tokens, by introspection")
	fs.StringVar(&o.introspectionEndpoint, "introspection-endpoint", env("ORDERS_INTROSPECTION_ENDPOINT", ""), "the introspection endpoint (default: from the issuer's metadata)")
	fs.StringVar(&o.clientID, "client-id", env("ORDERS_CLIENT_ID", ""), "the API's client id at writ, for introspection")
	fs.StringVar(&o.clientSecret, "client-secret", env("ORDERS_CLIENT_SECRET", ""), "its secret")
	fs.StringVar(&o.nonceSecret, "dpop-nonce-secret", env("ORDERS_DPOP_NONCE_SECRET", ""), "32+ random bytes, base64: the DPoP nonce secret shared by replicas")
	fs.StringVar(&o.logLevel, "log-level", env("ORDERS_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.introspect && (o.clientID == "" || o.clientSecret == "") {
		return o, errors.New("-introspect needs -client-id and -client-secret (ORDERS_CLIENT_ID, ORDERS_CLIENT_SECRET)")
	}
	return o, nil
}

// decodeSecret reads a base64 secret (either alphabet, padded or not).
func decodeSecret(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("the DPoP nonce secret is not base64")
	}
	return b, nil
}

// run serves the API until ctx ends, then shuts the server down
// gracefully. ready, when not nil, receives the bound address once the
// listener is open. hook, when not nil, adjusts the configuration before
// the API is built (the tests use it).
func run(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer, ready func(addr string), hook func(*Config)) error {
	o, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))

	secret := make([]byte, dpop.MinNonceSecret)
	if o.nonceSecret != "" {
		if secret, err = decodeSecret(o.nonceSecret); err != nil {
			return err
		}
	} else {
		_, _ = rand.Read(secret)
		logger.Debug("no DPoP nonce secret given: using a random one (fine for a single replica)")
	}
	cfg := Config{
		Issuer: o.issuer, Audience: o.audience, PublicURL: o.publicURL,
		Introspect: o.introspect, IntrospectionEndpoint: o.introspectionEndpoint,
		ClientID: o.clientID, ClientSecret: o.clientSecret,
		NonceSecret: secret, Logger: logger,
	}
	if hook != nil {
		hook(&cfg)
	}
	api, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	// Load writ's keys now; if writ is not up yet, they are fetched with
	// the first token, and /readyz says 503 meanwhile.
	refresh, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := api.Refresh(refresh); err != nil {
		logger.Warn("writ's keys are not loaded yet", "issuer", o.issuer, "err", err)
	}
	cancel()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10, // a token (16 KiB at most) and a DPoP proof (8 KiB) fit
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("orders API listening", "addr", ln.Addr().String(), "issuer", o.issuer, "audience", o.audience, "introspect", o.introspect)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
