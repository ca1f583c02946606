package main

// migrate_test.go: migrate.go: the original project's database files
// (testdata/original.db, testdata/original-shipped.db) open and upgrade in
// place without losing a row, old password hashes keep working and are
// re-hashed, and opening an upgraded file again changes nothing.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// stOpenPristine opens an untouched copy of a fixture read-only, to compare
// the upgraded file with.
func stOpenPristine(t *testing.T, name string) *sql.DB {
	t.Helper()
	path := copyFixture(t, name)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// stRows reads every row of a table (ordered by id), each as column → value.
func stRows(t *testing.T, db *sql.DB, table string) []map[string]any {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY id")
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]any{}
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			row[c] = vals[i]
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stSameRows fails unless two tables hold the same rows, column by column.
func stSameRows(t *testing.T, table string, got, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", table, len(got), len(want))
	}
	for i := range want {
		delete(got[i], "version") // employees.version, which the original has not: employeeanswers.go
		delete(want[i], "version")
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s row %d differs:\n got  %#v\n want %#v", table, i, got[i], want[i])
		}
	}
}

// stBool reads a BOOLEAN column, whichever Go type the driver gives it.
func stBool(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case int64:
		return b != 0
	}
	return false
}

// stAsJSON turns a database row into what the API should show for it:
// integers as JSON numbers, booleans as booleans, role as a JSON array.
func stAsJSON(t *testing.T, row map[string]any, drop ...string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range row {
		if slices.Contains(drop, k) {
			continue
		}
		switch k {
		case "disabled", "login_denied":
			out[k] = stBool(v)
		case "role":
			var roles []any
			if err := json.Unmarshal([]byte(v.(string)), &roles); err != nil {
				t.Fatalf("role %q: %v", v, err)
			}
			out[k] = roles
		default:
			if n, ok := v.(int64); ok {
				out[k] = float64(n)
			} else {
				out[k] = v
			}
		}
	}
	return out
}

