package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/saml"
	"github.com/writ-dev/writ/internal/store"
)

// PathSAMLServiceProviders is the collection of SAML 2.0 service
// providers; one is addressed by its entity ID, URL-escaped as one path
// segment.
const PathSAMLServiceProviders = "/admin/saml-sps"

// SAMLServiceProviderJSON is the JSON form of a store.SAMLServiceProvider.
// In requests, metadata (the SP's metadata XML) is required and the
// endpoints and certificates come from it; the other fields are writ's
// policy for the SP.
type SAMLServiceProviderJSON struct {
	EntityID              string              `json:"entity_id"`
	Name                  string              `json:"name,omitempty"`
	Metadata              string              `json:"metadata,omitempty"`
	ACS                   []SAMLEndpointJSON  `json:"acs"`
	SLO                   []SAMLEndpointJSON  `json:"slo"`
	SigningCertificates   []string            `json:"signing_certificates"`
	EncryptionCertificate []string            `json:"encryption_certificates"`
	NameIDFormat          string              `json:"name_id_format"`
	Attributes            []SAMLAttributeJSON `json:"attributes"`
	RequireSignedRequests bool                `json:"require_signed_requests"`
	SignResponse          bool                `json:"sign_response"`
	EncryptAssertions     bool                `json:"encrypt_assertions"`
	AllowIdPInitiated     bool                `json:"allow_idp_initiated"`
	CreatedAt             string              `json:"created_at,omitempty"`
	UpdatedAt             string              `json:"updated_at,omitempty"`
}

// SAMLEndpointJSON is an SP endpoint.
type SAMLEndpointJSON struct {
	Binding  string `json:"binding"`
	Location string `json:"location"`
	Index    int    `json:"index,omitempty"`
	Default  bool   `json:"default,omitempty"`
}

// SAMLAttributeJSON maps one user claim to one SAML attribute.
type SAMLAttributeJSON struct {
	Claim        string `json:"claim"`
	Name         string `json:"name"`
	NameFormat   string `json:"name_format,omitempty"`
	FriendlyName string `json:"friendly_name,omitempty"`
}

// SAMLServiceProvidersResponse is the body of GET /admin/saml-sps.
type SAMLServiceProvidersResponse struct {
	ServiceProviders []SAMLServiceProviderJSON `json:"service_providers"`
}

// samlFields are the members a registration body may set.
var samlFields = []string{"metadata", "name", "name_id_format", "attributes", "require_signed_requests",
	"sign_response", "encrypt_assertions", "allow_idp_initiated"}

// NameID format short names accepted in requests.
var nameIDShort = map[string]string{
	"persistent": saml.NameIDPersistent, "transient": saml.NameIDTransient, "email": saml.NameIDEmail,
}

