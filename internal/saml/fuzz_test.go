package saml

import (
	"encoding/base64"
	"testing"
)

func FuzzParseSPMetadata(f *testing.F) {
	_, cert := testKey(f, 1)
	f.Add(spMetadataXML(cert, true))
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseSPMetadata(b, true)
		if err == nil && (m.EntityID == "" || len(m.ACS) == 0) {
			t.Fatalf("accepted metadata without an entity ID or ACS: %+v", m)
		}
	})
}

func FuzzAuthnRequest(f *testing.F) {
	key, cert := testKey(f, 1)
	idp := testIdP()
	good := authnRequestXMLFor("_f1", idp.SSOURL, spACS, "", testNow)
	f.Add(redirectQuery(f, good, "relay", key), "")
	f.Add(redirectQuery(f, good, "", nil), "")
	f.Add("", base64.StdEncoding.EncodeToString([]byte(signEnveloped(f, good, key, cert))))
	f.Add("", base64.StdEncoding.EncodeToString([]byte(good)))
	f.Add("SAMLRequest=%%&SigAlg=x", "%%%")
	sp := testSP(f, false)
	f.Fuzz(func(t *testing.T, query, post string) {
		var (
			m   *Message
			err error
		)
		if post != "" {
			m, err = DecodePOST(post, "")
		} else {
			m, err = DecodeRedirect(query, "SAMLRequest")
		}
		if err != nil {
			return
		}
		p := RequestPolicy{IdP: idp, SP: sp, Now: testNow}
		if req, err := ParseAuthnRequest(m, p); err == nil && req.Issuer != spEntity {
			t.Fatalf("accepted a request of another issuer: %+v", req)
		}
		if _, err := ParseLogoutRequest(m, p); err != nil {
			return
		}
		_, _ = RequestIssuer(m)
	})
}
