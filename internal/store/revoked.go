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

// GroupCommitStats is what a backend's group commit has done since the
// store was opened: the shared commits it ran (a write that found no
// other to go with is one of its own), the writes they carried, and the
// writes run again on their own because their shared commit was refused.
type GroupCommitStats struct {
	// Commits counts the shared transactions run.
	Commits uint64
	// Writes counts the writes (transactions or one-statement writes of
	// callers) those carried.
	Writes uint64
	// Reruns counts the writes run again alone after PostgreSQL refused
	// their shared batch (a lock waited for too long, a deadlock, another
	// write's error); always 0 on SQLite, where each write has a
	// savepoint of its own.
	Reruns uint64
}

// GroupCommitter is a backend whose concurrent writes share commits. Both
// backends implement it; it is not part of Store, so that fakes of Store
// need not.
type GroupCommitter interface {
	// GroupCommits reports the group commit's counts so far.
	GroupCommits() GroupCommitStats
}
