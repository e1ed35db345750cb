// Package saml is writ's SAML 2.0 identity provider protocol, small and
// strict: the IdP's metadata, the parsing of service providers' metadata,
// the checks of AuthnRequests and LogoutRequests (HTTP-Redirect and
// HTTP-POST bindings, signatures when required), and the signed Response
// and Assertion writ sends to an assertion consumer service. It does no HTTP
// and keeps no state: the server owns the endpoints, the sign-in and the
// registered service providers.
//
// Every document read from outside is scanned before any tree is built
// (size, depth and element bounds; no DTD, entity or processing
// instruction; no comments in protocol messages), and after a signature
// is checked only the element the signature covers, as the signature
// library returns it, is read.
package saml

// Namespaces and identifiers of SAML 2.0 and XML Signature.
const (
	// NSMetadata is the SAML 2.0 metadata namespace.
	NSMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"
	// NSAssertion is the SAML 2.0 assertion namespace.
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	// NSProtocol is the SAML 2.0 protocol namespace.
	NSProtocol = "urn:oasis:names:tc:SAML:2.0:protocol"
	// NSDSig is the XML Signature namespace.
	NSDSig = "http://www.w3.org/2000/09/xmldsig#"

	// BindingRedirect is the HTTP-Redirect binding.
	BindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	// BindingPOST is the HTTP-POST binding.
	BindingPOST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

	// NameIDPersistent is a pairwise, opaque, stable identifier.
	NameIDPersistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	// NameIDTransient is an identifier for one session only.
	NameIDTransient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	// NameIDEmail is the user's email address.
	NameIDEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	// NameIDUnspecified lets the IdP choose.
	NameIDUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

	// AttrNameFormatURI is the attribute name format of URI names.
	AttrNameFormatURI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	// AttrNameFormatBasic is the attribute name format of simple names.
	AttrNameFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"

	// AuthnContextPassword is the authentication context of a password
	// sign-in over TLS.
	AuthnContextPassword = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

	// StatusSuccess and the other status codes of SAML Core §3.2.2.2.
	StatusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success"
	// StatusRequester: the request was wrong.
	StatusRequester = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	// StatusResponder: the IdP failed.
	StatusResponder = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	// StatusNoPassive: IsPassive was asked and the user must sign in.
	StatusNoPassive = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
	// StatusInvalidNameIDPolicy: the NameID format asked is not offered.
	StatusInvalidNameIDPolicy = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
	// StatusNoAuthnContext: the authentication context asked is not offered.
	StatusNoAuthnContext = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"

	// AlgRSASHA256 is the signature algorithm writ signs and accepts.
	AlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	// AlgECDSASHA256 is accepted on signed requests of SPs with EC keys.
	AlgECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
)

// NameIDFormats returns the NameID formats writ issues, in the order its
// metadata lists them.
func NameIDFormats() []string { return []string{NameIDPersistent, NameIDTransient, NameIDEmail} }
