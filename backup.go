package main

// backup.go: `ticketapi backup` (a consistent copy of a live SQLite file)
// and `ticketapi copy` (a SQLite database moved into an empty PostgreSQL
// one with every row intact).

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// backupDatabase writes a consistent copy of the database file src to dest
// with VACUUM INTO: it reads one snapshot, so writes that go on meanwhile
// are either wholly in the copy (committed before it began) or not at all.
// The file is opened as it is (no migration), dest must not exist and is
// created readable by its owner only (it holds password hashes), and the
// copy is checked with PRAGMA integrity_check before backupDatabase returns.
func backupDatabase(ctx context.Context, src, dest string) error {
	if isPostgresURL(src) {
		return errors.New("backup copies a SQLite file; back up PostgreSQL with its own tools (pg_dump)")
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: database %s: %w", src, err)
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", sqliteDSN(src, false, false))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("backup %s to %s: %w", src, dest, err)
	}
	copyDB, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
	if err != nil {
		return err
	}
	defer copyDB.Close()
	var result string
	if err := copyDB.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		return fmt.Errorf("check backup %s: %w", dest, err)
	}
	if result != "ok" {
		return fmt.Errorf("backup %s failed its integrity check: %s", dest, result)
	}
	return nil
}

// copyTables are the tables copyDatabase copies and their columns, read and
// written by name, in an order the foreign keys accept (PostgreSQL checks
// them at once): tickets point at employees and users.
var copyTables = []struct{ table, columns string }{
	{"users", userColumns}, {"employees", employeeColumns}, {"tickets", ticketColumns},
}

// copiedRows is how many rows of one table copyDatabase copied.
type copiedRows struct {
	table string
	rows  int64
}

