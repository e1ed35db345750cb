package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/writ-dev/writ/internal/audit"
)

// auditJournalDir is the directory, in the data directory, of the node's
// audit journals (internal/audit.Journal).
const auditJournalDir = "audit-journal"

// openAuditor replays the audit journals a previous run of this data
// directory left (killed, or stopped with its database unreachable), then
// opens a new journal and the appender that writes it: the events without
// a transaction of their own are durable in the journal before their
// request is answered, and reach the store in batches.
func (a *App) openAuditor(ctx context.Context) (*audit.Appender, error) {
	dir := filepath.Join(a.Config.DataDir, auditJournalDir)
	n, err := audit.Recover(ctx, dir, a.Store, 0, a.log)
	if err != nil {
		return nil, fmt.Errorf("replay the audit journal in %s (the database must be reachable; the journal is kept): %w", dir, err)
	}
	if n > 0 {
		a.log.Info("audit events replayed from the journal of an earlier run", "events", n)
	}
	j, err := audit.OpenJournal(dir)
	if err != nil {
		return nil, fmt.Errorf("open the audit journal in %s (check that the data directory is writable): %w", dir, err)
	}
	a.auditJournal = j
	return audit.NewAppender(a.Store, audit.AppenderOptions{Journal: j, Logger: a.log}), nil
}

// closeAuditJournal removes the journal of an auditor that never ran (it
// holds nothing); a running auditor removes its own, or leaves it for
// replay.
func (a *App) closeAuditJournal() {
	if a.auditJournal != nil && !a.auditorRan.Load() {
		a.auditJournal.Remove() //nolint:errcheck // an empty file at worst, replayed as nothing
	}
}

// FlushAudit returns once every audit event acknowledged so far is in the
// store, or with ctx's error.
func (a *App) FlushAudit(ctx context.Context) error { return a.auditor.Flush(ctx) }
