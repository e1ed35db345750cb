package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/saml"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/ui"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// Paths of the SAML 2.0 identity provider.
const (
	PathSAMLMetadata     = "/saml/metadata"
	PathSAMLSSO          = "/saml/sso"
	PathSAMLResume       = "/saml/sso/resume"
	PathSAMLSLO          = "/saml/slo"
	PathSAMLIdPInitiated = "/saml/idp-initiated"
)

// maxSAMLForm bounds the body of a SAML POST binding request.
const maxSAMLForm = 256 << 10

// samlStore is what the SAML endpoints read: the registered SPs.
type samlStore interface {
	GetSAMLServiceProvider(ctx context.Context, entityID string) (store.SAMLServiceProvider, error)
}

// samlIdP is the server's SAML identity provider: the IdP's names, the
// sealing of pending requests carried through sign-in, and the key of
// pairwise persistent NameIDs.
type samlIdP struct {
	idp       saml.IdP
	sps       samlStore
	aead      cipher.AEAD
	nameIDKey []byte
	// keys is the SAML form of the ring's RS256 keys, built again when the
	// ring changes.
	keys atomic.Pointer[samlKeySet]
}

// samlKeySet is the SAML form of the ring's RS256 keys at one version of
// the ring: the self-signed certificates to publish and the signer. The
// certificates are deterministic, so every node agrees.
type samlKeySet struct {
	version uint64
	certs   [][]byte
	signer  saml.Signer // Key nil: no active RS256 key
}

// samlPending is an AuthnRequest checked and waiting for the user's
// sign-in, sealed into the URL the login page returns to.
type samlPending struct {
	SP           string `json:"sp"`
	RequestID    string `json:"id,omitempty"`
	ACS          string `json:"acs"`
	RelayState   string `json:"relay,omitempty"`
	NameIDFormat string `json:"nif"`
	ForceAuthn   bool   `json:"force,omitempty"`
	Started      int64  `json:"started"`
	Expires      int64  `json:"exp"`
}

const samlPendingAD = "writ/saml-pending/v1"

// newSAMLIdP derives the SAML keys from the sealing key of the sign-in
// pages, so that every node of a deployment shares them.
func newSAMLIdP(issuer string, sealKey []byte, sps samlStore) (*samlIdP, error) {
	derive := func(purpose string) []byte {
		m := hmac.New(sha256.New, sealKey)
		m.Write([]byte("writ/saml/" + purpose))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("pending"))
	if err != nil {
		return nil, fmt.Errorf("server: saml: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("server: saml: %w", err)
	}
	return &samlIdP{idp: saml.NewIdP(issuer), sps: sps, aead: aead, nameIDKey: derive("nameid")}, nil
}

func (p *samlIdP) seal(v samlPending) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, p.aead.NonceSize(), p.aead.NonceSize()+len(plain)+p.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(p.aead.Seal(nonce, nonce, plain, []byte(samlPendingAD))), nil
}

func (p *samlIdP) open(sealed string, now time.Time) (samlPending, error) {
	var v samlPending
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(sealed) > 8<<10 || len(raw) < p.aead.NonceSize()+p.aead.Overhead() {
		return v, authz.ErrTampered
	}
	n := p.aead.NonceSize()
	plain, err := p.aead.Open(nil, raw[:n], raw[n:], []byte(samlPendingAD))
	if err != nil || json.Unmarshal(plain, &v) != nil {
		return v, authz.ErrTampered
	}
	if now.Unix() > v.Expires {
		return v, authz.ErrExpired
	}
	return v, nil
}

