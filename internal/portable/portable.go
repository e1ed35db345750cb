// Package portable moves a writ deployment's lasting records between
// stores, whatever their backend: Export writes clients (their agent and
// token exchange policies included), users (password hashes included:
// they are argon2id hashes), consents, trusted issuers and the signing key
// ring as one JSON document; Import reads it into another store.
//
// The key ring stays sealed under the master key, as it is in the store,
// and client secrets stay keyed hashes under a subkey of it: the document
// carries a check value of the master key (an HMAC under a subkey of its
// own, which reveals nothing of the key), and Import refuses a store
// opened with another master key before writing anything.
//
// The unexpired revocations of JWT access tokens (revoked jti) are
// exported too, so that a revoked token stays revoked after the move.
//
// What is not exported: short-lived state (sessions, authorization
// codes, refresh tokens, opaque access tokens, device codes, replay ids)
// and the delegation records and audit trail, which belong to
// the store they were written in. Users sign in again; clients ask for new
// tokens; JWT access tokens already issued keep verifying, since the keys
// move.
//
// # The document
//
//	{"format":"writ-export","version":1,"exported_at":"...",
//	 "schema_version":10,"master_key_check":"<base64url>",
//	 "key_ring":{...the sealed key ring...} | null,
//	 "clients":[...],"users":[...],"consents":[...],"trusted_issuers":[...],
//	 "revoked_jtis":[...]}
//
// Records are the internal/store records with their Go field names
// (durations in nanoseconds, byte strings in base64, times in RFC 3339).
// Reading is strict: at most MaxBytes, no duplicate member (case folded),
// no unknown member, no trailing data, every record valid for the store,
// no two records with one key, every consent naming a user and a client
// of the document or of the target store. The members holding raw JSON
// (User.Attributes values, TokenRecord-like Extra) are re-encoded
// compactly: their whitespace is not kept.
package portable

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
)

// Format is the value of Document.Format.
const Format = "writ-export"

// Version is the version of the document this package writes and reads.
const Version = 1

// DefaultMaxBytes bounds the document Import reads unless told otherwise.
const DefaultMaxBytes = 256 << 20

// maxDepth bounds the nesting of the document (user attributes are JSON).
const maxDepth = 64

// masterKeyCheckPurpose derives the subkey of the master key check value.
const masterKeyCheckPurpose = "portable/master-key-check/v1"

// Errors of Import. Each wraps the detail; test with errors.Is.
var (
	// ErrInvalidDocument reports a document that is malformed, too large,
	// of another format or version, or holds a record that cannot be
	// stored.
	ErrInvalidDocument = errors.New("portable: invalid export document")
	// ErrWrongMasterKey reports that the target store's master key is not
	// the one the document's keys and secrets were sealed and hashed with.
	ErrWrongMasterKey = errors.New("portable: the master key differs from the one of the exported store: import with the same master key (WRIT_MASTER_KEY, WRIT_MASTER_KEY_FILE or master_key_file)")
	// ErrConflict reports records of the document that exist in the target
	// store already, in ModeCreate.
	ErrConflict = errors.New("portable: records exist in the target store already (use --merge to keep them or --replace to overwrite them)")
	// ErrSchema reports a store whose schema is not this binary's.
	ErrSchema = errors.New("portable: the store's schema is not up to date (run `writ migrate`)")
)

// Document is the export document.
type Document struct {
	// Format is always Format.
	Format string `json:"format"`
	// Version is the document version, Version.
	Version int `json:"version"`
	// ExportedAt is when the document was written.
	ExportedAt time.Time `json:"exported_at"`
	// SchemaVersion is the highest migration of the exported store
	// (informative: records are read and written through the store API).
	SchemaVersion int `json:"schema_version"`
	// MasterKeyCheck identifies the master key of the exported store:
	// base64url of an HMAC-SHA-256 under a subkey derived for this use.
	MasterKeyCheck string `json:"master_key_check"`
	// KeyRing is the sealed signing key ring as the store keeps it, or
	// null when the store has none.
	KeyRing json.RawMessage `json:"key_ring"`
	// Clients are the client registrations, by ID.
	Clients []store.Client `json:"clients"`
	// Users are the user accounts, by ID.
	Users []store.User `json:"users"`
	// Consents are the users' consents, by user and client.
	Consents []store.Consent `json:"consents"`
	// TrustedIssuers are the external issuers writ trusts, by issuer.
	TrustedIssuers []store.TrustedIssuer `json:"trusted_issuers"`
	// RevokedJTIs are the unexpired revocations of JWT access tokens, by
	// jti: a token revoked at the exported store stays revoked.
	RevokedJTIs []store.RevokedJTI `json:"revoked_jtis"`
}

// Store is what Export and Import use of a store.
type Store interface {
	store.ClientStore
	store.UserStore
	store.ConsentStore
	store.TrustStore
	store.KeyStore
	store.TokenStore
	store.Migrator
}

