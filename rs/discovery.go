package rs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// Paths of the metadata documents discovery reads.
const (
	// OIDCDiscoveryPath is appended to the issuer (OpenID Connect
	// Discovery 1.0 §4).
	OIDCDiscoveryPath = "/.well-known/openid-configuration"
	// OAuthMetadataPath is inserted between the issuer's host and path
	// (RFC 8414 §3.1).
	OAuthMetadataPath = "/.well-known/oauth-authorization-server"
	// MaxIssuerMetadataSize bounds the body of a metadata document.
	MaxIssuerMetadataSize = 1 << 20
	// maxMetadataDepth bounds the nesting of a metadata document.
	maxMetadataDepth = 32
)

// errIssuerMismatch is wrapped when a metadata document names another
// issuer (OpenID Connect Discovery §4.3, RFC 8414 §3.3): the keys it points
// to must not be trusted, and no other document is tried.
var errIssuerMismatch = errors.New("rs: metadata names another issuer")

// discoveredKeys is the key source of an issuer whose jwks_uri comes from
// its metadata. It discovers once, on first use (rate-limited and shared
// like a key set's fetches), then serves the RemoteKeySet of the jwks_uri
// found for the rest of its life.
type discoveredKeys struct {
	ctx    context.Context
	issuer string
	cfg    keySetConfig
	client *http.Client

	mu       sync.Mutex
	keys     *RemoteKeySet // nil until discovery succeeds
	lastTry  time.Time
	lastErr  error
	inflight *fetchCall
}

var _ jwt.KeySource = (*discoveredKeys)(nil)

func newDiscoveredKeys(ctx context.Context, issuer string, cfg keySetConfig) (*discoveredKeys, error) {
	if _, err := IssuerMetadataURLs(issuer); err != nil {
		return nil, err
	}
	return &discoveredKeys{ctx: ctx, issuer: issuer, cfg: cfg, client: redirectChecked(cfg.client)}, nil
}

// IssuerMetadataURLs returns the URLs discovery tries for issuer, in order: the
// OpenID Connect configuration, then the RFC 8414 authorization server
// metadata. issuer must be an http or https URL without query or fragment
// (RFC 8414 §2).
func IssuerMetadataURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("discovery needs an issuer that is an absolute http or https URL (or set JWKSURI or Keys)")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(issuer, "?#") {
		return nil, errors.New("an issuer must not have a query or fragment (RFC 8414 §2)")
	}
	if u.User != nil {
		return nil, errors.New("an issuer must not carry user information")
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return []string{
		strings.TrimSuffix(issuer, "/") + OIDCDiscoveryPath,
		u.Scheme + "://" + u.Host + OAuthMetadataPath + path,
	}, nil
}

// KeySet implements jwt.KeySource: it discovers the jwks_uri when not done
// yet, then asks that key set.
func (d *discoveredKeys) KeySet(ctx context.Context, h *jose.Header) (*jose.KeySet, error) {
	keys, err := d.resolve(ctx, false)
	if err != nil {
		return nil, err
	}
	return keys.KeySet(ctx, h)
}

// refresh discovers now (unless done) and fetches the key set now.
func (d *discoveredKeys) refresh(ctx context.Context) error {
	keys, err := d.resolve(ctx, true)
	if err != nil {
		return err
	}
	return keys.Refresh(ctx)
}

// current returns the key set when discovery has succeeded, else the
// error of the last attempt.
func (d *discoveredKeys) current() (*RemoteKeySet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.keys, d.lastErr
}

// resolve returns the key set of the discovered jwks_uri, discovering it
// first when needed: at most once per minimum refresh interval unless
// force, and once for all callers that wait at the same time.
func (d *discoveredKeys) resolve(ctx context.Context, force bool) (*RemoteKeySet, error) {
	d.mu.Lock()
	if d.keys != nil {
		defer d.mu.Unlock()
		return d.keys, nil
	}
	call := d.inflight
	if call == nil {
		now := d.cfg.now()
		if since := now.Sub(d.lastTry); !force && !d.lastTry.IsZero() && since >= 0 && since < d.cfg.minRefresh {
			defer d.mu.Unlock()
			return nil, d.unavailable()
		}
		call = &fetchCall{done: make(chan struct{})}
		d.inflight, d.lastTry = call, now
		go d.run(call)
	}
	d.mu.Unlock()
	if err := wait(ctx, call); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.keys == nil {
		return nil, d.unavailable()
	}
	return d.keys, nil
}

