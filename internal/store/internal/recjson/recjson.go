// Package recjson is the JSON form, written once for both backends, of the
// records a store keeps as a JSON column: a client's agent and exchange
// policies and a trusted issuer's rules. The stored names are fixed here
// (snake_case), not derived from the Go field names, so renaming a field
// never makes stored data unreadable; durations are nanoseconds. Decoding
// is strict: an unknown member, trailing data or a wrong type is an error.
package recjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

type agent struct {
	Owner        string `json:"owner"`
	MaxTokenTTL  int64  `json:"max_token_ttl"`
	AllowRefresh bool   `json:"allow_refresh,omitempty"`
	RequireDPoP  bool   `json:"require_dpop,omitempty"`
}

type exchange struct {
	SubjectIssuers   []string `json:"subject_issuers,omitempty"`
	SubjectAudiences []string `json:"subject_audiences,omitempty"`
	Actors           []string `json:"actors,omitempty"`
	MaxChain         int      `json:"max_chain,omitempty"`
	Impersonation    bool     `json:"impersonation,omitempty"`
	RefreshTokens    bool     `json:"refresh_tokens,omitempty"`
	IDJAGAudiences   []string `json:"id_jag_audiences,omitempty"`
}

type tlsClientAuth struct {
	SubjectDN string `json:"subject_dn,omitempty"`
	SANDNS    string `json:"san_dns,omitempty"`
	SANURI    string `json:"san_uri,omitempty"`
	SANIP     string `json:"san_ip,omitempty"`
	SANEmail  string `json:"san_email,omitempty"`
}

