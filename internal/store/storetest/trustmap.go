package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/writ-dev/writ/internal/store"
)

// TrustMap is an in-memory store.TrustStore for the tests of its users
// (the admin API, the CLI). It keeps the interface's contract — CreatedAt
// kept on a replacement, ErrAlreadyExists, ErrNotFound, a key that
// cannot change — but validates nothing.
type TrustMap struct {
	mu sync.Mutex
	m  map[string]store.TrustedIssuer
}

// NewTrustMap returns an empty TrustMap.
func NewTrustMap() *TrustMap { return &TrustMap{m: map[string]store.TrustedIssuer{}} }

// Len is how many issuers are stored.
func (s *TrustMap) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// PutTrustedIssuer creates or replaces an issuer, keeping CreatedAt.
func (s *TrustMap) PutTrustedIssuer(_ context.Context, t store.TrustedIssuer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[t.Issuer]; ok {
		t.CreatedAt = old.CreatedAt
	}
	s.m[t.Issuer] = t
	return nil
}

// CreateTrustedIssuer stores a new issuer, or returns
// store.ErrAlreadyExists.
func (s *TrustMap) CreateTrustedIssuer(_ context.Context, t store.TrustedIssuer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[t.Issuer]; ok {
		return fmt.Errorf("trust map: %q: %w", t.Issuer, store.ErrAlreadyExists)
	}
	s.m[t.Issuer] = t
	return nil
}

// UpdateTrustedIssuer replaces the issuer with fn's result, keeping
// CreatedAt.
func (s *TrustMap) UpdateTrustedIssuer(_ context.Context, iss string, fn func(store.TrustedIssuer) (store.TrustedIssuer, error)) (store.TrustedIssuer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[iss]
	if !ok {
		return store.TrustedIssuer{}, fmt.Errorf("trust map: %q: %w", iss, store.ErrNotFound)
	}
	t, err := fn(old)
	if err != nil {
		return store.TrustedIssuer{}, err
	}
	if t.Issuer != iss {
		return store.TrustedIssuer{}, fmt.Errorf("trust map: %w: the issuer cannot change", store.ErrInvalid)
	}
	t.CreatedAt = old.CreatedAt
	s.m[iss] = t
	return t, nil
}

// GetTrustedIssuer returns one issuer, or store.ErrNotFound.
func (s *TrustMap) GetTrustedIssuer(_ context.Context, iss string) (store.TrustedIssuer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[iss]
	if !ok {
		return store.TrustedIssuer{}, fmt.Errorf("trust map: %q: %w", iss, store.ErrNotFound)
	}
	return t, nil
}

// ListTrustedIssuers returns them all, ordered by Issuer.
func (s *TrustMap) ListTrustedIssuers(context.Context) ([]store.TrustedIssuer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.TrustedIssuer, 0, len(s.m))
	for _, t := range s.m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b store.TrustedIssuer) int { return strings.Compare(a.Issuer, b.Issuer) })
	return out, nil
}

// DeleteTrustedIssuer removes one, or returns store.ErrNotFound.
func (s *TrustMap) DeleteTrustedIssuer(_ context.Context, iss string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[iss]; !ok {
		return fmt.Errorf("trust map: %q: %w", iss, store.ErrNotFound)
	}
	delete(s.m, iss)
	return nil
}
