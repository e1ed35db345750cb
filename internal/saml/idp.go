package saml

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
)

// IdP names writ's SAML identity provider: its entity ID and the locations
// of its endpoints.
type IdP struct {
	// EntityID is the IdP's entity ID (writ uses the metadata URL).
	EntityID string
	// SSOURL is the single sign-on endpoint, for both bindings.
	SSOURL string
	// SLOURL is the single logout endpoint, for both bindings.
	SLOURL string
}

// NewIdP returns the IdP of a writ issuer: entity ID {issuer}/saml/metadata,
// SSO at {issuer}/saml/sso and SLO at {issuer}/saml/slo.
func NewIdP(issuer string) IdP {
	return IdP{EntityID: issuer + "/saml/metadata", SSOURL: issuer + "/saml/sso", SLOURL: issuer + "/saml/slo"}
}

// Metadata returns the IdP's metadata document (SAML Metadata §2.4.3):
// one signing KeyDescriptor per certificate (the active key and the next
// one, so that service providers trust a key before it signs), the SSO and
// SLO endpoints for the HTTP-Redirect and HTTP-POST bindings, and the
// NameID formats. validUntil, when not zero, bounds how long an SP may
// cache it.
func (p IdP) Metadata(certs [][]byte, validUntil time.Time) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("saml: metadata without a signing certificate")
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", NSMetadata)
	ed.CreateAttr("xmlns:ds", NSDSig)
	ed.CreateAttr("entityID", p.EntityID)
	if !validUntil.IsZero() {
		ed.CreateAttr("validUntil", validUntil.UTC().Format(timeFormat))
	}
	idp := ed.CreateElement("md:IDPSSODescriptor")
	idp.CreateAttr("WantAuthnRequestsSigned", "false")
	idp.CreateAttr("protocolSupportEnumeration", NSProtocol)
	for _, der := range certs {
		kd := idp.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", "signing")
		kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
			SetText(base64.StdEncoding.EncodeToString(der))
	}
	for _, b := range []string{BindingRedirect, BindingPOST} {
		slo := idp.CreateElement("md:SingleLogoutService")
		slo.CreateAttr("Binding", b)
		slo.CreateAttr("Location", p.SLOURL)
	}
	for _, f := range NameIDFormats() {
		idp.CreateElement("md:NameIDFormat").SetText(f)
	}
	for _, b := range []string{BindingRedirect, BindingPOST} {
		sso := idp.CreateElement("md:SingleSignOnService")
		sso.CreateAttr("Binding", b)
		sso.CreateAttr("Location", p.SSOURL)
	}
	doc.Indent(2)
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("saml: write metadata: %w", err)
	}
	return out, nil
}

// timeFormat is SAML's xs:dateTime form, always UTC (SAML Core §1.3.3).
const timeFormat = "2006-01-02T15:04:05Z"

// samlTime formats t for an attribute, in UTC, to the second.
func samlTime(t time.Time) string { return t.UTC().Format(timeFormat) }
