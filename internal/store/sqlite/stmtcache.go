package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// pool is a database/sql pool that prepares each query once and reuses
// the prepared statement: modernc.org/sqlite otherwise parses and plans
// every statement on every call, which was a fifth of the CPU time of a
// code redemption. Queries are the package's constant strings, so the
// cache is bounded by the code.
type pool struct {
	*sql.DB
	stmts sync.Map // query string → *sql.Stmt
}

func newPool(db *sql.DB) *pool { return &pool{DB: db} }

// stmt returns the prepared statement of query, preparing it on first use.
func (p *pool) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if v, ok := p.stmts.Load(query); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := p.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if v, loaded := p.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

// QueryRowContext runs a prepared query (or, if it cannot be prepared, the
// plain query, which then reports the error).
func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return p.DB.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// ExecContext runs a prepared statement (or the plain one, as
// QueryRowContext).
func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return p.DB.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// closeStmts closes the prepared statements.
func (p *pool) closeStmts() {
	p.stmts.Range(func(k, v any) bool {
		_ = v.(*sql.Stmt).Close()
		p.stmts.Delete(k)
		return true
	})
}

// dbtx is what statements inside a transaction run on.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// stmtTx runs a transaction's statements through the pool's prepared
// statements (database/sql reuses the statement already prepared on the
// transaction's connection). A statement not prepared yet runs plain and
// is noted in missed: preparing it needs a connection, and the writer's
// only one is the transaction's, so the pool prepares it after the
// transaction (prepareMissed).
//
// A non-nil ctx replaces the context the statements are given: a shared
// transaction (groupCommit) runs them on one no caller can cancel.
type stmtTx struct {
	tx     *sql.Tx
	p      *pool
	missed *[]string
	ctx    context.Context
}

func (t stmtTx) context(ctx context.Context) context.Context {
	if t.ctx != nil {
		return t.ctx
	}
	return ctx
}

func (t stmtTx) cached(query string) *sql.Stmt {
	if v, ok := t.p.stmts.Load(query); ok {
		return v.(*sql.Stmt)
	}
	*t.missed = append(*t.missed, query)
	return nil
}

// ExecContext implements dbtx.
func (t stmtTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.context(ctx)
	if st := t.cached(query); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

// QueryRowContext implements dbtx.
func (t stmtTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = t.context(ctx)
	if st := t.cached(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// QueryContext implements dbtx.
func (t stmtTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.context(ctx)
	if st := t.cached(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

// prepareMissed prepares the statements a finished transaction ran plain.
// A failure only means they run plain next time too.
func (p *pool) prepareMissed(ctx context.Context, missed []string) {
	for _, q := range missed {
		_, _ = p.stmt(ctx, q)
	}
}