// newSAMLKeySet builds the SAML form of the ring entries of one version.
func newSAMLKeySet(version uint64, entries []keys.Entry) (*samlKeySet, error) {
	ks := &samlKeySet{version: version}
	for _, e := range entries {
		priv, _ := e.Key.CryptoKey().(*rsa.PrivateKey)
		if priv == nil {
			return nil, fmt.Errorf("server: saml: key %s is not an RSA private key", e.KeyID())
		}
		der, err := saml.SigningCertificate(priv, e.KeyID(), e.CreatedAt)
		if err != nil {
			return nil, err
		}
		ks.certs = append(ks.certs, der)
		if e.State == keys.Active && ks.signer.Key == nil {
			ks.signer = saml.Signer{Key: priv, Cert: der}
		}
	}
	return ks, nil
}

// samlKeys returns the certificates to publish (the RS256 keys that are
// next or active, so that SPs trust a key before it signs) and the
// signer (the active RS256 key). They are built once per change of the
// ring.
func (s *Server) samlKeys() ([][]byte, saml.Signer, error) {
	ks := s.saml.keys.Load()
	// The version is read before the entries: a change between the two
	// only labels newer entries with an older version, built again on the
	// next call.
	if v := s.opts.Ring.Version(); ks == nil || ks.version != v {
		var err error
		if ks, err = newSAMLKeySet(v, s.opts.Ring.PublishedSigners(jose.RS256)); err != nil {
			return nil, saml.Signer{}, err
		}
		s.saml.keys.Store(ks)
	}
	if ks.signer.Key == nil {
		return nil, saml.Signer{}, errors.New("server: saml: no active RS256 key in the ring")
	}
	return ks.certs, ks.signer, nil
}

// handleSAMLMetadata serves the IdP's metadata.
func (s *Server) handleSAMLMetadata(w http.ResponseWriter, r *http.Request) {
	certs, _, err := s.samlKeys()
	if err != nil {
		s.log.ErrorContext(r.Context(), "saml metadata", "error", err)
		http.Error(w, "SAML metadata is unavailable", http.StatusServiceUnavailable)
		return
	}
	doc, err := s.saml.idp.Metadata(certs, s.now().Add(7*24*time.Hour))
	if err != nil {
		s.log.ErrorContext(r.Context(), "saml metadata", "error", err)
		http.Error(w, "SAML metadata is unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(doc)
}

// samlMessage decodes the message of either binding; false means a page
// was written.
func (s *Server) samlMessage(w http.ResponseWriter, r *http.Request, param string) (*saml.Message, bool) {
	var (
		m   *saml.Message
		err error
	)
	switch r.Method {
	case http.MethodGet:
		m, err = saml.DecodeRedirect(r.URL.RawQuery, param)
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxSAMLForm)
		if err := r.ParseForm(); err != nil {
			s.pageError(w, r, http.StatusBadRequest, "Invalid SAML request", "The request could not be read.")
			return nil, false
		}
		for _, k := range []string{param, "RelayState"} {
			if len(r.PostForm[k]) > 1 {
				s.pageError(w, r, http.StatusBadRequest, "Invalid SAML request", k+" appears more than once.")
				return nil, false
			}
		}
		m, err = saml.DecodePOST(r.PostForm.Get(param), r.PostForm.Get("RelayState"))
	default:
		w.Header().Set("Allow", "GET, POST")
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Use GET (HTTP-Redirect) or POST (HTTP-POST).")
		return nil, false
	}
	if err != nil {
		s.samlRefused(w, r, "", err)
		return nil, false
	}
	return m, true
}

// samlBounceField marks an HTTP-POST binding message that writ's own page
// posted again (samlBounce). Its presence only skips the bounce: a
// request that carries it cross-site is answered without the session, as
// a browser would have sent it.
const samlBounceField = "writ_saml_bounce"

// samlBounced reports whether a checked request may be answered now. An
// HTTP-POST binding message comes from the SP's page cross-site, so the
// browser did not send writ's SameSite=Lax session cookie: it is posted
// again, unchanged, from a page of writ's own (samlBounce), and answered
// then — one sign-in serves OIDC and SAML, and single logout ends the
// right session.
func (s *Server) samlBounced(w http.ResponseWriter, r *http.Request, param string) bool {
	if r.Method != http.MethodPost || r.PostForm.Get(samlBounceField) != "" {
		return true
	}
	s.samlBounce(w, r, param)
	return false
}

// samlBounce answers an HTTP-POST binding message with a page that posts
// it again, unchanged, to the same endpoint from writ's origin.
func (s *Server) samlBounce(w http.ResponseWriter, r *http.Request, param string) {
	d := ui.SAMLPostData{Action: s.opts.Issuer + r.URL.Path, MessageName: param,
		Message: r.PostForm.Get(param), RelayState: r.PostForm.Get("RelayState")}
	d.Hidden = []ui.Field{{Name: samlBounceField, Value: "1"}}
	if err := s.signin.pages().SAMLPost(w, r, d); err != nil {
		s.log.ErrorContext(r.Context(), "render saml bounce page", "error", err)
	}
}

// samlRefused shows the error page of a request that cannot be answered
// at an ACS (unknown SP, bad signature, unregistered ACS): never a
// response to a URL the request named.
func (s *Server) samlRefused(w http.ResponseWriter, r *http.Request, sp string, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "saml: request refused", slog.String("sp", sp),
		slog.String("error", err.Error()), slog.String("request_id", RequestID(r.Context())))
	s.pageError(w, r, http.StatusBadRequest, "Invalid SAML request", strings.TrimPrefix(err.Error(), "saml: "))
}

