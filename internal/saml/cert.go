package saml

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// certificateValidity is how long the self-signed certificate of a ring key
// claims to be valid. SAML trusts the certificate as a key container, not
// through a chain or its dates (SAML V2.0 Metadata Interoperability
// Profile §2.5); rotation is by the ring.
const certificateValidity = 20 * 365 * 24 * time.Hour

// SigningCertificate returns the DER form of the self-signed X.509
// certificate that carries an RSA signing key of the ring to SAML service
// providers. It is deterministic — the serial number comes from the key
// ID, the validity from the key's creation time, and RSA PKCS #1 v1.5
// signatures use no randomness — so every node of a deployment publishes
// the same certificate for the same key without storing it.
func SigningCertificate(key *rsa.PrivateKey, kid string, created time.Time) ([]byte, error) {
	sum := sha256.Sum256([]byte(kid))
	serial := new(big.Int).SetBytes(sum[:16])
	notBefore := created.UTC().Truncate(time.Second)
	short := kid
	if len(short) > 16 {
		short = short[:16]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "writ SAML signing key " + short, Organization: []string{"writ"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(certificateValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("saml: self-signed certificate of key %s: %w", kid, err)
	}
	return der, nil
}
