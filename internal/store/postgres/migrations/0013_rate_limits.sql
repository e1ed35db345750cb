-- writ schema, version 13: rate limits shared by every node (GCRA: one
-- theoretical arrival time per key, in Unix microseconds). A row whose
-- tat has passed means nothing and is purged. UNLOGGED: no WAL, so a
-- count costs no fsync; after a crash (or on a promoted standby) the
-- table is empty, which only forgets recent counts.

CREATE UNLOGGED TABLE rate_limits (
	key text PRIMARY KEY,
	tat bigint NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
