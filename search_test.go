package main

// search_test.go: search.go: the text indexes behind q find every row the
// exact match finds, so a list answers as the scan does for tricky text
// and tricky q alike; they follow every insert, update and delete; an
// upgraded original's file and a backup carry a working index; a q found
// in many rows is left to the scan; and PostgreSQL without pg_trgm goes
// on without the indexes.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// seTickets are ticket texts (title, description) that try the folding of
// case, accents, combining marks, emoji, quotes, LIKE's and FTS5's syntax,
// and texts of 1 to 4 characters; nil is a NULL, which rows copied from
// the original may hold. They are written straight into the table: the
// API's rules for new tickets would refuse most of them.
var seTickets = [][2]any{
	{"Printer JAM in tray 2", "paper jam; call O'Brien"},
	{"ÉCOLE élève", "Ecole eleve"},
	{"Straße", "STRASSE und strasse"},
	{"İstanbul office", "ISTANBUL istanbul ıi"},
	{"Café", "Cafe\u0301 decomposed"},
	{"🎉 party 🎉🎉", "🖨️ printer emoji"},
	{`say "hi" now`, `back\slash and 'single'`},
	{"100% done", "snake_case and 50%_off"},
	{"NEAR AND OR NOT", "(x) * ^ : + - {col}: NEAR(a b)"},
	{"ΣΊΣΥΦΟΣ", "σίσυφος ς"},
	{"ǅemal Ǆ ǆ", "ﬁne ligature ﬀ"},
	{"\u212A Kelvin", "kelvin K"},
	{"ＡＢＣ fullwidth", "abc ascii"},
	{"ab", "a"},
	{nil, "only a description"},
	{"only a title", nil},
	{"tab\there", "line\nbreak"},
	{"ab🎉c", "x\u0301yz"},
	{"aaaa", "aaa"},
	{"Nöel über", "NÖEL ÜBER"},
}

// seEmployees: first name, last name, nick name, email, phone.
var seEmployees = [][5]string{
	{"Jürgen", "Müller", "Jue", "j.mueller@example.com", "+380504439001"},
	{"ÖZGÜR", "Şahin", "Öz", "ozgur_s@example.com", "+905551112233"},
	{"İlkay", "Yıldız", "ilk", "ilkay%y@example.com", "+905551112234"},
	{"Jose\u0301", "O'Brien", `"JB"`, "jose@example.com", "+34600111222"},
	{"Анна", "Шевченко", "Аня", "anna@example.com", "+380504439002"},
}