// spMetadata turns a stored SP into what the protocol checks use.
func spMetadata(sp store.SAMLServiceProvider) *saml.SPMetadata {
	m := &saml.SPMetadata{EntityID: sp.EntityID, SigningCerts: sp.SigningCerts, EncryptionCerts: sp.EncryptionCerts,
		AuthnRequestsSigned: sp.RequireSignedRequests}
	for _, e := range sp.ACS {
		m.ACS = append(m.ACS, saml.Endpoint(e))
	}
	for _, e := range sp.SLO {
		m.SLO = append(m.SLO, saml.Endpoint(e))
	}
	return m
}

// samlRequester returns the registered SP that issued a request; false
// means a page was written.
func (s *Server) samlRequester(w http.ResponseWriter, r *http.Request, m *saml.Message) (store.SAMLServiceProvider, bool) {
	issuer, err := saml.RequestIssuer(m)
	if err != nil {
		s.samlRefused(w, r, "", err)
		return store.SAMLServiceProvider{}, false
	}
	sp, err := s.saml.sps.GetSAMLServiceProvider(r.Context(), issuer)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.samlRefused(w, r, issuer, fmt.Errorf("%w: the service provider %q is not registered", saml.ErrInvalidRequest, issuer))
		return sp, false
	case err != nil:
		s.serverErrorPage(w, r, err)
		return sp, false
	}
	return sp, true
}

