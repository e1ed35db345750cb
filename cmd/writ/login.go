package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// Bounds of "writ login".
const (
	// loginHTTPTimeout bounds each request to the issuer.
	loginHTTPTimeout = 30 * time.Second
	// maxLoginDocument bounds a discovery document and the token file.
	maxLoginDocument = 1 << 20
	// loginFileVersion is the format of the token file.
	loginFileVersion = 1
)

// loginFlags are the flags of "writ login".
type loginFlags struct {
	issuer     string
	clientID   string
	scope      string
	tokenFile  string
	dpopKey    string
	browser    bool
	printToken bool
}

// newLoginCmd builds "writ login".
func newLoginCmd(s *streams) *cobra.Command {
	var f loginFlags
	cmd := &cobra.Command{
		Use:     "login",
		GroupID: groupTokens,
		Short:   "Sign in to an issuer from the command line (device flow) and keep the tokens",
		Long: `Sign in to an OAuth 2.0 / OpenID Connect issuer with the device authorization
grant (RFC 8628): writ prints an address and a code on standard error, you
open the address in any browser, sign in and allow the client, and writ,
polling the token endpoint meanwhile, keeps the tokens it gets in a file of
mode 0600 under your configuration directory (` + "`" + `$XDG_CONFIG_HOME/writ/tokens.json` + "`" + `
on Linux), one entry per issuer and client.

With --print-token, writ prints the access token of the stored sign-in on
standard output, for scripts, refreshing it first with the refresh token
when it has expired; it never starts an interactive sign-in (run "writ
login" for that).

With --dpop-key the token requests carry DPoP proofs (RFC 9449) signed by
that key, so the access and refresh tokens are bound to it; --print-token
then prints a DPoP-bound token, to be used with a proof from "writ dpop
proof --key FILE".

With --browser writ signs in through a browser on this machine instead: it
prints an address to open, listens on a loopback port for the redirect
(RFC 8252), and redeems the code with PKCE (S256); the client then needs
the authorization_code grant and the redirect URI http://127.0.0.1/callback
(any port).

The client must be registered with the device grant
(urn:ietf:params:oauth:grant-type:device_code, and refresh_token to
refresh), normally as a public client.`,
		Example: `  writ login --issuer http://127.0.0.1:8080 --client-id "$CLIENT_ID"
  curl -H "Authorization: Bearer $(writ login --print-token --issuer http://127.0.0.1:8080 --client-id "$CLIENT_ID")" ...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLogin(cmd.Context(), s, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.issuer, "issuer", "", "the issuer `URL` (https, or http on a loopback address)")
	fs.StringVar(&f.clientID, "client-id", "", "the `CLIENT_ID` registered with the device grant")
	fs.StringVar(&f.scope, "scope", "openid offline_access", "space-separated `SCOPES` to ask for")
	fs.StringVar(&f.tokenFile, "token-file", "", "where the tokens are kept (`FILE`; default: the user's configuration directory, writ/tokens.json)")
	fs.StringVar(&f.dpopKey, "dpop-key", "", "private key `FILE` (JWK or PEM, e.g. from 'writ key generate --out') to bind the tokens to with DPoP (RFC 9449); remembered for refreshes")
	fs.BoolVar(&f.browser, "browser", false, "sign in through a browser on this machine instead: the authorization code flow with PKCE and a loopback redirect (RFC 8252); the client needs the authorization_code grant and the redirect URI http://127.0.0.1/callback")
	fs.BoolVar(&f.printToken, "print-token", false, "print the stored access token on standard output, refreshed when expired")
	return cmd
}

// storedLogin is one sign-in kept in the token file.
type storedLogin struct {
	Issuer        string    `json:"issuer"`
	ClientID      string    `json:"client_id"`
	TokenEndpoint string    `json:"token_endpoint"`
	AccessToken   string    `json:"access_token"`
	TokenType     string    `json:"token_type"`
	RefreshToken  string    `json:"refresh_token,omitempty"`
	IDToken       string    `json:"id_token,omitempty"`
	Scope         string    `json:"scope,omitempty"`
	Expiry        time.Time `json:"expiry,omitzero"`
	// DPoPKey is the key file the tokens are bound to, or empty.
	DPoPKey string `json:"dpop_key,omitempty"`
}

// loginFile is the token file.
type loginFile struct {
	Version int                    `json:"version"`
	Logins  map[string]storedLogin `json:"logins"`
}

func loginKey(issuer, clientID string) string { return issuer + " " + clientID }

func runLogin(ctx context.Context, s *streams, f loginFlags) error {
	issuer, err := checkIssuerURL(f.issuer)
	if err != nil {
		return err
	}
	if f.clientID == "" {
		return usagef("--client-id is required")
	}
	path := f.tokenFile
	if path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return usagef("no configuration directory (%v); give --token-file", err)
		}
		path = filepath.Join(dir, "writ", "tokens.json")
	}
	file, err := readLoginFile(path)
	if err != nil {
		return err
	}
	key := loginKey(issuer, f.clientID)
	stored, signedIn := file.Logins[key]
	keyFile := f.dpopKey
	if keyFile == "" && f.printToken {
		keyFile = stored.DPoPKey
	}
	var dk *jose.Key
	if keyFile != "" {
		if keyFile, err = filepath.Abs(keyFile); err != nil {
			return usagef("--dpop-key: %v", err)
		}
		if dk, err = loadSigningKey(keyFile, "", ""); err != nil {
			return err
		}
		if dk.IsSymmetric() {
			return usagef("--dpop-key: a DPoP proof is signed with an asymmetric key, not %s", dk.Algorithm())
		}
	}
	hc := &http.Client{Timeout: loginHTTPTimeout, Transport: &dpopTransport{key: dk, base: http.DefaultTransport}}
	defer hc.CloseIdleConnections()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)

	if f.printToken {
		l, ok := stored, signedIn
		if !ok {
			return usagef("not signed in to %s as client %s: run writ login --issuer %s --client-id %s", issuer, f.clientID, issuer, f.clientID)
		}
		l.DPoPKey = keyFile
		hc.Transport.(*dpopTransport).tokenURL = l.TokenEndpoint
		cfg := oauth2.Config{ClientID: f.clientID, Endpoint: oauth2.Endpoint{TokenURL: l.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
		old := &oauth2.Token{AccessToken: l.AccessToken, TokenType: l.TokenType, RefreshToken: l.RefreshToken, Expiry: l.Expiry}
		tok, err := cfg.TokenSource(ctx, old).Token()
		if err != nil {
			return fmt.Errorf("refresh the token (sign in again with writ login): %s", describeOAuthError(err))
		}
		if tok.AccessToken != old.AccessToken {
			file.Logins[key] = fromToken(l, tok)
			if err := writeLoginFile(path, file); err != nil {
				return err
			}
		}
		_, err = fmt.Fprintln(s.out, tok.AccessToken)
		return err
	}

	md, err := discoverEndpoints(ctx, hc, issuer)
	if err != nil {
		return err
	}
	hc.Transport.(*dpopTransport).tokenURL = md.TokenEndpoint
	cfg := oauth2.Config{
		ClientID: f.clientID,
		Scopes:   strings.Fields(f.scope),
		Endpoint: oauth2.Endpoint{DeviceAuthURL: md.DeviceAuthorizationEndpoint, TokenURL: md.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
	}
	var tok *oauth2.Token
	if f.browser {
		if tok, err = browserLogin(ctx, s, issuer, md, cfg); err != nil {
			return err
		}
	} else if tok, err = deviceLogin(ctx, s, md, cfg); err != nil {
		return err
	}
	if file.Logins == nil {
		file.Logins = map[string]storedLogin{}
	}
	file.Logins[key] = fromToken(storedLogin{Issuer: issuer, ClientID: f.clientID, TokenEndpoint: md.TokenEndpoint, DPoPKey: keyFile}, tok)
	if err := writeLoginFile(path, file); err != nil {
		return err
	}
	fmt.Fprintf(s.err, "Signed in to %s; tokens kept in %s\n", issuer, path)
	return nil
}

// deviceLogin runs the device flow: the address and code on standard
// error, then polling until the user decides.
func deviceLogin(ctx context.Context, s *streams, md loginMetadata, cfg oauth2.Config) (*oauth2.Token, error) {
	if md.DeviceAuthorizationEndpoint == "" {
		return nil, fmt.Errorf("%s has no device_authorization_endpoint: it does not offer the device flow (try --browser)", md.Issuer)
	}
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("device authorization at %s: %s", md.DeviceAuthorizationEndpoint, describeOAuthError(err))
	}
	fmt.Fprintf(s.err, "To sign in, open %s\nand enter the code %s\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(s.err, "(or open %s)\n", da.VerificationURIComplete)
	}
	fmt.Fprintln(s.err, "Waiting for you to allow the request...")
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("sign-in did not complete: %s", describeOAuthError(err))
	}
	return tok, nil
}

// browserWait bounds how long "writ login --browser" waits for the
// redirect.
const browserWait = 10 * time.Minute

// browserLogin runs the authorization code flow with PKCE and a loopback
// redirect (RFC 8252 §7.3): it listens on 127.0.0.1 at a port the kernel
// picks, prints the authorization URL, takes the one redirect whose state
// matches (and whose iss, when sent, is the issuer, RFC 9207), and redeems
// the code with the verifier.
func browserLogin(ctx context.Context, s *streams, issuer string, md loginMetadata, cfg oauth2.Config) (*oauth2.Token, error) {
	if md.AuthorizationEndpoint == "" {
		return nil, fmt.Errorf("%s has no authorization_endpoint: it does not offer browser sign-in", issuer)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the redirect: %w", err)
	}
	cfg.RedirectURL = "http://" + ln.Addr().String() + "/callback"
	cfg.Endpoint.AuthURL = md.AuthorizationEndpoint
	verifier := oauth2.GenerateVerifier()
	var sb [16]byte
	if _, err := rand.Read(sb[:]); err != nil {
		return nil, err
	}
	state := base64.RawURLEncoding.EncodeToString(sb[:])
	type answer struct{ code, err string }
	answers := make(chan answer, 1)
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "This is not the sign-in writ started.", http.StatusBadRequest)
			return
		}
		a := answer{code: q.Get("code")}
		switch {
		case q.Has("iss") && q.Get("iss") != issuer:
			a = answer{err: "the redirect names another issuer"}
		case q.Has("error"):
			a = answer{err: oneLine(truncate(q.Get("error")+": "+q.Get("error_description"), 200))}
		case a.code == "":
			a = answer{err: "the redirect has no code"}
		}
		once.Do(func() { answers <- a })
		if a.err != "" {
			http.Error(w, "Sign-in failed: "+a.err, http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "Signed in. You can close this tab and go back to the terminal.\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	fmt.Fprintf(s.err, "To sign in, open this address in a browser on this machine:\n%s\n", cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	fmt.Fprintln(s.err, "Waiting for the browser...")
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	var a answer
	select {
	case a = <-answers:
	case <-wctx.Done():
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("no sign-in within %s", browserWait)
	}
	if a.err != "" {
		return nil, fmt.Errorf("sign-in failed: %s", a.err)
	}
	tok, err := cfg.Exchange(ctx, a.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("redeem the code: %s", describeOAuthError(err))
	}
	return tok, nil
}

// dpopTransport adds a DPoP proof (RFC 9449) signed by key to every POST
// to the token endpoint, and retries once with the server's nonce when it
// asks for one (use_dpop_nonce), remembering it for the next requests.
// Without a key it only passes requests on.
type dpopTransport struct {
	key      *jose.Key
	base     http.RoundTripper
	tokenURL string

	mu    sync.Mutex
	nonce string
}

// RoundTrip implements http.RoundTripper.
func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.key == nil || req.Method != http.MethodPost || req.URL.String() != t.tokenURL {
		return t.base.RoundTrip(req)
	}
	t.mu.Lock()
	nonce := t.nonce
	t.mu.Unlock()
	resp, err := t.send(req, nonce)
	if err != nil || resp.StatusCode != http.StatusBadRequest || resp.Header.Get("DPoP-Nonce") == "" || req.GetBody == nil {
		return resp, err
	}
	fresh := resp.Header.Get("DPoP-Nonce")
	t.mu.Lock()
	t.nonce = fresh
	t.mu.Unlock()
	if fresh == nonce {
		return resp, nil
	}
	resp.Body.Close()
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	retry := req.Clone(req.Context())
	retry.Body = body
	return t.send(retry, fresh)
}

func (t *dpopTransport) send(req *http.Request, nonce string) (*http.Response, error) {
	proof, err := dpop.NewProof(t.key, http.MethodPost, t.tokenURL, "", nonce, time.Now())
	if err != nil {
		return nil, fmt.Errorf("DPoP proof: %w", err)
	}
	r := req.Clone(req.Context())
	r.Header.Set("DPoP", proof)
	return t.base.RoundTrip(r)
}

// fromToken is l with the tokens of tok (a refresh that returns no new
// refresh token keeps the old one).
func fromToken(l storedLogin, tok *oauth2.Token) storedLogin {
	l.AccessToken, l.TokenType, l.Expiry = tok.AccessToken, tok.TokenType, tok.Expiry
	if tok.RefreshToken != "" {
		l.RefreshToken = tok.RefreshToken
	}
	if idt, ok := tok.Extra("id_token").(string); ok && idt != "" {
		l.IDToken = idt
	}
	if sc, ok := tok.Extra("scope").(string); ok && sc != "" {
		l.Scope = sc
	}
	return l
}

// describeOAuthError is the one-line reason of an OAuth failure: the
// error code and description of an OAuth error response, never a token.
func describeOAuthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		if re.ErrorDescription != "" {
			return re.ErrorCode + ": " + re.ErrorDescription
		}
		return re.ErrorCode
	}
	return err.Error()
}

// checkIssuerURL accepts an https URL, or an http one on a loopback
// address, without query or fragment; the trailing slash is dropped.
func checkIssuerURL(raw string) (string, error) {
	if raw == "" {
		return "", usagef("--issuer is required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", usagef("--issuer %q: want an absolute URL without query, fragment or credentials", truncate(raw, 64))
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", usagef("--issuer %q: http only on a loopback address; use https", truncate(raw, 64))
		}
	default:
		return "", usagef("--issuer %q: want https (or http on a loopback address)", truncate(raw, 64))
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// loginMetadata is what "writ login" reads of the discovery document.
type loginMetadata struct {
	Issuer                      string `json:"issuer"`
	TokenEndpoint               string `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	AuthorizationEndpoint       string `json:"authorization_endpoint"`
}

// discoverEndpoints reads the issuer's RFC 8414 metadata (then its OpenID
// Connect discovery document), whose issuer must be the one asked.
func discoverEndpoints(ctx context.Context, hc *http.Client, issuer string) (loginMetadata, error) {
	var lastErr error
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+p, nil)
		if err != nil {
			return loginMetadata{}, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxLoginDocument+1))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(body) > maxLoginDocument {
			lastErr = fmt.Errorf("GET %s: status %d", p, resp.StatusCode)
			continue
		}
		var md loginMetadata
		if err := json.Unmarshal(body, &md); err != nil {
			return loginMetadata{}, fmt.Errorf("discovery document of %s: %w", issuer, err)
		}
		switch {
		case md.Issuer != issuer:
			return loginMetadata{}, fmt.Errorf("discovery document of %s names the issuer %q", issuer, truncate(md.Issuer, 64))
		case md.TokenEndpoint == "":
			return loginMetadata{}, fmt.Errorf("%s has no token_endpoint", issuer)
		}
		return md, nil
	}
	return loginMetadata{}, fmt.Errorf("discover %s: %w", issuer, lastErr)
}

