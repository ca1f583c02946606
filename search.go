package main

// search.go: the trigram indexes that find the tickets and employees whose
// text holds q (docs/api.md §5), so that a q matching few rows costs about
// the same at a million tickets as at a thousand (docs/performance.md,
// "Data growth").
//
// Why: q matches a substring anywhere in a column, which no B-tree index
// serves, so without these indexes q alone reads every row: 2.1 requests/s
// at 1 000 000 tickets against 1 755/s at 1 000. A trigram index holds
// every 3-character piece of the text, and finds the rows that hold all of
// q's pieces in a row. It only finds candidates: the exact condition of
// lists.go (lower(col) LIKE lower(?)) still decides, so every answer is
// byte for byte what the scan gives. A q shorter than 3 characters has no
// trigram and is matched by the scan, as before.
//
//   - SQLite: an FTS5 table with the trigram tokenizer, holding only the
//     index (external content: the text stays in the table alone), kept in
//     step by triggers on every insert, update of the text and delete.
//     FTS5 folds the case of more letters than lower() does: more
//     candidates, never fewer, and the exact condition drops the extras.
//   - PostgreSQL: one pg_trgm GiST index per table, on its searched
//     columns joined into one text (pgText), and one more condition on
//     that text beside the exact ones, which the index serves; the
//     planner chooses between it and a scan from its statistics. One
//     index, not one per column: PostgreSQL planned an email as q over
//     the employees' five in 1.2 ms and ran it in 1.3 ms, over one in
//     0.35 and 0.43 ms. GiST, not GIN: see trigramSignatureBytes.
//     pg_trgm is an extension: when the database refuses it, the server
//     says so once and q scans.
//
// What it gained: GET /ticket/?q=quokka (10 of 1 000 000 tickets)
// 4 764 requests/s, against 2.1/s for the scan and 4 850/s at 1 000
// tickets; what it costs: every ticket and employee write also indexes
// its text, which took POST /ticket/{id} from 7 500-8 200/s to
// 4 800-5 300/s on a busy machine (docs/performance.md).

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// textIndex is one table's trigram index over the columns q searches.
type textIndex struct {
	table   string
	columns []string // as q searches them (lists.go)
}

var (
	ticketText   = &textIndex{table: "tickets", columns: []string{"title", "description"}}
	employeeText = &textIndex{table: "employees", columns: []string{"first_name", "last_name", "nick_name", "email", "phone"}}
	textIndexes  = []*textIndex{ticketText, employeeText}
)

// minTrigramQuery is the shortest q, in characters, that has a trigram.
const minTrigramQuery = 3

// fewCandidates bounds the candidates SQLite's index hands over. A q
// found in more rows (a common word) is matched by the scan instead: its
// page stops at the first matches in id order, and taking every
// candidate from the index would cost more than reading the table.
const fewCandidates = 5000

// textSearch is a q that a text index may narrow (listQuery.text).
type textSearch struct {
	index   *textIndex
	q       string
	pattern string // q as the LIKE pattern of lists.go's exact condition
}

// ftsTable is the name of the SQLite FTS5 table that indexes ix.
func (ix *textIndex) ftsTable() string { return ix.table + "_text" }

// pgIndexName is the name of the PostgreSQL index.
func (ix *textIndex) pgIndexName() string { return "ix_" + ix.table + "_text_trgm" }

// pgText is the expression PostgreSQL's index holds: the columns, lowered,
// joined by spaces. Every row whose column holds q (in any case) holds
// lower(q) in it; a q that spans two columns finds a row no column
// matches, which the exact condition then drops.
func (ix *textIndex) pgText() string {
	return "lower(COALESCE(" + strings.Join(ix.columns, ", '') || ' ' || COALESCE(") + ", ''))"
}

