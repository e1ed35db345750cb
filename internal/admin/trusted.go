package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/trust"
	"github.com/writ-dev/writ/jose"
)

// PathTrustedIssuers is the collection of trusted external issuers; one is
// addressed by its issuer identifier, URL-escaped as one path segment
// (/admin/trusted-issuers/https:%2F%2Fidp.example).
const PathTrustedIssuers = "/admin/trusted-issuers"

// Bounds of a trusted issuer registration.
const (
	MaxTrustRules     = 100
	maxRuleListLength = 100
)

// TrustedIssuerJSON is the JSON form of a store.TrustedIssuer, in requests
// and responses. Exactly one of JWKS and JWKSURI is set.
type TrustedIssuerJSON struct {
	Issuer    string          `json:"issuer"`
	JWKS      json.RawMessage `json:"jwks,omitempty"`
	JWKSURI   string          `json:"jwks_uri,omitempty"`
	Uses      []string        `json:"uses"`
	Rules     []TrustRuleJSON `json:"rules"`
	CreatedAt string          `json:"created_at,omitempty"`
	UpdatedAt string          `json:"updated_at,omitempty"`
}

// TrustRuleJSON is the JSON form of a store.TrustRule.
type TrustRuleJSON struct {
	ClientID  string   `json:"client_id"`
	Audiences []string `json:"audiences,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
}

// TrustedIssuersResponse is the body of GET /admin/trusted-issuers.
type TrustedIssuersResponse struct {
	TrustedIssuers []TrustedIssuerJSON `json:"trusted_issuers"`
}

var trustedFields = []string{"issuer", "jwks", "jwks_uri", "uses", "rules"}

func trustedToJSON(t store.TrustedIssuer) TrustedIssuerJSON {
	out := TrustedIssuerJSON{Issuer: t.Issuer, JWKSURI: t.JWKSURI, Uses: t.Uses, Rules: make([]TrustRuleJSON, 0, len(t.Rules))}
	if len(t.JWKS) > 0 {
		out.JWKS = json.RawMessage(t.JWKS)
	}
	if out.Uses == nil {
		out.Uses = []string{}
	}
	for _, r := range t.Rules {
		out.Rules = append(out.Rules, TrustRuleJSON{ClientID: r.ClientID, Audiences: r.Audiences, Scopes: r.Scopes})
	}
	if !t.CreatedAt.IsZero() {
		out.CreatedAt = t.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	if !t.UpdatedAt.IsZero() {
		out.UpdatedAt = t.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	return out
}

// checkTrustStore fails when the server keeps no trusted issuers.
func (h *handler) checkTrustStore() error {
	if h.trusted == nil {
		return apiErrorf(http.StatusServiceUnavailable, CodeServerError, "trusted issuers are not available: the server's store does not keep them")
	}
	return nil
}

func noIssuer(iss string) *apiError {
	return apiErrorf(http.StatusNotFound, CodeNotFound, "no trusted issuer %q", clip(iss, 128))
}

// decodeTrusted decodes and validates a registration body: strict JSON,
// known fields only, exactly one of jwks and jwks_uri, a public key set of
// asymmetric keys, known uses, well-formed rules.
func decodeTrusted(body []byte) (store.TrustedIssuer, error) {
	fields, err := decodeMembers(body, badRequest, func(name string) error {
		return settable(badRequest, name, trustedFields, func(name string) string {
			if name == "created_at" || name == "updated_at" {
				return "the server sets it"
			}
			return ""
		})
	})
	if err != nil {
		return store.TrustedIssuer{}, err
	}
	var t store.TrustedIssuer
	if raw, ok := fields["issuer"]; ok {
		if t.Issuer, err = decodeText(badRequest, "issuer", raw, trust.MaxIssuerLength, false); err != nil {
			return t, err
		}
	}
	if err := checkIssuerID(t.Issuer); err != nil {
		return t, err
	}
	if raw, ok := fields["jwks"]; ok && !isNull(raw) {
		if err := checkJWKS(raw); err != nil {
			return t, err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return t, badRequest("jwks is not valid JSON")
		}
		t.JWKS = compact.Bytes()
	}
	if raw, ok := fields["jwks_uri"]; ok && !isNull(raw) {
		if t.JWKSURI, err = decodeText(badRequest, "jwks_uri", raw, 2048, false); err != nil {
			return t, err
		}
		if err := trust.CheckJWKSURI(t.JWKSURI, false); err != nil {
			return t, badRequest("jwks_uri must be an absolute https URL (http only on a loopback host), without user information or fragment")
		}
	}
	if (len(t.JWKS) > 0) == (t.JWKSURI != "") {
		return t, badRequest("set exactly one of jwks (the issuer's public keys) and jwks_uri (where it publishes them)")
	}
	if raw, ok := fields["uses"]; ok {
		if err := json.Unmarshal(raw, &t.Uses); err != nil {
			return t, badRequest("uses must be an array of strings")
		}
	}
	known := []string{store.TrustJWTBearer, store.TrustIDJAG, store.TrustSubjectToken}
	if len(t.Uses) == 0 {
		return t, badRequest("uses must name at least one of: %s", strings.Join(known, ", "))
	}
	for i, u := range t.Uses {
		if !slices.Contains(known, u) {
			return t, badRequest("uses[%d] %q is unknown; known uses: %s", i, clip(u, 64), strings.Join(known, ", "))
		}
		if slices.Contains(t.Uses[:i], u) {
			return t, badRequest("uses repeats %q", u)
		}
	}
	if raw, ok := fields["rules"]; ok && !isNull(raw) {
		if t.Rules, err = decodeRules(raw); err != nil {
			return t, err
		}
	}
	return t, nil
}

func checkIssuerID(iss string) error {
	if iss == "" {
		return badRequest("issuer is required: the exact iss of the issuer's tokens")
	}
	u, err := url.Parse(iss)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.HasSuffix(iss, "#") {
		return badRequest("issuer must be an absolute URI without a fragment")
	}
	return nil
}

// checkJWKS accepts a JWK Set of public asymmetric signature keys.
func checkJWKS(raw json.RawMessage) error {
	ks, err := jose.ParseKeySet(raw)
	if err != nil {
		return badRequest("jwks is not a valid JWK Set: %s", clip(strings.TrimPrefix(err.Error(), "jose: "), 200))
	}
	if ks.Len() == 0 {
		return badRequest("jwks holds no usable key")
	}
	for i, k := range ks.Keys() {
		if k.IsPrivate() {
			return badRequest("jwks key %d holds private key material; register the public keys only", i)
		}
		if !slices.Contains(trust.Algorithms(), k.Algorithm()) {
			return badRequest("jwks key %d has algorithm %s; only asymmetric signature algorithms are accepted", i, k.Algorithm())
		}
	}
	return nil
}

func decodeRules(raw json.RawMessage) ([]store.TrustRule, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var rules []TrustRuleJSON
	if err := dec.Decode(&rules); err != nil {
		return nil, badRequest("rules must be an array of objects with client_id, audiences and scopes")
	}
	if len(rules) > MaxTrustRules {
		return nil, badRequest("at most %d rules", MaxTrustRules)
	}
	out := make([]store.TrustRule, 0, len(rules))
	for i, r := range rules {
		if r.ClientID != "*" {
			if err := store.CheckID("client_id", r.ClientID); err != nil {
				return nil, badRequest("rules[%d].client_id must be a client_id or \"*\"", i)
			}
		}
		if len(r.Audiences) > maxRuleListLength || len(r.Scopes) > maxRuleListLength {
			return nil, badRequest("rules[%d] lists more than %d audiences or scopes", i, maxRuleListLength)
		}
		for _, a := range r.Audiences {
			u, err := url.Parse(a)
			if err != nil || !u.IsAbs() || u.Fragment != "" || len(a) > 2048 || strings.HasSuffix(a, "#") {
				return nil, badRequest("rules[%d].audiences: %q is not an absolute URI without a fragment", i, clip(a, 128))
			}
		}
		for _, sc := range r.Scopes {
			if p, err := oauth.ParseScope(sc); err != nil || len(p) != 1 {
				return nil, badRequest("rules[%d].scopes are not valid, distinct scope tokens", i)
			}
		}
		if len(r.Scopes) > 0 {
			if _, err := oauth.ParseScope(strings.Join(r.Scopes, " ")); err != nil {
				return nil, badRequest("rules[%d].scopes are not valid, distinct scope tokens", i)
			}
		}
		out = append(out, store.TrustRule{ClientID: r.ClientID, Audiences: r.Audiences, Scopes: r.Scopes})
	}
	return out, nil
}

// trustedTarget returns the {issuer} of the route.
func (h *handler) trustedTarget(r *http.Request) (string, error) {
	if err := h.checkTrustStore(); err != nil {
		return "", err
	}
	iss := r.PathValue("issuer")
	if iss == "" || len(iss) > trust.MaxIssuerLength {
		return "", noIssuer(iss)
	}
	return iss, nil
}

// trustedError maps a store failure of the trusted issuer routes.
func (h *handler) trustedError(ctx context.Context, op, iss string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return noIssuer(iss)
	case errors.Is(err, store.ErrAlreadyExists):
		return apiErrorf(http.StatusConflict, CodeConflict, "trusted issuer %q is already registered; PUT replaces it", clip(iss, 128))
	case errors.Is(err, store.ErrInvalid):
		return badRequest("the trusted issuer cannot be stored: %s", invalidReason(err))
	}
	return h.storeFailure(ctx, op, "issuer", iss, err)
}

func (h *handler) invalidateTrusted(iss string) {
	if h.trustCache != nil {
		h.trustCache.Invalidate(iss)
	}
}

// createTrusted serves POST /admin/trusted-issuers (409 when it exists).
func (h *handler) createTrusted(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkTrustStore(); err != nil {
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	t, err := decodeTrusted(body)
	if err != nil {
		return err
	}
	now := h.clock()
	t.CreatedAt, t.UpdatedAt = now, now
	// One statement decides: of two registrations of one issuer at once,
	// the second is a conflict, never a silent replacement.
	if err := h.trusted.CreateTrustedIssuer(ctx, t); err != nil {
		return h.trustedError(ctx, "create trusted issuer", t.Issuer, err)
	}
	h.invalidateTrusted(t.Issuer)
	h.log.InfoContext(ctx, "admin: trusted issuer registered", "issuer", clip(t.Issuer, 128), "uses", t.Uses, "rules", len(t.Rules))
	w.Header().Set("Location", PathTrustedIssuers+"/"+url.PathEscape(t.Issuer))
	writeJSON(w, http.StatusCreated, trustedToJSON(t))
	return nil
}

// putTrusted serves PUT /admin/trusted-issuers/{issuer}: replaces the
// registration (404 when there is none; the body's issuer, when given,
// must be the path's).
func (h *handler) putTrusted(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	iss, err := h.trustedTarget(r)
	if err != nil {
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	// The path names the issuer; the body may repeat it.
	fields, err := decodeMembers(body, badRequest, func(string) error { return nil })
	if err != nil {
		return err
	}
	if raw, ok := fields["issuer"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil || s != iss {
			return badRequest("the body's issuer must be the one in the path")
		}
	} else {
		fields["issuer"], _ = json.Marshal(iss)
	}
	merged, _ := json.Marshal(fields)
	t, err := decodeTrusted(merged)
	if err != nil {
		return err
	}
	// Read and replaced in one transaction: an issuer deleted meanwhile
	// stays deleted (404), and UpdatedAt grows past the value replaced.
	t, err = h.trusted.UpdateTrustedIssuer(ctx, iss, func(old store.TrustedIssuer) (store.TrustedIssuer, error) {
		t.CreatedAt, t.UpdatedAt = old.CreatedAt, h.clock()
		if !t.UpdatedAt.After(old.UpdatedAt) {
			// UpdatedAt is how verifiers notice the change.
			t.UpdatedAt = old.UpdatedAt.Add(store.TimePrecision)
		}
		return t, nil
	})
	if err != nil {
		return h.trustedError(ctx, "replace trusted issuer", iss, err)
	}
	h.invalidateTrusted(iss)
	h.log.InfoContext(ctx, "admin: trusted issuer replaced", "issuer", clip(iss, 128), "uses", t.Uses, "rules", len(t.Rules))
	writeJSON(w, http.StatusOK, trustedToJSON(t))
	return nil
}

// listTrusted serves GET /admin/trusted-issuers.
func (h *handler) listTrusted(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkTrustStore(); err != nil {
		return err
	}
	list, err := h.trusted.ListTrustedIssuers(ctx)
	if err != nil {
		return h.trustedError(ctx, "list trusted issuers", "", err)
	}
	resp := TrustedIssuersResponse{TrustedIssuers: make([]TrustedIssuerJSON, 0, len(list))}
	for _, t := range list {
		resp.TrustedIssuers = append(resp.TrustedIssuers, trustedToJSON(t))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getTrusted serves GET /admin/trusted-issuers/{issuer}.
func (h *handler) getTrusted(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	iss, err := h.trustedTarget(r)
	if err != nil {
		return err
	}
	t, err := h.trusted.GetTrustedIssuer(ctx, iss)
	if err != nil {
		return h.trustedError(ctx, "get trusted issuer", iss, err)
	}
	writeJSON(w, http.StatusOK, trustedToJSON(t))
	return nil
}

// deleteTrusted serves DELETE /admin/trusted-issuers/{issuer}.
func (h *handler) deleteTrusted(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	iss, err := h.trustedTarget(r)
	if err != nil {
		return err
	}
	if err := h.trusted.DeleteTrustedIssuer(ctx, iss); err != nil {
		return h.trustedError(ctx, "delete trusted issuer", iss, err)
	}
	h.invalidateTrusted(iss)
	h.log.InfoContext(ctx, "admin: trusted issuer deleted", "issuer", clip(iss, 128))
	writeNoContent(w)
	return nil
}
