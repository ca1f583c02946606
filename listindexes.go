package main

// listindexes.go: the indexes that keep a sorted list as cheap at a
// million tickets as at a thousand (docs/performance.md, "Data growth").
// Each holds one sort field's expression, then id: read forwards it gives
// sort=f, backwards sort=-f (keys in lists.go sends an unnamed id the way
// of the last field), so a page reads its rows in order and stops, and
// created_after and created_before enter the created one at their bound.
// The other filters are served by the indexes migrate.go has made from
// the start: employee_id by ix_tickets_employee_id, creator_id (owner_id)
// by ix_tickets_owner_id.

import (
	"context"
	"database/sql"
	"log/slog"
)

// sortIndexes are the sort fields given an index, by table: every sort of
// the tickets and of the employees, which grow with them, but id (the
// primary key). Users are few: their lists read them all.
var sortIndexes = []struct {
	table  string
	list   listSpec
	fields []string
}{
	{"tickets", ticketList, []string{"created", "status", "title", "employee_id"}},
	{"employees", employeeList, []string{"created", "last_name", "first_name", "country", "city"}},
}

// indexSorts creates ix_<table>_sort_<field> for each of sortIndexes, and
// drops ix_tickets_created, the newest-first index it replaces. collate is
// what sortColumn.sql adds to text on that database (byteOrder on
// PostgreSQL), so each index holds exactly the expression the ORDER BY
// names. Each index is dropped first, so it can run again on a database
// set back to an older version.
func indexSorts(collate string) func(context.Context, *sql.Tx, *slog.Logger) error {
	return func(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
		if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS ix_tickets_created"); err != nil {
			return err
		}
		for _, s := range sortIndexes {
			for _, field := range s.fields {
				name := "ix_" + s.table + "_sort_" + field
				if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+name); err != nil {
					return err
				}
				if err := createIndex(ctx, tx, name, s.table, s.list.columns[field].in(collate)+", id", false, log); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// indexTicketsByCreated is an earlier migration, kept so that databases
// migrate through the same steps: it made ix_tickets_created, newest
// first with ties by ascending id, which indexSorts replaces.
func indexTicketsByCreated(collate string) func(context.Context, *sql.Tx, *slog.Logger) error {
	return func(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
		if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS ix_tickets_created"); err != nil {
			return err
		}
		return createIndex(ctx, tx, "ix_tickets_created", "tickets", byCreated.in(collate)+" DESC, id", false, log)
	}
}
