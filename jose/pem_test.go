package jose_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

func TestPEMRoundTrip(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.RS256, jose.PS256} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := jose.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			privPEM, err := k.MarshalPEM()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(privPEM), "BEGIN PRIVATE KEY") {
				t.Fatalf("private PEM header missing: %.40s", privPEM)
			}
			hint := alg
			if alg == jose.ES256 || alg == jose.ES384 || alg == jose.ES512 || alg == jose.EdDSA {
				hint = "" // inferred from the curve
			}
			back, err := jose.ParsePEM(privPEM, hint)
			if err != nil {
				t.Fatal(err)
			}
			if back.KeyID() != k.KeyID() || back.Algorithm() != alg || !back.IsPrivate() {
				t.Fatalf("private round trip: kid %s alg %s private %v", back.KeyID(), back.Algorithm(), back.IsPrivate())
			}
			pubPEM, err := k.Public().MarshalPEM()
			if err != nil {
				t.Fatal(err)
			}
			pub, err := jose.ParsePEM(pubPEM, hint)
			if err != nil {
				t.Fatal(err)
			}
			if pub.KeyID() != k.KeyID() || pub.IsPrivate() {
				t.Fatalf("public round trip: kid %s private %v", pub.KeyID(), pub.IsPrivate())
			}
		})
	}
}

func TestParsePEMErrors(t *testing.T) {
	rsaKey, err := jose.GenerateKey(jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM, _ := rsaKey.MarshalPEM()
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(p224)
	p224PEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	ec, _ := jose.GenerateKey(jose.ES256)
	ecPEM, _ := ec.MarshalPEM()
	hmacKey, _ := jose.GenerateKey(jose.HS256)

	tests := []struct {
		name string
		data []byte
		alg  jose.Algorithm
	}{
		{"not PEM", []byte("hello"), jose.ES256},
		{"RSA without alg", rsaPEM, ""},
		{"EC bound to RSA alg", ecPEM, jose.RS256},
		{"EC bound to wrong curve", ecPEM, jose.ES384},
		{"P-224 unsupported", p224PEM, ""},
		{"unknown block", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte{1}}), jose.ES256},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}}), jose.ES256},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x01}}), jose.ES256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := jose.ParsePEM(tt.data, tt.alg); err == nil {
				t.Fatal("accepted")
			} else if !errors.Is(err, jose.ErrInvalidKey) && !errors.Is(err, jose.ErrKeyAlgMismatch) {
				t.Fatalf("error %v is neither ErrInvalidKey nor ErrKeyAlgMismatch", err)
			}
		})
	}
	if _, err := hmacKey.MarshalPEM(); err == nil {
		t.Fatal("HMAC key marshalled to PEM")
	}
}