func samlToJSON(sp store.SAMLServiceProvider) SAMLServiceProviderJSON {
	out := SAMLServiceProviderJSON{EntityID: sp.EntityID, Name: sp.Name, Metadata: string(sp.Metadata),
		ACS: []SAMLEndpointJSON{}, SLO: []SAMLEndpointJSON{}, SigningCertificates: []string{}, EncryptionCertificate: []string{},
		NameIDFormat: sp.NameIDFormat, Attributes: []SAMLAttributeJSON{},
		RequireSignedRequests: sp.RequireSignedRequests, SignResponse: sp.SignResponse,
		EncryptAssertions: sp.EncryptAssertions, AllowIdPInitiated: sp.AllowIdPInitiated}
	for _, e := range sp.ACS {
		out.ACS = append(out.ACS, SAMLEndpointJSON(e))
	}
	for _, e := range sp.SLO {
		out.SLO = append(out.SLO, SAMLEndpointJSON(e))
	}
	for _, c := range sp.SigningCerts {
		out.SigningCertificates = append(out.SigningCertificates, base64.StdEncoding.EncodeToString(c))
	}
	for _, c := range sp.EncryptionCerts {
		out.EncryptionCertificate = append(out.EncryptionCertificate, base64.StdEncoding.EncodeToString(c))
	}
	for _, a := range sp.Attributes {
		out.Attributes = append(out.Attributes, SAMLAttributeJSON(a))
	}
	if !sp.CreatedAt.IsZero() {
		out.CreatedAt = sp.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	if !sp.UpdatedAt.IsZero() {
		out.UpdatedAt = sp.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	return out
}

func (h *handler) checkSAMLStore() error {
	if h.samlSPs == nil {
		return apiErrorf(http.StatusServiceUnavailable, CodeServerError, "SAML service providers are not available: the server's store does not keep them")
	}
	return nil
}

func noSP(id string) *apiError {
	return apiErrorf(http.StatusNotFound, CodeNotFound, "no SAML service provider %q", clip(id, 128))
}

// decodeSAML decodes a registration body: the SP's metadata (parsed as
// hostile input: bounded, no DTD, endpoints checked like redirect URIs)
// and writ's policy for it.
func (h *handler) decodeSAML(body []byte) (store.SAMLServiceProvider, error) {
	fields, err := decodeMembers(body, badRequest, func(name string) error {
		return settable(badRequest, name, samlFields, func(name string) string {
			switch name {
			case "entity_id", "acs", "slo", "signing_certificates", "encryption_certificates":
				return "it comes from the metadata"
			case "created_at", "updated_at":
				return "the server sets it"
			}
			return ""
		})
	})
	if err != nil {
		return store.SAMLServiceProvider{}, err
	}
	var sp store.SAMLServiceProvider
	raw, ok := fields["metadata"]
	if !ok || isNull(raw) {
		return sp, badRequest("metadata is required: the service provider's SAML metadata (an md:EntityDescriptor) as a string")
	}
	var doc string
	if json.Unmarshal(raw, &doc) != nil {
		return sp, badRequest("metadata must be a string holding the XML document")
	}
	m, err := saml.ParseSPMetadata([]byte(doc), h.samlLoopbackHTTP)
	if err != nil {
		return sp, badRequest("%s", clip(strings.TrimPrefix(err.Error(), "saml: "), 300))
	}
	sp = store.SAMLServiceProvider{EntityID: m.EntityID, Metadata: []byte(doc), SigningCerts: m.SigningCerts,
		EncryptionCerts: m.EncryptionCerts, RequireSignedRequests: m.AuthnRequestsSigned}
	for _, e := range m.ACS {
		sp.ACS = append(sp.ACS, store.SAMLEndpoint(e))
	}
	for _, e := range m.SLO {
		sp.SLO = append(sp.SLO, store.SAMLEndpoint(e))
	}
	if raw, ok := fields["name"]; ok && !isNull(raw) {
		if sp.Name, err = decodeText(badRequest, "name", raw, 256, false); err != nil {
			return sp, err
		}
	}
	if raw, ok := fields["name_id_format"]; ok && !isNull(raw) {
		var f string
		if json.Unmarshal(raw, &f) != nil {
			return sp, badRequest("name_id_format must be a string")
		}
		if full, ok := nameIDShort[f]; ok {
			f = full
		}
		if !slices.Contains(saml.NameIDFormats(), f) {
			return sp, badRequest("name_id_format %q is not offered: persistent, transient or email", clip(f, 128))
		}
		sp.NameIDFormat = f
	} else {
		sp.NameIDFormat = saml.NameIDPersistent
		if i := slices.IndexFunc(m.NameIDFormats, func(f string) bool { return slices.Contains(saml.NameIDFormats(), f) }); i >= 0 {
			sp.NameIDFormat = m.NameIDFormats[i]
		}
	}
	if raw, ok := fields["attributes"]; ok && !isNull(raw) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var attrs []SAMLAttributeJSON
		if err := dec.Decode(&attrs); err != nil {
			return sp, badRequest("attributes must be an array of objects with claim, name, name_format and friendly_name")
		}
		if len(attrs) > 64 {
			return sp, badRequest("at most 64 attributes")
		}
		for i, a := range attrs {
			if a.Claim == "" || a.Name == "" {
				return sp, badRequest("attributes[%d] needs a claim and a name", i)
			}
			sp.Attributes = append(sp.Attributes, store.SAMLAttributeRelease(a))
		}
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"require_signed_requests", &sp.RequireSignedRequests}, {"sign_response", &sp.SignResponse},
		{"encrypt_assertions", &sp.EncryptAssertions}, {"allow_idp_initiated", &sp.AllowIdPInitiated}} {
		if raw, ok := fields[f.name]; ok && !isNull(raw) {
			if json.Unmarshal(raw, f.dst) != nil {
				return sp, badRequest("%s must be true or false", f.name)
			}
		}
	}
	if sp.RequireSignedRequests && len(sp.SigningCerts) == 0 {
		return sp, badRequest("require_signed_requests needs a signing certificate in the metadata")
	}
	if sp.EncryptAssertions && len(sp.EncryptionCerts) == 0 {
		return sp, badRequest("encrypt_assertions needs an RSA encryption certificate in the metadata")
	}
	return sp, nil
}

