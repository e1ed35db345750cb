package introspect

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/rs"
)

// maxDepth bounds the nesting of an introspection response.
const maxDepth = 16

// maxUnixSeconds is the latest time a date member may name: the end of the
// year 9999.
const maxUnixSeconds = 253402300799

// errMalformed is wrapped by every way a response can be ill-formed.
var errMalformed = errors.New("malformed introspection response")

// parseResponse reads an RFC 7662 §2.2 introspection response, a JSON
// object. It returns active false, and no token, unless "active" is the
// JSON boolean true. An error means the response is ill-formed: not one
// strict JSON object (no duplicate names at any depth, nesting at most
// maxDepth), "active" missing or not a boolean, or a registered member of
// an active response of the wrong JSON type. Unknown members may hold
// anything; they end up in Token.Claims.
func parseResponse(body string) (tok *rs.Token, active bool, err error) {
	members, err := strictjson.ParseObject(body, maxDepth, nil)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errMalformed, err)
	}
	var found bool
	for _, m := range members {
		if m.Name == "active" {
			if active, err = strictjson.Bool(m.Value); err != nil {
				return nil, false, fmt.Errorf("%w: \"active\" is not a JSON boolean", errMalformed)
			}
			found = true
			break
		}
	}
	if !found {
		return nil, false, fmt.Errorf("%w: \"active\" is missing", errMalformed)
	}
	if !active {
		return nil, false, nil
	}
	tok = new(rs.Token)
	var (
		azp         string
		hasClientID bool
	)
	for _, m := range members {
		var err error
		switch m.Name {
		case "iss":
			tok.Issuer, err = str(m.Value)
		case "sub":
			tok.Subject, err = str(m.Value)
		case "client_id":
			tok.ClientID, err = str(m.Value)
			hasClientID = true
		case "azp":
			azp, err = str(m.Value)
		case "jti":
			tok.ID, err = str(m.Value)
		case "scope":
			_, err = str(m.Value)
		case "aud":
			tok.Audience, err = audience(m.Value)
		case "exp":
			tok.Expiry, err = date(m.Value)
		case "iat":
			tok.IssuedAt, err = date(m.Value)
		case "nbf":
			_, err = date(m.Value) // checked by the client against its clock
		case "cnf":
			tok.JKT, tok.X5TS256, err = confirmation(m.Value)
		default:
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: %q: %v", errMalformed, m.Name, err)
		}
	}
	if !hasClientID {
		tok.ClientID = azp
	}
	if err := json.Unmarshal([]byte(body), &tok.Claims); err != nil {
		// strictjson accepted it, so this cannot happen; fail closed anyway.
		return nil, false, fmt.Errorf("%w: %v", errMalformed, err)
	}
	tok.Scopes = rs.ScopesFromClaims(tok.Claims)
	return tok, true, nil
}

// str decodes a JSON string; null is refused like any other type.
func str(raw string) (string, error) {
	s, err := strictjson.String(raw)
	if err != nil {
		return "", errors.New("not a JSON string")
	}
	return s, nil
}

// audience decodes aud: a string or an array of strings (RFC 7519 §4.1.3).
func audience(raw string) ([]string, error) {
	if strings.HasPrefix(raw, "[") {
		aud, err := strictjson.AppendStrings(nil, raw)
		if err != nil {
			return nil, errors.New("not an array of strings")
		}
		return aud, nil
	}
	s, err := str(raw)
	if err != nil {
		return nil, errors.New("neither a string nor an array of strings")
	}
	return []string{s}, nil
}

// date decodes a NumericDate (RFC 7519 §2): seconds since the epoch,
// fractions dropped, between the epoch and the end of the year 9999.
func date(raw string) (time.Time, error) {
	f, err := strictjson.Number(raw)
	if err != nil {
		return time.Time{}, errors.New("not a JSON number")
	}
	if f < 0 || f > maxUnixSeconds || math.IsNaN(f) {
		return time.Time{}, errors.New("out of range")
	}
	return time.Unix(int64(f), 0), nil
}

// confirmation decodes the cnf object (RFC 7800): jkt (RFC 9449 §6.1) and
// x5t#S256 (RFC 8705 §3.1) when present as strings.
func confirmation(raw string) (jkt, x5t string, err error) {
	members, err := strictjson.ParseObject(raw, maxDepth, nil)
	if err != nil {
		return "", "", errors.New("not a JSON object")
	}
	for _, m := range members {
		switch m.Name {
		case "jkt":
			jkt, err = str(m.Value)
		case "x5t#S256":
			x5t, err = str(m.Value)
		}
		if err != nil {
			return "", "", fmt.Errorf("%s: %v", m.Name, err)
		}
	}
	return jkt, x5t, nil
}