// unavailable is the error for discovery not having succeeded. d.mu is held.
func (d *discoveredKeys) unavailable() error {
	if d.lastErr == nil {
		return fmt.Errorf("%w: discovery of %q has not succeeded", ErrUnavailable, d.issuer)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, d.lastErr)
}

// run performs one discovery and publishes its result.
func (d *discoveredKeys) run(call *fetchCall) {
	jwksURI, err := d.discover()
	d.mu.Lock()
	if err == nil {
		d.keys, d.lastErr = newRemoteKeySet(d.ctx, jwksURI, d.cfg), nil
	} else {
		d.lastErr = err
	}
	call.err = err
	d.inflight = nil
	d.mu.Unlock()
	close(call.done)
}

// discover reads the issuer's metadata documents in turn and returns the
// jwks_uri of the first that is valid. A document naming another issuer
// stops discovery.
func (d *discoveredKeys) discover() (string, error) {
	urls, err := IssuerMetadataURLs(d.issuer)
	if err != nil {
		return "", err
	}
	var errs []error
	for _, u := range urls {
		body, err := d.get(u)
		if err == nil {
			var jwksURI string
			if jwksURI, err = ParseIssuerMetadata(body, d.issuer); err == nil {
				return jwksURI, nil
			}
			err = fmt.Errorf("rs: metadata at %s: %w", redactURL(u), err)
		}
		errs = append(errs, err)
		if errors.Is(err, errIssuerMismatch) {
			break
		}
	}
	return "", fmt.Errorf("rs: discovery of %q failed: %w", d.issuer, errors.Join(errs...))
}

// get fetches u, bounded in time and size, and returns a 200 answer's body.
func (d *discoveredKeys) get(u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(d.ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("rs: metadata request for %s: %w", redactURL(u), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rs: fetch metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rs: fetch metadata from %s: status %s", redactURL(u), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxIssuerMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("rs: read metadata from %s: %w", redactURL(u), err)
	}
	if len(body) > MaxIssuerMetadataSize {
		return nil, fmt.Errorf("rs: metadata from %s is larger than %d bytes", redactURL(u), MaxIssuerMetadataSize)
	}
	return body, nil
}

// ParseIssuerMetadata parses an OpenID Connect or RFC 8414 metadata document
// strictly (one JSON object, no duplicate members, bounded depth) and
// returns its jwks_uri. The document's issuer must be exactly issuer, and
// jwks_uri an absolute http or https URL, https when the issuer is.
func ParseIssuerMetadata(body []byte, issuer string) (jwksURI string, err error) {
	if len(body) > MaxIssuerMetadataSize {
		return "", fmt.Errorf("metadata larger than %d bytes", MaxIssuerMetadataSize)
	}
	members, err := strictjson.ParseObject(string(body), maxMetadataDepth, nil)
	if err != nil {
		return "", fmt.Errorf("metadata is not a strict JSON object: %w", err)
	}
	var gotIssuer, gotJWKS string
	var hasIssuer, hasJWKS bool
	for _, m := range members {
		switch m.Name {
		case "issuer":
			if gotIssuer, err = strictjson.String(m.Value); err != nil {
				return "", errors.New("issuer is not a string")
			}
			hasIssuer = true
		case "jwks_uri":
			if gotJWKS, err = strictjson.String(m.Value); err != nil {
				return "", errors.New("jwks_uri is not a string")
			}
			hasJWKS = true
		}
	}
	if !hasIssuer {
		return "", errors.New("issuer is missing")
	}
	if gotIssuer != issuer {
		return "", fmt.Errorf("%w: %q, want %q", errIssuerMismatch, gotIssuer, issuer)
	}
	if !hasJWKS || gotJWKS == "" {
		return "", errors.New("jwks_uri is missing")
	}
	if err := checkHTTPURL(gotJWKS); err != nil {
		return "", fmt.Errorf("jwks_uri %w", err)
	}
	if iu, ju := mustParse(issuer), mustParse(gotJWKS); iu.Scheme == "https" && ju.Scheme != "https" {
		return "", errors.New("jwks_uri must be https for an https issuer")
	}
	return gotJWKS, nil
}

// mustParse parses a URL already checked to parse.
func mustParse(u string) *url.URL {
	p, err := url.Parse(u)
	if err != nil {
		return &url.URL{}
	}
	return p
}
