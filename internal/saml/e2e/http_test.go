package e2e

// Tests of writ's SAML endpoints with real HTTP against an in-process writ,
// without the python SP: hand-made AuthnRequests (signed like an SP signs
// them), the admin API's refusals of hostile SP metadata, IdP-initiated
// sign-on, and token exchange of an external SAML IdP's assertion.

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/saml"
)

const (
	testSPEntity = "https://sp.example/metadata"
	testSPACS    = "https://sp.example/acs"
	testPassword = "correct horse battery"
)

var (
	rsaOnce sync.Once
	rsaKeys []*rsa.PrivateKey
)

// rsaKey returns one of three RSA keys generated once per test binary and
// a self-signed certificate of it.
func rsaKey(t *testing.T, i int) (*rsa.PrivateKey, []byte) {
	t.Helper()
	rsaOnce.Do(func() {
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys = append(rsaKeys, k)
		}
	})
	cert, err := saml.SigningCertificate(rsaKeys[i], fmt.Sprintf("test-%d", i), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return rsaKeys[i], cert
}

// startWritAt starts writ on a fake clock.
func startWritAt(t *testing.T, clock *clocktest.Clock) *writNode {
	t.Helper()
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(dir, "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
		"WRIT_LOG_LEVEL":  "error",
	}, app.Options{Announce: io.Discard, Now: clock.Now})
	n := &writNode{app: a, issuer: a.Issuer, admin: "http://" + a.AdminAddr().String()}
	n.adminCall(t, http.MethodPost, "/admin/users", map[string]any{"username": "ada", "password": testPassword,
		"email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace"}, http.StatusCreated)
	return n
}

// spMetadata is an SP's metadata (entity testSPEntity, ACS testSPACS) with
// cert as its signing certificate.
func spMetadata(entity string, cert []byte, signed bool) string {
	return fmt.Sprintf(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s">
  <md:SPSSODescriptor AuthnRequestsSigned="%t" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example/slo"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="%s" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`, entity, signed, base64.StdEncoding.EncodeToString(cert), testSPACS)
}

func registerTestSP(t *testing.T, n *writNode, signed bool, extra map[string]any) {
	t.Helper()
	_, cert := rsaKey(t, 0)
	body := map[string]any{"metadata": spMetadata(testSPEntity, cert, signed), "require_signed_requests": signed}
	for k, v := range extra {
		body[k] = v
	}
	n.adminCall(t, http.MethodPost, "/admin/saml-sps", body, http.StatusCreated)
}

// authnRequest is an AuthnRequest of issuer; attrs go into the root
// element, inner after the Issuer.
func authnRequest(n *writNode, now time.Time, id, issuer, attrs, inner string) string {
	return fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" Destination="%s/saml/sso"%s><saml:Issuer>%s</saml:Issuer>%s</samlp:AuthnRequest>`,
		id, now.UTC().Format(time.RFC3339), n.issuer, attrs, issuer, inner)
}

// redirectURL is the HTTP-Redirect binding's URL of a request, signed with
// key when key is not nil.
func redirectURL(t *testing.T, n *writNode, doc, relay string, key *rsa.PrivateKey) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	if key != nil {
		q += "&SigAlg=" + url.QueryEscape(saml.AlgRSASHA256)
		sum := sha256.Sum256([]byte(q))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	return n.issuer + "/saml/sso?" + q
}

// refused checks that writ answered with its error page, not a form to
// an ACS.
func refused(t *testing.T, what string, resp *http.Response, page string) {
	t.Helper()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("%s: status %d, want 400:\n%s", what, resp.StatusCode, page)
	}
	if strings.Contains(page, "SAMLResponse") || strings.Contains(page, "sp.example") && strings.Contains(page, "<form") {
		t.Errorf("%s: the error page posts to the SP:\n%s", what, page)
	}
}