// seQueries are the q's: pieces of the texts above in other cases and
// forms, LIKE's and FTS5's syntax, SQL, and 1, 2 and 3 characters.
var seQueries = []string{
	"jam", "JAM", "Jam", "r j", "ray 2", "; call",
	"ÉCO", "éco", "Éco", "école", "ECOLE", "ole",
	"straße", "STRASSE", "STRAẞE", "traß", "aße", "ß",
	"İst", "istanbul", "ISTANBUL", "i\u0307st", "ıi", "İ",
	"café", "Café", "cafe", "cafe\u0301", "e\u0301", "\u0301", "fe\u0301 ",
	"🎉", "🎉🎉", "y 🎉", "🎉 p", "🖨️", "🎉c",
	`"`, `"hi"`, `""`, `say "`, `\`, `k\s`, `\slash`, "'", "'single'", "O'B",
	"%", "100%", "%_o", "_", "e_c", "snake_", "%y@", "_s@",
	"NEAR", "AND OR", "OR NOT", "NOT", "(x)", "*", "x) *", "^ :", "{col}:", "-", "NEAR(a b)", "a* OR b*", "col:abc", "^abc", "+abc",
	"σίσ", "ΣΊΣ", "ς", "φος", "ǅem", "ǆ", "ﬁ", "fi", "ﬁne", "K", "\u212A", "\u212Ake", "kel",
	"ＡＢＣ", "abc", "ABC", "ab", "a", "b", "aa", "aaa", "aaaa", "aaaaa",
	"only", "tab\th", "e\nb", "ab🎉", "b🎉c", "x\u0301y", "\u0301yz",
	"nöel", "NÖEL", "über", "ÜBER",
	"jürgen", "JÜRGEN", "müll", "MÜLL", "mueller", "@example", "0443", "+3805", "+3", "9001",
	"ÖZG", "özg", "Şah", "şah", "İlk", "ilk", "yıl", "jos", "José", "анн", "Анна", "шев", "ШЕВ",
	"zzz-no-match", strings.Repeat("x", 64), "' OR '1'='1", "'; DROP TABLE tickets; --", `" OR ""="`,
}

// seInsert writes seTickets and seEmployees straight into the database
// (the triggers index them as any write), the tickets about employee and
// created by nobody.
func seInsert(t *testing.T, ts *testServer, employee int64) {
	t.Helper()
	ctx := context.Background()
	err := ts.store.inTx(ctx, func(tx *txn) error {
		for _, text := range seTickets {
			if _, err := tx.ExecContext(ctx, "INSERT INTO tickets (title, description, status, employee_id, created) "+
				"VALUES (?, ?, 'New', ?, '2025-01-01 00:00:00')", text[0], text[1], employee); err != nil {
				return err
			}
		}
		for _, e := range seEmployees {
			if _, err := tx.ExecContext(ctx, "INSERT INTO employees (first_name, last_name, nick_name, email, phone, created) "+
				"VALUES (?, ?, ?, ?, ?, '2025-01-01 00:00:00')", e[0], e[1], e[2], e[3], e[4]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// seFind is the ids of route's rows (ticket or employee) that q selects,
// in id order, and the plan that found them. Served by the index: after
// narrowSearch, on PostgreSQL with every other way to the rows turned
// off, so its trigram index must serve every q it is asked for (through
// a bitmap scan). Not: the scan (SQLite without narrowSearch, PostgreSQL
// without index or bitmap scans).
func seFind(t *testing.T, ts *testServer, route, q string, indexed bool) (ids []int64, plan string) {
	t.Helper()
	ctx := context.Background()
	l, _ := liQuery(t, ts, route, "q="+url.QueryEscape(q))
	settings := []string{"SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_indexscan = off"}
	if indexed {
		if err := ts.store.narrowSearch(ctx, l); err != nil {
			t.Fatal(err)
		}
		settings = []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_indexscan = off", "SET LOCAL enable_indexonlyscan = off"}
	}
	d := ts.store.dialect
	query := "SELECT id FROM " + route + "s WHERE " + strings.Join(l.conds, " AND ") + " ORDER BY id"
	tx := liRead(t, ts, settings...)
	defer tx.Rollback()
	plan = liExplain(t, tx, d, query, l.args)
	rows, err := tx.QueryContext(ctx, d.rebind(query), l.args...)
	if err != nil {
		t.Fatalf("q=%q: %v", q, err)
	}
	defer rows.Close()
	ids = []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids, plan
}

// seUsesIndex tells whether a plan reads route's text index: on SQLite,
// the candidates narrowSearch took from it (a list of ids, json_each).
func seUsesIndex(ts *testServer, route, plan string) bool {
	if ts.store.dialect == postgresDialect {
		return strings.Contains(plan, "ix_"+route+"s_") && strings.Contains(plan, "_trgm")
	}
	return strings.Contains(plan, "json_each")
}

// TestSearchMatchesScan: for every q of seQueries, the rows a text index
// finds are exactly the rows the scan finds, on tickets and employees,
// and the API answers them: the index's candidates are never fewer than
// the exact answer, whatever its folding of case or its reading of q.
func TestSearchMatchesScan(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	employee := int64(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"].(float64))
	seInsert(t, ts, employee)

	// A few answers, the same on both databases (ASCII case only, or
	// no letters), so that the comparison below compares real matches.
	firstTicket := ltIDs(ts.call("GET", "/ticket/?limit=1", token, nil).expect(200))[0]
	ticket := func(n int) int64 { return firstTicket + int64(n) }
	pinned := map[string][]int64{
		"JAM": {ticket(0)}, `"hi"`: {ticket(6)}, "%_o": {ticket(7)}, "NEAR(a b)": {ticket(8)},
		"🎉🎉": {ticket(5)}, "cafe\u0301": {ticket(4)}, "b🎉c": {ticket(17)}, "aaaa": {ticket(18)}, "tab\th": {ticket(16)},
	}

	matched := map[string]int{}
	for _, route := range []string{"ticket", "employee"} {
		for _, q := range seQueries {
			want, scanPlan := seFind(t, ts, route, q, false)
			got, plan := seFind(t, ts, route, q, true)
			if !slices.Equal(got, want) {
				t.Errorf("%s q=%q: the index finds %v, the scan %v\nplan: %s", route, q, got, want, plan)
			}
			if seUsesIndex(ts, route, scanPlan) {
				t.Fatalf("%s q=%q: the scan's plan reads the text index:\n%s", route, q, scanPlan)
			}
			// Both databases ask their index only for q of 3 characters
			// or more, which has a trigram.
			served := utf8.RuneCountInString(q) >= minTrigramQuery
			if seUsesIndex(ts, route, plan) != served {
				t.Errorf("%s q=%q: index used %v, want %v:\n%s", route, q, !served, served, plan)
			}
			if len(want) > 0 {
				matched[route]++
			}
			if wantIDs, ok := pinned[q]; ok && route == "ticket" && !slices.Equal(want, wantIDs) {
				t.Errorf("ticket q=%q: %v, want %v", q, want, wantIDs)
			}
			answer := ltIDs(ts.call("GET", "/"+route+"/?limit=100&q="+url.QueryEscape(q), token, nil).expect(200))
			if !slices.Equal(answer, want) {
				t.Errorf("GET /%s/?q=%q answers %v, the scan finds %v", route, q, answer, want)
			}
		}
	}
	if matched["ticket"] < 60 || matched["employee"] < 25 {
		t.Fatalf("only %v of %d queries matched anything: the texts or queries have changed", matched, len(seQueries))
	}
}

// TestSearchIndexFollowsWrites: a ticket or employee is found by its new
// text after an update and never by its old one, nor after its delete.
// On SQLite the index itself is read too (the exact match would hide a
// stale entry) and checked against the table.
func TestSearchIndexFollowsWrites(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	found := func(route, q string) []int64 {
		t.Helper()
		return ltIDs(ts.call("GET", "/"+route+"/?q="+url.QueryEscape(q), token, nil).expect(200))
	}
	indexed := func(table, q string) []int64 {
		t.Helper()
		if ts.store.dialect != sqliteDialect {
			return nil
		}
		return queryIDs(ts, "SELECT rowid FROM "+table+"_text WHERE "+table+"_text MATCH ? ORDER BY rowid", ftsQuery(q))
	}
	inStep := func(step string) {
		t.Helper()
		if ts.store.dialect != sqliteDialect {
			return
		}
		for _, table := range []string{"tickets", "employees"} {
			// rank 1: compare the index with the table's text, row by row.
			if _, err := ts.store.write.Exec("INSERT INTO " + table + "_text (" + table + "_text, rank) VALUES ('integrity-check', 1)"); err != nil {
				t.Fatalf("after %s, the text index of %s differs from the table: %v", step, table, err)
			}
		}
	}
	expect := func(step string, got []int64, want ...int64) {
		t.Helper()
		if want == nil {
			want = []int64{}
		}
		if got == nil {
			got = []int64{}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("after %s: %v, want %v", step, got, want)
		}
	}

	employee := validEmployee(1)
	e := int64(ts.call("POST", "/employee/", token, employee).expect(200).obj()["id"].(float64))
	body := map[string]any{"title": "Walrus on the printer", "description": "Tusk marks on the paper", "status": "New"}
	tk := int64(ts.call("POST", fmt.Sprintf("/ticket/%d", e), token, body).expect(200).obj()["id"].(float64))
	expect("the insert", found("ticket", "walrus"), tk)
	expect("the insert", found("ticket", "tusk"), tk)
	expect("the insert", found("employee", "müller"), e)
	inStep("the inserts")

	body = map[string]any{"title": "Narwhal in the copier", "description": "Horn marks on the paper", "status": "New"}
	ts.call("PUT", fmt.Sprintf("/ticket/%d", tk), token, body).expect(200)
	expect("the update", found("ticket", "walrus"))
	expect("the update", found("ticket", "tusk"))
	expect("the update", found("ticket", "narwhal"), tk)
	expect("the update", found("ticket", "horn marks"), tk)
	if ts.store.dialect == sqliteDialect {
		expect("the update, in the index", indexed("tickets", "walrus"))
		expect("the update, in the index", indexed("tickets", "narwhal"), tk)
	}
	employee["last_name"] = "Okonkwo"
	ts.call("PUT", fmt.Sprintf("/employee/%d", e), token, employee).expect(200)
	expect("the employee's update", found("employee", "müller"))
	expect("the employee's update", found("employee", "okonkwo"), e)
	expect("the employee's update", found("employee", "jürgen"), e)
	if ts.store.dialect == sqliteDialect {
		expect("the employee's update, in the index", indexed("employees", "müller"))
	}
	inStep("the updates")

	ts.call("DELETE", fmt.Sprintf("/ticket/%d", tk), token, nil).expect(200)
	ts.call("DELETE", fmt.Sprintf("/employee/%d", e), token, nil).expect(200)
	expect("the delete", found("ticket", "narwhal"))
	expect("the delete", found("employee", "okonkwo"))
	if ts.store.dialect == sqliteDialect {
		expect("the delete, in the index", indexed("tickets", "narwhal"))
		expect("the delete, in the index", indexed("tickets", "paper"))
		expect("the delete, in the index", indexed("employees", "okonkwo"))
	}
	inStep("the deletes")
}

// TestSearchCommonQueryScans: on SQLite, a q whose trigrams are in
// fewCandidates rows or more is matched by the scan, whose page stops at
// its first matches, and a rare one by the index; both answer exactly.
func TestSearchCommonQueryScans(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	if ts.store.dialect != sqliteDialect {
		t.Skip("PostgreSQL's planner chooses between index and scan from its statistics")
	}
	_, token := ts.userWithToken("admin", "admin")
	e := int64(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"].(float64))
	ctx := context.Background()
	err := ts.store.inTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO tickets (title, description, status, employee_id, created)
			SELECT 'Ticket number ' || i, CASE WHEN i % 1000 = 0 THEN 'A quokka' ELSE 'Seeded' END, 'New', ?,
				'2025-01-01 00:00:00' FROM n`, fewCandidates, e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q       string
		total   int
		indexed bool
	}{
		{"number", fewCandidates, false},
		{"quokka", fewCandidates / 1000, true},
		{"number 1234", 1, true},
	} {
		if _, plan := seFind(t, ts, "ticket", tt.q, true); seUsesIndex(ts, "ticket", plan) != tt.indexed {
			t.Errorf("q=%s: index used %v, want %v:\n%s", tt.q, !tt.indexed, tt.indexed, plan)
		}
		res := ts.call("GET", "/ticket/?limit=3&q="+url.QueryEscape(tt.q), token, nil).expect(200)
		if total := res.header.Get("X-Total-Count"); total != fmt.Sprint(tt.total) || len(res.list()) != min(3, tt.total) {
			t.Errorf("q=%s: %d tickets, X-Total-Count %s; want %d", tt.q, len(res.list()), total, tt.total)
		}
	}
}