// handleSAMLSSO is the single sign-on service (SAML Profiles §4.1.4),
// HTTP-Redirect (GET) and HTTP-POST.
func (s *Server) handleSAMLSSO(w http.ResponseWriter, r *http.Request) {
	m, ok := s.samlMessage(w, r, "SAMLRequest")
	if !ok {
		return
	}
	sp, ok := s.samlRequester(w, r, m)
	if !ok {
		return
	}
	md := spMetadata(sp)
	req, err := saml.ParseAuthnRequest(m, saml.RequestPolicy{IdP: s.saml.idp, SP: md,
		RequireSigned: sp.RequireSignedRequests, Now: s.now()})
	if err != nil {
		s.samlRefused(w, r, sp.EntityID, err)
		return
	}
	acs, err := saml.ChooseACS(md, req.ACSURL, req.ACSIndex)
	if err != nil {
		s.samlRefused(w, r, sp.EntityID, err)
		return
	}
	if !s.samlBounced(w, r, "SAMLRequest") {
		return
	}
	// From here the ACS is one the SP registered: refusals go there.
	now := s.now()
	p := samlPending{SP: sp.EntityID, RequestID: req.ID, ACS: acs.Location, RelayState: req.RelayState,
		ForceAuthn: req.ForceAuthn, Started: now.Unix(), Expires: now.Add(authz.Timeout).Unix()}
	if p.NameIDFormat, err = nameIDFormat(req.NameIDFormat, sp); err != nil {
		s.samlErrorResponse(w, r, sp, p, saml.StatusInvalidNameIDPolicy, err.Error())
		return
	}
	if !authnContextSatisfied(req.AuthnContextClassRefs, req.AuthnContextComparison) {
		s.samlErrorResponse(w, r, sp, p, saml.StatusNoAuthnContext, "writ signs users in with a password over TLS")
		return
	}
	who, ok := s.samlSession(w, r)
	if !ok {
		return
	}
	if who != nil && !req.ForceAuthn {
		s.samlRespond(w, r, sp, p, who)
		return
	}
	if req.IsPassive {
		s.samlErrorResponse(w, r, sp, p, saml.StatusNoPassive, "the user must sign in")
		return
	}
	s.samlSignIn(w, r, p)
}

// samlSignedIn is the browser's session and its user.
type samlSignedIn struct {
	sess store.Session
	user store.User
}

// samlSession returns the browser's session and its user when there is a
// session of an enabled user, else nil; ok false means a page was written.
func (s *Server) samlSession(w http.ResponseWriter, r *http.Request) (who *samlSignedIn, ok bool) {
	ctx := r.Context()
	sess, err := s.signin.sessions.Current(ctx, r)
	switch {
	case errors.Is(err, authn.ErrNoSession):
		return nil, true
	case err != nil:
		s.serverErrorPage(w, r, err)
		return nil, false
	}
	u, err := s.stores.signIn.GetUser(ctx, sess.UserID)
	switch {
	case err == nil && !u.Disabled:
		return &samlSignedIn{sess: sess, user: u}, true
	case err == nil || errors.Is(err, store.ErrNotFound):
		_, _ = s.signin.sessions.End(ctx, w, r)
		return nil, true
	default:
		s.serverErrorPage(w, r, err)
		return nil, false
	}
}

// samlSignIn shows the login page of a sign-in that returns to the
// resume endpoint with the pending request sealed in its URL.
func (s *Server) samlSignIn(w http.ResponseWriter, r *http.Request, p samlPending) {
	sealed, err := s.saml.seal(p)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	back := PathSAMLResume + "?" + url.Values{"state": {sealed}}.Encode()
	req := &authz.Request{RedirectURI: back, MaxAge: -1, Expires: p.Expires}
	s.renderLogin(w, r, &flow{req: req, account: true}, "", http.StatusOK)
}

// isSAMLReturn reports whether a sealed sign-in returns to the SAML resume
// endpoint.
func isSAMLReturn(redirect string) bool {
	u, err := url.Parse(redirect)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Path == PathSAMLResume
}

// handleSAMLResume answers a pending request once the user has signed in.
func (s *Server) handleSAMLResume(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		s.pageError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "")
		return
	}
	p, err := s.saml.open(r.URL.Query().Get("state"), s.now())
	if err != nil {
		s.pageError(w, r, http.StatusBadRequest, "Sign-in expired", "Start again from the application.")
		return
	}
	sp, err := s.saml.sps.GetSAMLServiceProvider(r.Context(), p.SP)
	if errors.Is(err, store.ErrNotFound) {
		s.pageError(w, r, http.StatusBadRequest, "Unknown application", "The application is no longer registered.")
		return
	}
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	if !slices.ContainsFunc(sp.ACS, func(e store.SAMLEndpoint) bool { return e.Location == p.ACS }) {
		s.pageError(w, r, http.StatusBadRequest, "Unknown application", "The application's address changed; start again.")
		return
	}
	who, ok := s.samlSession(w, r)
	if !ok {
		return
	}
	if who == nil || (p.ForceAuthn && who.sess.AuthTime.Unix() < p.Started) {
		s.samlSignIn(w, r, p)
		return
	}
	s.samlRespond(w, r, sp, p, who)
}