type rule struct {
	ClientID  string   `json:"client_id"`
	Audiences []string `json:"audiences,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
}

// decode unmarshals b into v strictly: unknown members, trailing data and
// type mismatches are errors.
func decode(what string, b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode %s: trailing data", what)
	}
	return nil
}

func encode(what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return b, nil
}

// nonEmpty reads an empty list back as nil.
func nonEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// EncodeAgent returns the JSON form of a, or nil for nil.
func EncodeAgent(a *store.AgentPolicy) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	return encode("agent policy", agent{Owner: a.Owner, MaxTokenTTL: int64(a.MaxTokenTTL),
		AllowRefresh: a.AllowRefresh, RequireDPoP: a.RequireDPoP})
}

// DecodeAgent reads EncodeAgent's form back; nil or empty is nil.
func DecodeAgent(b []byte) (*store.AgentPolicy, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var a agent
	if err := decode("agent policy", b, &a); err != nil {
		return nil, err
	}
	return &store.AgentPolicy{Owner: a.Owner, MaxTokenTTL: time.Duration(a.MaxTokenTTL),
		AllowRefresh: a.AllowRefresh, RequireDPoP: a.RequireDPoP}, nil
}

// EncodeExchange returns the JSON form of e, or nil for nil.
func EncodeExchange(e *store.ExchangePolicy) ([]byte, error) {
	if e == nil {
		return nil, nil
	}
	return encode("exchange policy", exchange{
		SubjectIssuers: e.SubjectIssuers, SubjectAudiences: e.SubjectAudiences, Actors: e.Actors,
		MaxChain: e.MaxChain, Impersonation: e.Impersonation, RefreshTokens: e.RefreshTokens,
		IDJAGAudiences: e.IDJAGAudiences,
	})
}

// DecodeExchange reads EncodeExchange's form back; nil or empty is nil.
func DecodeExchange(b []byte) (*store.ExchangePolicy, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var e exchange
	if err := decode("exchange policy", b, &e); err != nil {
		return nil, err
	}
	return &store.ExchangePolicy{
		SubjectIssuers: nonEmpty(e.SubjectIssuers), SubjectAudiences: nonEmpty(e.SubjectAudiences),
		Actors: nonEmpty(e.Actors), MaxChain: e.MaxChain, Impersonation: e.Impersonation,
		RefreshTokens: e.RefreshTokens, IDJAGAudiences: nonEmpty(e.IDJAGAudiences),
	}, nil
}

// EncodeTLSClientAuth returns the JSON form of a, or nil for nil.
func EncodeTLSClientAuth(a *store.TLSClientAuth) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	return encode("tls client auth", tlsClientAuth(*a))
}

// DecodeTLSClientAuth reads EncodeTLSClientAuth's form back; nil or empty
// is nil.
func DecodeTLSClientAuth(b []byte) (*store.TLSClientAuth, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var a tlsClientAuth
	if err := decode("tls client auth", b, &a); err != nil {
		return nil, err
	}
	out := store.TLSClientAuth(a)
	return &out, nil
}

// EncodeRules returns the JSON form of rules (an array, [] for none).
func EncodeRules(rules []store.TrustRule) ([]byte, error) {
	out := make([]rule, len(rules))
	for i, r := range rules {
		out[i] = rule{ClientID: r.ClientID, Audiences: r.Audiences, Scopes: r.Scopes}
	}
	return encode("trust rules", out)
}

// DecodeRules reads EncodeRules's form back; none is nil.
func DecodeRules(b []byte) ([]store.TrustRule, error) {
	var in []rule
	if err := decode("trust rules", b, &in); err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]store.TrustRule, len(in))
	for i, r := range in {
		out[i] = store.TrustRule{ClientID: r.ClientID, Audiences: nonEmpty(r.Audiences), Scopes: nonEmpty(r.Scopes)}
	}
	return out, nil
}

type samlEndpoint struct {
	Binding  string `json:"binding"`
	Location string `json:"location"`
	Index    int    `json:"index,omitempty"`
	Default  bool   `json:"default,omitempty"`
}

type samlAttribute struct {
	Claim        string `json:"claim"`
	Name         string `json:"name"`
	NameFormat   string `json:"name_format,omitempty"`
	FriendlyName string `json:"friendly_name,omitempty"`
}

type samlConfig struct {
	ACS                   []samlEndpoint  `json:"acs"`
	SLO                   []samlEndpoint  `json:"slo,omitempty"`
	SigningCerts          [][]byte        `json:"signing_certs,omitempty"`
	EncryptionCerts       [][]byte        `json:"encryption_certs,omitempty"`
	NameIDFormat          string          `json:"name_id_format,omitempty"`
	Attributes            []samlAttribute `json:"attributes,omitempty"`
	RequireSignedRequests bool            `json:"require_signed_requests,omitempty"`
	SignResponse          bool            `json:"sign_response,omitempty"`
	EncryptAssertions     bool            `json:"encrypt_assertions,omitempty"`
	AllowIdPInitiated     bool            `json:"allow_idp_initiated,omitempty"`
}

// EncodeSAMLConfig returns the JSON form of an SP's configuration: every
// field but the entity ID, name, metadata and times, which have columns.
func EncodeSAMLConfig(sp store.SAMLServiceProvider) ([]byte, error) {
	c := samlConfig{
		SigningCerts: sp.SigningCerts, EncryptionCerts: sp.EncryptionCerts, NameIDFormat: sp.NameIDFormat,
		RequireSignedRequests: sp.RequireSignedRequests, SignResponse: sp.SignResponse,
		EncryptAssertions: sp.EncryptAssertions, AllowIdPInitiated: sp.AllowIdPInitiated,
	}
	for _, e := range sp.ACS {
		c.ACS = append(c.ACS, samlEndpoint(e))
	}
	for _, e := range sp.SLO {
		c.SLO = append(c.SLO, samlEndpoint(e))
	}
	for _, a := range sp.Attributes {
		c.Attributes = append(c.Attributes, samlAttribute(a))
	}
	return encode("saml service provider", c)
}

// DecodeSAMLConfig reads EncodeSAMLConfig's form back into sp.
func DecodeSAMLConfig(b []byte, sp *store.SAMLServiceProvider) error {
	var c samlConfig
	if err := decode("saml service provider", b, &c); err != nil {
		return err
	}
	sp.ACS, sp.SLO, sp.Attributes = nil, nil, nil
	for _, e := range c.ACS {
		sp.ACS = append(sp.ACS, store.SAMLEndpoint(e))
	}
	for _, e := range c.SLO {
		sp.SLO = append(sp.SLO, store.SAMLEndpoint(e))
	}
	for _, a := range c.Attributes {
		sp.Attributes = append(sp.Attributes, store.SAMLAttributeRelease(a))
	}
	sp.SigningCerts, sp.EncryptionCerts, sp.NameIDFormat = c.SigningCerts, c.EncryptionCerts, c.NameIDFormat
	sp.RequireSignedRequests, sp.SignResponse = c.RequireSignedRequests, c.SignResponse
	sp.EncryptAssertions, sp.AllowIdPInitiated = c.EncryptAssertions, c.AllowIdPInitiated
	return nil
}