// samlResponse returns the action and the decoded Response of a SAML POST
// page.
func samlResponse(t *testing.T, resp *http.Response, page string, n *writNode) (string, *etree.Element, url.Values) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="SAMLResponse"`) {
		t.Fatalf("want the SAML post page, got %d:\n%s", resp.StatusCode, page)
	}
	action, fields := form(t, page, n.issuer)
	raw, err := base64.StdEncoding.DecodeString(fields.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	return action, doc.Root(), fields
}

func statusCodes(r *etree.Element) []string {
	var out []string
	for sc := r.FindElement("./Status/StatusCode"); sc != nil; sc = sc.SelectElement("StatusCode") {
		out = append(out, sc.SelectAttrValue("Value", ""))
	}
	return out
}

func wantStatus(t *testing.T, what string, r *etree.Element, second string) {
	t.Helper()
	codes := statusCodes(r)
	if len(codes) < 2 || codes[1] != second {
		t.Errorf("%s: status codes %v, want second-level %s", what, codes, second)
	}
	if r.FindElement("./Assertion") != nil || r.FindElement("./EncryptedAssertion") != nil {
		t.Errorf("%s: the error response carries an assertion", what)
	}
	if r.FindElement("./Signature") == nil {
		t.Errorf("%s: the error response is not signed", what)
	}
}

// login posts the password to the login page and returns what follows.
func login(t *testing.T, b *browser, n *writNode, page string) (*http.Response, string) {
	t.Helper()
	if !strings.Contains(page, `name="password"`) {
		t.Fatalf("want writ's login page:\n%s", page)
	}
	action, fields := form(t, page, n.issuer)
	fields.Set("username", "ada")
	fields.Set("password", testPassword)
	return b.post(action, fields)
}

func TestSAMLSSORefusals(t *testing.T) {
	clock := clocktest.Default()
	n := startWritAt(t, clock)
	registerTestSP(t, n, true, nil)
	key, _ := rsaKey(t, 0)
	other, _ := rsaKey(t, 1)
	b := newBrowser(t)
	now := clock.Now()

	// The control: a well-signed request reaches the login page.
	resp, page := b.get(redirectURL(t, n, authnRequest(n, now, "_ok", testSPEntity, "", ""), "", key))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("a signed request of the registered SP: %d\n%s", resp.StatusCode, page)
	}
	for _, c := range []struct{ name, url string }{
		{"unknown SP", redirectURL(t, n, authnRequest(n, now, "_a", "https://evil.example/metadata",
			` AssertionConsumerServiceURL="https://evil.example/acs"`, ""), "", key)},
		{"unregistered ACS URL", redirectURL(t, n, authnRequest(n, now, "_b", testSPEntity,
			` AssertionConsumerServiceURL="https://evil.example/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`, ""), "", key)},
		{"unregistered ACS index", redirectURL(t, n, authnRequest(n, now, "_c", testSPEntity, ` AssertionConsumerServiceIndex="7"`, ""), "", key)},
		{"signature by another key", redirectURL(t, n, authnRequest(n, now, "_d", testSPEntity, "", ""), "", other)},
		{"unsigned when signatures are required", redirectURL(t, n, authnRequest(n, now, "_e", testSPEntity, "", ""), "", nil)},
		{"signature over another RelayState", strings.Replace(redirectURL(t, n, authnRequest(n, now, "_f", testSPEntity, "", ""), "a", key), "RelayState=a", "RelayState=b", 1)},
	} {
		resp, page := b.get(c.url)
		refused(t, c.name, resp, page)
	}
	// The same over HTTP-POST: an unknown SP gets the error page.
	resp, page = b.post(n.issuer+"/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(
		[]byte(authnRequest(n, now, "_g", "https://evil.example/metadata", "", "")))}})
	refused(t, "unknown SP over POST", resp, page)
}