// handleSAMLIdPInitiated starts an unsolicited response to an SP that
// allows them: GET /saml/idp-initiated?sp=ENTITY_ID[&RelayState=…].
func (s *Server) handleSAMLIdPInitiated(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sp, err := s.saml.sps.GetSAMLServiceProvider(r.Context(), q.Get("sp"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sp.AllowIdPInitiated) {
		s.pageError(w, r, http.StatusBadRequest, "Unknown application", "This application cannot be opened from here.")
		return
	}
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	relay := q.Get("RelayState")
	if len(relay) > saml.MaxRelayState {
		s.pageError(w, r, http.StatusBadRequest, "Invalid request", "RelayState is too long.")
		return
	}
	acs, err := saml.ChooseACS(spMetadata(sp), "", -1)
	if err != nil {
		s.samlRefused(w, r, sp.EntityID, err)
		return
	}
	now := s.now()
	p := samlPending{SP: sp.EntityID, ACS: acs.Location, RelayState: relay, Started: now.Unix(), Expires: now.Add(authz.Timeout).Unix()}
	if p.NameIDFormat, err = nameIDFormat("", sp); err != nil {
		s.samlRefused(w, r, sp.EntityID, err)
		return
	}
	who, ok := s.samlSession(w, r)
	if !ok {
		return
	}
	if who == nil {
		s.samlSignIn(w, r, p)
		return
	}
	s.samlRespond(w, r, sp, p, who)
}

// nameIDFormat picks the NameID format of a response: the one asked, else
// the SP's registered one, else persistent.
func nameIDFormat(asked string, sp store.SAMLServiceProvider) (string, error) {
	f := asked
	if f == "" || f == saml.NameIDUnspecified {
		f = sp.NameIDFormat
	}
	if f == "" {
		f = saml.NameIDPersistent
	}
	if !slices.Contains(saml.NameIDFormats(), f) {
		return "", fmt.Errorf("NameID format %q is not offered (persistent, transient or emailAddress)", asked)
	}
	return f, nil
}

// authnContextSatisfied reports whether a password sign-in meets a
// RequestedAuthnContext.
func authnContextSatisfied(refs []string, comparison string) bool {
	if len(refs) == 0 {
		return true
	}
	if comparison == "better" {
		return false
	}
	ours := []string{saml.AuthnContextPassword, "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
		"urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"}
	for _, r := range refs {
		if slices.Contains(ours, r) {
			return true
		}
	}
	return false
}

// samlRespond builds and posts the successful response for a signed-in
// session.
func (s *Server) samlRespond(w http.ResponseWriter, r *http.Request, sp store.SAMLServiceProvider, p samlPending, who *samlSignedIn) {
	ctx := r.Context()
	u, sess := who.user, who.sess
	nameID, err := s.samlNameID(u, sp.EntityID, p.NameIDFormat)
	if err != nil {
		s.samlErrorResponse(w, r, sp, p, saml.StatusInvalidNameIDPolicy, err.Error())
		return
	}
	_, signer, err := s.samlKeys()
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	params := saml.ResponseParams{
		IdP: s.saml.idp, Audience: sp.EntityID, ACSURL: p.ACS, InResponseTo: p.RequestID,
		NameID: nameID, NameIDFormat: p.NameIDFormat, SessionIndex: sess.ID,
		AuthnInstant: sess.AuthTime, Attributes: samlAttributes(u, sp.Attributes), Now: s.now(),
		SignResponse: sp.SignResponse,
	}
	if sp.EncryptAssertions && len(sp.EncryptionCerts) > 0 {
		params.EncryptTo = sp.EncryptionCerts[0]
	}
	resp, err := saml.BuildResponse(params, signer)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "saml: assertion issued", slog.String("sp", sp.EntityID),
		slog.String("user_id", u.ID), slog.String("sid", sess.ID), slog.String("request_id", RequestID(ctx)))
	s.samlPost(w, r, sp, p.ACS, "SAMLResponse", resp, p.RelayState)
}