// MasterKeyCheck returns the check value of mk written in documents.
func MasterKeyCheck(mk keys.MasterKey) (string, error) {
	k, err := mk.DeriveKey(masterKeyCheckPurpose)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte("writ export master key check"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// Counts says how many records of each kind a document holds, or an
// import wrote.
type Counts struct {
	// Clients, Users, Consents, TrustedIssuers and RevokedJTIs count
	// records.
	Clients, Users, Consents, TrustedIssuers, RevokedJTIs int
	// KeyRing reports the key ring (exported, or written).
	KeyRing bool
}

func (c Counts) String() string {
	ring := "no key ring"
	if c.KeyRing {
		ring = "the key ring"
	}
	return fmt.Sprintf("%d clients, %d users, %d consents, %d trusted issuers, %d revoked token ids, %s", c.Clients, c.Users, c.Consents, c.TrustedIssuers, c.RevokedJTIs, ring)
}

// Count returns the counts of d.
func (d *Document) Count() Counts {
	return Counts{Clients: len(d.Clients), Users: len(d.Users), Consents: len(d.Consents), TrustedIssuers: len(d.TrustedIssuers), RevokedJTIs: len(d.RevokedJTIs), KeyRing: len(d.KeyRing) > 0 && string(d.KeyRing) != "null"}
}

// schemaVersion returns the highest applied migration of st, or ErrSchema
// when one this binary knows is not applied or one it does not know is.
func schemaVersion(ctx context.Context, st store.Migrator) (int, error) {
	list, err := st.MigrationStatus(ctx)
	if err != nil {
		return 0, fmt.Errorf("portable: migration status: %w", err)
	}
	v := 0
	for _, m := range list {
		switch {
		case m.Name == "":
			return 0, fmt.Errorf("%w: migration %04d is newer than this binary", ErrSchema, m.Version)
		case !m.Applied:
			return 0, fmt.Errorf("%w: migration %04d %s is not applied", ErrSchema, m.Version, m.Name)
		}
		v = max(v, m.Version)
	}
	return v, nil
}

// Export reads st's lasting records into a Document. mk must be the
// master key of st: it must open the key ring, and its check value is
// written. Consents naming a client that is not exported (created while
// the export ran) are left out. Export is not one snapshot: run it on a
// store no server writes to (a stopped node, or a backup file).
func Export(ctx context.Context, st Store, mk keys.MasterKey, now time.Time) (*Document, error) {
	ver, err := schemaVersion(ctx, st)
	if err != nil {
		return nil, err
	}
	check, err := MasterKeyCheck(mk)
	if err != nil {
		return nil, err
	}
	d := &Document{Format: Format, Version: Version, ExportedAt: now.UTC(), SchemaVersion: ver, MasterKeyCheck: check,
		Consents: []store.Consent{}, TrustedIssuers: []store.TrustedIssuer{}}
	ring, _, err := st.GetKeyRing(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("portable: read key ring: %w", err)
	default:
		if err := openRing(ring, mk); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, ring); err != nil {
			return nil, fmt.Errorf("portable: the stored key ring is not JSON: %w", err)
		}
		d.KeyRing = buf.Bytes()
	}
	if d.Clients, err = listAll(ctx, st.ListClients, func(c store.Client) string { return c.ID }); err != nil {
		return nil, fmt.Errorf("portable: list clients: %w", err)
	}
	clients := make(map[string]bool, len(d.Clients))
	for _, c := range d.Clients {
		clients[c.ID] = true
	}
	if d.Users, err = listAll(ctx, st.ListUsers, func(u store.User) string { return u.ID }); err != nil {
		return nil, fmt.Errorf("portable: list users: %w", err)
	}
	for _, u := range d.Users {
		cs, err := st.ListUserConsents(ctx, u.ID)
		if err != nil {
			return nil, fmt.Errorf("portable: list consents: %w", err)
		}
		for _, c := range cs {
			if clients[c.ClientID] {
				d.Consents = append(d.Consents, c)
			}
		}
	}
	issuers, err := st.ListTrustedIssuers(ctx)
	if err != nil {
		return nil, fmt.Errorf("portable: list trusted issuers: %w", err)
	}
	d.TrustedIssuers = append(d.TrustedIssuers, issuers...)
	lister, ok := st.(store.RevokedJTILister)
	if !ok {
		return nil, errors.New("portable: the store cannot list its revoked token ids")
	}
	unexpired := func(ctx context.Context, o store.ListOptions) ([]store.RevokedJTI, error) {
		return lister.ListRevokedJTIs(ctx, now, o)
	}
	if d.RevokedJTIs, err = listAll(ctx, unexpired, func(r store.RevokedJTI) string { return r.JTI }); err != nil {
		return nil, fmt.Errorf("portable: list revoked token ids: %w", err)
	}
	return d, nil
}

// listAll reads every page of list, in the order of key, into a list that
// is empty, not nil, when there is nothing (the document writes [], not
// null).
func listAll[T any](ctx context.Context, list func(context.Context, store.ListOptions) ([]T, error), key func(T) string) ([]T, error) {
	out := []T{}
	for after := ""; ; {
		page, err := list(ctx, store.ListOptions{Limit: store.MaxListLimit, After: after})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < store.MaxListLimit {
			return out, nil
		}
		after = key(page[len(page)-1])
	}
}

// Write encodes d to w as indented JSON followed by a newline.
func Write(w io.Writer, d *Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("portable: write: %w", err)
	}
	return nil
}

