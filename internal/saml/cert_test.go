package saml

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"
	"time"
)

func TestSigningCertificateDeterministic(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 12, 2, 10, 0, 0, 123, time.UTC)
	a, err := SigningCertificate(key, "kid-1", created)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SigningCertificate(key, "kid-1", created)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two nodes would publish different certificates for one key")
	}
	c, err := SigningCertificate(key, "kid-2", created)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Fatal("the key ID does not change the certificate")
	}
	cert, err := x509.ParseCertificate(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
	if !cert.PublicKey.(*rsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatal("certificate carries another key")
	}
	if !cert.NotBefore.Equal(created.Truncate(time.Second)) {
		t.Errorf("NotBefore = %v", cert.NotBefore)
	}
}