// samlErrorResponse posts a signed error response to the request's
// (registered) ACS.
func (s *Server) samlErrorResponse(w http.ResponseWriter, r *http.Request, sp store.SAMLServiceProvider, p samlPending, status, message string) {
	_, signer, err := s.samlKeys()
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	resp, err := saml.BuildErrorResponse(s.saml.idp, p.ACS, p.RequestID, status, message, s.now(), signer)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "saml: error response", slog.String("sp", sp.EntityID),
		slog.String("status", status), slog.String("request_id", RequestID(r.Context())))
	s.samlPost(w, r, sp, p.ACS, "SAMLResponse", resp, p.RelayState)
}

// samlPost renders the HTTP-POST binding's page.
func (s *Server) samlPost(w http.ResponseWriter, r *http.Request, sp store.SAMLServiceProvider, action, name string, msg []byte, relay string) {
	d := ui.SAMLPostData{Action: action, MessageName: name, Message: base64.StdEncoding.EncodeToString(msg), RelayState: relay}
	d.ClientName = sp.Name
	if err := s.signin.pages().SAMLPost(w, r, d); err != nil {
		s.log.ErrorContext(r.Context(), "render saml post page", "error", err)
	}
}

// samlNameID returns the subject's NameID for an SP: persistent is
// pairwise (an HMAC of the user and the SP under a server key, so SPs
// cannot correlate users), transient is random, email is the user's
// verified address.
func (s *Server) samlNameID(u store.User, spEntityID, format string) (string, error) {
	switch format {
	case saml.NameIDPersistent:
		m := hmac.New(sha256.New, s.saml.nameIDKey)
		m.Write([]byte(u.ID))
		m.Write([]byte{0})
		m.Write([]byte(spEntityID))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
	case saml.NameIDTransient:
		return saml.NewID()
	case saml.NameIDEmail:
		if u.Email == "" || !u.EmailVerified {
			return "", errors.New("the user has no verified email address")
		}
		return u.Email, nil
	}
	return "", fmt.Errorf("NameID format %q is not offered", format)
}

// samlAttributes releases the user's claims that the SP's rules name.
func samlAttributes(u store.User, rules []store.SAMLAttributeRelease) []saml.Attribute {
	if len(rules) == 0 {
		return nil
	}
	scopes := []string{"profile", "email", "address", "phone"}
	for _, rule := range rules {
		scopes = append(scopes, rule.Claim)
	}
	claims := oidc.Release(u, scopes, nil, oidc.TargetUserInfo)
	var out []saml.Attribute
	for _, rule := range rules {
		v, ok := claims[rule.Claim]
		if !ok {
			continue
		}
		values := attributeValues(v)
		if len(values) == 0 {
			continue
		}
		out = append(out, saml.Attribute{Name: rule.Name, NameFormat: rule.NameFormat, FriendlyName: rule.FriendlyName, Values: values})
	}
	return out
}

// attributeValues turns a released claim into SAML string values: a
// string or number as itself, a boolean as true/false, an array of
// strings as one value each, other JSON as its text.
func attributeValues(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case bool:
		return []string{strconv.FormatBool(x)}
	case jwt.NumericDate:
		return []string{strconv.FormatInt(int64(x), 10)}
	case json.RawMessage:
		var list []string
		if json.Unmarshal(x, &list) == nil {
			return list
		}
		var str string
		if json.Unmarshal(x, &str) == nil {
			return []string{str}
		}
		return []string{string(x)}
	case map[string]any:
		if f, ok := x["formatted"].(string); ok {
			return []string{f}
		}
	}
	return nil
}

