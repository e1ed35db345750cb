package store

import (
	"context"
	"time"
)

// RevokedJTI is one entry of the revocation list of JWT access tokens
// (TokenStore.RevokeJTI).
type RevokedJTI struct {
	// JTI is the revoked token's jti.
	JTI string
	// ExpiresAt is until when the revocation is kept.
	ExpiresAt time.Time
}

// RevokedJTILister lists the revocation list of JWT access tokens, so that
// `writ export` can carry it to another store (a revoked token must stay
// revoked there). Both backends implement it; it is not part of Store, so
// that fakes of Store need not.
type RevokedJTILister interface {
	// ListRevokedJTIs returns one page of the entries whose ExpiresAt is
	// after now, ordered by JTI (keyset paging on ListOptions.After).
	ListRevokedJTIs(ctx context.Context, now time.Time, opts ListOptions) ([]RevokedJTI, error)
}