// ftsQuery asks the index for the rows that hold q's trigrams laid end to
// end (characters 1-3, 4-6, ..., and the last three), each in double
// quotes with a double quote doubled, so nothing in q, such as AND, NEAR,
// * or parentheses, is read as query syntax. Every row that holds q holds
// them. The index keeps no positions (detail=none, a third of the size
// and the same write cost), so it cannot tell whether the pieces come one
// after another: the exact condition of lists.go decides. The trigrams
// that overlap those would narrow little more, and each is one more list
// of rows to read: leaving them out took an employee's email as q at
// 1 000 000 tickets from 1 362-1 459 to 1 762-2 062 requests/s.
func ftsQuery(q string) string {
	letters := []rune(q)
	pieces := make([]string, 0, len(letters)/3+1)
	piece := func(i int) string { return `"` + strings.ReplaceAll(string(letters[i:i+3]), `"`, `""`) + `"` }
	for i := 0; i+3 <= len(letters); i += 3 {
		pieces = append(pieces, piece(i))
	}
	if n := len(letters); n > 3 && n%3 != 0 {
		pieces = append(pieces, piece(n-3))
	}
	return strings.Join(pieces, " AND ")
}

// narrowSearch lets SQLite's text index find the candidates of l's q,
// when q has a trigram and the index finds fewer than fewCandidates rows:
// l then also requires the row to be among them, a list of ids the
// planner reads first (a lookup by id for each). A list already bounded
// to one employee's or creator's tickets by their index is not: reading
// those is cheaper than asking. It runs once for a list, and asks the
// index once: the page and the count share the candidates. (A row that
// comes to match between the two statements shows from the next request
// on.) PostgreSQL's planner makes the same choice by itself, once it is
// shown q (argsFor).
func (s *Store) narrowSearch(ctx context.Context, l *listQuery) error {
	text := l.text
	if text == nil {
		return nil
	}
	l.text = nil
	if l.bounded || utf8.RuneCountInString(text.q) < minTrigramQuery {
		return nil
	}
	if s.dialect == postgresDialect {
		l.where(text.index.pgText()+` LIKE lower(CAST(? AS TEXT)) ESCAPE '\'`, text.pattern)
		l.planned = true
		return nil
	}
	fts := text.index.ftsTable()
	rows, err := s.read.DB.QueryContext(ctx, "SELECT rowid FROM "+fts+" WHERE "+fts+" MATCH ? LIMIT ?",
		ftsQuery(text.q), fewCandidates)
	if err != nil {
		return err
	}
	defer rows.Close()
	candidates := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		candidates = append(candidates, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(candidates) < fewCandidates {
		list, err := json.Marshal(candidates)
		if err != nil {
			return err
		}
		l.where("id IN (SELECT value FROM json_each(?))", string(list))
	}
	return nil
}

// argsFor is the arguments of one of l's queries; when narrowSearch asks,
// marked so that PostgreSQL plans the query for their values each time.
// pgx prepares every query, and after five runs of a prepared statement
// PostgreSQL may keep a generic plan made without the values: for q, one
// that walks every row in id order testing each, not one that asks the
// text index. An employee's email as q at 1 000 000 tickets made 117
// requests/s that way, and 519/s planned each time. Lists without q keep
// their prepared plans: planning every list made the cheap ones 25-40%
// slower.
func (l *listQuery) argsFor(args []any) []any {
	if !l.planned {
		return args
	}
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// ---- the migrations ----

// createTextIndexes creates SQLite's FTS5 tables, their triggers, and
// their index of the rows already there. It replaces tables and triggers
// of those names, so it can run again on a database set back to an older
// version. A later migration that rebuilds tickets or employees under
// another name must run it again: content= names the table.
func createTextIndexes(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
	for _, ix := range textIndexes {
		fts := ix.ftsTable()
		columns := strings.Join(ix.columns, ", ")
		values := func(row string) string { return row + "." + strings.Join(ix.columns, ", "+row+".") }
		statements := []string{
			"DROP TRIGGER IF EXISTS " + fts + "_insert",
			"DROP TRIGGER IF EXISTS " + fts + "_update",
			"DROP TRIGGER IF EXISTS " + fts + "_delete",
			"DROP TABLE IF EXISTS " + fts,
			fmt.Sprintf("CREATE VIRTUAL TABLE %s USING fts5(%s, content='%s', content_rowid='id', tokenize='trigram', detail=none, columnsize=0)",
				fts, columns, ix.table),
			fmt.Sprintf("INSERT INTO %s (%s, rank) VALUES ('pgsz', %d)", fts, fts, ftsPageSize),
			// An external-content index forgets a row by being told the
			// values it indexed: the 'delete' command with the old ones.
			fmt.Sprintf("CREATE TRIGGER %s_insert AFTER INSERT ON %s BEGIN "+
				"INSERT INTO %s (rowid, %s) VALUES (new.id, %s); END",
				fts, ix.table, fts, columns, values("new")),
			fmt.Sprintf("CREATE TRIGGER %s_update AFTER UPDATE OF %s ON %s BEGIN "+
				"INSERT INTO %s (%s, rowid, %s) VALUES ('delete', old.id, %s); "+
				"INSERT INTO %s (rowid, %s) VALUES (new.id, %s); END",
				fts, columns, ix.table, fts, fts, columns, values("old"), fts, columns, values("new")),
			fmt.Sprintf("CREATE TRIGGER %s_delete AFTER DELETE ON %s BEGIN "+
				"INSERT INTO %s (%s, rowid, %s) VALUES ('delete', old.id, %s); END",
				fts, ix.table, fts, fts, columns, values("old")),
			fmt.Sprintf("INSERT INTO %s (%s) VALUES ('rebuild')", fts, fts),
			// One segment: a lookup reads one b-tree, not one per piece
			// the rebuild wrote. Later writes add small segments, which
			// FTS5 merges as they come (its automerge).
			fmt.Sprintf("INSERT INTO %s (%s) VALUES ('optimize')", fts, fts),
		}
		for _, statement := range statements {
			if _, err := tx.ExecContext(ctx, statement); err != nil {
				return fmt.Errorf("text index of %s: %w", ix.table, err)
			}
		}
		log.Info("text index built", "table", ix.table, "index", fts)
	}
	return nil
}

// ftsPageSize is the size, in bytes, of the pages in which FTS5 keeps
// each piece's list of rows (its pgsz, 4050 by default). A list of four
// pages or more gets an index of its pages, so that a search skips along
// it to the rows q's other pieces hold instead of reading every entry.
// Smaller pages give shorter lists that index: in the harness every
// employee's email holds "ben" and every phone "000", lists of about
// 10 000 bytes, which at the default size an email as q read whole.
// With 1 000-byte pages the search took 70 µs instead of 257 µs, and the
// email as q at 1 000 000 tickets made 2 524/2 933 requests/s instead of
// 1 993/2 190; the index grew by under 1 %, and ticket writes did not
// change measurably (docs/performance.md).
const ftsPageSize = 1000

// smallerTextPages rebuilds the text indexes that createTextIndexes made
// before it chose ftsPageSize, in pages of that size (the server started
// in 7 s instead of 1 s at 1 000 000 tickets).
func smallerTextPages(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
	return createTextIndexes(ctx, tx, log)
}

// trigramExtension is the PostgreSQL extension the text indexes need.
const trigramExtension = "pg_trgm"

// trigramSignatureBytes is the size of the signatures in PostgreSQL's
// GiST text indexes (pg_trgm's siglen, 12 by default; PostgreSQL 13 and
// later). A GIN index reads the list of rows of every piece of q, and a
// piece in every row (in the harness, every employee's "ben", every
// ticket's "num") has a list as long as the table; it also queues new
// rows in a list each search reads whole until VACUUM. A GiST index
// keeps for each group of rows one bit per piece they hold, so a search
// skips every group lacking one of q's rare pieces, and queues nothing;
// in 256 bytes a group's bits stay sparse enough to skip by. At
// 1 000 000 tickets (16 connections) q=number 999999 went from 80-116
// to 1 041-1 116 requests/s, an employee's email as q from 1 085-1 329
// to 1 345-1 370/s; the tickets' index grew from 59 to 202 MB
// (docs/performance.md). A row's pieces are held whole in its entry,
// which the columns' length limits (models.go) keep small.
const trigramSignatureBytes = 256

// createPostgresTextIndexes creates pg_trgm's GiST indexes, after the
// extension when the database lacks it. Creating an extension needs a
// privilege a database's owner may not have (pg_trgm is trusted, so from
// PostgreSQL 13 an owner may, unless the provider says otherwise): when it
// fails, the savepoint lets the migration go on without the indexes, and
// q scans as it did. It keeps an index already there in today's form, so
// it can run again on a database set back to an older version
// (docs/deploy.md: how to add the indexes once the extension is there),
// and replaces the forms older versions made.
func createPostgresTextIndexes(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
	return createTrigramIndexes(ctx, tx, log, trigramExtension)
}

// createTrigramIndexes is createPostgresTextIndexes with the extension
// named, so that a test can name one that does not exist.
func createTrigramIndexes(ctx context.Context, tx *sql.Tx, log *slog.Logger, extension string) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT trigram_extension"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS "+extension); err != nil {
		if _, rollbackErr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT trigram_extension"); rollbackErr != nil {
			return rollbackErr
		}
		log.Warn("no text index: q reads every ticket and employee; a superuser can add the extension (docs/deploy.md)",
			"extension", extension, "error", err.Error())
		return nil
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT trigram_extension"); err != nil {
		return err
	}
	// The extension lives in one schema of the database, maybe not one on
	// this connection's search_path: its operator class is named with it.
	var schema string
	if err := tx.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = $1`, extension).Scan(&schema); err != nil {
		return err
	}
	opclass := fmt.Sprintf(`"%s".gist_trgm_ops (siglen = %d)`, strings.ReplaceAll(schema, `"`, `""`), trigramSignatureBytes)
	for _, ix := range textIndexes {
		for _, column := range ix.columns { // one per column, as this migration made them first
			if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS ix_"+ix.table+"_"+column+"_trgm"); err != nil {
				return err
			}
		}
		var gin bool // one per table but GIN, as it made them next
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am am ON am.oid = c.relam
			WHERE c.oid = to_regclass($1) AND am.amname <> 'gist')`, ix.pgIndexName()).Scan(&gin); err != nil {
			return err
		}
		if gin {
			if _, err := tx.ExecContext(ctx, "DROP INDEX "+ix.pgIndexName()); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s USING gist ((%s) %s)",
			ix.pgIndexName(), ix.table, ix.pgText(), opclass)); err != nil {
			return fmt.Errorf("text index %s: %w", ix.pgIndexName(), err)
		}
	}
	return nil
}

// oneTextIndexPerTable brings a database whose text indexes
// createPostgresTextIndexes made one per column to one per table, as it
// makes them now (on any other, it changes nothing).
func oneTextIndexPerTable(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
	return replaceTrigramIndexes(ctx, tx, log, trigramExtension)
}

// replaceTrigramIndexes is oneTextIndexPerTable with the extension named.
// Without the extension there is nothing to replace, and the migration
// that made the indexes has already said so: it stays silent.
func replaceTrigramIndexes(ctx context.Context, tx *sql.Tx, log *slog.Logger, extension string) error {
	var installed bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1)",
		extension).Scan(&installed); err != nil || !installed {
		return err
	}
	return createTrigramIndexes(ctx, tx, log, extension)
}

// gistTextIndexes brings a database whose text indexes
// createPostgresTextIndexes made as GIN to GiST ones. It does what
// oneTextIndexPerTable does, but stays a migration of its own: a database
// that ran that one before GiST runs this one next.
func gistTextIndexes(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
	return replaceTrigramIndexes(ctx, tx, log, trigramExtension)
}