func TestSAMLPassiveForceAndPolicies(t *testing.T) {
	clock := clocktest.Default()
	n := startWritAt(t, clock)
	registerTestSP(t, n, false, nil)
	b := newBrowser(t)
	get := func(id, attrs, inner string) (*http.Response, string) {
		return b.get(redirectURL(t, n, authnRequest(n, clock.Now(), id, testSPEntity, attrs, inner), "relay-1", nil))
	}

	// IsPassive without a session: a signed NoPassive response at the ACS.
	resp, page := get("_passive", ` IsPassive="true"`, "")
	action, r, fields := samlResponse(t, resp, page, n)
	if action != testSPACS || r.SelectAttrValue("InResponseTo", "") != "_passive" || fields.Get("RelayState") != "relay-1" {
		t.Errorf("NoPassive response to %s, InResponseTo %q, RelayState %q", action, r.SelectAttrValue("InResponseTo", ""), fields.Get("RelayState"))
	}
	wantStatus(t, "IsPassive", r, saml.StatusNoPassive)

	// NameIDPolicy with a format writ does not offer.
	resp, page = get("_nif", "", `<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"/>`)
	_, r, _ = samlResponse(t, resp, page, n)
	wantStatus(t, "NameIDPolicy", r, saml.StatusInvalidNameIDPolicy)

	// A better authentication context than a password.
	resp, page = get("_better", "", `<samlp:RequestedAuthnContext Comparison="better"><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`)
	_, r, _ = samlResponse(t, resp, page, n)
	wantStatus(t, "RequestedAuthnContext better", r, saml.StatusNoAuthnContext)

	// Sign in; a plain request is then answered without the login page.
	resp, page = get("_first", "", "")
	resp, page = login(t, b, n, page)
	_, r, _ = samlResponse(t, resp, page, n)
	if codes := statusCodes(r); len(codes) != 1 || codes[0] != saml.StatusSuccess || r.FindElement("./Assertion") == nil {
		t.Fatalf("sign-in: status %v", codes)
	}
	resp, page = get("_second", "", "")
	samlResponse(t, resp, page, n)

	// ForceAuthn with a session: the login page again.
	clock.Advance(10 * time.Second)
	resp, page = get("_force", ` ForceAuthn="true"`, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) || strings.Contains(page, "SAMLResponse") {
		t.Fatalf("ForceAuthn with a session: %d\n%s", resp.StatusCode, page)
	}
	// Another browser signs in for the same forced request; the resume
	// URL it is sent to is refused to the first browser, whose session is
	// older than the request, and accepted for the fresh session.
	fresh := newBrowser(t)
	_, page2 := fresh.get(redirectURL(t, n, authnRequest(n, clock.Now(), "_force2", testSPEntity, ` ForceAuthn="true"`, ""), "", nil))
	action, fields = form(t, page2, n.issuer)
	fields.Set("username", "ada")
	fields.Set("password", testPassword)
	noFollow := &http.Client{Jar: fresh.client.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	lr, err := noFollow.PostForm(action, fields)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, lr)
	resume, err := lr.Location()
	if err != nil || resume.Path != "/saml/sso/resume" {
		t.Fatalf("the sign-in did not return to the SAML resume: %d %v %v", lr.StatusCode, resume, err)
	}
	resp, page = b.get(resume.String())
	if !strings.Contains(page, `name="password"`) || strings.Contains(page, "SAMLResponse") {
		t.Errorf("the resume answered a session older than the forced request: %d\n%s", resp.StatusCode, page)
	}
	resp, page = fresh.get(resume.String())
	_, r, _ = samlResponse(t, resp, page, n)
	if r.SelectAttrValue("InResponseTo", "") != "_force2" || r.FindElement("./Assertion") == nil {
		t.Errorf("the fresh session's resume: %v", statusCodes(r))
	}
}

func TestSAMLIdPInitiated(t *testing.T) {
	clock := clocktest.Default()
	n := startWritAt(t, clock)
	registerTestSP(t, n, false, nil)
	b := newBrowser(t)
	start := n.issuer + "/saml/idp-initiated?" + url.Values{"sp": {testSPEntity}, "RelayState": {"/home"}}.Encode()
	resp, page := b.get(start)
	refused(t, "IdP-initiated without opt-in", resp, page)

	_, cert := rsaKey(t, 0)
	n.adminCall(t, http.MethodPut, "/admin/saml-sps/"+url.PathEscape(testSPEntity), map[string]any{
		"metadata": spMetadata(testSPEntity, cert, false), "allow_idp_initiated": true}, http.StatusOK)
	_, page = b.get(start)
	resp, page = login(t, b, n, page)
	action, r, fields := samlResponse(t, resp, page, n)
	if action != testSPACS || fields.Get("RelayState") != "/home" {
		t.Errorf("IdP-initiated response to %s with RelayState %q", action, fields.Get("RelayState"))
	}
	if r.SelectAttr("InResponseTo") != nil {
		t.Errorf("an unsolicited response has InResponseTo %q", r.SelectAttrValue("InResponseTo", ""))
	}
	if cd := r.FindElement("./Assertion/Subject/SubjectConfirmation/SubjectConfirmationData"); cd == nil || cd.SelectAttr("InResponseTo") != nil {
		t.Errorf("subject confirmation of an unsolicited response: %v", cd)
	}
	if codes := statusCodes(r); len(codes) != 1 || codes[0] != saml.StatusSuccess {
		t.Errorf("status %v", codes)
	}
}