// readLoginFile reads the token file; a missing file is an empty one.
func readLoginFile(path string) (loginFile, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return loginFile{Version: loginFileVersion, Logins: map[string]storedLogin{}}, nil
	}
	if err != nil {
		return loginFile{}, usagef("token file: %v", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		return loginFile{}, usagef("token file %s is readable by others (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxLoginDocument+1))
	if err != nil || len(data) > maxLoginDocument {
		return loginFile{}, usagef("token file %s: unreadable or larger than %d bytes", path, maxLoginDocument)
	}
	var lf loginFile
	if err := json.Unmarshal(data, &lf); err != nil || lf.Version != loginFileVersion {
		return loginFile{}, usagef("token file %s is not a writ token file (version %d)", path, loginFileVersion)
	}
	if lf.Logins == nil {
		lf.Logins = map[string]storedLogin{}
	}
	return lf, nil
}

// writeLoginFile replaces the token file atomically: a new file of mode
// 0600 in the same directory (0700), renamed over the old one.
func writeLoginFile(path string, lf loginFile) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return usagef("token file: %v", err)
	}
	data, err := json.MarshalIndent(lf, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tokens-*.json")
	if err != nil {
		return usagef("token file: %v", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return usagef("token file: %v", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return usagef("token file: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return usagef("token file: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return usagef("token file: %v", err)
	}
	return nil
}
