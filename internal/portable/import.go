package portable

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/store"
)

// Mode says what Import does with a record that exists in the target
// store already (same client ID, user ID, user and client of a consent,
// issuer; or any key ring).
type Mode int

// Modes.
const (
	// ModeCreate refuses the whole import (ErrConflict) if any record of
	// the document exists in the target store: the target must not hold
	// them yet, as a new database does.
	ModeCreate Mode = iota
	// ModeMerge keeps the existing records as they are and adds the
	// others; an existing key ring is kept (the document's keys are not
	// added).
	ModeMerge
	// ModeReplace overwrites the existing records with the document's and
	// adds the others; the key ring becomes the document's. Records of the
	// target that the document does not hold are left alone.
	ModeReplace
)

func (m Mode) String() string {
	switch m {
	case ModeMerge:
		return "merge"
	case ModeReplace:
		return "replace"
	}
	return "create"
}

// Result says what Import did.
type Result struct {
	// Created, Replaced and Kept count the records added, overwritten, and
	// left as they were (ModeMerge).
	Created, Replaced, Kept Counts
}

// action is one planned write and its undo.
type action struct {
	do   func(context.Context) error
	undo func(context.Context) error
}

// Import writes d into st, opened with the master key mk, following mode.
// Everything is checked before the first write: the store's schema, the
// master key (its check value, and the key ring must open under it), each
// record, each consent's user and client (in the document or the store),
// a username taken by another user of the store (refused in every mode),
// and, in ModeCreate, that no record exists yet. The writes then run in
// order (revoked jti, issuers, clients, users, consents, key ring); if one
// fails, those done are undone (created records deleted, replaced ones
// written back; revocations are kept: they only deny) and the error says
// whether the undo succeeded.
func Import(ctx context.Context, st Store, mk keys.MasterKey, d *Document, mode Mode) (Result, error) {
	if err := d.check(); err != nil {
		return Result{}, err
	}
	if _, err := schemaVersion(ctx, st); err != nil {
		return Result{}, err
	}
	want, err := MasterKeyCheck(mk)
	if err != nil {
		return Result{}, err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(d.MasterKeyCheck)) != 1 {
		return Result{}, ErrWrongMasterKey
	}
	if d.Count().KeyRing {
		if err := openRing(d.KeyRing, mk); err != nil {
			return Result{}, err
		}
	}
	p := planner{st: st, mode: mode}
	if err := p.plan(ctx, d); err != nil {
		return Result{}, err
	}
	if len(p.conflicts) > 0 {
		more := ""
		if p.nConflicts > len(p.conflicts) {
			more = fmt.Sprintf(" and %d more", p.nConflicts-len(p.conflicts))
		}
		return Result{}, fmt.Errorf("%w: %s%s; nothing was imported", ErrConflict, strings.Join(p.conflicts, ", "), more)
	}
	for i, a := range p.actions {
		if err := a.do(ctx); err != nil {
			var undoErrs []error
			for j := i - 1; j >= 0; j-- {
				if u := p.actions[j].undo; u != nil {
					if uerr := u(ctx); uerr != nil {
						undoErrs = append(undoErrs, uerr)
					}
				}
			}
			if len(undoErrs) > 0 {
				return Result{}, fmt.Errorf("portable: import failed: %w; undoing the %d writes before it failed too, the store is partly imported: %w", err, i, errors.Join(undoErrs...))
			}
			return Result{}, fmt.Errorf("portable: import failed: %w; the %d writes before it were undone, nothing was imported (but revocations of token ids, which only deny)", err, i)
		}
	}
	return p.result, nil
}

// planner checks a document against the target store and plans the
// writes.
type planner struct {
	st         Store
	mode       Mode
	actions    []action
	result     Result
	conflicts  []string
	nConflicts int
}

// conflict records a record that exists, in ModeCreate.
func (p *planner) conflict(what string) {
	p.nConflicts++
	if len(p.conflicts) < 5 {
		p.conflicts = append(p.conflicts, what)
	}
}

// exists reports whether the record is there, and what to do: false with
// a nil error means create; true means keep (merge), replace, or conflict
// (create, recorded).
func (p *planner) exists(err error, what string) (bool, error) {
	switch {
	case err == nil:
		if p.mode == ModeCreate {
			p.conflict(what)
		}
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("portable: read %s: %w", what, err)
	}
}

