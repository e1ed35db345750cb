package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/testcert"
	"github.com/writ-dev/writ/jose"
)

// TestSelfSignedForgedCertificate (review rv2): self_signed_tls_client_auth
// compares only the certificate's public key with the client's registered
// (public) JWKS. Through the certificate header of a trusted proxy nothing
// proves possession of the private key, so anyone who can get a header
// through (a proxy route that does not overwrite it) forges the client's
// "self-signed" certificate from its public JWK, signed by any other key.
// A self-signed certificate whose signature its own key does not verify
// must be refused.
func TestSelfSignedForgedCertificate(t *testing.T) {
	self := testcert.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self"}})
	selfKey, err := jose.NewKey(jose.ES256, self.Leaf.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := jose.NewKeySet(selfKey).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "self"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	parent := &x509.Certificate{SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: "self"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, self.Leaf.PublicKey, attacker)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := NewSecretHasher(make([]byte, 32))
	a := &Authenticator{Clients: fakeClients{m: map[string]store.Client{
		"self": {ID: "self", TokenEndpointAuthMethod: MethodSelfSignedTLSClientAuth, JWKS: jwks}}},
		Hasher: h, Replay: &fakeReplay{used: map[string]time.Time{}}, Keys: registeredKeys{}}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r = r.WithContext(WithClientCertificate(r.Context(), NewClientCertificate([]*x509.Certificate{forged})))
	if got, err := a.Authenticate(r.Context(), r, Form{values: url.Values{"client_id": {"self"}}}); err == nil {
		t.Fatalf("a certificate forged from the client's public key authenticated %s", got.Client.ID)
	}
	// The genuine certificate still authenticates.
	r = httptest.NewRequest(http.MethodPost, "/", nil)
	r = r.WithContext(WithClientCertificate(r.Context(), NewClientCertificate([]*x509.Certificate{self.Leaf})))
	if _, err := a.Authenticate(r.Context(), r, Form{values: url.Values{"client_id": {"self"}}}); err != nil {
		t.Fatal(err)
	}
}
