package grant

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
)

// Device authorization defaults (RFC 8628 §3.2).
const (
	// DeviceCodeTTL is how long a device code and its user code live.
	DeviceCodeTTL = 10 * time.Minute
	// DeviceInterval is the least time between two polls at first.
	DeviceInterval = 5 * time.Second
	// UserCodeAlphabet is the alphabet of user codes: upper-case consonants
	// without those that look alike or read as vowels (RFC 8628 §6.1), so
	// that a code is typed easily and spells no word.
	UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	// UserCodeLength is the number of characters of a user code: 20^8,
	// about 2^34.6 codes, against a handful of guesses per device code
	// and a lock after a few wrong ones per session (RFC 8628 §5.1).
	UserCodeLength = 8
	// maxUserCodeInput bounds what NormalizeUserCode reads.
	maxUserCodeInput = 64
)

// RFC 8628 §3.5 error codes of the token endpoint.
const (
	CodeAuthorizationPending = "authorization_pending"
	CodeSlowDown             = "slow_down"
	CodeExpiredToken         = "expired_token"
)

func deviceError(code, desc string) *oauth.Error {
	return &oauth.Error{Code: code, Status: http.StatusBadRequest, Description: desc}
}

// NewUserCode returns a random user code of UserCodeLength characters of
// UserCodeAlphabet, in normalised form (no separator).
func NewUserCode() string {
	// Rejection sampling keeps every character equally likely: 256 is not a
	// multiple of 20, so bytes at or above 240 are drawn again.
	const limit = 256 - 256%len(UserCodeAlphabet)
	out := make([]byte, 0, UserCodeLength)
	var buf [16]byte
	for len(out) < UserCodeLength {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24)
		for _, b := range buf {
			if int(b) < limit && len(out) < UserCodeLength {
				out = append(out, UserCodeAlphabet[int(b)%len(UserCodeAlphabet)])
			}
		}
	}
	return string(out)
}

// FormatUserCode shows a normalised user code as the user reads it,
// XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLength {
		return code
	}
	return code[:UserCodeLength/2] + "-" + code[UserCodeLength/2:]
}