func stScalar(t *testing.T, db *sql.DB, query string, args ...any) any {
	t.Helper()
	var v any
	if err := db.QueryRow(query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

func stHash(t *testing.T, ts *testServer, username string) string {
	t.Helper()
	var h string
	if err := ts.store.read.QueryRowContext(context.Background(), "SELECT hashed_password FROM users WHERE username = ?", username).Scan(&h); err != nil {
		t.Fatalf("hash of %s: %v", username, err)
	}
	return h
}

func stSchema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestOriginalDatabaseUpgrade(t *testing.T) {
	t.Parallel()
	path := copyFixture(t, "original.db")
	pristine := stOpenPristine(t, "original.db")
	want := map[string][]map[string]any{}
	for _, table := range []string{"users", "employees", "tickets"} {
		want[table] = stRows(t, pristine, table)
	}
	if len(want["users"]) != 5 || len(want["employees"]) != 3 || len(want["tickets"]) != 3 {
		t.Fatalf("fixture holds %d users, %d employees, %d tickets", len(want["users"]), len(want["employees"]), len(want["tickets"]))
	}

	ts := newTestServer(t, func(c *Config) { c.DatabaseURL = path })
	db := ts.store.read.DB

	t.Run("every row is kept with its id, field by field", func(t *testing.T) {
		for _, table := range []string{"users", "employees", "tickets"} {
			stSameRows(t, table, stRows(t, db, table), want[table])
		}
	})

	t.Run("schema is upgraded", func(t *testing.T) {
		if v := stScalar(t, db, "PRAGMA user_version"); v != int64(len(sqliteDialect.migrations)) {
			t.Errorf("user_version = %v, want %d", v, len(sqliteDialect.migrations))
		}
		for _, table := range []string{"users", "employees", "tickets"} {
			sqlText, _ := stScalar(t, db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table).(string)
			if !strings.Contains(sqlText, "AUTOINCREMENT") {
				t.Errorf("table %s is not rebuilt with AUTOINCREMENT: %s", table, sqlText)
			}
		}
		for _, ix := range []string{"ix_tickets_employee_id", "ix_tickets_owner_id"} {
			if n := stScalar(t, db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", ix); n != int64(1) {
				t.Errorf("index %s missing", ix)
			}
		}
		if mode := stScalar(t, db, "PRAGMA journal_mode"); mode != "wal" {
			t.Errorf("journal_mode = %v, want wal", mode)
		}
		if fk := stScalar(t, ts.store.write.DB, "PRAGMA foreign_keys"); fk != int64(1) {
			t.Errorf("foreign_keys on the writer after the migration = %v, want 1", fk)
		}
		if _, err := ts.store.write.Exec("DELETE FROM employees WHERE id = 1"); err == nil ||
			!strings.Contains(err.Error(), "FOREIGN KEY constraint failed") {
			t.Errorf("deleting employee 1 (who has tickets) on the upgraded file: %v, want a FOREIGN KEY error", err)
		}
	})

	// Real argon2id (m=65536,t=3,p=4) hashes: each user logs in once.
	originalHashes := map[string]string{}
	for _, u := range want["users"] {
		originalHashes[u["username"].(string)] = u["hashed_password"].(string)
	}
	tokens := map[string]string{}
	t.Run("users of the original log in with their passwords", func(t *testing.T) {
		for i, name := range []string{"admin", "manager", "support", "Disabledone"} {
			if !strings.HasPrefix(originalHashes[name], "$argon2id$v=19$m=65536,t=3,p=4$") {
				t.Fatalf("fixture hash of %s: %s", name, originalHashes[name])
			}
			tokens[name] = ts.token(name, fmt.Sprintf("passWord@%d", i+1))
		}
		ts.call("GET", "/status", tokens["admin"], nil).expect(200)
		ts.call("GET", "/status", tokens["Disabledone"], nil).expect(400, "User disabled")
		ts.form("/token", url.Values{"username": {"Denieduser"}, "password": {"passWord@5"}}).expect(400, "User login denied")
		ts.form("/token", url.Values{"username": {"manager"}, "password": {"passWord@1"}}).expect(400, "Incorrect User name or password")
	})

	t.Run("old hashes are re-hashed with the configured parameters", func(t *testing.T) {
		for _, name := range []string{"admin", "manager", "support", "Disabledone"} {
			if h := stHash(t, ts, name); !strings.HasPrefix(h, testHashPrefix) || h == originalHashes[name] {
				t.Errorf("hash of %s after login: %s, want a new %s... hash", name, h, testHashPrefix)
			}
		}
		// The re-hashed password still works (now at the fast parameters).
		tokens["admin"] = ts.token("admin", "passWord@1")
		ts.form("/token", url.Values{"username": {"admin"}, "password": {"passWord@2"}}).expect(400, "Incorrect User name or password")
	})

	t.Run("the API shows the original rows as they are", func(t *testing.T) {
		admin := tokens["admin"]
		users := ts.call("GET", "/user/", admin, nil).expect(200).list()
		if len(users) != len(want["users"]) {
			t.Fatalf("GET /user/: %d users, want %d", len(users), len(want["users"]))
		}
		for i, u := range users {
			if exp := stAsJSON(t, want["users"][i], "hashed_password"); !reflect.DeepEqual(u, exp) {
				t.Errorf("user %d:\n got  %v\n want %v", i, u, exp)
			}
		}
		tickets := ts.call("GET", "/ticket/", admin, nil).expect(200).list()
		if len(tickets) != len(want["tickets"]) {
			t.Fatalf("GET /ticket/: %d tickets, want %d", len(tickets), len(want["tickets"]))
		}
		for i, tk := range tickets {
			if exp := stAsJSON(t, want["tickets"][i]); !reflect.DeepEqual(tk, exp) {
				t.Errorf("ticket %d:\n got  %v\n want %v", i, tk, exp)
			}
		}
		employees := ts.call("GET", "/employee/", admin, nil).expect(200).list()
		if len(employees) != len(want["employees"]) {
			t.Fatalf("GET /employee/: %d employees, want %d", len(employees), len(want["employees"]))
		}
		for i, e := range employees {
			exp := stAsJSON(t, want["employees"][i])
			var expTickets []any
			for _, tk := range want["tickets"] {
				if tk["employee_id"] == want["employees"][i]["id"] {
					expTickets = append(expTickets, stAsJSON(t, tk))
				}
			}
			if expTickets == nil {
				expTickets = []any{}
			}
			exp["tickets"] = expTickets
			if !reflect.DeepEqual(e, exp) {
				t.Errorf("employee %d:\n got  %v\n want %v", i, e, exp)
			}
		}
	})

	t.Run("Jürgen Müller reads back intact with his ticket", func(t *testing.T) {
		e := ts.call("GET", "/employee/2", tokens["support"], nil).expect(200).obj()
		if e["first_name"] != "Jürgen" || e["last_name"] != "Müller" || e["city"] != "München" {
			t.Fatalf("employee 2: %v", e)
		}
		tickets := e["tickets"].([]any)
		if len(tickets) != 1 {
			t.Fatalf("employee 2 tickets: %v", tickets)
		}
		tk := tickets[0].(map[string]any)
		if tk["id"] != 3.0 || tk["title"] != "HDD problem" || tk["owner_id"] != 1.0 || tk["employee_id"] != 2.0 {
			t.Fatalf("employee 2 ticket: %v", tk)
		}
	})

	t.Run("opening the upgraded file again changes nothing", func(t *testing.T) {
		before := map[string][]map[string]any{}
		for _, table := range []string{"users", "employees", "tickets"} {
			before[table] = stRows(t, db, table)
		}
		schema := stSchema(t, db)
		ts.srv.Close()
		if err := ts.store.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}

		again := newTestServer(t, func(c *Config) { c.DatabaseURL = path })
		for _, table := range []string{"users", "employees", "tickets"} {
			stSameRows(t, table, stRows(t, again.store.read.DB, table), before[table])
		}
		if got := stSchema(t, again.store.read.DB); !reflect.DeepEqual(got, schema) {
			t.Errorf("schema changed on the second open:\n got  %q\n want %q", got, schema)
		}
		if v := stScalar(t, again.store.read.DB, "PRAGMA user_version"); v != int64(len(sqliteDialect.migrations)) {
			t.Errorf("user_version = %v, want %d", v, len(sqliteDialect.migrations))
		}
		admin := again.token("admin", "passWord@1")

		// Ids are never handed out again, also for rows the original wrote.
		again.call("DELETE", "/ticket/3", admin, nil).expect(200)
		created := again.call("POST", "/ticket/2", admin, validTicket()).expect(200).obj()
		if created["id"] != 4.0 {
			t.Errorf("new ticket after deleting ticket 3 got id %v, want 4", created["id"])
		}
	})
}

func TestShippedDatabaseUpgrade(t *testing.T) {
	t.Parallel()
	path := copyFixture(t, "original-shipped.db")
	pristine := stOpenPristine(t, "original-shipped.db")
	ts := newTestServer(t, func(c *Config) { c.DatabaseURL = path })

	t.Run("every row is kept", func(t *testing.T) {
		for table, n := range map[string]int{"users": 3, "employees": 139, "tickets": 2} {
			want := stRows(t, pristine, table)
			if len(want) != n {
				t.Fatalf("fixture %s: %d rows, want %d", table, len(want), n)
			}
			stSameRows(t, table, stRows(t, ts.store.read.DB, table), want)
		}
	})

	t.Run("the log reports the employees sharing an email", func(t *testing.T) {
		if log := ts.log.String(); !strings.Contains(log, "mchristensen@example.com") {
			t.Fatalf("the log does not mention the duplicate email:\n%s", log)
		}
	})

	t.Run("set-password gives a shipped user a known password", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if err := run([]string{"set-password", "-db", path, "admin"}, strings.NewReader("NewPassw0rd!\n"), &out, &errOut); err != nil {
			t.Fatalf("set-password: %v (stderr %s)", err, errOut.String())
		}
	})
	admin := ts.token("admin", "NewPassw0rd!")
	ts.call("GET", "/status", admin, nil).expect(200)

	t.Run("employees page from id 52", func(t *testing.T) {
		first := ts.call("GET", "/employee/?limit=100", admin, nil).expect(200).list()
		if len(first) != 100 || first[0]["id"] != 52.0 {
			t.Fatalf("first page: %d employees starting at %v", len(first), first[0]["id"])
		}
		rest := ts.call("GET", "/employee/?skip=100", admin, nil).expect(200).list()
		if len(rest) != 39 {
			t.Fatalf("skip=100: %d employees, want 39", len(rest))
		}
		all := append(first, rest...)
		for i := 1; i < len(all); i++ {
			if all[i]["id"].(float64) <= all[i-1]["id"].(float64) {
				t.Fatalf("employees not ordered by id at %d: %v then %v", i, all[i-1]["id"], all[i]["id"])
			}
		}
		if n := len(first[0]["tickets"].([]any)); n != 2 {
			t.Fatalf("employee 52 has %d tickets in the list, want 2", n)
		}
		e := ts.call("GET", "/employee/52", admin, nil).expect(200).obj()
		tickets := e["tickets"].([]any)
		if len(tickets) != 2 || tickets[0].(map[string]any)["id"] != 1.0 || tickets[1].(map[string]any)["id"] != 2.0 {
			t.Fatalf("tickets of employee 52: %v", tickets)
		}
	})

	t.Run("both employees sharing an email are kept", func(t *testing.T) {
		for _, id := range []string{"188", "191"} {
			e := ts.call("GET", "/employee/"+id, admin, nil).expect(200).obj()
			if e["email"] != "mchristensen@example.com" {
				t.Fatalf("employee %s: %v", id, e)
			}
		}
	})

	t.Run("a new employee with the shared email is refused", func(t *testing.T) {
		for _, email := range []string{"mchristensen@example.com", "MChristensen@Example.com"} {
			body := validEmployee(9001)
			body["email"] = email
			ts.call("POST", "/employee/", admin, body).expect(422, "Email already registered")
		}
		ts.call("POST", "/employee/", admin, validEmployee(9002)).expect(200)
	})
}

