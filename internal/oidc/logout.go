package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0).
const (
	// TypeLogoutToken is the typ header of logout tokens (§2.4).
	TypeLogoutToken = "logout+jwt"
	// EventBackchannelLogout is the member of the events claim that makes
	// a token a logout token (§2.4).
	EventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"
	// LogoutTokenTTL is the lifetime of logout tokens: they are delivered
	// at once, so two minutes cover any clock skew.
	LogoutTokenTTL = 2 * time.Minute
	// DefaultNotifyTimeout bounds one Notify call when the Notifier's
	// client sets no timeout.
	DefaultNotifyTimeout = 5 * time.Second
	// DefaultMaxConcurrent is the number of deliveries a Notifier makes at
	// once when MaxConcurrent is not positive.
	DefaultMaxConcurrent = 8
	// maxDrain bounds how much of a response body is read, so that the
	// connection can be reused.
	maxDrain = 4 << 10
)

// LogoutTokens mints logout tokens (§2.4). It is safe for concurrent use.
type LogoutTokens struct {
	// Issuer is the iss of minted tokens.
	Issuer string
	// Keys supplies the signing key; the header carries its kid.
	Keys SigningKeys
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Mint signs a logout token for clientID (the aud) about the user subject,
// the session sid, or both; at least one must be given. The header has typ
// "logout+jwt"; the claims are iss, aud, iat, exp (iat plus
// LogoutTokenTTL), a fresh jti, sub and sid when given, and the events
// claim with the back-channel logout event. There is never a nonce, so
// that no logout token can pass for an ID token.
//
// It signs with DefaultSigningAlgorithm; MintAlg signs with another.
func (l LogoutTokens) Mint(clientID, subject, sid string) (string, error) {
	return l.MintAlg("", clientID, subject, sid)
}

// MintAlg is Mint with the active key of alg (the client's
// id_token_signed_response_alg, which it verifies ID tokens with); empty
// means DefaultSigningAlgorithm.
func (l LogoutTokens) MintAlg(alg jose.Algorithm, clientID, subject, sid string) (string, error) {
	if clientID == "" {
		return "", errors.New("oidc: logout token needs a client")
	}
	if subject == "" && sid == "" {
		return "", errors.New("oidc: logout token needs a subject, a session ID or both")
	}
	key, err := signerFor(l.Keys, alg)
	if err != nil {
		return "", err
	}
	jti := opaque.Random(16)
	now := nowFunc(l.Now)().Truncate(time.Second)
	p := make([]byte, 0, 384)
	p = append(p, `{"iss":`...)
	p = strictjson.AppendString(p, l.Issuer)
	p = append(p, `,"aud":`...)
	p = strictjson.AppendString(p, clientID)
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, now.Unix(), 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, now.Add(LogoutTokenTTL).Unix(), 10)
	p = append(p, `,"jti":`...)
	p = strictjson.AppendString(p, jti)
	if subject != "" {
		p = append(p, `,"sub":`...)
		p = strictjson.AppendString(p, subject)
	}
	if sid != "" {
		p = append(p, `,"sid":`...)
		p = strictjson.AppendString(p, sid)
	}
	p = append(p, `,"events":{`...)
	p = strictjson.AppendString(p, EventBackchannelLogout)
	p = append(p, `:{}}}`...)
	return sign(key, p, TypeLogoutToken)
}

// LogoutTarget is a client to notify and its registered
// backchannel_logout_uri.
type LogoutTarget struct {
	ClientID string
	URI      string
	// Algorithm signs the client's logout token: its
	// id_token_signed_response_alg, or empty for DefaultSigningAlgorithm.
	Algorithm jose.Algorithm
}

// LogoutError reports a failed delivery to one client. Its message names
// the client and the cause, never the token.
type LogoutError struct {
	// ClientID is the client that was not notified.
	ClientID string
	// Status is the HTTP status the client answered, or 0 when there was
	// no answer.
	Status int
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *LogoutError) Error() string {
	return "oidc: back-channel logout to client " + strconv.Quote(e.ClientID) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *LogoutError) Unwrap() error { return e.Err }

// ErrLogoutStatus is the cause of a LogoutError when the client answered
// with a status other than 200 or 204 (a redirect included).
var ErrLogoutStatus = errors.New("unexpected HTTP status")

// Notifier delivers logout tokens to clients' back-channel logout URIs
// (§2.5). It is safe for concurrent use.
type Notifier struct {
	// Tokens mints the logout tokens.
	Tokens LogoutTokens
	// Client makes the requests. Nil means a client with a
	// DefaultNotifyTimeout timeout. Redirects are never followed and no
	// cookie jar is used, whatever the client says; a client without a
	// timeout gets DefaultNotifyTimeout.
	Client *http.Client
	// Logger receives failed deliveries; never a token. Nil discards.
	Logger *slog.Logger
	// MaxConcurrent bounds the deliveries in flight; not positive means
	// DefaultMaxConcurrent.
	MaxConcurrent int
}

// Notify POSTs a logout token about subject and sid (either may be empty,
// not both) to every target, at most MaxConcurrent at a time, as
// application/x-www-form-urlencoded logout_token=..., and expects 200 or
// 204. The whole call ends within the client's timeout: deliveries that
// have not finished, or not started, by then fail. It returns one
// *LogoutError per failed target, in target order, or nil when every
// delivery succeeded, and logs each failure.
func (n *Notifier) Notify(ctx context.Context, targets []LogoutTarget, subject, sid string) []error {
	if len(targets) == 0 {
		return nil
	}
	client := n.client()
	ctx, cancel := context.WithTimeout(ctx, client.Timeout)
	defer cancel()
	limit := n.MaxConcurrent
	if limit <= 0 {
		limit = DefaultMaxConcurrent
	}
	sem := make(chan struct{}, limit)
	results := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				results[i] = n.deliver(ctx, client, t, subject, sid)
			case <-ctx.Done():
				results[i] = &LogoutError{ClientID: t.ClientID, Err: fmt.Errorf("not sent: %w", context.Cause(ctx))}
			}
		})
	}
	wg.Wait()
	var errs []error
	log := n.logger()
	for i, err := range results {
		if err == nil {
			continue
		}
		log.WarnContext(ctx, "back-channel logout failed", "client_id", targets[i].ClientID, "error", err)
		errs = append(errs, err)
	}
	return errs
}

// deliver sends one logout token.
func (n *Notifier) deliver(ctx context.Context, client *http.Client, t LogoutTarget, subject, sid string) error {
	fail := func(status int, err error) error {
		return &LogoutError{ClientID: t.ClientID, Status: status, Err: err}
	}
	u, err := url.Parse(t.URI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return fail(0, errors.New("backchannel_logout_uri is not an absolute http(s) URL without fragment"))
	}
	token, err := n.Tokens.MintAlg(t.Algorithm, t.ClientID, subject, sid)
	if err != nil {
		return fail(0, err)
	}
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URI, strings.NewReader(body))
	if err != nil {
		return fail(0, fmt.Errorf("build the request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return fail(0, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fail(resp.StatusCode, fmt.Errorf("%w %d", ErrLogoutStatus, resp.StatusCode))
	}
	return nil
}

// client returns a copy of the configured client that follows no
// redirects, keeps no cookies and has a timeout.
func (n *Notifier) client() *http.Client {
	var c http.Client
	if n.Client != nil {
		c = *n.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Jar = nil
	if c.Timeout <= 0 {
		c.Timeout = DefaultNotifyTimeout
	}
	return &c
}

func (n *Notifier) logger() *slog.Logger {
	if n.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Logger
}