// TestSearchInUpgradedOriginal: the original's file, upgraded, has its
// rows in the text indexes, which then follow new writes.
func TestSearchInUpgradedOriginal(t *testing.T) {
	t.Parallel()
	if testDatabaseURL != "" {
		t.Skip("the original's files are SQLite")
	}
	ts := newTestServer(t, func(c *Config) { c.DatabaseURL = copyFixture(t, "original.db") })
	for _, tt := range []struct {
		route, q string
		want     []int64
	}{
		{"ticket", "hdd", []int64{3}},
		{"ticket", "TRAY 2", []int64{2}},
		{"ticket", "problem", []int64{1, 3}},
		{"employee", "müller", []int64{2}},
		{"employee", "shevchenko", []int64{3}},
	} {
		got, plan := seFind(t, ts, tt.route, tt.q, true)
		if !slices.Equal(got, tt.want) || !seUsesIndex(ts, tt.route, plan) {
			t.Errorf("%s q=%s: %v, want %v from the text index:\n%s", tt.route, tt.q, got, tt.want, plan)
		}
	}
	for _, table := range []string{"tickets", "employees"} {
		if _, err := ts.store.write.Exec("INSERT INTO " + table + "_text (" + table + "_text, rank) VALUES ('integrity-check', 1)"); err != nil {
			t.Errorf("the upgraded file's text index of %s differs from the table: %v", table, err)
		}
	}
}