// handleSAMLSLO is the single logout service (SAML Profiles §4.4),
// SP-initiated, over both bindings: it checks the LogoutRequest, ends the
// browser's writ session when it is the session the SP names (with the
// OIDC back-channel logout of that session), and answers with a signed
// LogoutResponse at the SP's logout service.
func (s *Server) handleSAMLSLO(w http.ResponseWriter, r *http.Request) {
	m, ok := s.samlMessage(w, r, "SAMLRequest")
	if !ok {
		return
	}
	sp, ok := s.samlRequester(w, r, m)
	if !ok {
		return
	}
	// A LogoutRequest must be authenticated (SAML Profiles §4.4.4.1):
	// signed whenever the SP registered a signing key, even when its
	// AuthnRequests need not be, or anyone who knows a user's NameID (an
	// email address) could end their session from any page.
	req, err := saml.ParseLogoutRequest(m, saml.RequestPolicy{IdP: s.saml.idp, SP: spMetadata(sp),
		RequireSigned: sp.RequireSignedRequests || len(sp.SigningCerts) > 0, Now: s.now()})
	if err != nil {
		s.samlRefused(w, r, sp.EntityID, err)
		return
	}
	if !s.samlBounced(w, r, "SAMLRequest") {
		return
	}
	who, ok := s.samlSession(w, r)
	if !ok {
		return
	}
	status := saml.StatusSuccess
	switch {
	case who == nil: // no session: nothing to end
	case !s.samlSessionMatches(who, sp.EntityID, req):
		// The browser's session is another principal's or another
		// session: it is not the SP's to end.
		status = saml.StatusRequester
	default:
		if err := s.endSession(w, r); err != nil {
			s.serverErrorPage(w, r, err)
			return
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "saml: signed out", slog.String("sp", sp.EntityID),
			slog.String("sid", who.sess.ID), slog.String("request_id", RequestID(r.Context())))
	}
	slo, found := sloEndpoint(sp)
	if !found {
		if err := s.signin.pages().LoggedOut(w, r, ui.LoggedOutData{}); err != nil {
			s.log.ErrorContext(r.Context(), "render logged-out page", "error", err)
		}
		return
	}
	_, signer, err := s.samlKeys()
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	post := slo.Binding == saml.BindingPOST
	resp, err := saml.BuildLogoutResponse(s.saml.idp, slo.Location, req.ID, status, s.now(), signer, post)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	if post {
		s.samlPost(w, r, sp, slo.Location, "SAMLResponse", resp, req.RelayState)
		return
	}
	target, err := saml.RedirectURL(slo.Location, "SAMLResponse", resp, req.RelayState, signer)
	if err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// samlSessionMatches reports whether a LogoutRequest names the browser's
// session: its session indexes (when given) include it, and its NameID is
// the one the SP knows the session's user by (persistent and email are
// recomputed; a transient one is matched by the session index alone).
func (s *Server) samlSessionMatches(who *samlSignedIn, spEntityID string, req *saml.LogoutRequest) bool {
	if len(req.SessionIndexes) > 0 && !slices.Contains(req.SessionIndexes, who.sess.ID) {
		return false
	}
	for _, f := range []string{saml.NameIDPersistent, saml.NameIDEmail} {
		if id, err := s.samlNameID(who.user, spEntityID, f); err == nil && hmac.Equal([]byte(id), []byte(req.NameID)) {
			return true
		}
	}
	return len(req.SessionIndexes) > 0
}

// sloEndpoint picks the SP's logout service: HTTP-Redirect first, then
// HTTP-POST.
func sloEndpoint(sp store.SAMLServiceProvider) (store.SAMLEndpoint, bool) {
	for _, b := range []string{saml.BindingRedirect, saml.BindingPOST} {
		for _, e := range sp.SLO {
			if e.Binding == b {
				return e, true
			}
		}
	}
	return store.SAMLEndpoint{}, false
}
