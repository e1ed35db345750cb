package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// SAMLServiceProvider is a SAML 2.0 service provider registered with writ
// (the IdP), from its metadata plus writ's release policy.
type SAMLServiceProvider struct {
	// EntityID is the SP's entity ID; the key.
	EntityID string
	// Name is a human-readable name shown on the sign-in pages.
	Name string
	// Metadata is the SP's metadata document as registered, kept so that
	// the record can be re-derived and shown.
	Metadata []byte
	// ACS are its assertion consumer services.
	ACS []SAMLEndpoint
	// SLO are its single logout services.
	SLO []SAMLEndpoint
	// SigningCerts are DER certificates of the keys that sign its
	// requests.
	SigningCerts [][]byte
	// EncryptionCerts are DER certificates of the RSA keys assertions may
	// be encrypted to.
	EncryptionCerts [][]byte
	// NameIDFormat is the NameID format writ issues when the request names
	// none (a SAML URN: persistent, transient or emailAddress).
	NameIDFormat string
	// Attributes say which user claims become which SAML attributes.
	Attributes []SAMLAttributeRelease
	// RequireSignedRequests refuses unsigned AuthnRequests and
	// LogoutRequests.
	RequireSignedRequests bool
	// SignResponse signs the Response as well as the Assertion.
	SignResponse bool
	// EncryptAssertions encrypts assertions to the first encryption
	// certificate.
	EncryptAssertions bool
	// AllowIdPInitiated allows unsolicited responses (IdP-initiated SSO).
	AllowIdPInitiated bool
	// CreatedAt is when it was registered.
	CreatedAt time.Time
	// UpdatedAt is when it last changed.
	UpdatedAt time.Time
}

// SAMLEndpoint is an assertion consumer or single logout service.
type SAMLEndpoint struct {
	// Binding is the SAML binding URN.
	Binding string
	// Location is the endpoint's URL.
	Location string
	// Index is the ACS index.
	Index int
	// Default marks the default ACS.
	Default bool
}

// SAMLAttributeRelease maps one user claim to one SAML attribute.
type SAMLAttributeRelease struct {
	// Claim is the OIDC claim name (email, name, groups, …).
	Claim string
	// Name is the SAML attribute's Name.
	Name string
	// NameFormat is the attribute's NameFormat URN, or empty.
	NameFormat string
	// FriendlyName is an optional display name.
	FriendlyName string
}

// SAMLStore keeps the registered SAML service providers.
type SAMLStore interface {
	// PutSAMLServiceProvider creates or replaces an SP (CreatedAt kept).
	PutSAMLServiceProvider(ctx context.Context, sp SAMLServiceProvider) error
	// CreateSAMLServiceProvider stores a new SP, or returns
	// ErrAlreadyExists (leaving the stored one as it was).
	CreateSAMLServiceProvider(ctx context.Context, sp SAMLServiceProvider) error
	// UpdateSAMLServiceProvider replaces the SP entityID with what fn
	// makes of it, in one transaction, and returns what was stored;
	// ErrNotFound when there is none, fn's error (nothing written), or
	// ErrInvalid when fn changes the entity ID.
	UpdateSAMLServiceProvider(ctx context.Context, entityID string, fn func(old SAMLServiceProvider) (SAMLServiceProvider, error)) (SAMLServiceProvider, error)
	// GetSAMLServiceProvider returns one SP, or ErrNotFound.
	GetSAMLServiceProvider(ctx context.Context, entityID string) (SAMLServiceProvider, error)
	// ListSAMLServiceProviders returns them all, ordered by EntityID.
	ListSAMLServiceProviders(ctx context.Context) ([]SAMLServiceProvider, error)
	// DeleteSAMLServiceProvider removes one, or returns ErrNotFound.
	DeleteSAMLServiceProvider(ctx context.Context, entityID string) error
}

// Bounds of an SP record.
const (
	// MaxSAMLMetadataSize bounds SAMLServiceProvider.Metadata.
	MaxSAMLMetadataSize = 256 << 10
	maxSAMLEndpoints    = 16
	maxSAMLCerts        = 4
	maxSAMLCertSize     = 16 << 10
	maxSAMLAttributes   = 64
)

// Validate reports an error wrapping ErrInvalid unless sp can be stored.
func (sp SAMLServiceProvider) Validate() error {
	if err := CheckSAMLEntityID(sp.EntityID); err != nil {
		return err
	}
	if err := checkBoundedText("name", sp.Name, 256); err != nil {
		return err
	}
	if err := checkBoundedText("NameID format", sp.NameIDFormat, 256); err != nil {
		return err
	}
	if len(sp.Metadata) > MaxSAMLMetadataSize {
		return invalid("metadata", fmt.Sprintf("is larger than %d bytes", MaxSAMLMetadataSize))
	}
	if len(sp.ACS) == 0 || len(sp.ACS) > maxSAMLEndpoints || len(sp.SLO) > maxSAMLEndpoints {
		return invalid("endpoints", fmt.Sprintf("want 1 to %d assertion consumer services and at most %d logout services", maxSAMLEndpoints, maxSAMLEndpoints))
	}
	for i, e := range slices.Concat(sp.ACS, sp.SLO) {
		if err := checkBoundedText(fmt.Sprintf("endpoint %d binding", i), e.Binding, 256); err != nil {
			return err
		}
		if err := checkBoundedText(fmt.Sprintf("endpoint %d location", i), e.Location, MaxURILength); err != nil {
			return err
		}
	}
	if len(sp.SigningCerts) > maxSAMLCerts || len(sp.EncryptionCerts) > maxSAMLCerts {
		return invalid("certificates", fmt.Sprintf("more than %d", maxSAMLCerts))
	}
	for _, c := range slices.Concat(sp.SigningCerts, sp.EncryptionCerts) {
		if len(c) == 0 || len(c) > maxSAMLCertSize {
			return invalid("certificates", "one is empty or too large")
		}
	}
	if sp.EncryptAssertions && len(sp.EncryptionCerts) == 0 {
		return invalid("encryption", "assertions are to be encrypted but no encryption certificate is registered")
	}
	if len(sp.Attributes) > maxSAMLAttributes {
		return invalid("attributes", fmt.Sprintf("more than %d", maxSAMLAttributes))
	}
	for i, a := range sp.Attributes {
		for _, f := range []struct{ name, v string }{{"claim", a.Claim}, {"name", a.Name}, {"name format", a.NameFormat}, {"friendly name", a.FriendlyName}} {
			if err := checkBoundedText(fmt.Sprintf("attributes[%d] %s", i, f.name), f.v, 256); err != nil {
				return err
			}
		}
		if a.Claim == "" || a.Name == "" {
			return invalid(fmt.Sprintf("attributes[%d]", i), "needs a claim and a name")
		}
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"creation time", sp.CreatedAt}, {"update time", sp.UpdatedAt}} {
		if err := CheckTime(f.name, f.t); err != nil {
			return err
		}
	}
	return nil
}

// CheckSAMLEntityID reports an error wrapping ErrInvalid unless id can be
// an SP's entity ID: 1 to 1024 bytes of valid UTF-8 without NUL. Backends
// answer ErrNotFound for lookups of IDs that fail it.
func CheckSAMLEntityID(id string) error {
	if id == "" {
		return invalid("entity ID", "is empty")
	}
	return checkBoundedText("entity ID", id, 1024)
}
