package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/store"
)

// loadRing loads the sealed key ring from the store, or creates the first
// one: a key that signs at once and a next key published beside it.
func (a *App) loadRing(ctx context.Context) error {
	ring, err := keys.NewRing(a.ringOpts)
	if err != nil {
		return err
	}
	a.Ring = ring
	data, ver, err := a.Store.GetKeyRing(ctx)
	switch {
	case err == nil:
		a.ringVer = ver
		a.ringCheckedAt.Store(time.Now().UnixNano())
		if err := ring.UnmarshalSealed(data, a.master); err != nil {
			return fmt.Errorf("load signing keys: %w (is this the master key the keys were sealed with?)", err)
		}
		return a.ensureActive(ctx)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("load signing keys: %w", err)
	}
	return a.ensureActive(ctx)
}

// ensureActive makes sure the ring has an active key for every configured
// algorithm (and none for an algorithm no longer configured), reconciling
// it in a transaction so that two nodes starting at once agree.
func (a *App) ensureActive(ctx context.Context) error {
	if a.Ring.Reconciled() {
		return nil
	}
	before := map[string]bool{}
	for _, e := range a.Ring.Entries() {
		before[e.KeyID()] = true
	}
	err := a.updateRing(ctx, func(r *keys.Ring) error {
		if r.Reconciled() {
			return nil // another node did it
		}
		return r.Reconcile()
	})
	if err != nil {
		return fmt.Errorf("create signing keys: %w", err)
	}
	for _, e := range a.Ring.Entries() {
		if e.State == keys.Active && !before[e.KeyID()] {
			a.say("generated an %s signing key (kid %s) and a next key, sealed under the master key", e.Key.Algorithm(), e.KeyID())
		}
	}
	return nil
}

// updateRing runs fn on a fresh copy of the stored ring inside one store
// transaction, persists the result, and installs it in the live ring.
func (a *App) updateRing(ctx context.Context, fn func(*keys.Ring) error) error {
	a.ringMu.Lock()
	defer a.ringMu.Unlock()
	var sealed []byte
	err := a.Store.UpdateKeyRing(ctx, func(old []byte) ([]byte, error) {
		r, err := keys.NewRing(a.ringOpts)
		if err != nil {
			return nil, err
		}
		if old != nil {
			if err := r.UnmarshalSealed(old, a.master); err != nil {
				return nil, err
			}
		}
		if err := fn(r); err != nil {
			return nil, err
		}
		r.Prune()
		sealed, err = r.MarshalSealed(a.master)
		return sealed, err
	})
	if err != nil {
		return err
	}
	// Install the ring as stored now, with its version: another node may
	// have changed it again since this update committed.
	ver := int64(-1) // unknown: the next reload installs the stored ring
	if data, v, err := a.Store.GetKeyRing(ctx); err == nil {
		sealed, ver = data, v
		a.ringCheckedAt.Store(time.Now().UnixNano())
	}
	if err := a.Ring.UnmarshalSealed(sealed, a.master); err != nil {
		return err
	}
	a.ringVer = ver
	return nil
}

// RotateKeys promotes the next key of every algorithm to active (it has
// been published since the previous rotation) and publishes a new next key
// for each. Unless force is set, a next key younger than the publication
// delay is not promoted.
func (a *App) RotateKeys(ctx context.Context, force bool) error {
	// The key_rotated event (the active key ids after the rotation) is
	// committed in the transaction that stores the rotated ring.
	var active []string
	build := func() ([]store.AuditEvent, error) {
		details, err := json.Marshal(map[string]any{"active_kids": active, "forced": force})
		if err != nil {
			return nil, err
		}
		return []store.AuditEvent{{Time: a.now(), Type: store.AuditKeyRotated, Details: details}}, nil
	}
	return store.RunAuditedFunc(ctx, a.auditor.Append, build, func(ctx context.Context) error {
		return a.updateRing(ctx, func(r *keys.Ring) error {
			var err error
			if force {
				err = r.ForceRotate()
			} else {
				err = r.Rotate()
			}
			active = active[:0]
			for _, e := range r.Entries() {
				if e.State == keys.Active {
					active = append(active, e.KeyID())
				}
			}
			return err
		})
	})
}

// KeyEntries lists the ring's keys with their states (public halves only).
func (a *App) KeyEntries() []keys.Entry {
	out := a.Ring.Entries()
	for i := range out {
		if out[i].Key != nil {
			out[i].Key = out[i].Key.Public()
		}
	}
	return out
}

// maintainKeys keeps the ring in step with the store: it reloads it when
// another node announces a change, and every cluster_poll_interval (the
// bound when announcements are down) it reloads it, rotates it when the
// schedule says so, and prunes expired retired keys.
func (a *App) maintainKeys(ctx context.Context) {
	t := time.NewTicker(a.Config.ClusterPollInterval)
	defer t.Stop()
	for {
		scheduled := false
		select {
		case <-ctx.Done():
			return
		case <-a.ringChanged:
		case <-t.C:
			scheduled = true
		}
		err := a.reloadRing(ctx)
		if err == nil && scheduled {
			err = a.rotateIfDue(ctx)
		}
		if err != nil && ctx.Err() == nil {
			a.log.Error("key maintenance", "error", err)
		}
	}
}

// reloadRing reads the stored ring and installs it when another node
// changed it.
func (a *App) reloadRing(ctx context.Context) error {
	data, ver, err := a.Store.GetKeyRing(ctx)
	if err != nil {
		return fmt.Errorf("read key ring: %w", err)
	}
	a.ringMu.Lock()
	defer a.ringMu.Unlock()
	if ver != a.ringVer {
		if err := a.Ring.UnmarshalSealed(data, a.master); err != nil {
			return fmt.Errorf("reload key ring: %w", err)
		}
		a.ringVer = ver
	}
	a.ringCheckedAt.Store(time.Now().UnixNano())
	return nil
}

// errNotDue says that a scheduled rotation found nothing to do.
var errNotDue = errors.New("no key is due for rotation")

// rotateIfDue performs the scheduled rotation step when an active key is
// older than key_rotation. The decision is taken again inside the store
// transaction that holds the ring's row lock, on the ring as stored, so
// that of several nodes finding the same key due exactly one rotates and
// the others find the new active key and do nothing. The promoted key has
// been published as next for at least key_min_publish (keys.ErrTooEarly
// otherwise), which is longer than any node takes to publish it.
func (a *App) rotateIfDue(ctx context.Context) error {
	if a.Config.KeyRotation <= 0 || !rotationDue(a.Ring.Entries(), a.now(), a.Config.KeyRotation) {
		return nil
	}
	err := a.updateRing(ctx, func(r *keys.Ring) error {
		if !rotationDue(r.Entries(), a.now(), a.Config.KeyRotation) {
			return errNotDue // another node rotated first
		}
		return r.Rotate()
	})
	switch {
	case err == nil:
		a.log.Info("rotated signing keys on schedule", "ring", a.Ring)
		return nil
	case errors.Is(err, errNotDue), errors.Is(err, keys.ErrTooEarly):
		return nil
	}
	return fmt.Errorf("scheduled rotation: %w", err)
}

// rotationDue reports whether an active key of entries is older than every.
// One rotation moves every algorithm: their keys age together.
func rotationDue(entries []keys.Entry, now time.Time, every time.Duration) bool {
	for _, e := range entries {
		if e.State == keys.Active && now.Sub(e.ActivatedAt) >= every {
			return true
		}
	}
	return false
}

func tlsListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}