// NormalizeUserCode turns what a user typed into the stored form of a user
// code: case folded, dashes and white space dropped. It reports false for
// anything that cannot be a user code (wrong length, another character),
// so that such input is never looked up.
func NormalizeUserCode(in string) (string, bool) {
	if len(in) > maxUserCodeInput {
		return "", false
	}
	var b strings.Builder
	for _, r := range in {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 0x7f || !strings.ContainsRune(UserCodeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != UserCodeLength {
		return "", false
	}
	return b.String(), true
}

// DeviceCreator stores new device codes.
type DeviceCreator interface {
	CreateDeviceCode(ctx context.Context, d store.DeviceCode) error
}

// DeviceAuthorizationResponse is the answer of the device authorization
// endpoint (RFC 8628 §3.2).
type DeviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceAuthorization is the device authorization endpoint's logic (RFC
// 8628 §3.1): the authenticated client (public ones too) must have
// registered the device_code grant; scope and resource are validated as
// for client credentials; the device code is 256 random bits, stored by
// hash.
type DeviceAuthorization struct {
	Store DeviceCreator
	// VerificationURI is the page where the user enters the code.
	VerificationURI string
	// DefaultAudience is the aud when neither the request nor the client
	// names one.
	DefaultAudience string
	// MCPResources are audiences issued only when named (RequireResource).
	MCPResources *oauth.ResourceSet
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authorize handles one device authorization request.
func (g *DeviceAuthorization) Authorize(ctx context.Context, req *Request) (*DeviceAuthorizationResponse, error) {
	c := &req.Client.Client
	if err := checkGrantAllowed(c, TypeDeviceCode); err != nil {
		return nil, err
	}
	scopes, err := Scopes(req.Form, c.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := Audience(req.Form, c, g.DefaultAudience)
	if err != nil {
		return nil, err
	}
	if err := RequireResource(req.Form, aud, g.MCPResources); err != nil {
		return nil, err
	}
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	value, hash := opaque.New(opaque.CodePrefix)
	// A user code collides with a live one about once in 2^34/live codes:
	// draw again a few times before giving up.
	for range 5 {
		uc := NewUserCode()
		err := g.Store.CreateDeviceCode(ctx, store.DeviceCode{
			Hash: hash, UserCode: uc, ClientID: c.ID, Scopes: scopes, Audience: aud,
			CreatedAt: now, ExpiresAt: now.Add(DeviceCodeTTL), Interval: DeviceInterval,
			Status: store.DevicePending,
		})
		switch {
		case errors.Is(err, store.ErrAlreadyExists):
			continue
		case err != nil:
			return nil, oauth.ServerError(fmt.Errorf("store device code: %w", err))
		}
		shown := FormatUserCode(uc)
		return &DeviceAuthorizationResponse{
			DeviceCode:              value,
			UserCode:                shown,
			VerificationURI:         g.VerificationURI,
			VerificationURIComplete: g.VerificationURI + "?user_code=" + url.QueryEscape(shown),
			ExpiresIn:               int64(DeviceCodeTTL / time.Second),
			Interval:                int64(DeviceInterval / time.Second),
		}, nil
	}
	return nil, oauth.ServerError(errors.New("no free user code after 5 draws"))
}

// DeviceStores are the stores the device code grant needs.
type DeviceStores interface {
	PollDeviceCode(ctx context.Context, hash []byte, now time.Time) (store.DeviceCode, bool, error)
	RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time, issue store.Issue) (store.DeviceCode, error)
	UserGetter
}

// DeviceCode is the device code grant (RFC 8628 §3.4, §3.5): every poll
// is recorded; one sooner than the interval is slow_down (and the interval
// grows by 5 s); then expired_token, authorization_pending, access_denied,
// or the tokens, issued as the authorization code grant issues them and
// committed with the single redemption of the code.
type DeviceCode struct {
	*Tokens
	// Store records polls and redeems codes.
	Store DeviceStores
}

// Handle implements Handler.
func (g *DeviceCode) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if err := checkGrantAllowed(c, TypeDeviceCode); err != nil {
		return nil, err
	}
	code := req.Form.Get("device_code")
	if code == "" || len(code) > opaque.MaxLength {
		return nil, oauth.InvalidRequest("device_code is required")
	}
	now := g.now()
	hash := opaque.Hash(code)
	d, slow, err := g.Store.PollDeviceCode(ctx, hash, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the device code is invalid")
	case err != nil:
		return nil, oauth.ServerError(fmt.Errorf("poll device code: %w", err))
	}
	if d.ClientID != c.ID {
		return nil, oauth.InvalidGrant("the device code was issued to another client")
	}
	if !now.Before(d.ExpiresAt) {
		return nil, deviceError(CodeExpiredToken, "the device code has expired; start again")
	}
	if slow {
		return nil, deviceError(CodeSlowDown, fmt.Sprintf("polling too fast; wait %d seconds between requests", int64(d.Interval/time.Second)))
	}
	switch d.Status {
	case store.DevicePending:
		return nil, deviceError(CodeAuthorizationPending, "the user has not yet approved the request")
	case store.DeviceDenied:
		return nil, deviceError(oauth.CodeAccessDenied, "the user denied the request")
	case store.DeviceRedeemed:
		g.securityEvent(ctx, req, "device code presented again after its redemption", d.UserID)
		return nil, oauth.InvalidGrant("the device code was already used")
	}
	u, err := g.Store.GetUser(ctx, d.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, oauth.InvalidGrant("the user is no longer active")
	} else if err != nil {
		return nil, oauth.ServerError(err)
	}
	st := grantState{client: c, user: &u, scopes: d.Scopes, audience: d.Audience, sessionID: d.SessionID,
		authTime: d.AuthTime, amr: d.AMR, acr: d.ACR,
		binding: requestBinding(req)}
	if st.accessAudience, err = TokenResources(req.Form, st.audience); err != nil {
		return nil, err
	}
	resp, issue, err := g.issue(ctx, st, now)
	if err != nil {
		return nil, err
	}
	g.auditIssue(&issue, req, TypeDeviceCode, st, now)
	_, err = g.Store.RedeemDeviceCode(ctx, hash, now, issue)
	switch {
	case errors.Is(err, store.ErrReused):
		g.securityEvent(ctx, req, "device code presented again after its redemption", d.UserID)
		return nil, oauth.InvalidGrant("the device code was already used")
	case errors.Is(err, store.ErrExpired):
		return nil, deviceError(CodeExpiredToken, "the device code has expired; start again")
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the device code is invalid")
	case err != nil:
		return nil, oauth.ServerError(fmt.Errorf("redeem device code: %w", err))
	}
	return resp, nil
}
