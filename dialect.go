package main

// dialect.go: everything that differs between SQLite and PostgreSQL: the
// connection strings, placeholders, the write lock, the migration
// bookkeeping, and the errors each driver reports for a broken unique index
// or foreign key. The store's SQL is otherwise the same for both.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDSN is the connection string of a pool: writer transactions begin
// IMMEDIATE (take the write lock at once, queueing behind busy_timeout);
// readOnly connections refuse to write.
func sqliteDSN(path string, writer, readOnly bool) string {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	if writer {
		dsn += "&_txlock=immediate"
	}
	if readOnly {
		dsn += "&_pragma=query_only(1)"
	}
	return dsn
}

// isPostgresURL tells whether a database_url names a PostgreSQL database;
// anything else is the path of a SQLite file.
func isPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// displayName is a database_url fit for logs and error messages: a
// PostgreSQL URL loses its password.
func displayName(dbURL string) string {
	if !isPostgresURL(dbURL) {
		return dbURL
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// dialect is one database's way of doing the few things the two do
// differently. The rest of the store is the same SQL for both.
type dialect struct {
	name string
	// rebind turns the store's ? placeholders into the driver's.
	rebind func(query string) string
	// beginWrite runs first in every write transaction and takes the
	// database's write lock (SQLite's BEGIN IMMEDIATE does it itself).
	beginWrite string
	// adminRole is a condition on users: its role, a JSON array, holds "admin".
	adminRole string
	// migrations[i] takes the schema from version i to i+1.
	migrations []func(ctx context.Context, tx *sql.Tx, log *slog.Logger) error
	// startMigration prepares conn for migrating, readVersion reads the
	// schema version, writeVersion records it, and finishMigration undoes
	// startMigration and checks the result.
	startMigration  func(ctx context.Context, conn *sql.Conn) error
	readVersion     func(ctx context.Context, conn *sql.Conn) (int, error)
	writeVersion    func(ctx context.Context, tx *sql.Tx, version int) error
	finishMigration func(ctx context.Context, conn *sql.Conn, log *slog.Logger) error
}

// writeLockKey names PostgreSQL's advisory lock that write transactions
// take: any number, the same in every instance.
const writeLockKey = 7_250_001

// migrationLockKey is the advisory lock held while one instance migrates,
// so that instances starting together do not migrate twice.
const migrationLockKey = 7_250_002

var sqliteDialect = &dialect{
	name:      "sqlite",
	rebind:    func(query string) string { return query },
	adminRole: `EXISTS (SELECT 1 FROM json_each(users.role) WHERE value = 'admin')`,
	migrations: []func(context.Context, *sql.Tx, *slog.Logger) error{migrateFromOriginal, coverEmployeeTickets, caselessUsernames, createAuditTrail,
		indexTicketsByCreated(""), versionEmployees, createTextIndexes, dropAuditTimeIndex, indexSorts(""),
		smallerTextPages},
	// Tables are rebuilt with foreign key checks off, SQLite's documented
	// way to change a table; any row that then breaks a foreign key is
	// reported (and kept).
	startMigration: func(ctx context.Context, conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF")
		return err
	},
	readVersion: func(ctx context.Context, conn *sql.Conn) (v int, err error) {
		err = conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
		return v, err
	},
	writeVersion: func(ctx context.Context, tx *sql.Tx, v int) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
		return err
	},
	finishMigration: func(ctx context.Context, conn *sql.Conn, log *slog.Logger) error {
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = ON"); err != nil {
			return err
		}
		return reportForeignKeyProblems(ctx, conn, log)
	},
}

var postgresDialect = &dialect{
	name:       "postgres",
	rebind:     dollarPlaceholders,
	beginWrite: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", writeLockKey),
	adminRole:  `COALESCE(users.role, '[]')::jsonb @> '["admin"]'`,
	migrations: []func(context.Context, *sql.Tx, *slog.Logger) error{createPostgresSchema, coverEmployeeTickets, caselessUsernames, createPostgresAuditTrail,
		indexTicketsByCreated(byteOrder), versionPostgresEmployees, createPostgresTextIndexes, dropAuditTimeIndex,
		indexSorts(byteOrder), oneTextIndexPerTable, gistTextIndexes},
	startMigration: func(ctx context.Context, conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_lock(%d)", migrationLockKey))
		return err
	},
	readVersion: func(ctx context.Context, conn *sql.Conn) (v int, err error) {
		var found bool
		if err = conn.QueryRowContext(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&found); err != nil || !found {
			return 0, err
		}
		err = conn.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v)
		return v, err
	},
	writeVersion: func(ctx context.Context, tx *sql.Tx, v int) error {
		_, err := tx.ExecContext(ctx, "UPDATE schema_version SET version = $1", v)
		return err
	},
	finishMigration: func(ctx context.Context, conn *sql.Conn, log *slog.Logger) error {
		_, err := conn.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_unlock(%d)", migrationLockKey))
		return err
	},
}

// dollarPlaceholders numbers the ? placeholders of a query ($1, $2, ...),
// as PostgreSQL wants them. A ? inside a quoted string stays as it is.
func dollarPlaceholders(query string) string {
	var b strings.Builder
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// uniqueViolation names the failure for an error that broke a unique index
// (ix_users_email on PostgreSQL, "users.email" in SQLite's message, or
// "index 'ix_users_username_lower'" for an index on lower(username)): the
// same failure the store's own checks give, on both databases.
func uniqueViolation(err error) (failure, bool) {
	if !duplicateKey(err) {
		return "", false
	}
	var column string
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		column = pgErr.ConstraintName
	} else if _, after, found := strings.Cut(err.Error(), "UNIQUE constraint failed: "); found {
		column, _, _ = strings.Cut(strings.TrimPrefix(after, "index "), " ")
	}
	column = strings.TrimSuffix(strings.Trim(column, "'"), "_lower")
	column = column[strings.LastIndexAny(column, "._")+1:]
	switch column {
	case "username":
		return errUsernameTaken, true
	case "email":
		return errEmailTaken, true
	case "phone":
		return errPhoneTaken, true
	}
	return "", false
}

// duplicateKey tells whether err broke a unique index.
func duplicateKey(err error) bool {
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	return errors.As(err, &pgErr) && pgErr.Code == "23505" ||
		errors.As(err, &liteErr) && liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// storable tells whether a string can be stored, and so looked up, in
// both databases: PostgreSQL text is valid UTF-8 without NUL bytes.
func storable(text string) bool {
	return utf8.ValidString(text) && !strings.ContainsRune(text, 0)
}

// foreignKeyViolation tells whether err broke a foreign key.
func foreignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	return errors.As(err, &pgErr) && pgErr.Code == "23503" ||
		errors.As(err, &liteErr) && liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// orFailure answers f instead of err when is(err).
func orFailure(err error, is func(error) bool, f failure) error {
	if err != nil && is(err) {
		return f
	}
	return err
}
