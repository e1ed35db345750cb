package server

import (
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
)

// TestFAPI2Lifetimes: the lifetimes writ gives every client are within
// the FAPI 2.0 profile's bounds, so that its clients need no others:
// authorization codes at most 60 seconds (§5.3.2.1), request_uri values
// less than 600 seconds (§5.3.2.2).
func TestFAPI2Lifetimes(t *testing.T) {
	if codeTTL > oauth.FAPI2MaxCodeLifetime*time.Second {
		t.Errorf("codeTTL %s exceeds FAPI 2.0's %ds", codeTTL, oauth.FAPI2MaxCodeLifetime)
	}
	if RequestURITTL >= oauth.FAPI2MaxRequestURILifetime*time.Second {
		t.Errorf("RequestURITTL %s is not under FAPI 2.0's %ds", RequestURITTL, oauth.FAPI2MaxRequestURILifetime)
	}
}

// TestFAPI2SenderConstrainedCertNotBound (review rv2): a FAPI 2.0 client
// that authenticates with mutual TLS but did not register
// tls_client_certificate_bound_access_tokens presents a certificate and no
// DPoP proof. fapiSenderConstrained lets the request through because a
// certificate was presented, yet grant.certBinding binds nothing for such
// a client: the access token issued is a bearer token, against §5.3.2.1.
func TestFAPI2SenderConstrainedCertNotBound(t *testing.T) {
	req := &grant.Request{
		Client: &oauth.Authenticated{Client: store.Client{ID: "c", Profile: store.ProfileFAPI2,
			TokenEndpointAuthMethod: oauth.MethodTLSClientAuth}, Method: oauth.MethodTLSClientAuth},
		CertThumbprint: "x5t-of-the-presented-cert",
	}
	if err := fapiSenderConstrained(req); err == nil {
		t.Fatal("a FAPI token request whose tokens will not be bound (no DPoP, certificate-bound tokens not registered) was accepted")
	}
	req.Client.Client.TLSClientCertificateBoundAccessTokens = true
	if err := fapiSenderConstrained(req); err != nil {
		t.Fatalf("certificate-bound client refused: %v", err)
	}
}
