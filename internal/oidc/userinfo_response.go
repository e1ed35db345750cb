package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// ContentTypeJWT is the media type of a signed or encrypted UserInfo
// response (OpenID Connect Core §5.3.2).
const ContentTypeJWT = "application/jwt"

// UserInfoResponses renders the UserInfo responses of clients that
// registered userinfo_signed_response_alg or
// userinfo_encrypted_response_alg (OpenID Connect Core §5.3.2, Dynamic
// Client Registration §2); other clients get JSON. It is safe for
// concurrent use.
type UserInfoResponses struct {
	// Issuer is the iss of signed responses.
	Issuer string
	// Keys supplies the signing key of the registered algorithm.
	Keys SigningKeys
	// Encrypter encrypts to the client's key; nil encrypts to the
	// registered jwks only.
	Encrypter *ResponseEncrypter
	// Clients reads the registration of the token's client.
	Clients oauth.ClientGetter
	// Now returns the current time (iat of signed responses); nil means
	// time.Now.
	Now func() time.Time
	// TTL is the lifetime of a signed response (its exp, so that relying
	// parties whose JWT libraries require exp accept it); zero means
	// DefaultUserInfoTTL.
	TTL time.Duration
}

// DefaultUserInfoTTL is the lifetime of a signed UserInfo response.
const DefaultUserInfoTTL = 5 * time.Minute

// Encode renders claims for the client clientID: JSON when it registered
// neither signing nor encryption; a JWT signed with its
// userinfo_signed_response_alg carrying iss, aud (the client), iat and exp
// beside the claims; that JWT encrypted to its key (nested, "cty":"JWT")
// when it also registered userinfo_encrypted_response_alg; or, encryption
// alone, the JSON claims encrypted to its key. The content type is
// "application/json" or ContentTypeJWT. A client that no longer exists
// makes the token invalid (errInvalidToken); an encryption failure is an
// *oauth.Error (EncryptionFailed).
func (u *UserInfoResponses) Encode(ctx context.Context, clientID string, claims map[string]any) (body []byte, contentType string, err error) {
	if u == nil || u.Clients == nil {
		return nil, "", nil
	}
	c, err := u.Clients.GetClient(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, "", errInvalidToken
	case err != nil:
		return nil, "", err
	}
	signAlg := jose.Algorithm(c.UserinfoSignedResponseAlg)
	enc := UserInfoEncryption(&c)
	if signAlg == "" && !enc.Enabled() {
		return nil, "", nil
	}
	var out []byte
	if signAlg != "" {
		tok, err := u.sign(signAlg, c.ID, claims)
		if err != nil {
			return nil, "", err
		}
		out = []byte(tok)
	} else if out, err = json.Marshal(claims); err != nil {
		return nil, "", fmt.Errorf("oidc: encode userinfo: %w", err)
	}
	if enc.Enabled() {
		tok, err := u.Encrypter.Encrypt(ctx, &c, enc, out, signAlg != "")
		if err != nil {
			return nil, "", EncryptionFailed("UserInfo response", err)
		}
		out = []byte(tok)
	}
	return out, ContentTypeJWT, nil
}

// sign signs claims with alg, adding iss, aud, iat and exp (the claims
// never hold them: Release gives no protocol claim).
func (u *UserInfoResponses) sign(alg jose.Algorithm, clientID string, claims map[string]any) (string, error) {
	key, err := signerFor(u.Keys, alg)
	if err != nil {
		return "", err
	}
	m := maps.Clone(claims)
	ttl := u.TTL
	if ttl <= 0 {
		ttl = DefaultUserInfoTTL
	}
	if err := checkTTL(u.Keys, ttl); err != nil {
		return "", err
	}
	for _, n := range []string{"iss", "aud", "iat", "exp"} {
		delete(m, n)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("oidc: encode userinfo: %w", err)
	}
	p := make([]byte, 0, len(body)+len(u.Issuer)+len(clientID)+48)
	p = append(p, `{"iss":`...)
	p = strictjson.AppendString(p, u.Issuer)
	p = append(p, `,"aud":`...)
	p = strictjson.AppendString(p, clientID)
	now := nowFunc(u.Now)().Truncate(time.Second)
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, now.Unix(), 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, now.Add(ttl).Unix(), 10)
	if len(body) > 2 {
		p = append(p, ',')
		p = append(p, body[1:len(body)-1]...)
	}
	p = append(p, '}')
	return sign(key, p, jwt.TypeJWT)
}