func (h *handler) samlTarget(r *http.Request) (string, error) {
	if err := h.checkSAMLStore(); err != nil {
		return "", err
	}
	id := r.PathValue("entity_id")
	if store.CheckSAMLEntityID(id) != nil {
		return "", noSP(id)
	}
	return id, nil
}

func (h *handler) samlError(ctx context.Context, op, id string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return noSP(id)
	case errors.Is(err, store.ErrAlreadyExists):
		return apiErrorf(http.StatusConflict, CodeConflict, "SAML service provider %q is already registered; PUT replaces it", clip(id, 128))
	case errors.Is(err, store.ErrInvalid):
		return badRequest("the service provider cannot be stored: %s", invalidReason(err))
	}
	return h.storeFailure(ctx, op, "entity_id", id, err)
}

// createSAML serves POST /admin/saml-sps (409 when it exists).
func (h *handler) createSAML(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkSAMLStore(); err != nil {
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	sp, err := h.decodeSAML(body)
	if err != nil {
		return err
	}
	now := h.clock()
	sp.CreatedAt, sp.UpdatedAt = now, now
	// One statement decides: of two registrations of one entity ID at
	// once, the second is a conflict, never a silent replacement.
	if err := h.samlSPs.CreateSAMLServiceProvider(ctx, sp); err != nil {
		return h.samlError(ctx, "create saml sp", sp.EntityID, err)
	}
	h.log.InfoContext(ctx, "admin: SAML service provider registered", "entity_id", clip(sp.EntityID, 128), "acs", len(sp.ACS))
	w.Header().Set("Location", PathSAMLServiceProviders+"/"+url.PathEscape(sp.EntityID))
	writeJSON(w, http.StatusCreated, samlToJSON(sp))
	return nil
}

// putSAML serves PUT /admin/saml-sps/{entity_id}: replaces the
// registration (404 when there is none); the metadata must be the SP's.
func (h *handler) putSAML(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.samlTarget(r)
	if err != nil {
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	sp, err := h.decodeSAML(body)
	if err != nil {
		return err
	}
	if sp.EntityID != id {
		return badRequest("the metadata's entityID %q is not the one in the path", clip(sp.EntityID, 128))
	}
	// Read and replaced in one transaction: a registration deleted
	// meanwhile stays deleted (404).
	sp, err = h.samlSPs.UpdateSAMLServiceProvider(ctx, id, func(old store.SAMLServiceProvider) (store.SAMLServiceProvider, error) {
		sp.CreatedAt, sp.UpdatedAt = old.CreatedAt, h.clock()
		return sp, nil
	})
	if err != nil {
		return h.samlError(ctx, "replace saml sp", id, err)
	}
	h.log.InfoContext(ctx, "admin: SAML service provider replaced", "entity_id", clip(id, 128))
	writeJSON(w, http.StatusOK, samlToJSON(sp))
	return nil
}

// listSAML serves GET /admin/saml-sps.
func (h *handler) listSAML(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkSAMLStore(); err != nil {
		return err
	}
	list, err := h.samlSPs.ListSAMLServiceProviders(ctx)
	if err != nil {
		return h.samlError(ctx, "list saml sps", "", err)
	}
	resp := SAMLServiceProvidersResponse{ServiceProviders: make([]SAMLServiceProviderJSON, 0, len(list))}
	for _, sp := range list {
		resp.ServiceProviders = append(resp.ServiceProviders, samlToJSON(sp))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getSAML serves GET /admin/saml-sps/{entity_id}.
func (h *handler) getSAML(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.samlTarget(r)
	if err != nil {
		return err
	}
	sp, err := h.samlSPs.GetSAMLServiceProvider(ctx, id)
	if err != nil {
		return h.samlError(ctx, "get saml sp", id, err)
	}
	writeJSON(w, http.StatusOK, samlToJSON(sp))
	return nil
}

// deleteSAML serves DELETE /admin/saml-sps/{entity_id}.
func (h *handler) deleteSAML(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.samlTarget(r)
	if err != nil {
		return err
	}
	if err := h.samlSPs.DeleteSAMLServiceProvider(ctx, id); err != nil {
		return h.samlError(ctx, "delete saml sp", id, err)
	}
	h.log.InfoContext(ctx, "admin: SAML service provider deleted", "entity_id", clip(id, 128))
	writeNoContent(w)
	return nil
}
