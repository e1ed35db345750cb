// Command webapp is an example web application that signs its users in
// through writ (OpenID Connect, authorization code flow with PKCE), verifies
// the ID token, and keeps the session in a cookie it signs itself with the
// websession package.
//
// Every flag has an environment variable:
//
//	-issuer         WEBAPP_ISSUER          the OpenID provider (default http://127.0.0.1:8080)
//	-client-id      WEBAPP_CLIENT_ID       the app's client id at the provider
//	-client-secret  WEBAPP_CLIENT_SECRET   its secret
//	-url            WEBAPP_URL             the app's own origin (default http://127.0.0.1:9999)
//	-listen         WEBAPP_LISTEN          the listen address (default 127.0.0.1:9999)
//	-session-key    WEBAPP_SESSION_KEY     32+ random bytes, base64 (default: a random key; sessions end at restart)
//	-issuer-ca      WEBAPP_ISSUER_CA       a PEM file of CAs to trust for the provider
//	-tls-cert       WEBAPP_TLS_CERT        serve https with this certificate ...
//	-tls-key        WEBAPP_TLS_KEY         ... and key
//
// Session cookies are Secure: browsers accept them over http only from
// loopback addresses (127.0.0.1, localhost); anywhere else serve https.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(os.Args[1:], os.Getenv, logger); err != nil {
		logger.Error("webapp", "err", err)
		os.Exit(1)
	}
}

type options struct {
	issuer, clientID, clientSecret, appURL, listen, sessionKey, issuerCA, tlsCert, tlsKey string
}

func parseFlags(args []string, getenv func(string) string) (options, error) {
	var o options
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.StringVar(&o.issuer, "issuer", env("WEBAPP_ISSUER", "http://127.0.0.1:8080"), "the OpenID provider's issuer URL")
	fs.StringVar(&o.clientID, "client-id", env("WEBAPP_CLIENT_ID", ""), "the client id")
	fs.StringVar(&o.clientSecret, "client-secret", env("WEBAPP_CLIENT_SECRET", ""), "the client secret")
	fs.StringVar(&o.appURL, "url", env("WEBAPP_URL", "http://127.0.0.1:9999"), "the app's own origin")
	fs.StringVar(&o.listen, "listen", env("WEBAPP_LISTEN", "127.0.0.1:9999"), "the listen address")
	fs.StringVar(&o.sessionKey, "session-key", env("WEBAPP_SESSION_KEY", ""), "32+ random bytes, base64 (standard or URL alphabet)")
	fs.StringVar(&o.issuerCA, "issuer-ca", env("WEBAPP_ISSUER_CA", ""), "PEM file of CAs to trust for the provider")
	fs.StringVar(&o.tlsCert, "tls-cert", env("WEBAPP_TLS_CERT", ""), "serve https with this certificate")
	fs.StringVar(&o.tlsKey, "tls-key", env("WEBAPP_TLS_KEY", ""), "the key of -tls-cert")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.clientID == "" {
		return o, errors.New("-client-id (WEBAPP_CLIENT_ID) is required")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return o, errors.New("-tls-cert and -tls-key go together")
	}
	return o, nil
}

// decodeKey reads a base64 session key (either alphabet, padded or not).
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("the session key is not base64")
	}
	return b, nil
}

func run(args []string, getenv func(string) string, logger *slog.Logger) error {
	o, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	var key []byte
	if o.sessionKey == "" {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		logger.Warn("no session key given: using a random one; sessions end when the app restarts")
	} else if key, err = decodeKey(o.sessionKey); err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if o.issuerCA != "" {
		pem, err := os.ReadFile(o.issuerCA)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", o.issuerCA)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := New(ctx, Config{
		IssuerURL: o.issuer, ClientID: o.clientID, ClientSecret: o.clientSecret,
		AppURL: o.appURL, SessionKey: key, HTTPClient: client, Logger: logger,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              o.listen,
		Handler:           app.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() {
		logger.Info("webapp listening", "addr", o.listen, "url", o.appURL, "issuer", o.issuer)
		if o.tlsCert != "" {
			errc <- srv.ListenAndServeTLS(o.tlsCert, o.tlsKey)
		} else {
			errc <- srv.ListenAndServe()
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