// TestEmployeeTicketsIndexCovers: a database made before the employee's
// ticket index held every ticket column is given the wider index on its
// next start, and an employee's tickets are then read from the index alone.
func TestEmployeeTicketsIndexCovers(t *testing.T) {
	ts := newTestServer(t)
	cfg, db := ts.cfg, ts.store.write.DB
	postgres := ts.store.dialect == postgresDialect
	indexColumns := func(db *sql.DB) string {
		t.Helper()
		if postgres {
			def, _ := stScalar(t, db, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tickets_employee_id' AND schemaname = current_schema()").(string)
			_, columns, _ := strings.Cut(def, "(")
			return strings.TrimSuffix(columns, ")")
		}
		rows, err := db.Query("SELECT name FROM pragma_index_info('ix_tickets_employee_id') ORDER BY seqno")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var name string
			rows.Scan(&name)
			names = append(names, name)
		}
		return strings.Join(names, ", ")
	}
	const wide = "employee_id, id, title, description, status, owner_id, created, updated"
	if got := indexColumns(db); got != wide {
		t.Fatalf("a new database's ix_tickets_employee_id is on (%s), want (%s)", got, wide)
	}

	// Back to the schema before: the narrow index, schema version 1.
	for _, stmt := range []string{"DROP INDEX ix_tickets_employee_id", "CREATE INDEX ix_tickets_employee_id ON tickets (employee_id)",
		map[bool]string{false: "PRAGMA user_version = 1", true: "UPDATE schema_version SET version = 1"}[postgres]} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	ts.srv.Close()
	ts.store.Close()

	again := newTestServer(t, func(c *Config) { c.DatabaseURL = cfg.DatabaseURL })
	if got := indexColumns(again.store.write.DB); got != wide {
		t.Errorf("after the upgrade ix_tickets_employee_id is on (%s), want (%s)", got, wide)
	}
	if !postgres {
		plan := ""
		rows, err := again.store.read.DB.Query("EXPLAIN QUERY PLAN SELECT "+ticketColumns+" FROM tickets WHERE employee_id = ? ORDER BY id", 1)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			rows.Scan(&id, &parent, &unused, &detail)
			plan += detail + "; "
		}
		rows.Close()
		if !strings.Contains(plan, "COVERING INDEX ix_tickets_employee_id") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("an employee's tickets are not read from the index alone, in order: %s", plan)
		}
	}
}