// Read decodes one document from r strictly (see the package
// documentation), reading at most maxBytes (DefaultMaxBytes when zero or
// negative). It checks the document's form and each record's validity,
// not the target store: Import does that.
func Read(r io.Reader, maxBytes int64) (*Document, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("portable: read: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidDocument, maxBytes)
	}
	return Parse(data)
}

// Parse decodes and checks a document held in memory (see Read).
func Parse(data []byte) (*Document, error) {
	if err := strictjson.ValidateFold(string(data), maxDepth); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return &d, nil
}

// check validates the document without a store.
func (d *Document) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidDocument}, args...)...)
	}
	switch {
	case d.Format != Format:
		return bad("format is %q, want %q", truncate(d.Format), Format)
	case d.Version != Version:
		return bad("version %d, this binary reads version %d", d.Version, Version)
	case d.MasterKeyCheck == "":
		return bad("master_key_check is missing")
	}
	clients := make(map[string]bool, len(d.Clients))
	for i, c := range d.Clients {
		if err := c.Validate(); err != nil {
			return bad("clients[%d]: %w", i, err)
		}
		if clients[c.ID] {
			return bad("clients[%d]: client ID appears twice", i)
		}
		clients[c.ID] = true
	}
	users := make(map[string]bool, len(d.Users))
	names := make(map[string]bool, len(d.Users))
	for i, u := range d.Users {
		if err := u.Validate(); err != nil {
			return bad("users[%d]: %w", i, err)
		}
		if users[u.ID] {
			return bad("users[%d]: user ID appears twice", i)
		}
		if names[store.UsernameKey(u.Username)] {
			return bad("users[%d]: username appears twice", i)
		}
		users[u.ID], names[store.UsernameKey(u.Username)] = true, true
	}
	type pair struct{ u, c string }
	consents := make(map[pair]bool, len(d.Consents))
	for i, c := range d.Consents {
		if err := c.Validate(); err != nil {
			return bad("consents[%d]: %w", i, err)
		}
		if consents[pair{c.UserID, c.ClientID}] {
			return bad("consents[%d]: consent appears twice", i)
		}
		consents[pair{c.UserID, c.ClientID}] = true
	}
	issuers := make(map[string]bool, len(d.TrustedIssuers))
	for i, t := range d.TrustedIssuers {
		if err := t.Validate(); err != nil {
			return bad("trusted_issuers[%d]: %w", i, err)
		}
		if issuers[t.Issuer] {
			return bad("trusted_issuers[%d]: issuer appears twice", i)
		}
		issuers[t.Issuer] = true
	}
	jtis := make(map[string]bool, len(d.RevokedJTIs))
	for i, r := range d.RevokedJTIs {
		if err := store.CheckID("jti", r.JTI); err != nil {
			return bad("revoked_jtis[%d]: %w", i, err)
		}
		if err := store.CheckExpiry("jti expiry", r.ExpiresAt); err != nil {
			return bad("revoked_jtis[%d]: %w", i, err)
		}
		if jtis[r.JTI] {
			return bad("revoked_jtis[%d]: jti appears twice", i)
		}
		jtis[r.JTI] = true
	}
	if d.Count().KeyRing {
		// The sealed ring is checked again, with the master key, by Import.
		if d.KeyRing[0] != '{' {
			return bad("key_ring is not an object")
		}
		if err := strictjson.ValidateFold(string(d.KeyRing), 0); err != nil {
			return bad("key_ring: %w", err)
		}
	}
	return nil
}

// CheckKeyRing reports whether mk opens the key ring st holds: nil when
// it does or when there is none, an error wrapping ErrWrongMasterKey when
// the ring was sealed under another key.
func CheckKeyRing(ctx context.Context, st store.KeyStore, mk keys.MasterKey) error {
	ring, _, err := st.GetKeyRing(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("portable: read key ring: %w", err)
	}
	return openRing(ring, mk)
}

// openRing checks that the sealed ring opens under mk.
func openRing(sealed []byte, mk keys.MasterKey) error {
	r, err := keys.NewRing(keys.Options{})
	if err != nil {
		return err
	}
	if err := r.UnmarshalSealed(sealed, mk); err != nil {
		if errors.Is(err, keys.ErrWrongMasterKey) {
			return fmt.Errorf("%w (%w)", ErrWrongMasterKey, err)
		}
		return fmt.Errorf("%w: key_ring: %w", ErrInvalidDocument, err)
	}
	return nil
}

// truncate shortens a value echoed in an error.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
