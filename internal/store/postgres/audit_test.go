package postgres_test

import (
	"testing"

	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/storetest"
)

// TestSealRaceTwoStores: two stores on one database (two nodes) append
// audit events in redemptions and rotations while each seals: every event
// is chained once, in one chain.
func TestSealRaceTwoStores(t *testing.T) {
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	storetest.SealRace(t, migrated(t, dsn), migrated(t, dsn))
}