// muIndexDefinition is how the database defines an index (its CREATE
// statement), empty when there is none.
// versionBefore is the schema version a database has just before
// migration runs on it, for a test to set a database back to.
func versionBefore(t *testing.T, d *dialect, migration func(context.Context, *sql.Tx, *slog.Logger) error) int {
	t.Helper()
	v := slices.IndexFunc(d.migrations, func(m func(context.Context, *sql.Tx, *slog.Logger) error) bool {
		return reflect.ValueOf(m).Pointer() == reflect.ValueOf(migration).Pointer()
	})
	if v < 0 {
		t.Fatal("the migration is not among the database's migrations")
	}
	return v
}

func muIndexDefinition(t *testing.T, db *sql.DB, postgres bool, name string) string {
	t.Helper()
	query := "SELECT COALESCE(max(sql), '') FROM sqlite_master WHERE type = 'index' AND name = ?"
	if postgres {
		query = "SELECT COALESCE(max(indexdef), '') FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()"
	}
	def, _ := stScalar(t, db, query, name).(string)
	return def
}

// TestUsernamesUniqueIgnoringCase: the migration that makes usernames
// unique ignoring case keeps the users of an older database that already
// differ only in case, reports them in the log, and each still logs in as
// written; a new username differing from one of them only in case is
// refused. On the original's file, and on a database of the schema
// version before (SQLite, or PostgreSQL when the suite runs on it).
func TestUsernamesUniqueIgnoringCase(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, ts *testServer, postgres bool, users int, names ...string) {
		t.Helper()
		if log := ts.log.String(); !strings.Contains(log, "column=lower(username)") || !strings.Contains(log, "duplicates="+strings.ToLower(names[0])) {
			t.Errorf("the log does not report the usernames differing only in case:\n%s", log)
		}
		if def := muIndexDefinition(t, ts.store.read.DB, postgres, "ix_users_username_lower"); def == "" || strings.Contains(def, "UNIQUE") {
			t.Errorf("ix_users_username_lower: %q, want a plain index where old rows break the rule", def)
		}
		if n, _ := ts.store.CountUsers(context.Background()); n != users {
			t.Errorf("%d users after the upgrade, want %d", n, users)
		}
		var admin string
		for _, name := range names {
			admin = ts.token(name, "passWord@1")
			if me := ts.call("GET", "/me", admin, nil).expect(200).obj(); me["username"] != name {
				t.Errorf("logged in as %s, /me says %v", name, me["username"])
			}
		}
		body := validNewUser(strings.ToUpper(names[0][:1])+strings.ToLower(names[0][1:]), 9100)
		body["role"] = []string{"support"}
		ts.call("POST", "/user/", admin, body).expect(422, "Username already registered")
		body["username"] = "Freshname"
		ts.call("POST", "/user/", admin, body).expect(200)
	}

	t.Run("the original's file", func(t *testing.T) {
		t.Parallel()
		path := copyFixture(t, "original.db")
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		// ADMIN beside admin, with admin's password: the original let one in.
		_, err = db.Exec(`INSERT INTO users (id, username, first_name, last_name, phone, email, role, disabled,
			login_denied, hashed_password, created) SELECT 6, 'ADMIN', first_name, last_name, '+431279843272',
			'admin2@fastapi.com', role, disabled, login_denied, hashed_password, created FROM users WHERE username = 'admin'`)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		ts := newTestServer(t, func(c *Config) { c.DatabaseURL = path })
		check(t, ts, false, 6, "admin", "ADMIN")
		if v := stScalar(t, ts.store.read.DB, "PRAGMA user_version"); v != int64(len(sqliteDialect.migrations)) {
			t.Errorf("schema version %v, want %d", v, len(sqliteDialect.migrations))
		}
	})

	t.Run("a database of the version before", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t)
		postgres := ts.store.dialect == postgresDialect
		db := ts.store.write.DB
		if def := muIndexDefinition(t, db, postgres, "ix_users_username_lower"); !strings.Contains(def, "UNIQUE") {
			t.Fatalf("a new database's ix_users_username_lower: %q, want a unique index", def)
		}
		hash, err := ts.app.hasher.Hash("passWord@1")
		if err != nil {
			t.Fatal(err)
		}
		// Back to the schema before, then two users differing only in case.
		for i, stmt := range []string{"DROP INDEX ix_users_username_lower",
			map[bool]string{false: "PRAGMA user_version = 2", true: "UPDATE schema_version SET version = 2"}[postgres],
			"Kimberly", "KIMBERLY"} {
			if i >= 2 {
				stmt = fmt.Sprintf(`INSERT INTO users (username, phone, email, role, disabled, login_denied, hashed_password,
					created) VALUES ('%s', '+4912345678%d', '%s%d@example.com', '["admin"]', false, false, '%s', '2024-01-01 00:00:00')`,
					stmt, i, stmt, i, hash)
			}
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		ts.srv.Close()
		ts.store.Close()
		again := newTestServer(t, func(c *Config) { c.DatabaseURL = ts.cfg.DatabaseURL })
		check(t, again, postgres, 2, "Kimberly", "KIMBERLY")
	})
}
