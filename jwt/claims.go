package jwt

import (
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/writ-dev/writ/internal/strictjson"
)

// NumericDate is a JWT time value: seconds since the Unix epoch (RFC 7519
// §2). Fractions of a second are truncated when a token is read.
type NumericDate int64

// NewNumericDate returns t as a NumericDate.
func NewNumericDate(t time.Time) NumericDate { return NumericDate(t.Unix()) }

// Time returns d as a time.Time.
func (d NumericDate) Time() time.Time { return time.Unix(int64(d), 0) }

// UnmarshalJSON implements json.Unmarshaler. It accepts any JSON number,
// as Verify does ("exp": 1700000000.5 or 1.7e9), truncates it like Verify,
// and treats null as a no-op, as encoding/json does for other types.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f, err := strictjson.Number(string(b))
	if err != nil {
		return errors.New("jwt: NumericDate must be a JSON number")
	}
	*d = numericDate(f)
	return nil
}

func numericDate(f float64) NumericDate {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return NumericDate(math.Floor(f))
}

// Audience is the "aud" claim. It encodes as a single string when it has one
// member and as an array otherwise.
type Audience []string

// MarshalJSON implements json.Marshaler.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON implements json.Unmarshaler; it accepts a string or an
// array of strings. null is a no-op, as encoding/json does for other types.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// Contains reports whether aud is one of a's values, compared exactly.
func (a Audience) Contains(aud string) bool {
	for _, v := range a {
		if v == aud {
			return true
		}
	}
	return false
}

// Claims are the registered claims of RFC 7519 §4.1. Embed it in a struct
// of your own to sign tokens with custom claims. Zero values are omitted.
type Claims struct {
	Issuer    string      `json:"iss,omitempty"`
	Subject   string      `json:"sub,omitempty"`
	Audience  Audience    `json:"aud,omitempty"`
	ExpiresAt NumericDate `json:"exp,omitempty"`
	NotBefore NumericDate `json:"nbf,omitempty"`
	IssuedAt  NumericDate `json:"iat,omitempty"`
	ID        string      `json:"jti,omitempty"`
}
