package websession

import (
	"errors"
	"fmt"
	"math"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jwt"
)

// readClaims reads a verified session token's claims by exact name,
// without reflection: the registered ones the verifier checked, then the
// private ones, each of the JSON type it must have.
func readClaims(t *jwt.Token) (claims, error) {
	rc := t.Claims()
	c := claims{Sub: rc.Subject, Iat: int64(rc.IssuedAt), Exp: int64(rc.ExpiresAt)}
	var ok bool
	if c.Sid, ok = t.StringClaim("sid"); !ok {
		return c, errors.New("sid is not a string")
	}
	if c.CSRF, ok = t.StringClaim("csrf"); !ok {
		return c, errors.New("csrf is not a string")
	}
	var err error
	if c.AuthTime, err = intClaim(t, "auth_time"); err != nil {
		return c, err
	}
	if c.IdleExp, err = intClaim(t, "idle_exp"); err != nil {
		return c, err
	}
	if c.Data, err = dataClaim(t); err != nil {
		return c, err
	}
	return c, nil
}

// intClaim reads a claim that must be an integral JSON number of seconds.
func intClaim(t *jwt.Token, name string) (int64, error) {
	raw, ok := t.Claim(name)
	if !ok {
		return 0, fmt.Errorf("%s is missing", name)
	}
	f, err := strictjson.Number(raw)
	if err != nil || f != math.Trunc(f) || f < 0 || f > 1<<53 {
		return 0, fmt.Errorf("%s is not a whole number of seconds", name)
	}
	return int64(f), nil
}

// maxDataEntries bounds the members of the data claim.
const maxDataEntries = 64

// dataClaim reads the optional "data" claim: an object of strings.
func dataClaim(t *jwt.Token) (map[string]string, error) {
	raw, ok := t.Claim("data")
	if !ok {
		return nil, nil
	}
	var buf [8]strictjson.Member
	members, err := strictjson.ParseObject(raw, 2, buf[:0])
	if err != nil {
		return nil, errors.New("data is not an object")
	}
	if len(members) > maxDataEntries {
		return nil, fmt.Errorf("data has more than %d members", maxDataEntries)
	}
	if len(members) == 0 {
		return nil, nil
	}
	d := make(map[string]string, len(members))
	for _, m := range members {
		v, err := strictjson.String(m.Value)
		if err != nil {
			return nil, fmt.Errorf("data member %q is not a string", truncate(m.Name, 40))
		}
		d[m.Name] = v
	}
	return d, nil
}