// TestSearchIndexInBackup: `ticketapi backup` copies the text index with
// the rows (the FTS5 table and its shadow tables are in the file), and
// the copy, opened as a database, keeps it in step.
func TestSearchIndexInBackup(t *testing.T) {
	t.Parallel()
	if testDatabaseURL != "" {
		t.Skip("backup copies SQLite files")
	}
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	e := int64(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"].(float64))
	seInsert(t, ts, e)
	dest := filepath.Join(t.TempDir(), "backup.db")
	if err := backupDatabase(context.Background(), ts.cfg.DatabaseURL, dest); err != nil {
		t.Fatal(err)
	}

	restored := newTestServer(t, func(c *Config) { c.DatabaseURL = dest })
	for _, q := range []string{"jam", "y 🎉", "straße", "aaaa"} {
		want, _ := seFind(t, ts, "ticket", q, false)
		got, plan := seFind(t, restored, "ticket", q, true)
		if !slices.Equal(got, want) || len(want) == 0 || !seUsesIndex(restored, "ticket", plan) {
			t.Errorf("q=%q on the backup: %v, want %v from the text index:\n%s", q, got, want, plan)
		}
	}
	_, token = restored.userWithToken("admin2", "admin")
	body := map[string]any{"title": "Walrus on the printer", "description": "Tusk marks on the paper", "status": "New"}
	tk := restored.call("POST", fmt.Sprintf("/ticket/%d", e), token, body).expect(200).obj()["id"].(float64)
	if got, _ := seFind(t, restored, "ticket", "walrus", true); !slices.Equal(got, []int64{int64(tk)}) {
		t.Errorf("a ticket written to the backup: q=walrus finds %v, want [%v]", got, tk)
	}
}

// TestSearchWithoutTrigramExtension: when PostgreSQL refuses pg_trgm, the
// migrations say so in one WARN line and go on in the same transaction
// without the indexes (q then scans).
func TestSearchWithoutTrigramExtension(t *testing.T) {
	t.Parallel()
	db := cpOpen(t, "pgx", newPostgresSchema(t))
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "CREATE TABLE before_the_indexes (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	if err := createTrigramIndexes(ctx, tx, log, "pg_trgm_not_installed"); err != nil {
		t.Fatalf("a refused extension ends the migration: %v", err)
	}
	// The later migration to one index per table finds no extension and
	// says nothing more: one WARN line in all (docs/deploy.md).
	if err := replaceTrigramIndexes(ctx, tx, log, "pg_trgm_not_installed"); err != nil {
		t.Fatalf("the migration to one index per table, without the extension: %v", err)
	}
	if lines := strings.Split(strings.TrimSpace(logged.String()), "\n"); len(lines) != 1 ||
		!strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "pg_trgm_not_installed") {
		t.Errorf("logged %q, want one WARN line naming the extension", logged.String())
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO before_the_indexes VALUES (1)"); err != nil {
		t.Fatalf("the transaction cannot go on after the refused extension: %v", err)
	}
	var indexes int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE '%trgm'").
		Scan(&indexes); err != nil || indexes != 0 {
		t.Errorf("%d trigram indexes (%v), want none", indexes, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestSearchIndexesAddedLaterDoc: docs/deploy.md's way to build the text
// indexes once pg_trgm is there sets the schema to the version before
// the migration that makes them.
func TestSearchIndexesAddedLaterDoc(t *testing.T) {
	doc, err := os.ReadFile("docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`UPDATE schema_version SET version = (\d+)`).FindSubmatch(doc)
	want := versionBefore(t, postgresDialect, createPostgresTextIndexes)
	if m == nil || string(m[1]) != strconv.Itoa(want) {
		t.Errorf("docs/deploy.md sets the version %q, want %d", m, want)
	}
}

// sePostgresIndexes is how many trigram indexes a PostgreSQL database has
// in its schema: one per table of textIndexes when pg_trgm is there.
func sePostgresIndexes(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE '%\\_trgm'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSearchPlannedForItsValue: on PostgreSQL a list with a q the text
// indexes serve is never left prepared, so it is planned for q's value
// each time; a prepared one would go to a generic plan, made without the
// value, after its fifth run. A list whose q rides on an employee_id
// filter keeps its prepared statement (the check can see one).
func TestSearchPlannedForItsValue(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	if ts.store.dialect != postgresDialect {
		t.Skip("SQLite plans every list's query for its values; narrowSearch hands it the candidates")
	}
	ts.store.read.SetMaxOpenConns(1) // one session: pg_prepared_statements is per session
	_, token := ts.userWithToken("admin", "admin")
	e := int64(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"].(float64))
	ts.call("POST", fmt.Sprintf("/ticket/%d", e), token, validTicket()).expect(200)
	prepared := func(like string) (n int) {
		t.Helper()
		err := ts.store.read.DB.QueryRow("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1", like).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := 0; i < 7; i++ {
		if got := ts.call("GET", "/employee/?q=example.com", token, nil).expect(200).list(); len(got) != 1 {
			t.Fatalf("q=example.com found %d employees, want 1", len(got))
		}
		if got := ts.call("GET", fmt.Sprintf("/ticket/?employee_id=%d&q=network", e), token, nil).expect(200).list(); len(got) != 1 {
			t.Fatalf("q=network within employee %d found %d tickets, want 1", e, len(got))
		}
	}
	if n := prepared("%FROM employees WHERE%lower(email) LIKE%"); n != 0 {
		t.Errorf("%d prepared statements search employees by q, want none", n)
	}
	if n := prepared("%FROM tickets WHERE%lower(title) LIKE%"); n == 0 {
		t.Error("the q within one employee's tickets is not prepared: the check sees no prepared statement at all")
	}
}

// TestFTSQueryPieces: the pieces ftsQuery asks for are q's trigrams laid
// end to end and its last three, each quoted so that nothing is syntax.
func TestFTSQueryPieces(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ q, want string }{
		{"abc", `"abc"`},
		{"abcdef", `"abc" AND "def"`},
		{"bench5000@", `"ben" AND "ch5" AND "000" AND "00@"`},
		{"number 99", `"num" AND "ber" AND " 99"`},
		{`a"bcd`, `"a""b" AND "bcd"`},
		{"🎉 party", `"🎉 p" AND "art" AND "rty"`},
		{"x AND y", `"x A" AND "ND " AND "D y"`},
	} {
		if got := ftsQuery(tt.q); got != tt.want {
			t.Errorf("ftsQuery(%q) = %s, want %s", tt.q, got, tt.want)
		}
	}
}

// TestSearchRowsAtTheLimits: an employee and a ticket whose searched
// fields are all as long as the API allows, and of as many different
// pieces as can be, are written, which indexes their text, and q finds
// them (PostgreSQL's GiST index keeps a row's pieces whole in one entry
// of at most a page: docs/performance.md).
func TestSearchRowsAtTheLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	employee := validEmployee(1)
	for field, value := range map[string]string{
		"first_name": "Qwertzuiopasdfgh", "last_name": "Yxcvbnmlkjhgfdsa", "nick_name": "Mnbvcxyasdfghjkl",
		"phone": "+1234567890123456789", "email": "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c2v3b4n5m6@example.com",
	} {
		employee[field] = value
	}
	ticket := map[string]any{"title": "Qz7 Wx9 Kp3 Lm2 Vb8 Nc4 Hj6 Tg5#",
		"description": "Rf1 Ed2 Ws3 Qa4 Zx5 Cv6 Bn7 Mk8 Jl9 Po0 Iu1 Yt2 Gh3 Df4 Sa5 Xy9.", "status": "New"}
	for name, lengths := range map[string][2]int{"email": {len(employee["email"].(string)), 64},
		"title": {len(ticket["title"].(string)), 32}, "description": {len(ticket["description"].(string)), 64}} {
		if lengths[0] != lengths[1] {
			t.Fatalf("the test's %s has %d characters, want the API's limit %d", name, lengths[0], lengths[1])
		}
	}
	e := int64(ts.call("POST", "/employee/", token, employee).expect(200).obj()["id"].(float64))
	tk := int64(ts.call("POST", fmt.Sprintf("/ticket/%d", e), token, ticket).expect(200).obj()["id"].(float64))
	if found := ltIDs(ts.call("GET", "/employee/?q=o9p0a1", token, nil).expect(200)); !slices.Equal(found, []int64{e}) {
		t.Errorf("q=o9p0a1 finds employees %v, want [%d]", found, e)
	}
	if found := ltIDs(ts.call("GET", "/ticket/?q="+url.QueryEscape("Po0 Iu1"), token, nil).expect(200)); !slices.Equal(found, []int64{tk}) {
		t.Errorf("q=Po0 Iu1 finds tickets %v, want [%d]", found, tk)
	}
}

// sePostgresWithEmployee is a PostgreSQL test server with an admin's
// token and one employee; on SQLite the test is skipped (the text indexes
// these tests upgrade are PostgreSQL's).
func sePostgresWithEmployee(t *testing.T) (ts *testServer, token string, employee map[string]any) {
	t.Helper()
	ts = newTestServer(t)
	if ts.store.dialect != postgresDialect {
		t.Skip("PostgreSQL's text indexes")
	}
	_, token = ts.userWithToken("admin", "admin")
	return ts, token, ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()
}

// seAsOlderVersion runs statements on ts's database, so that it looks as
// an older version left it, and closes ts: a server opening the database
// again upgrades it.
func seAsOlderVersion(t *testing.T, ts *testServer, statements ...string) {
	t.Helper()
	for _, stmt := range statements {
		if _, err := ts.store.write.DB.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	ts.srv.Close()
	ts.store.Close()
}

// TestSearchOneIndexPerTable: a PostgreSQL database whose text indexes
// were made one per column gets one per table at its next start, and
// its q answers as before.
func TestSearchOneIndexPerTable(t *testing.T) {
	t.Parallel()
	ts, _, e := sePostgresWithEmployee(t)
	perColumn := []string{"ix_employees_email_trgm", "ix_tickets_title_trgm"}
	seAsOlderVersion(t, ts,
		"DROP INDEX ix_employees_text_trgm", "DROP INDEX ix_tickets_text_trgm",
		"CREATE INDEX ix_employees_email_trgm ON employees USING gin (lower(email) public.gin_trgm_ops)",
		"CREATE INDEX ix_tickets_title_trgm ON tickets USING gin (lower(title) public.gin_trgm_ops)",
		fmt.Sprintf("UPDATE schema_version SET version = %d", versionBefore(t, postgresDialect, oneTextIndexPerTable)))
	again := newTestServer(t, func(c *Config) { c.DatabaseURL = ts.cfg.DatabaseURL })
	for _, name := range perColumn {
		if def := muIndexDefinition(t, again.store.write.DB, true, name); def != "" {
			t.Errorf("after the upgrade the database still has %s", def)
		}
	}
	for _, ix := range textIndexes {
		if def := muIndexDefinition(t, again.store.write.DB, true, ix.pgIndexName()); !strings.Contains(def, "gist_trgm_ops") {
			t.Errorf("after the upgrade %s is %q", ix.pgIndexName(), def)
		}
	}
	_, token := again.userWithToken("admin2", "admin")
	found := ltIDs(again.call("GET", "/employee/?q="+url.QueryEscape(e["email"].(string)), token, nil).expect(200))
	if len(found) != 1 || found[0] != int64(e["id"].(float64)) {
		t.Errorf("q=%s finds %v after the upgrade, want [%v]", e["email"], found, e["id"])
	}
}

// TestSearchGistTextIndexes: a PostgreSQL database whose text indexes
// are GIN gets GiST ones of trigramSignatureBytes at its next start, and
// its q answers as before; a database whose indexes are GiST already
// keeps them (the migration builds nothing again).
func TestSearchGistTextIndexes(t *testing.T) {
	t.Parallel()
	ts, token, e := sePostgresWithEmployee(t)
	ticket := validTicket()
	ticket["description"] = "The walrus is back again"
	tk := ts.call("POST", fmt.Sprintf("/ticket/%v", e["id"]), token, ticket).expect(200).obj()
	before := versionBefore(t, postgresDialect, gistTextIndexes)
	seAsOlderVersion(t, ts,
		"DROP INDEX ix_employees_text_trgm", "DROP INDEX ix_tickets_text_trgm",
		"CREATE INDEX ix_employees_text_trgm ON employees USING gin (("+employeeText.pgText()+") public.gin_trgm_ops)",
		"CREATE INDEX ix_tickets_text_trgm ON tickets USING gin (("+ticketText.pgText()+") public.gin_trgm_ops)",
		fmt.Sprintf("UPDATE schema_version SET version = %d", before))

	// restart opens the database again and checks what its text indexes
	// are and find; it gives their oids, and leaves the database at the
	// version before the migration.
	restarts := 0
	restart := func(when string) map[string]int64 {
		t.Helper()
		again := newTestServer(t, func(c *Config) { c.DatabaseURL = ts.cfg.DatabaseURL })
		defer func() {
			if _, err := again.store.write.DB.Exec(fmt.Sprintf("UPDATE schema_version SET version = %d", before)); err != nil {
				t.Error(err)
			}
			again.srv.Close()
			again.store.Close()
		}()
		oids := map[string]int64{}
		for _, ix := range textIndexes {
			def := muIndexDefinition(t, again.store.write.DB, true, ix.pgIndexName())
			if !strings.Contains(def, "USING gist") || !strings.Contains(def, fmt.Sprintf("siglen='%d'", trigramSignatureBytes)) {
				t.Errorf("%s: %s is %q, want GiST with siglen %d", when, ix.pgIndexName(), def, trigramSignatureBytes)
			}
			oids[ix.pgIndexName()] = stScalar(t, again.store.write.DB, "SELECT to_regclass($1)::oid::bigint", ix.pgIndexName()).(int64)
		}
		restarts++
		_, token := again.userWithToken(fmt.Sprintf("admin%d", restarts), "admin")
		if found := ltIDs(again.call("GET", "/employee/?q="+url.QueryEscape(e["email"].(string)), token, nil).expect(200)); !slices.Equal(found, []int64{int64(e["id"].(float64))}) {
			t.Errorf("%s: q=%s finds %v, want [%v]", when, e["email"], found, e["id"])
		}
		if found := ltIDs(again.call("GET", "/ticket/?q=WALRUS", token, nil).expect(200)); !slices.Equal(found, []int64{int64(tk["id"].(float64))}) {
			t.Errorf("%s: q=WALRUS finds %v, want [%v]", when, found, tk["id"])
		}
		return oids
	}
	first := restart("after the upgrade")
	if second := restart("after the migration ran again"); !maps.Equal(first, second) {
		t.Errorf("running the migration again rebuilt the GiST indexes: oids %v, then %v", first, second)
	}
}

// TestSearchSmallTextPages: SQLite's text indexes keep their lists in
// pages of ftsPageSize bytes, on a new database and on one whose indexes
// an older version built in FTS5's default pages; the upgrade leaves
// each in one segment, and they still find exactly the rows holding q.
func TestSearchSmallTextPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	if ts.store.dialect != sqliteDialect {
		t.Skip("PostgreSQL's text indexes are pg_trgm's, which have no page size to choose")
	}
	db := ts.store.write.DB
	// The largest page of an index's lists (ids up to 10 hold its
	// settings and structure) and its page size setting.
	pages := func(t *testing.T, db *sql.DB, fts string) (largest int64, pgsz int64) {
		t.Helper()
		largest = stScalar(t, db, "SELECT COALESCE(max(length(block)), 0) FROM "+fts+"_data WHERE id > 10").(int64)
		pgsz = stScalar(t, db, "SELECT v FROM "+fts+"_config WHERE k = 'pgsz'").(int64)
		return largest, pgsz
	}
	for _, ix := range textIndexes {
		if _, pgsz := pages(t, db, ix.ftsTable()); pgsz != ftsPageSize {
			t.Errorf("a new database's %s has pages of %d bytes, want %d", ix.ftsTable(), pgsz, ftsPageSize)
		}
	}
	// 3 000 employees share the pieces of "@example.com": lists of more
	// than one page of ftsPageSize bytes.
	ctx := context.Background()
	err := ts.store.inTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
			INSERT INTO employees (first_name, last_name, nick_name, phone, email, birthday, country, city, address, created)
			SELECT 'Anna', 'Berg', 'ab', printf('+4930%07d', i), printf('anna%d@example.com', i),
				'1990-01-01', 'Germany', 'Berlin', 'Street 1', '2025-01-01 00:00:00' FROM n`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// 20 000 tickets: more pieces than FTS5 holds in memory while it
	// indexes (1 MB), so a rebuild writes them as more than one segment.
	err = ts.store.inTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
			INSERT INTO tickets (title, description, status) SELECT printf('Ticket %d of floor %d', i, i % 97),
				printf('Printer %x jams %d pages on tray %d', i * 7919, i % 1000, i % 13), 'open' FROM n`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// segments is how many segments an index's lists are in.
	segments := func(db *sql.DB, fts string) int64 {
		return stScalar(t, db, "SELECT count(DISTINCT segid) FROM "+fts+"_idx").(int64)
	}
	for _, ix := range textIndexes { // as an older version built them
		fts := ix.ftsTable()
		for _, stmt := range []string{
			"INSERT INTO " + fts + " (" + fts + ", rank) VALUES ('pgsz', 4050)",
			"INSERT INTO " + fts + " (" + fts + ") VALUES ('rebuild')",
		} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", versionBefore(t, sqliteDialect, smallerTextPages))); err != nil {
		t.Fatal(err)
	}
	if largest, _ := pages(t, db, employeeText.ftsTable()); largest <= 2*ftsPageSize {
		t.Fatalf("in default pages the largest is %d bytes: the test needs longer lists", largest)
	}
	if n := segments(db, ticketText.ftsTable()); n < 2 {
		t.Fatalf("a rebuild left %s in %d segment: the test needs more tickets", ticketText.ftsTable(), n)
	}
	ts.srv.Close()
	ts.store.Close()
	again := newTestServer(t, func(c *Config) { c.DatabaseURL = ts.cfg.DatabaseURL })
	for _, ix := range textIndexes {
		// A page ends with the entry that takes it past the size.
		if largest, pgsz := pages(t, again.store.write.DB, ix.ftsTable()); pgsz != ftsPageSize || largest > ftsPageSize+16 {
			t.Errorf("after the upgrade %s has pages of %d bytes, the largest %d; want %d", ix.ftsTable(), pgsz, largest, ftsPageSize)
		}
		// The upgrade ends with FTS5's optimize (docs/performance.md).
		if n := segments(again.store.write.DB, ix.ftsTable()); n != 1 {
			t.Errorf("after the upgrade %s is in %d segments, want 1", ix.ftsTable(), n)
		}
	}
	_, token := again.userWithToken("admin", "admin")
	for q, want := range map[string]int{"anna2999@": 1, "anna29": 111, "@example.com": 3000, "anna3001@": 0} {
		res := again.call("GET", "/employee/?limit=1&q="+url.QueryEscape(q), token, nil).expect(200)
		if total := res.header.Get("X-Total-Count"); total != fmt.Sprint(want) {
			t.Errorf("q=%s: X-Total-Count %s after the upgrade, want %d", q, total, want)
		}
	}
}
