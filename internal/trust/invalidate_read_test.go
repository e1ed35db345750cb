package trust_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/trust"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// heldTrust holds its next read until released, returning the record as
// it was when the read began.
type heldTrust struct {
	*memTrust
	mu          sync.Mutex
	began, hold chan struct{}
}

func (s *heldTrust) GetTrustedIssuer(ctx context.Context, iss string) (store.TrustedIssuer, error) {
	rec, err := s.memTrust.GetTrustedIssuer(ctx, iss)
	s.mu.Lock()
	began, hold := s.began, s.hold
	s.began, s.hold = nil, nil
	s.mu.Unlock()
	if hold != nil {
		close(began)
		<-hold
	}
	return rec, err
}

// TestInvalidateDuringRead: a read that began before an invalidation may
// carry the old record; it serves its own caller but is not kept, so the
// next use reads the new record at once, not after the TTL.
func TestInvalidateDuringRead(t *testing.T) {
	for _, all := range []bool{false, true} {
		clock := clocktest.Default()
		k1, k2 := mustKey(t, jose.ES256), mustKey(t, jose.EdDSA)
		st := &heldTrust{memTrust: newMemTrust(), began: make(chan struct{}), hold: make(chan struct{})}
		st.put(store.TrustedIssuer{Issuer: iss, JWKS: jwksOf(t, k1), Uses: []string{store.TrustJWTBearer}, UpdatedAt: clock.Now()})
		reg := trust.New(context.Background(), st, trust.Options{Now: clock.Now})
		verify := func(k *jose.Key) error {
			_, _, err := reg.Verify(context.Background(), sign(t, k, "JWT", claimsAt(clock.Now(), nil)), store.TrustJWTBearer, nil)
			return err
		}
		began, hold := st.began, st.hold
		done := make(chan error)
		go func() { done <- verify(k1) }()
		<-began
		st.put(store.TrustedIssuer{Issuer: iss, JWKS: jwksOf(t, k2), Uses: []string{store.TrustJWTBearer}, UpdatedAt: clock.Now().Add(1e9)})
		if all {
			reg.InvalidateAll()
		} else {
			reg.Invalidate(iss)
		}
		close(hold)
		if err := <-done; err != nil {
			t.Fatalf("in-flight verify with the old key: %v", err)
		}
		if err := verify(k2); err != nil {
			t.Fatalf("all=%v: new key after the invalidation: %v", all, err)
		}
		if err := verify(k1); !errors.Is(err, jwt.ErrKeyNotFound) {
			t.Fatalf("all=%v: old key after the invalidation: %v", all, err)
		}
	}
}
