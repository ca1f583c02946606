package main

// prepared.go: the store's connection pools keep each statement prepared
// once, instead of compiling it again on every call: SQLite takes longer
// to compile a short query than to run it. Without this the mixed workload
// of bench/run.sh costs 15% more CPU a request (docs/performance.md).

import (
	"context"
	"database/sql"
	"sync"
)

// pool is a *sql.DB whose QueryRowContext, QueryContext and ExecContext
// run the statement prepared the first time its text was asked for.
type pool struct {
	*sql.DB
	dialect *dialect
	stmts   sync.Map // query text → *sql.Stmt
}

func (p *pool) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := p.DB.PrepareContext(ctx, p.dialect.rebind(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := p.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return p.DB.QueryRowContext(ctx, p.dialect.rebind(query), args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// txn is a write transaction that uses the pool's prepared statements.
// The writer pool has one connection, which the transaction holds, so a
// statement not prepared yet cannot be prepared on the pool now: it runs
// unprepared and is prepared once the transaction ends (see inTx).
type txn struct {
	*sql.Tx
	p      *pool
	missed []string
	audit  []any // the values of the audit entries its writes added (audit.go)
}

// started is the context a statement of a write runs under: a write that
// has started runs to its end even when its client goes away, because a
// statement cancelled halfway rolls back the whole transaction (SQLite's
// interrupt does; pgx closes the connection) and with it the other writes
// sharing its commit.
func started(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (t *txn) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := t.p.stmts.Load(query); ok {
		return t.Tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	t.missed = append(t.missed, query)
	return nil
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = started(ctx)
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, t.p.dialect.rebind(query), args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = started(ctx)
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, t.p.dialect.rebind(query), args...)
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = started(ctx)
	if st := t.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, t.p.dialect.rebind(query), args...)
}
