package store

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxIDLength is the longest key (client ID, JTI, token kind) a store
// accepts, in bytes.
const MaxIDLength = 512

func invalid(field, why string) error {
	return fmt.Errorf("%w: %s %s", ErrInvalid, field, why)
}

// CheckID reports an error wrapping ErrInvalid unless id can be a key: 1 to
// MaxIDLength bytes of valid UTF-8 without NUL. field names the argument in
// the error; the value itself never appears in it.
func CheckID(field, id string) error {
	if id == "" {
		return invalid(field, "is empty")
	}
	if len(id) > MaxIDLength {
		return invalid(field, fmt.Sprintf("is longer than %d bytes", MaxIDLength))
	}
	return checkText(field, id)
}

// CheckTime reports an error wrapping ErrInvalid unless t lies in the years
// 1 to 9999, the range every backend stores exactly.
func CheckTime(field string, t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return invalid(field, "is outside the years 1 to 9999")
	}
	return nil
}

// CheckExpiry is CheckTime for an expiry, which must also be set (not the
// zero time).
func CheckExpiry(field string, t time.Time) error {
	if t.IsZero() {
		return invalid(field, "is not set")
	}
	return CheckTime(field, t)
}

// checkText accepts valid UTF-8 without NUL bytes: what both SQLite TEXT and
// PostgreSQL text/jsonb store verbatim.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid(field, "contains a NUL byte")
	}
	return nil
}

func checkList(field string, list []string) error {
	for i, s := range list {
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), s); err != nil {
			return err
		}
	}
	return nil
}

func checkDuration(field string, d time.Duration) error {
	if d < 0 {
		return invalid(field, "is negative")
	}
	return nil
}

func checkJSON(field string, b []byte) error {
	if len(b) > 0 && !json.Valid(b) {
		return invalid(field, "is not valid JSON")
	}
	return nil
}

// Validate reports an error wrapping ErrInvalid unless c can be stored
// faithfully: a valid ID, text fields of valid UTF-8 without NUL, times in
// range, non-negative lifetimes and JWKS that is valid JSON when set. It
// does not judge policy (grant types, URIs); the caller does.
func (c Client) Validate() error {
	if err := CheckID("client ID", c.ID); err != nil {
		return err
	}
	texts := []struct{ field, value string }{
		{"client name", c.Name},
		{"token_endpoint_auth_method", c.TokenEndpointAuthMethod},
		{"jwks_uri", c.JWKSURI},
		{"access token format", c.AccessTokenFormat},
		{"backchannel_logout_uri", c.BackchannelLogoutURI},
	}
	for _, f := range texts {
		if err := checkText(f.field, f.value); err != nil {
			return err
		}
	}
	lists := []struct {
		field string
		value []string
	}{
		{"redirect_uris", c.RedirectURIs},
		{"post_logout_redirect_uris", c.PostLogoutRedirectURIs},
		{"grant_types", c.GrantTypes},
		{"response_types", c.ResponseTypes},
		{"scopes", c.Scopes},
		{"audiences", c.Audiences},
	}
	for _, f := range lists {
		if err := checkList(f.field, f.value); err != nil {
			return err
		}
	}
	for k, v := range c.Metadata {
		if err := checkText("metadata key", k); err != nil {
			return err
		}
		if err := checkText("metadata value", v); err != nil {
			return err
		}
	}
	if err := checkJSON("jwks", c.JWKS); err != nil {
		return err
	}
	durations := []struct {
		field string
		value time.Duration
	}{
		{"access token TTL", c.AccessTokenTTL},
		{"refresh token TTL", c.RefreshTokenTTL},
		{"ID token TTL", c.IDTokenTTL},
	}
	for _, f := range durations {
		if err := checkDuration(f.field, f.value); err != nil {
			return err
		}
	}
	times := []struct {
		field string
		value time.Time
	}{
		{"secret rotation time", c.SecretRotatedAt},
		{"creation time", c.CreatedAt},
		{"update time", c.UpdatedAt},
	}
	for _, f := range times {
		if err := CheckTime(f.field, f.value); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports an error wrapping ErrInvalid unless r can be stored: a
// 32-byte hash, a valid kind and client ID, text of valid UTF-8 without NUL,
// times in range with a non-zero expiry, and Extra that is valid JSON when
// set.
func (r TokenRecord) Validate() error {
	if len(r.Hash) != sha256.Size {
		return invalid("token hash", fmt.Sprintf("is not %d bytes", sha256.Size))
	}
	if err := CheckID("token kind", r.Kind); err != nil {
		return err
	}
	if err := CheckID("client ID", r.ClientID); err != nil {
		return err
	}
	if err := checkText("subject", r.Subject); err != nil {
		return err
	}
	if err := checkList("scopes", r.Scopes); err != nil {
		return err
	}
	if err := checkList("audience", r.Audience); err != nil {
		return err
	}
	if err := CheckTime("issue time", r.IssuedAt); err != nil {
		return err
	}
	if err := CheckExpiry("expiry", r.ExpiresAt); err != nil {
		return err
	}
	return checkJSON("extra", r.Extra)
}