func (p *planner) plan(ctx context.Context, d *Document) error {
	st := p.st
	// Revocations first: RevokeJTI is idempotent (the later expiry wins)
	// and only ever denies, so it needs no conflict rule and no undo.
	for _, r := range d.RevokedJTIs {
		p.result.Created.RevokedJTIs++
		p.add(func(ctx context.Context) error { return st.RevokeJTI(ctx, r.JTI, r.ExpiresAt) }, nil)
	}
	for _, t := range d.TrustedIssuers {
		old, err := st.GetTrustedIssuer(ctx, t.Issuer)
		found, err := p.exists(err, "trusted issuer "+t.Issuer)
		switch {
		case err != nil:
			return err
		case !found:
			p.result.Created.TrustedIssuers++
			p.add(func(ctx context.Context) error { return st.PutTrustedIssuer(ctx, t) },
				func(ctx context.Context) error { return st.DeleteTrustedIssuer(ctx, t.Issuer) })
		case p.mode == ModeMerge:
			p.result.Kept.TrustedIssuers++
		case p.mode == ModeReplace:
			p.result.Replaced.TrustedIssuers++
			p.add(func(ctx context.Context) error { return st.PutTrustedIssuer(ctx, t) },
				func(ctx context.Context) error { return st.PutTrustedIssuer(ctx, old) })
		}
	}
	clients := make(map[string]bool, len(d.Clients))
	for _, c := range d.Clients {
		clients[c.ID] = true
		old, err := st.GetClient(ctx, c.ID)
		found, err := p.exists(err, "client "+c.ID)
		switch {
		case err != nil:
			return err
		case !found:
			p.result.Created.Clients++
			p.add(func(ctx context.Context) error { return st.CreateClient(ctx, c) },
				func(ctx context.Context) error { return st.DeleteClient(ctx, c.ID) })
		case p.mode == ModeMerge:
			p.result.Kept.Clients++
		case p.mode == ModeReplace:
			p.result.Replaced.Clients++
			p.add(func(ctx context.Context) error { return replaceClient(ctx, st, c) },
				func(ctx context.Context) error { return replaceClient(ctx, st, old) })
		}
	}
	users := make(map[string]bool, len(d.Users))
	for _, u := range d.Users {
		users[u.ID] = true
		other, err := st.GetUserByUsername(ctx, u.Username)
		switch {
		case err == nil && other.ID != u.ID:
			return fmt.Errorf("%w: users: username of user %s is taken by another user of the target store; nothing was imported", ErrConflict, u.ID)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("portable: read user: %w", err)
		}
		old, err := st.GetUser(ctx, u.ID)
		found, err := p.exists(err, "user "+u.ID)
		switch {
		case err != nil:
			return err
		case !found:
			p.result.Created.Users++
			p.add(func(ctx context.Context) error { return st.CreateUser(ctx, u) },
				func(ctx context.Context) error { return st.DeleteUser(ctx, u.ID) })
		case p.mode == ModeMerge:
			p.result.Kept.Users++
		case p.mode == ModeReplace:
			p.result.Replaced.Users++
			p.add(func(ctx context.Context) error { return replaceUser(ctx, st, u) },
				func(ctx context.Context) error { return replaceUser(ctx, st, old) })
		}
	}
	for _, c := range d.Consents {
		if err := p.reference(ctx, users, clients, c); err != nil {
			return err
		}
		old, err := st.GetConsent(ctx, c.UserID, c.ClientID)
		found, err := p.exists(err, "consent of user "+c.UserID+" to client "+c.ClientID)
		switch {
		case err != nil:
			return err
		case !found:
			p.result.Created.Consents++
			p.add(func(ctx context.Context) error { return replaceConsent(ctx, st, c) },
				func(ctx context.Context) error { return st.DeleteConsent(ctx, c.UserID, c.ClientID) })
		case p.mode == ModeMerge:
			p.result.Kept.Consents++
		case p.mode == ModeReplace:
			p.result.Replaced.Consents++
			p.add(func(ctx context.Context) error { return replaceConsent(ctx, st, c) },
				func(ctx context.Context) error { return replaceConsent(ctx, st, old) })
		}
	}
	if d.Count().KeyRing {
		ring := []byte(d.KeyRing)
		_, _, err := st.GetKeyRing(ctx)
		found, err := p.exists(err, "the signing key ring")
		switch {
		case err != nil:
			return err
		case found && p.mode == ModeMerge:
			p.result.Kept.KeyRing = true
		default:
			// Last: a key ring cannot be deleted, so nothing after it
			// may fail and ask for an undo.
			if found {
				p.result.Replaced.KeyRing = true
			} else {
				p.result.Created.KeyRing = true
			}
			p.add(func(ctx context.Context) error {
				return st.UpdateKeyRing(ctx, func([]byte) ([]byte, error) { return ring, nil })
			}, nil)
		}
	}
	return nil
}

// reference checks that a consent's user and client are in the document
// or in the store.
func (p *planner) reference(ctx context.Context, users, clients map[string]bool, c store.Consent) error {
	if !users[c.UserID] {
		if _, err := p.st.GetUser(ctx, c.UserID); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: a consent names user %s, which is neither in the document nor in the store", ErrInvalidDocument, c.UserID)
		} else if err != nil {
			return fmt.Errorf("portable: read user: %w", err)
		}
	}
	if !clients[c.ClientID] {
		if _, err := p.st.GetClient(ctx, c.ClientID); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: a consent names client %s, which is neither in the document nor in the store", ErrInvalidDocument, c.ClientID)
		} else if err != nil {
			return fmt.Errorf("portable: read client: %w", err)
		}
	}
	return nil
}

func (p *planner) add(do, undo func(context.Context) error) {
	p.actions = append(p.actions, action{do: do, undo: undo})
}

func replaceClient(ctx context.Context, st Store, c store.Client) error {
	_, err := st.UpdateClient(ctx, c.ID, func(store.Client) (store.Client, error) { return c, nil })
	return err
}

func replaceUser(ctx context.Context, st Store, u store.User) error {
	_, err := st.UpdateUser(ctx, u.ID, func(store.User) (store.User, error) { return u, nil })
	return err
}

func replaceConsent(ctx context.Context, st Store, c store.Consent) error {
	_, err := st.UpdateConsent(ctx, c.UserID, c.ClientID, func(store.Consent, bool) (store.Consent, error) { return c, nil })
	return err
}