// copyDatabase copies the SQLite file fromPath, written by ticketapi or by
// the original, into the empty PostgreSQL database toURL: every row with
// its id, timestamps, password hash, role text, booleans and NULLs.
//
// The source is read as it is, in one snapshot, and never migrated (that
// would rewrite an original's file). The target gets its schema from the
// normal migration, and the rows in one transaction under the write lock:
// a copy that fails leaves it empty. A target holding any row is refused,
// and so is a source whose tickets point at a missing employee or user
// (SQLite kept such rows; PostgreSQL's foreign keys refuse them).
func copyDatabase(ctx context.Context, fromPath, toURL string, log *slog.Logger) ([]copiedRows, error) {
	if !isPostgresURL(toURL) {
		return nil, errors.New("copy: the target must be a postgres:// or postgresql:// URL") // not echoed: it may hold a password
	}
	if _, err := os.Stat(fromPath); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("copy: source database %s does not exist", fromPath)
	} else if err != nil {
		return nil, fmt.Errorf("copy: source database: %w", err)
	}
	src, err := sql.Open("sqlite", "file:"+fromPath+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// One read transaction: the three tables come from one snapshot even
	// while a server writes to the file.
	read, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("copy: open %s: %w", fromPath, err)
	}
	defer read.Rollback()
	if err := checkCopySource(ctx, read, fromPath); err != nil {
		return nil, err
	}

	store, err := openStore(ctx, toURL, log)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	tx, err := store.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var users, employees, tickets int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM employees),
		(SELECT count(*) FROM tickets)`).Scan(&users, &employees, &tickets); err != nil {
		return nil, err
	}
	if users+employees+tickets > 0 {
		return nil, fmt.Errorf("copy: %s already holds rows (users %d, employees %d, tickets %d): copy only into an empty database, "+
			"before any server starts on it (a server creates the first admin)", displayName(toURL), users, employees, tickets)
	}

	// The unique indexes come back after the rows, through createIndex:
	// rows the original let share a value (the shipped file has two
	// employees with one email) then get a plain index, as on SQLite.
	for _, ix := range schemaIndexes {
		if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+ix.name); err != nil {
			return nil, err
		}
	}
	var copied []copiedRows
	for _, t := range copyTables {
		n, maxID, err := copyTable(ctx, read, tx, store.dialect, t.table, t.columns)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", t.table, err)
		}
		// New ids continue after every id the source handed out, also
		// those of rows deleted since (sqlite_sequence remembers them).
		last, err := sqliteSequence(ctx, read, t.table)
		if err != nil {
			return nil, err
		}
		if last = max(last, maxID); last > 0 {
			if _, err := tx.ExecContext(ctx, store.dialect.rebind("SELECT setval(pg_get_serial_sequence(?, 'id'), ?)"),
				t.table, last); err != nil {
				return nil, err
			}
		}
		copied = append(copied, copiedRows{t.table, n})
	}
	for _, ix := range schemaIndexes {
		if err := createIndex(ctx, tx, ix.name, ix.table, ix.columns, ix.unique, log); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("copy: commit to %s: %w", displayName(toURL), err)
	}
	return copied, nil
}

// checkCopySource refuses a source this ticketapi cannot read, or whose
// tickets point at rows that do not exist, naming them.
func checkCopySource(ctx context.Context, read *sql.Tx, fromPath string) error {
	var version int
	if err := read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("copy: read %s: %w", fromPath, err)
	}
	if version > len(sqliteDialect.migrations) {
		return fmt.Errorf("copy: %s has schema version %d, newer than this ticketapi knows (%d): use a newer binary",
			fromPath, version, len(sqliteDialect.migrations))
	}
	rows, err := read.QueryContext(ctx, `SELECT id, employee_id, owner_id FROM tickets
		WHERE employee_id IS NOT NULL AND employee_id NOT IN (SELECT id FROM employees)
		OR owner_id IS NOT NULL AND owner_id NOT IN (SELECT id FROM users) ORDER BY id`)
	if err != nil {
		return fmt.Errorf("copy: read %s: %w", fromPath, err)
	}
	defer rows.Close()
	var broken []string
	for rows.Next() {
		var id int64
		var employee, owner sql.NullInt64
		if err := rows.Scan(&id, &employee, &owner); err != nil {
			return err
		}
		broken = append(broken, fmt.Sprintf("ticket %d (employee_id %s, owner_id %s)", id, nullInt(employee), nullInt(owner)))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(broken) > 0 {
		n := len(broken)
		if n > 20 { // enough to see the pattern, short enough to read
			broken = append(broken[:20], fmt.Sprintf("and %d more", n-20))
		}
		return fmt.Errorf("copy: nothing copied: in %s, %d tickets point at an employee or user that does not exist, "+
			"which PostgreSQL refuses; fix or delete them in a copy of the file first: %s",
			fromPath, n, strings.Join(broken, ", "))
	}
	return nil
}

func nullInt(n sql.NullInt64) string {
	if !n.Valid {
		return "NULL"
	}
	return strconv.FormatInt(n.Int64, 10)
}

// copyTable inserts every row of table from the source into the target,
// ids included, and returns how many rows it copied and the highest id.
func copyTable(ctx context.Context, read, tx *sql.Tx, d *dialect, table, columns string) (n, maxID int64, err error) {
	names := strings.Split(columns, ", ")
	insert, err := tx.PrepareContext(ctx, d.rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)",
		table, columns, strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", "))))
	if err != nil {
		return 0, 0, err
	}
	defer insert.Close()
	rows, err := read.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY id", columns, table))
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	values := make([]any, len(names))
	for i, name := range names {
		// Null* keep a NULL a NULL, and send each value as its column's type.
		switch name {
		case "id", "employee_id", "owner_id":
			values[i] = &sql.NullInt64{}
		case "disabled", "login_denied":
			values[i] = &sql.NullBool{}
		default:
			values[i] = &sql.NullString{}
		}
	}
	for rows.Next() {
		if err := rows.Scan(values...); err != nil {
			var id any
			rest := make([]any, len(names)-1)
			for i := range rest {
				rest[i] = new(any)
			}
			rows.Scan(append([]any{&id}, rest...)...) // again, only to name the row
			return n, maxID, fmt.Errorf("row id %v: %w", id, err)
		}
		id := values[0].(*sql.NullInt64).Int64
		for i, name := range names {
			text, ok := values[i].(*sql.NullString)
			if !ok || !text.Valid {
				continue
			}
			if !storable(text.String) {
				return n, maxID, fmt.Errorf("row id %d: %s is not UTF-8 text without NUL bytes, which PostgreSQL cannot store", id, name)
			}
			if name == "role" && !roleList(text.String) {
				return n, maxID, fmt.Errorf("row id %d: role %q is not a JSON array of strings", id, text.String)
			}
		}
		if _, err := insert.ExecContext(ctx, values...); err != nil {
			return n, maxID, fmt.Errorf("row id %d: %w", id, err)
		}
		n, maxID = n+1, max(maxID, id)
	}
	return n, maxID, rows.Err()
}

// roleList tells whether a role value is a JSON array of strings: the API
// would read anything else as no role at all.
func roleList(text string) bool {
	var roles []string
	return strings.HasPrefix(strings.TrimSpace(text), "[") && json.Unmarshal([]byte(text), &roles) == nil
}

// sqliteSequence is the last id AUTOINCREMENT handed out for table, or 0
// (the original's files have no sqlite_sequence, or none for the table).
func sqliteSequence(ctx context.Context, read *sql.Tx, table string) (int64, error) {
	found, err := exists(ctx, read, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")
	if err != nil || !found {
		return 0, err
	}
	var seq sql.NullInt64
	err = read.QueryRowContext(ctx, "SELECT max(seq) FROM sqlite_sequence WHERE name = ?", table).Scan(&seq)
	return seq.Int64, err
}