func TestSAMLSPRegistrationRefusals(t *testing.T) {
	n := startWritAt(t, clocktest.Default())
	_, cert := rsaKey(t, 0)
	good := spMetadata(testSPEntity, cert, false)
	for _, c := range []struct{ name, metadata string }{
		{"javascript: ACS", strings.Replace(good, testSPACS, "javascript:alert(document.domain)//", 1)},
		{"http ACS on another host", strings.Replace(good, testSPACS, "http://sp.example/acs", 1)},
		{"DTD", `<?xml version="1.0"?><!DOCTYPE md [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + good},
		{"missing metadata", ""},
		{"not XML", "{}"},
	} {
		body := map[string]any{}
		if c.metadata != "" {
			body["metadata"] = c.metadata
		}
		out := n.adminCall(t, http.MethodPost, "/admin/saml-sps", body, http.StatusBadRequest)
		if strings.Contains(string(out), "/etc/passwd") && c.name != "DTD" {
			t.Errorf("%s: %s", c.name, out)
		}
	}
	n.adminCall(t, http.MethodPost, "/admin/saml-sps", map[string]any{"metadata": good}, http.StatusCreated)
	n.adminCall(t, http.MethodPost, "/admin/saml-sps", map[string]any{"metadata": good}, http.StatusConflict)
	n.adminCall(t, http.MethodPut, "/admin/saml-sps/"+url.PathEscape(testSPEntity),
		map[string]any{"metadata": spMetadata("https://other.example/metadata", cert, false)}, http.StatusBadRequest)
	out := n.adminCall(t, http.MethodGet, "/admin/saml-sps/"+url.PathEscape(testSPEntity), nil, http.StatusOK)
	var got struct {
		EntityID string `json:"entity_id"`
		ACS      []struct {
			Location string `json:"location"`
		} `json:"acs"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.EntityID != testSPEntity || len(got.ACS) != 1 || got.ACS[0].Location != testSPACS {
		t.Errorf("the SP after the refused PUT: %s", out)
	}

	// The NameID format: a short name or a URN writ offers, else the first
	// one the metadata lists that writ offers, else persistent.
	put := func(body map[string]any, want int) string {
		out := n.adminCall(t, http.MethodPut, "/admin/saml-sps/"+url.PathEscape(testSPEntity), body, want)
		var sp struct {
			Format string `json:"name_id_format"`
		}
		_ = json.Unmarshal(out, &sp)
		return sp.Format
	}
	put(map[string]any{"metadata": good, "name_id_format": "unspecified"}, http.StatusBadRequest)
	put(map[string]any{"metadata": good, "name_id_format": saml.NameIDUnspecified}, http.StatusBadRequest)
	if f := put(map[string]any{"metadata": good, "name_id_format": "email"}, http.StatusOK); f != saml.NameIDEmail {
		t.Errorf("name_id_format email: stored %q", f)
	}
	if f := put(map[string]any{"metadata": good}, http.StatusOK); f != saml.NameIDPersistent {
		t.Errorf("no name_id_format and none in the metadata: stored %q", f)
	}
	listed := strings.Replace(good, "<md:AssertionConsumerService", "<md:NameIDFormat>"+saml.NameIDUnspecified+
		"</md:NameIDFormat><md:NameIDFormat>"+saml.NameIDTransient+"</md:NameIDFormat><md:AssertionConsumerService", 1)
	if f := put(map[string]any{"metadata": listed}, http.StatusOK); f != saml.NameIDTransient {
		t.Errorf("no name_id_format, metadata listing unspecified then transient: stored %q", f)
	}
}

// externalAssertion is an assertion of an external SAML IdP signed with
// key, for audience.
func externalAssertion(t *testing.T, idp saml.IdP, key *rsa.PrivateKey, cert []byte, audience string, now time.Time) string {
	t.Helper()
	raw, err := saml.BuildResponse(saml.ResponseParams{IdP: idp, Audience: audience, ACSURL: "https://sp.example/acs",
		NameID: "ext-user-1", NameIDFormat: saml.NameIDPersistent, SessionIndex: "s1", AuthnInstant: now, Now: now},
		saml.Signer{Key: key, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	a := etree.NewDocument()
	a.SetRoot(doc.Root().SelectElement("Assertion").Copy())
	out, err := a.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(out)
}

func TestSAMLExchangeExternalIdP(t *testing.T) {
	clock := clocktest.Default()
	n := startWritAt(t, clock)
	key, cert := rsaKey(t, 2)
	ext := saml.NewIdP("https://idp.external.example")
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	jwks := map[string]any{"keys": []map[string]any{{"kty": "RSA", "kid": "ext-1", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}}
	n.adminCall(t, http.MethodPost, "/admin/trusted-issuers", map[string]any{"issuer": ext.EntityID, "jwks": jwks,
		"uses": []string{"token_exchange"}}, http.StatusCreated)
	const audience = "https://app.external.example"
	client := func(issuers []string) (string, string) {
		return n.clientWith(t, map[string]any{"subject_issuers": issuers, "subject_audiences": []string{audience}})
	}
	trusting, trustingSecret := client([]string{ext.EntityID})
	other, otherSecret := client([]string{"https://idp.elsewhere.example/saml/metadata"})
	exchange := func(id, secret, token string) (int, map[string]any) {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {token},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}, "scope": {"orders:read"}}
		req, err := http.NewRequest(http.MethodPost, n.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.Unmarshal([]byte(readBody(t, resp)), &body)
		return resp.StatusCode, body
	}
	now := clock.Now()

	// The client whose policy does not name the issuer is refused, and
	// its attempt does not use up the assertion (nor does one by a client
	// the assertion is not addressed to).
	tok := externalAssertion(t, ext, key, cert, audience, now)
	if status, body := exchange(other, otherSecret, tok); status != http.StatusBadRequest {
		t.Errorf("a client not trusting the issuer: %d %v", status, body)
	}
	stranger, strangerSecret := n.clientWith(t, map[string]any{"subject_issuers": []string{ext.EntityID}, "subject_audiences": []string{"https://x.example"}})
	if status, body := exchange(stranger, strangerSecret, tok); status != http.StatusBadRequest {
		t.Errorf("a client the assertion is not addressed to: %d %v", status, body)
	}
	// An audience that names neither writ nor the client's audiences.
	if status, body := exchange(trusting, trustingSecret, externalAssertion(t, ext, key, cert, "https://api.elsewhere.example", now)); status != http.StatusBadRequest {
		t.Errorf("an assertion for another audience: %d %v", status, body)
	}
	// Signed by another key than the trusted issuer's.
	otherKey, otherCert := rsaKey(t, 1)
	if status, body := exchange(trusting, trustingSecret, externalAssertion(t, ext, otherKey, otherCert, audience, now)); status != http.StatusBadRequest {
		t.Errorf("an assertion signed by an untrusted key: %d %v", status, body)
	}
	status, body := exchange(trusting, trustingSecret, tok)
	if status != http.StatusOK {
		t.Fatalf("exchange of the external IdP's assertion: %d %v", status, body)
	}
	parts := strings.Split(fmt.Sprint(body["access_token"]), ".")
	if len(parts) != 3 {
		t.Fatalf("access token %v", body["access_token"])
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims["sub"] != "ext-user-1" {
		t.Errorf("claims %v (%v)", claims, err)
	}
	if status, body := exchange(trusting, trustingSecret, tok); status != http.StatusBadRequest {
		t.Errorf("a replayed assertion: %d %v", status, body)
	}
	// An expired assertion.
	old := externalAssertion(t, ext, key, cert, audience, now)
	clock.Advance(time.Hour)
	if status, body := exchange(trusting, trustingSecret, old); status != http.StatusBadRequest {
		t.Errorf("an expired assertion: %d %v", status, body)
	}
}

// clientWith registers a token-exchange client with the exchange policy
// pol and returns its ID and secret.
func (n *writNode) clientWith(t *testing.T, pol map[string]any) (string, string) {
	t.Helper()
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	out := n.adminCall(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "SAML app", "grant_types": []string{"urn:ietf:params:oauth:grant-type:token-exchange"},
		"scope": "orders:read", "token_exchange": pol}, http.StatusCreated)
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	return c.ID, c.Secret
}

func TestSAMLPagesEscapeRequestText(t *testing.T) {
	clock := clocktest.Default()
	n := startWritAt(t, clock)
	registerTestSP(t, n, false, nil)
	b := newBrowser(t)
	const relay = `"><script>alert(1)</script>`
	resp, page := b.get(redirectURL(t, n, authnRequest(n, clock.Now(), "_x", testSPEntity, ` IsPassive="true"`, ""), relay, nil))
	if strings.Contains(page, "<script>alert") {
		t.Errorf("the post page shows RelayState as markup:\n%s", page)
	}
	if _, _, fields := samlResponse(t, resp, page, n); fields.Get("RelayState") != relay {
		t.Errorf("RelayState came back as %q", fields.Get("RelayState"))
	}
	resp, page = b.get(redirectURL(t, n, authnRequest(n, clock.Now(), "_y", `&lt;img src=x onerror=alert(1)&gt;`, "", ""), "", nil))
	refused(t, "markup in the Issuer", resp, page)
	if strings.Contains(page, "<img src=x") {
		t.Errorf("the error page shows the Issuer as markup:\n%s", page)
	}
}

func TestSAMLUnsignedLogoutRefused(t *testing.T) {
	clock := clocktest.Default()
	n := startWritAt(t, clock)
	registerTestSP(t, n, false, nil) // signing certificate, AuthnRequestsSigned false
	key, _ := rsaKey(t, 0)
	b := newBrowser(t)
	_, page := b.get(redirectURL(t, n, authnRequest(n, clock.Now(), "_in", testSPEntity, "", ""), "", nil))
	resp, page := login(t, b, n, page)
	_, r, _ := samlResponse(t, resp, page, n)
	nameID := r.FindElement("./Assertion/Subject/NameID").Text()
	logout := func(id string, key *rsa.PrivateKey) string {
		doc := fmt.Sprintf(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" Destination="%s/saml/slo"><saml:Issuer>%s</saml:Issuer><saml:NameID Format="%s">%s</saml:NameID></samlp:LogoutRequest>`,
			id, clock.Now().UTC().Format(time.RFC3339), n.issuer, testSPEntity, saml.NameIDPersistent, nameID)
		return strings.Replace(redirectURL(t, n, doc, "", key), "/saml/sso?", "/saml/slo?", 1)
	}
	// A LogoutRequest anyone could forge (the SP has a signing key but
	// does not sign AuthnRequests) does not end the session.
	resp, page = b.get(logout("_forged", nil))
	refused(t, "an unsigned LogoutRequest", resp, page)
	resp, page = b.get(redirectURL(t, n, authnRequest(n, clock.Now(), "_still", testSPEntity, "", ""), "", nil))
	samlResponse(t, resp, page, n)
	// The SP's signed one does.
	noFollow := &http.Client{Jar: b.client.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	lr, err := noFollow.Get(logout("_real", key))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, lr)
	if loc, _ := lr.Location(); lr.StatusCode != http.StatusSeeOther || loc == nil || loc.Host != "sp.example" {
		t.Fatalf("signed logout: %d %v", lr.StatusCode, loc)
	}
	_, page = b.get(redirectURL(t, n, authnRequest(n, clock.Now(), "_after", testSPEntity, "", ""), "", nil))
	if !strings.Contains(page, `name="password"`) {
		t.Errorf("the session survived the SP's signed logout:\n%s", page)
	}
}

// TestSAMLPOSTBindingBounce: an AuthnRequest by the HTTP-POST binding comes
// cross-site, without writ's SameSite=Lax session cookie in a real
// browser; writ posts it again from its own page (which a browser sends
// with the cookie), and only then answers, from the session.
func TestSAMLPOSTBindingBounce(t *testing.T) {
	clock := clocktest.Default()
	n := startWritAt(t, clock)
	registerTestSP(t, n, false, nil)
	b := newBrowser(t)
	// A session first (HTTP-Redirect, a top-level navigation).
	_, page := b.get(redirectURL(t, n, authnRequest(n, clock.Now(), "_first", testSPEntity, "", ""), "", nil))
	resp, page := login(t, b, n, page)
	samlResponse(t, resp, page, n)

	post := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(authnRequest(n, clock.Now(), "_posted", testSPEntity, "", "")))},
		"RelayState": {"back-to/page"}}
	resp, page = b.post(n.issuer+"/saml/sso", post)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, `name="SAMLResponse"`) {
		t.Fatalf("want the bounce page, got %d:\n%s", resp.StatusCode, page)
	}
	action, fields := form(t, page, n.issuer)
	if action != n.issuer+"/saml/sso" || fields.Get("writ_saml_bounce") != "1" ||
		fields.Get("SAMLRequest") != post.Get("SAMLRequest") || fields.Get("RelayState") != "back-to/page" {
		t.Fatalf("bounce form: %s %v", action, fields)
	}
	// Posted again from writ's page: the session answers without a login.
	resp, page = b.post(action, fields)
	_, r, back := samlResponse(t, resp, page, n)
	if r.SelectAttrValue("InResponseTo", "") != "_posted" || back.Get("RelayState") != "back-to/page" {
		t.Errorf("answer: InResponseTo %q, RelayState %q", r.SelectAttrValue("InResponseTo", ""), back.Get("RelayState"))
	}
	if r.FindElement("./Assertion") == nil {
		t.Error("no assertion: the bounced request did not see the session")
	}
	// A refused request is refused before any bounce.
	resp, page = b.post(n.issuer+"/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(
		[]byte(authnRequest(n, clock.Now(), "_bad", "https://unknown.example", "", "")))}})
	refused(t, "an unknown SP by POST", resp, page)
}

