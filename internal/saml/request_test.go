package saml

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func policy(t testing.TB, signed bool) RequestPolicy {
	return RequestPolicy{IdP: testIdP(), SP: testSP(t, signed), RequireSigned: signed, Now: testNow}
}

func TestAuthnRequestRedirect(t *testing.T) {
	spKey, _ := testKey(t, 1)
	otherKey, _ := testKey(t, 2)
	idp := testIdP()
	good := authnRequestXMLFor("_req1", idp.SSOURL, spACS, "", testNow)
	tests := []struct {
		name     string
		query    string
		required bool
		want     string // "" = accepted
		signed   bool
	}{
		{name: "unsigned, not required", query: redirectQuery(t, good, "back", nil)},
		{name: "signed", query: redirectQuery(t, good, "back", spKey), required: true, signed: true},
		{name: "signed, no RelayState", query: redirectQuery(t, good, "", spKey), required: true, signed: true},
		{name: "unsigned, required", query: redirectQuery(t, good, "back", nil), required: true, want: "must sign"},
		{name: "other key", query: redirectQuery(t, good, "back", otherKey), want: "does not verify"},
		{name: "RelayState changed after signing", query: strings.Replace(redirectQuery(t, good, "back", spKey), "RelayState=back", "RelayState=evil", 1), want: "does not verify"},
		{name: "duplicate SAMLRequest", query: redirectQuery(t, good, "", nil) + "&" + redirectQuery(t, good, "", nil), want: "more than once"},
		{name: "doubly encoded", query: "SAMLRequest=" + url.QueryEscape(url.QueryEscape(base64.StdEncoding.EncodeToString(deflate(t, []byte(good))))), want: "not base64"},
		{name: "base64 of base64", query: "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString(deflate(t, []byte(good)))))), want: "DEFLATE"},
		{name: "not deflated", query: "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(good))), want: "DEFLATE"},
		{name: "deflate bomb", query: "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflate(t, []byte("<a>"+strings.Repeat(" ", 2*MaxMessageSize)+"</a>")))), want: "inflates to more than"},
		{name: "embedded signature", query: redirectQuery(t, authnRequestXMLFor("_r", idp.SSOURL, spACS, `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>`, testNow), "", nil), want: "in the query"},
		{name: "DTD", query: redirectQuery(t, `<!DOCTYPE x [<!ENTITY e "boom">]>`+good, "", nil), want: "DTD"},
		{name: "comment", query: redirectQuery(t, strings.Replace(good, "</saml:Issuer>", "<!--x--></saml:Issuer>", 1), "", nil), want: "comments"},
		{name: "wrong destination", query: redirectQuery(t, authnRequestXMLFor("_r", "https://other.example/sso", spACS, "", testNow), "", nil), want: "Destination"},
		{name: "unregistered ACS", query: redirectQuery(t, authnRequestXMLFor("_r", "", "https://evil.example/acs", "", testNow), "", nil), want: "not registered"},
		{name: "stale", query: redirectQuery(t, authnRequestXMLFor("_r", "", "", "", testNow.Add(-time.Hour)), "", nil), want: "window"},
		{name: "future", query: redirectQuery(t, authnRequestXMLFor("_r", "", "", "", testNow.Add(time.Hour)), "", nil), want: "window"},
		{name: "bad ID", query: redirectQuery(t, authnRequestXMLFor("1abc", "", "", "", testNow), "", nil), want: "xs:ID"},
		{name: "RelayState too long", query: redirectQuery(t, good, strings.Repeat("r", MaxRelayState+1), nil), want: "RelayState"},
		{name: "signed without destination", query: redirectQuery(t, authnRequestXMLFor("_r", "", spACS, "", testNow), "", spKey), want: "Destination"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(t, tc.required)
			m, err := DecodeRedirect(tc.query, "SAMLRequest")
			var req *AuthnRequest
			if err == nil {
				req, err = ParseAuthnRequest(m, p)
			}
			if tc.want != "" {
				mustContain(t, err, tc.want)
				if !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("error %v does not wrap ErrInvalidRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Signed != tc.signed || req.Issuer != spEntity || req.ACSURL != spACS {
				t.Errorf("request = %+v", req)
			}
			if req.NameIDFormat != NameIDPersistent {
				t.Errorf("NameIDFormat = %q", req.NameIDFormat)
			}
		})
	}
}

func TestAuthnRequestPOST(t *testing.T) {
	spKey, spCert := testKey(t, 1)
	otherKey, otherCert := testKey(t, 2)
	idp := testIdP()
	good := authnRequestXMLFor("_post1", idp.SSOURL, "", "", testNow)
	signed := signEnveloped(t, good, spKey, spCert)
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	// A second, unsigned request wrapped around the signed one.
	wrapped := strings.Replace(authnRequestXMLFor("_evil", idp.SSOURL, "https://sp.example/acs2", "", testNow),
		"</saml:Issuer>", "</saml:Issuer><samlp:Extensions>"+strings.TrimPrefix(signed, `<?xml version="1.0" encoding="UTF-8"?>`)+"</samlp:Extensions>", 1)
	// The signature of a child element (the Issuer) presented as the
	// request's.
	tests := []struct {
		name, body string
		required   bool
		want       string
	}{
		{name: "signed", body: enc(signed), required: true},
		{name: "unsigned allowed", body: enc(good)},
		{name: "unsigned required", body: enc(good), required: true, want: "must sign"},
		{name: "other key", body: enc(signEnveloped(t, good, otherKey, otherCert)), want: "signature"},
		{name: "changed after signing", body: enc(strings.Replace(signed, `ID="_post1"`, `ID="_post1" ForceAuthn="true"`, 1)), want: "signature"},
		{name: "signed request wrapped in Extensions", body: enc(wrapped), want: "direct child"},
		{name: "signature in Object", body: enc(strings.Replace(signed, "</ds:Signature>", `<ds:Object><ds:Signature/></ds:Object></ds:Signature>`, 1)), want: "direct child"},
		{name: "not base64", body: "%%%", want: "base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodePOST(tc.body, "")
			var req *AuthnRequest
			if err == nil {
				req, err = ParseAuthnRequest(m, policy(t, tc.required))
			}
			if tc.want != "" {
				mustContain(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.ID != "_post1" {
				t.Errorf("ID = %q", req.ID)
			}
		})
	}
}

func TestChooseACS(t *testing.T) {
	sp := testSP(t, false)
	for _, tc := range []struct {
		url   string
		index int
		want  string
	}{
		{"", -1, spACS},
		{"https://sp.example/acs2", -1, "https://sp.example/acs2"},
		{"", 2, "https://sp.example/acs2"},
		{"", 0, "error"}, // the artifact service is not kept
		{"https://sp.example/artifact", -1, "error"},
		{"https://sp.example/acs2/", -1, "error"},
	} {
		got, err := ChooseACS(sp, tc.url, tc.index)
		if tc.want == "error" {
			if err == nil {
				t.Errorf("ChooseACS(%q, %d) = %v, want an error", tc.url, tc.index, got)
			}
			continue
		}
		if err != nil || got.Location != tc.want {
			t.Errorf("ChooseACS(%q, %d) = %v, %v; want %s", tc.url, tc.index, got, err, tc.want)
		}
	}
}

// logoutRequestXMLFor returns a LogoutRequest of the test SP; extra is
// inserted after the NameID.
func logoutRequestXMLFor(id, destination, issuer, nameID, extra string, at time.Time) string {
	dest := ""
	if destination != "" {
		dest = ` Destination="` + destination + `"`
	}
	return `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="` + id +
		`" Version="2.0" IssueInstant="` + at.UTC().Format(time.RFC3339) + `"` + dest + `><saml:Issuer>` + issuer + `</saml:Issuer>` +
		nameID + extra + `</samlp:LogoutRequest>`
}

func TestLogoutRequestRedirect(t *testing.T) {
	spKey, _ := testKey(t, 1)
	idp := testIdP()
	nameID := `<saml:NameID>user-1</saml:NameID>`
	sessions := `<samlp:SessionIndex>s1</samlp:SessionIndex><samlp:SessionIndex> s2 </samlp:SessionIndex>`
	good := logoutRequestXMLFor("_lo1", idp.SLOURL, spEntity, nameID, sessions, testNow)
	tests := []struct {
		name     string
		doc      string
		key      *rsa.PrivateKey
		required bool
		want     string // "" = accepted
	}{
		{name: "unsigned, not required", doc: good},
		{name: "signed", doc: good, key: spKey, required: true},
		{name: "unsigned, required", doc: good, required: true, want: "must sign"},
		{name: "an AuthnRequest", doc: authnRequestXMLFor("_r", idp.SSOURL, spACS, "", testNow), want: "LogoutRequest"},
		{name: "other issuer", doc: logoutRequestXMLFor("_lo", idp.SLOURL, "https://evil.example", nameID, "", testNow), want: "Issuer"},
		{name: "SSO destination", doc: logoutRequestXMLFor("_lo", idp.SSOURL, spEntity, nameID, "", testNow), want: "Destination"},
		{name: "signed without destination", doc: logoutRequestXMLFor("_lo", "", spEntity, nameID, "", testNow), key: spKey, want: "Destination"},
		{name: "stale", doc: logoutRequestXMLFor("_lo", "", spEntity, nameID, "", testNow.Add(-time.Hour)), want: "window"},
		{name: "expired", doc: strings.Replace(good, `Version="2.0"`, `Version="2.0" NotOnOrAfter="`+testNow.Add(-time.Hour).Format(time.RFC3339)+`"`, 1), want: "NotOnOrAfter"},
		{name: "no NameID", doc: logoutRequestXMLFor("_lo", "", spEntity, "", "", testNow), want: "one NameID"},
		{name: "two NameIDs", doc: logoutRequestXMLFor("_lo", "", spEntity, nameID+nameID, "", testNow), want: "one NameID"},
		{name: "EncryptedID", doc: logoutRequestXMLFor("_lo", "", spEntity, `<saml:EncryptedID/>`, "", testNow), want: "EncryptedID"},
		{name: "too many sessions", doc: logoutRequestXMLFor("_lo", "", spEntity, nameID, strings.Repeat(`<samlp:SessionIndex>s</samlp:SessionIndex>`, maxEndpoints+1), testNow), want: "SessionIndex"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeRedirect(redirectQuery(t, tc.doc, "back", tc.key), "SAMLRequest")
			if err != nil {
				t.Fatal(err)
			}
			req, err := ParseLogoutRequest(m, policy(t, tc.required))
			if tc.want != "" {
				mustContain(t, err, tc.want)
				if !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("error %v does not wrap ErrInvalidRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.ID != "_lo1" || req.Issuer != spEntity || req.NameID != "user-1" || req.RelayState != "back" ||
				req.Signed != (tc.key != nil) || len(req.SessionIndexes) != 2 || req.SessionIndexes[1] != "s2" {
				t.Errorf("request %+v", req)
			}
		})
	}
}
