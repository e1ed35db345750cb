package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// LogoutRequest is a checked LogoutRequest (SAML Core §3.7.1).
type LogoutRequest struct {
	// ID is the request's ID, the InResponseTo of the response.
	ID string
	// Issuer is the SP's entity ID.
	Issuer string
	// NameID is the subject the SP signs out.
	NameID string
	// SessionIndexes name the IdP sessions, or are empty for all of the
	// subject's.
	SessionIndexes []string
	// Signed reports that a signature was checked.
	Signed bool
	// RelayState is the binding's RelayState.
	RelayState string
}

type logoutRequestXML struct {
	XMLName xml.Name `xml:"urn:oasis:names:tc:SAML:2.0:protocol LogoutRequest"`
	requestXML
	NotOnOrAfter   string      `xml:"NotOnOrAfter,attr"`
	NameIDs        []issuerXML `xml:"urn:oasis:names:tc:SAML:2.0:assertion NameID"`
	EncryptedIDs   []struct{}  `xml:"urn:oasis:names:tc:SAML:2.0:assertion EncryptedID"`
	SessionIndexes []string    `xml:"urn:oasis:names:tc:SAML:2.0:protocol SessionIndex"`
}

// ParseLogoutRequest checks a LogoutRequest as ParseAuthnRequest checks an
// AuthnRequest (form, signature, version, ID, window, Destination equal to
// the SLO URL, Issuer equal to the SP) and reads its NameID and session
// indexes.
func ParseLogoutRequest(m *Message, p RequestPolicy) (*LogoutRequest, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	var x logoutRequestXML
	signed, _, err := readRequest(m, p, &x, "LogoutRequest", p.IdP.SLOURL)
	if err != nil {
		return nil, err
	}
	if x.NotOnOrAfter != "" {
		end, err := parseInstant(x.NotOnOrAfter)
		if err != nil || !p.Now.Before(end.Add(maxSkew)) {
			return nil, bad("the request expired (NotOnOrAfter)")
		}
	}
	if len(x.EncryptedIDs) > 0 {
		return nil, bad("an EncryptedID is not supported; send the NameID")
	}
	if len(x.NameIDs) != 1 || strings.TrimSpace(x.NameIDs[0].Value) == "" {
		return nil, bad("want exactly one NameID")
	}
	if len(x.SessionIndexes) > maxEndpoints {
		return nil, bad("more than %d SessionIndex elements", maxEndpoints)
	}
	req := &LogoutRequest{ID: x.ID, Issuer: p.SP.EntityID, NameID: strings.TrimSpace(x.NameIDs[0].Value),
		Signed: signed, RelayState: m.RelayState}
	for _, si := range x.SessionIndexes {
		req.SessionIndexes = append(req.SessionIndexes, strings.TrimSpace(si))
	}
	return req, nil
}

// BuildLogoutResponse returns a samlp:LogoutResponse to destination for
// the request inResponseTo; signed enveloped when sign is set (the
// HTTP-POST binding), else left for the binding's detached signature.
func BuildLogoutResponse(idp IdP, destination, inResponseTo, status string, now time.Time, s Signer, sign bool) ([]byte, error) {
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	resp := etree.NewElement("samlp:LogoutResponse")
	resp.CreateAttr("xmlns:samlp", NSProtocol)
	resp.CreateAttr("xmlns:saml", NSAssertion)
	resp.CreateAttr("ID", id)
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", samlTime(now))
	resp.CreateAttr("Destination", destination)
	resp.CreateAttr("InResponseTo", inResponseTo)
	resp.CreateElement("saml:Issuer").SetText(idp.EntityID)
	resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", status)
	if sign {
		if err := signAfterIssuer(resp, s); err != nil {
			return nil, err
		}
	}
	return write(resp)
}

// RedirectURL encodes a message for the HTTP-Redirect binding (DEFLATE,
// base64, URL-encoded as param) to location, signed with RSA-SHA256 over
// the query octets as SAML Bindings §3.4.4.1 says.
func RedirectURL(location, param string, msg []byte, relayState string, s Signer) (string, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(msg); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	q += "&SigAlg=" + url.QueryEscape(AlgRSASHA256)
	sum := sha256.Sum256([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("saml: sign redirect: %w", err)
	}
	q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	sep := "?"
	if strings.Contains(location, "?") {
		sep = "&"
	}
	return location + sep + q, nil
}