// metadataCerts returns the signing certificates of writ's IdP metadata.
func metadataCerts(t *testing.T, n *writNode) []string {
	t.Helper()
	resp, err := http.Get(n.issuer + "/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if _, err := doc.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var out []string
	for _, c := range doc.FindElements("//KeyDescriptor/KeyInfo/X509Data/X509Certificate") {
		out = append(out, c.Text())
	}
	if len(out) == 0 {
		t.Fatal("the IdP metadata has no signing certificate")
	}
	return out
}

// TestSAMLKeysFollowRotation checks that the metadata and the signature of
// responses follow a rotation of the ring: the certificates are built once
// per ring version, not once for good.
func TestSAMLKeysFollowRotation(t *testing.T) {
	clock := clocktest.Default()
	n := startWritAt(t, clock)
	registerTestSP(t, n, false, map[string]any{"allow_idp_initiated": true})
	before := metadataCerts(t, n)
	n.adminCall(t, http.MethodPost, "/admin/keys/rotate", map[string]any{"force": true}, http.StatusOK)
	after := metadataCerts(t, n)
	fresh := 0
	for _, c := range after {
		if !slices.Contains(before, c) {
			fresh++
		}
	}
	if fresh == 0 {
		t.Fatalf("the metadata publishes the same certificates after a rotation: %d before, %d after", len(before), len(after))
	}

	b := newBrowser(t)
	_, page := b.get(n.issuer + "/saml/idp-initiated?" + url.Values{"sp": {testSPEntity}}.Encode())
	resp, page := login(t, b, n, page)
	_, r, _ := samlResponse(t, resp, page, n)
	signedBy := r.FindElement("./Assertion/Signature/KeyInfo/X509Data/X509Certificate")
	if signedBy == nil {
		t.Fatal("the assertion's signature carries no certificate")
	}
	if !slices.Contains(after, signedBy.Text()) {
		t.Errorf("the assertion is signed with a certificate the metadata no longer publishes")
	}
	if signedBy.Text() == before[0] {
		t.Errorf("the assertion is still signed by the key that was active before the rotation")
	}
}
