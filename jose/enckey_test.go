package jose_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// rsaJWK and ecJWK render public JWKs with the members given in extra.
func rsaJWK(t *testing.T, pub *rsa.PublicKey, extra map[string]any) map[string]any {
	t.Helper()
	m := map[string]any{"kty": "RSA", "n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func ecJWK(t *testing.T, pub *ecdsa.PublicKey, extra map[string]any) map[string]any {
	t.Helper()
	size := (pub.Curve.Params().BitSize + 7) / 8
	b, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"kty": "EC", "crv": pub.Curve.Params().Name,
		"x": base64.RawURLEncoding.EncodeToString(b[1 : 1+size]), "y": base64.RawURLEncoding.EncodeToString(b[1+size:])}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestEncryptionKey(t *testing.T) {
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, ecPub := &rsaPriv.PublicKey, &ecPriv.PublicKey
	type jwk = map[string]any
	tests := []struct {
		name    string
		keys    []jwk
		alg     jose.Algorithm
		wantKID string // "" with wantErr
		wantErr error
	}{
		{"RSA named alg", []jwk{rsaJWK(t, rsaPub, jwk{"kid": "r", "use": "enc", "alg": "RSA-OAEP-256"})}, jose.RSAOAEP256, "r", nil},
		{"RSA enc without alg, bound to RSA-OAEP", []jwk{rsaJWK(t, rsaPub, jwk{"kid": "r", "use": "enc"})}, jose.RSAOAEP, "r", nil},
		{"RSA enc without alg, bound to RSA-OAEP-256", []jwk{rsaJWK(t, rsaPub, jwk{"kid": "r", "use": "enc"})}, jose.RSAOAEP256, "r", nil},
		{"RSA named another alg", []jwk{rsaJWK(t, rsaPub, jwk{"kid": "r", "use": "enc", "alg": "RSA-OAEP-256"})}, jose.RSAOAEP, "", jose.ErrKeyNotFound},
		{"RSA signature key (RS256)", []jwk{rsaJWK(t, rsaPub, jwk{"kid": "r", "alg": "RS256"})}, jose.RSAOAEP256, "", jose.ErrKeyNotFound},
		{"RSA marked sig", []jwk{rsaJWK(t, rsaPub, jwk{"kid": "r", "use": "sig", "alg": "RSA-OAEP-256"})}, jose.RSAOAEP256, "", jose.ErrKeyNotFound},
		{"EC without alg or use", []jwk{ecJWK(t, ecPub, jwk{"kid": "e"})}, jose.ECDHESA256KW, "e", nil},
		{"EC enc without alg", []jwk{ecJWK(t, ecPub, jwk{"kid": "e", "use": "enc"})}, jose.ECDHES, "e", nil},
		{"EC P-384 for ECDH-ES+A128KW", []jwk{ecJWK(t, &ec384.PublicKey, jwk{"kid": "e", "use": "enc"})}, jose.ECDHESA128KW, "e", nil},
		{"EC named ES256", []jwk{ecJWK(t, ecPub, jwk{"kid": "e", "alg": "ES256"})}, jose.ECDHES, "", jose.ErrKeyNotFound},
		{"EC marked sig", []jwk{ecJWK(t, ecPub, jwk{"kid": "e", "use": "sig"})}, jose.ECDHES, "", jose.ErrKeyNotFound},
		{"EC key_ops verify only", []jwk{ecJWK(t, ecPub, jwk{"kid": "e", "key_ops": []string{"verify"}})}, jose.ECDHES, "", jose.ErrKeyNotFound},
		{"EC key_ops deriveKey", []jwk{ecJWK(t, ecPub, jwk{"kid": "e", "key_ops": []string{"deriveKey"}})}, jose.ECDHES, "e", nil},
		{"EC key for RSA alg", []jwk{ecJWK(t, ecPub, jwk{"kid": "e", "use": "enc"})}, jose.RSAOAEP256, "", jose.ErrKeyNotFound},
		{"RSA key for EC alg", []jwk{rsaJWK(t, rsaPub, jwk{"kid": "r", "use": "enc"})}, jose.ECDHES, "", jose.ErrKeyNotFound},
		{"use enc preferred to no use", []jwk{ecJWK(t, ecPub, jwk{"kid": "any"}), ecJWK(t, &ec384.PublicKey, jwk{"kid": "enc", "use": "enc"})}, jose.ECDHES, "enc", nil},
		{"first of equals", []jwk{ecJWK(t, ecPub, jwk{"kid": "one", "use": "enc"}), ecJWK(t, &ec384.PublicKey, jwk{"kid": "two", "use": "enc"})}, jose.ECDHES, "one", nil},
		{"signature key skipped for the encryption key", []jwk{rsaJWK(t, rsaPub, jwk{"kid": "s", "alg": "PS256", "use": "sig"}), rsaJWK(t, rsaPub, jwk{"kid": "r", "use": "enc", "alg": "RSA-OAEP"})}, jose.RSAOAEP, "r", nil},
		{"empty set", []jwk{}, jose.ECDHES, "", jose.ErrKeyNotFound},
		{"dir is not public-key", []jwk{ecJWK(t, ecPub, nil)}, jose.Direct, "", jose.ErrUnsupportedAlg},
		{"RSA1_5 unsupported", []jwk{rsaJWK(t, rsaPub, jwk{"use": "enc"})}, "RSA1_5", "", jose.ErrUnsupportedAlg},
		{"signature alg", []jwk{ecJWK(t, ecPub, nil)}, jose.ES256, "", jose.ErrUnsupportedAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(map[string]any{"keys": tt.keys})
			if err != nil {
				t.Fatal(err)
			}
			ks, err := jose.ParseKeySet(raw)
			if err != nil {
				t.Fatal(err)
			}
			k, err := jose.EncryptionKey(ks, tt.alg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || k != nil {
					t.Fatalf("got %v, %v; want %v", k, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.KeyID() != tt.wantKID || k.Algorithm() != tt.alg || k.IsPrivate() {
				t.Fatalf("got kid %q alg %s private %v; want kid %q alg %s", k.KeyID(), k.Algorithm(), k.IsPrivate(), tt.wantKID, tt.alg)
			}
			// The chosen key encrypts, and the private half decrypts.
			if _, err := jose.Encrypt(k, jose.A128CBCHS256, []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := jose.EncryptionKey(nil, jose.ECDHES); !errors.Is(err, jose.ErrKeyNotFound) {
		t.Fatalf("nil set: %v", err)
	}
}

// TestEncryptionKeyRoundTrip encrypts to a key chosen from a public set
// with every public-key algorithm and content encryption, and decrypts
// with the private half bound to the same algorithm.
func TestEncryptionKeyRoundTrip(t *testing.T) {
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(map[string]any{"keys": []map[string]any{
		rsaJWK(t, &rsaPriv.PublicKey, map[string]any{"kid": "r", "use": "enc"}),
		ecJWK(t, &ecPriv.PublicKey, map[string]any{"kid": "e", "use": "enc"}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := jose.ParseKeySet(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []jose.Algorithm{jose.RSAOAEP, jose.RSAOAEP256, jose.ECDHES, jose.ECDHESA128KW, jose.ECDHESA256KW} {
		for _, enc := range jose.ContentEncryptions() {
			t.Run(string(alg)+"/"+string(enc), func(t *testing.T) {
				k, err := jose.EncryptionKey(ks, alg)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := jose.Encrypt(k, enc, []byte("secret"), nil)
				if err != nil {
					t.Fatal(err)
				}
				var priv any = rsaPriv
				if k.KeyID() == "e" {
					priv = ecPriv
				}
				dk, err := jose.NewKey(alg, priv, jose.WithKeyID(k.KeyID()))
				if err != nil {
					t.Fatal(err)
				}
				pt, h, err := jose.Decrypt(tok, jose.NewKeySet(dk), 0)
				if err != nil || string(pt) != "secret" || h.Algorithm != alg || h.Encryption != enc || h.KeyID != k.KeyID() {
					t.Fatalf("decrypt: %q %+v %v", pt, h, err)
				}
			})
		}
	}
}
