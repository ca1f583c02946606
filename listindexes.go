package main

// listindexes.go: the index that keeps the usual order of a ticket list,
// newest first, as cheap at a million tickets as at a thousand
// (docs/performance.md, "Data growth"). The other filters are served by
// the indexes migrate.go has made from the start: employee_id by
// ix_tickets_employee_id, creator_id (owner_id) by ix_tickets_owner_id.

import (
	"context"
	"database/sql"
	"log/slog"
)

// ticketsNewestFirst is ix_tickets_created's key: byCreated descending,
// then id ascending, exactly the ORDER BY of sort=-created (lists.go), so
// a page reads its rows in order from the index and stops. collate is
// what sortKey.sql adds to text on that database.
func ticketsNewestFirst(collate string) string {
	return byCreated.expr + collate + " DESC, id"
}

// indexTicketsByCreated creates ix_tickets_created. It replaces an index
// of that name, so it can run again on a database set back to an older
// version.
func indexTicketsByCreated(collate string) func(context.Context, *sql.Tx, *slog.Logger) error {
	return func(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
		if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS ix_tickets_created"); err != nil {
			return err
		}
		return createIndex(ctx, tx, "ix_tickets_created", "tickets", ticketsNewestFirst(collate), false, log)
	}
}
