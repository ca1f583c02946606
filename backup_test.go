package main

// backup_test.go: backup.go: `ticketapi backup` writes a private copy of a
// SQLite database (a PostgreSQL one is pointed to pg_dump), and
// `ticketapi copy` moves a SQLite database — the original's or ticketapi's
// — into an empty PostgreSQL database with every row intact: the same ids,
// timestamps, password hashes, roles, booleans and NULLs, so the same
// users log in and the API answers the same. The copy tests need
// PostgreSQL (TICKETAPI_TEST_DATABASE_URL) and skip without it.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// cpCopy copies the SQLite file from into the PostgreSQL database to and
// returns the rows copied per table and what was logged.
func cpCopy(t *testing.T, from, to string) (map[string]int64, string, error) {
	t.Helper()
	var logged bytes.Buffer
	copied, err := copyDatabase(context.Background(), from, to, slog.New(slog.NewTextHandler(&logged, nil)))
	counts := map[string]int64{}
	for _, c := range copied {
		counts[c.table] = c.rows
	}
	return counts, logged.String(), err
}

// cpOpen opens a database for reading rows straight from it.
func cpOpen(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// cpRows reads every row of a table (ordered by id) as the values of the
// copied columns, in one shape for both databases: SQLite's 0/1 booleans
// as bool, NULL as nil.
func cpRows(t *testing.T, db *sql.DB, table, columns string) [][]any {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SELECT %s FROM %s ORDER BY id", columns, table))
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	names := strings.Split(columns, ", ")
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, name := range names {
			if n, ok := vals[i].(int64); ok && (name == "disabled" || name == "login_denied") {
				vals[i] = n != 0
			}
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// cpSameRows fails unless every table holds the same rows, field by field,
// in both databases.
func cpSameRows(t *testing.T, source, target *sql.DB) {
	t.Helper()
	for _, c := range copyTables {
		want, got := cpRows(t, source, c.table, c.columns), cpRows(t, target, c.table, c.columns)
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows in PostgreSQL, %d in SQLite", c.table, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s row %d differs (%s):\n PostgreSQL %#v\n SQLite     %#v", c.table, i, c.columns, got[i], want[i])
			}
		}
	}
}

// cpCounts is how many rows each table of the PostgreSQL database holds.
func cpCounts(t *testing.T, db *sql.DB) [3]int64 {
	t.Helper()
	var n [3]int64
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM employees),
		(SELECT count(*) FROM tickets)`).Scan(&n[0], &n[1], &n[2]); err != nil {
		t.Fatal(err)
	}
	return n
}

// cpList reads a whole list route, page after page.
func cpList(ts *testServer, token, route string) []map[string]any {
	ts.t.Helper()
	var all []map[string]any
	after := int64(0)
	for {
		page := ts.call("GET", fmt.Sprintf("%s?after_id=%d", route, after), token, nil).expect(200).list()
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = int64(page[len(page)-1]["id"].(float64))
	}
}

// cpSameAPI fails unless both servers list the same users, employees (with
// their tickets) and tickets, field by field.
func cpSameAPI(t *testing.T, pg, lite *testServer, pgToken, liteToken string, want map[string]int) {
	t.Helper()
	for _, route := range []string{"/user/", "/employee/", "/ticket/"} {
		got, exp := cpList(pg, pgToken, route), cpList(lite, liteToken, route)
		if len(got) != want[route] || len(exp) != want[route] {
			t.Fatalf("GET %s: %d items on PostgreSQL, %d on SQLite, want %d", route, len(got), len(exp), want[route])
		}
		for i := range exp {
			if !reflect.DeepEqual(got[i], exp[i]) {
				t.Errorf("GET %s item %d:\n PostgreSQL %v\n SQLite     %v", route, i, got[i], exp[i])
			}
		}
	}
}

// cpLogins checks what the original's users get on a server: the three
// working users log in, Disabledone's token is refused, Denieduser may not
// log in, a wrong password fails. It returns the admin's token.
func cpLogins(t *testing.T, ts *testServer) string {
	t.Helper()
	var admin string
	for i, name := range []string{"admin", "manager", "support"} {
		token := ts.token(name, fmt.Sprintf("passWord@%d", i+1))
		ts.call("GET", "/status", token, nil).expect(200)
		if name == "admin" {
			admin = token
		}
	}
	disabled := ts.token("Disabledone", "passWord@4")
	ts.call("GET", "/status", disabled, nil).expect(400, "User disabled")
	ts.form("/token", url.Values{"username": {"Denieduser"}, "password": {"passWord@5"}}).expect(400, "User login denied")
	ts.form("/token", url.Values{"username": {"manager"}, "password": {"passWord@1"}}).expect(400, "Incorrect User name or password")
	return admin
}

func TestCopyOriginalToPostgres(t *testing.T) {
	t.Parallel()
	target := newPostgresSchema(t)
	source := copyFixture(t, "original.db")
	before, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}

	copied, _, err := cpCopy(t, source, target)
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if want := map[string]int64{"users": 5, "employees": 3, "tickets": 3}; !reflect.DeepEqual(copied, want) {
		t.Fatalf("copied %v, want %v", copied, want)
	}
	t.Run("the source file is only read, not migrated", func(t *testing.T) {
		after, err := os.ReadFile(source)
		if err != nil || !bytes.Equal(after, before) {
			t.Fatalf("the source file changed (err %v)", err)
		}
	})

	sourceDB := cpOpen(t, "sqlite", "file:"+source+"?mode=ro")
	targetDB := cpOpen(t, "pgx", target)
	// Before any login: logging in re-hashes the original's hashes.
	t.Run("every row is the same, field by field, NULLs included", func(t *testing.T) {
		cpSameRows(t, sourceDB, targetDB)
	})
	t.Run("the password hashes are the original's", func(t *testing.T) {
		hashes := func(db *sql.DB) map[int64]string {
			t.Helper()
			out := map[int64]string{}
			rows, err := db.Query("SELECT id, hashed_password FROM users")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				var h string
				if err := rows.Scan(&id, &h); err != nil {
					t.Fatal(err)
				}
				out[id] = h
			}
			return out
		}
		want, got := hashes(sourceDB), hashes(targetDB)
		if len(want) != 5 || !strings.HasPrefix(want[1], "$argon2id$v=19$m=65536,t=3,p=4$") || !reflect.DeepEqual(got, want) {
			t.Fatalf("hashes in PostgreSQL %v, in the source %v", got, want)
		}
	})

	pg := newTestServer(t, func(c *Config) { c.DatabaseURL = target })
	lite := newTestServer(t, func(c *Config) { c.DatabaseURL = copyFixture(t, "original.db") })
	var pgAdmin, liteAdmin string
	t.Run("the original's users log in with their passwords, as on SQLite", func(t *testing.T) {
		pgAdmin, liteAdmin = cpLogins(t, pg), cpLogins(t, lite)
	})
	if pgAdmin == "" || liteAdmin == "" {
		t.FailNow()
	}
	t.Run("the API answers as on SQLite, ids and timestamps included", func(t *testing.T) {
		cpSameAPI(t, pg, lite, pgAdmin, liteAdmin, map[string]int{"/user/": 5, "/employee/": 3, "/ticket/": 3})
	})
	t.Run("q on the copy is served by its trigram indexes", func(t *testing.T) {
		if n, want := sePostgresIndexes(t, targetDB), len(textIndexes); n != want {
			t.Errorf("%d trigram indexes on the copy, want %d", n, want)
		}
		for route, q := range map[string]string{"ticket": "hdd", "employee": "müller"} {
			got, plan := seFind(t, pg, route, q, true)
			want, _ := seFind(t, lite, route, q, true)
			if !slices.Equal(got, want) || len(want) != 1 || !seUsesIndex(pg, route, plan) {
				t.Errorf("%s q=%s: %v on the copy, %v on SQLite; the copy's plan:\n%s", route, q, got, want, plan)
			}
		}
	})
	t.Run("new rows get the next ids", func(t *testing.T) {
		for ts, admin := range map[*testServer]string{pg: pgAdmin, lite: liteAdmin} {
			if e := ts.call("POST", "/employee/", admin, validEmployee(7001)).expect(200).obj(); e["id"] != 4.0 {
				t.Errorf("new employee id %v, want 4", e["id"])
			}
			if tk := ts.call("POST", "/ticket/2", admin, validTicket()).expect(200).obj(); tk["id"] != 4.0 {
				t.Errorf("new ticket id %v, want 4", tk["id"])
			}
			if u := ts.call("POST", "/user/", admin, validNewUser("copied", 7001)).expect(200).obj(); u["id"] != 6.0 {
				t.Errorf("new user id %v, want 6", u["id"])
			}
		}
	})
}

func TestCopyShippedToPostgres(t *testing.T) {
	t.Parallel()
	target := newPostgresSchema(t)
	source := copyFixture(t, "original-shipped.db")
	copied, logged, err := cpCopy(t, source, target)
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if want := map[string]int64{"users": 3, "employees": 139, "tickets": 2}; !reflect.DeepEqual(copied, want) {
		t.Fatalf("copied %v, want %v", copied, want)
	}
	if !strings.Contains(logged, "mchristensen@example.com") {
		t.Errorf("the log does not mention the employees sharing an email:\n%s", logged)
	}
	cpSameRows(t, cpOpen(t, "sqlite", "file:"+source+"?mode=ro"), cpOpen(t, "pgx", target))

	// The shipped passwords are unknown: give both admins a known one.
	pg := newTestServer(t, func(c *Config) { c.DatabaseURL = target })
	lite := newTestServer(t, func(c *Config) { c.DatabaseURL = copyFixture(t, "original-shipped.db") })
	tokens := map[*testServer]string{}
	for _, ts := range []*testServer{pg, lite} {
		hash, err := ts.app.hasher.Hash(testPassword)
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.store.SetPassword(context.Background(), 1, hash); err != nil {
			t.Fatal(err)
		}
		// SetPassword stamps "updated" with the current second, which may
		// differ between the two servers: give both the same.
		if err := ts.store.inTx(context.Background(), func(tx *txn) error {
			_, err := tx.ExecContext(context.Background(), "UPDATE users SET updated = '2026-01-01 00:00:00' WHERE id = 1")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		tokens[ts] = ts.token("admin", testPassword)
	}
	admin := tokens[pg]
	t.Run("the API answers as on SQLite", func(t *testing.T) {
		cpSameAPI(t, pg, lite, admin, tokens[lite], map[string]int{"/user/": 3, "/employee/": 139, "/ticket/": 2})
	})
	t.Run("a new employee gets an id after every copied one", func(t *testing.T) {
		e := pg.call("POST", "/employee/", admin, validEmployee(7002)).expect(200).obj()
		if e["id"].(float64) <= 191 {
			t.Fatalf("new employee id %v, want more than 191", e["id"])
		}
	})
	t.Run("the shared email stays taken for new employees", func(t *testing.T) {
		body := validEmployee(7003)
		body["email"] = "MChristensen@example.com"
		pg.call("POST", "/employee/", admin, body).expect(422, "Email already registered")
	})
}

func TestCopyRefuses(t *testing.T) {
	t.Parallel()
	target := newPostgresSchema(t)
	targetDB := cpOpen(t, "pgx", target)

	// broken is a copy of original.db changed by one statement.
	broken := func(t *testing.T, statement string) string {
		t.Helper()
		path := copyFixture(t, "original.db")
		db := cpOpen(t, "sqlite", "file:"+path)
		if _, err := db.Exec(statement); err != nil {
			t.Fatal(err)
		}
		db.Close()
		return path
	}

	t.Run("a ticket pointing at a missing employee: nothing copied, the ticket named", func(t *testing.T) {
		_, _, err := cpCopy(t, broken(t, "UPDATE tickets SET employee_id = 99 WHERE id = 3"), target)
		if err == nil || !strings.Contains(err.Error(), "ticket 3 (employee_id 99, owner_id 1)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a role that is not a JSON list: the row named, the target left empty", func(t *testing.T) {
		_, _, err := cpCopy(t, broken(t, `UPDATE users SET role = '"support"' WHERE id = 4`), target)
		if err == nil || !strings.Contains(err.Error(), "copy users: row id 4: role") {
			t.Fatalf("err = %v", err)
		}
		if n := cpCounts(t, targetDB); n != [3]int64{} {
			t.Fatalf("after a failed copy the target holds %v rows", n)
		}
	})
	t.Run("a ticket text far beyond the API's lengths, too long for the text index: the row named, the target left empty", func(t *testing.T) {
		// 400 words of 24 hex digits: about 10 000 characters and more
		// distinct trigrams than one GiST index entry holds (docs/deploy.md).
		_, _, err := cpCopy(t, broken(t, `UPDATE tickets SET description = (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
			SELECT group_concat(hex(randomblob(12)), ' ') FROM n) WHERE id = 2`), target)
		if err == nil || !strings.Contains(err.Error(), "copy tickets: row id 2:") || !strings.Contains(err.Error(), "index row") {
			t.Fatalf("err = %v", err)
		}
		if n := cpCounts(t, targetDB); n != [3]int64{} {
			t.Fatalf("after a failed copy the target holds %v rows", n)
		}
	})
	t.Run("a missing source, which is not created", func(t *testing.T) {
		missing := t.TempDir() + "/nope.db"
		_, _, err := cpCopy(t, missing, target)
		if err == nil || !strings.Contains(err.Error(), missing+" does not exist") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("the missing source was created: %v", err)
		}
	})
	t.Run("a target that is not PostgreSQL, without echoing it", func(t *testing.T) {
		_, _, err := cpCopy(t, copyFixture(t, "original.db"), "mysql://user:s3cret-pw@db/tickets")
		if err == nil || !strings.Contains(err.Error(), "postgres://") || strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("a target that holds rows", func(t *testing.T) {
		if _, _, err := cpCopy(t, copyFixture(t, "original.db"), target); err != nil {
			t.Fatalf("first copy: %v", err)
		}
		want := cpCounts(t, targetDB)
		if want != [3]int64{5, 3, 3} {
			t.Fatalf("after the first copy: %v rows", want)
		}
		_, _, err := cpCopy(t, copyFixture(t, "original-shipped.db"), target)
		if err == nil || !strings.Contains(err.Error(), "already holds rows (users 5, employees 3, tickets 3)") {
			t.Fatalf("second copy: err = %v", err)
		}
		if u, _ := url.Parse(testDatabaseURL); u != nil {
			if pw, has := u.User.Password(); has && strings.Contains(err.Error(), ":"+pw+"@") {
				t.Fatalf("the error shows the password: %v", err)
			}
		}
		if got := cpCounts(t, targetDB); got != want {
			t.Fatalf("after the refused copy: %v rows, want %v", got, want)
		}
	})
}

// TestCopyCommand runs `ticketapi copy` as main does, on a database that
// ticketapi wrote and a server still has open: the last employee was
// deleted, and its id is not handed out again on PostgreSQL either.
func TestCopyCommand(t *testing.T) {
	t.Parallel()
	target := newPostgresSchema(t)
	source := t.TempDir() + "/ticketapi.db"
	lite := newTestServer(t, func(c *Config) { c.DatabaseURL = source })
	_, admin := lite.userWithToken("boss", "admin")
	lite.addUser("helper", "support")
	for i := range 3 {
		lite.call("POST", "/employee/", admin, validEmployee(7100+i)).expect(200)
	}
	lite.call("POST", "/ticket/1", admin, validTicket()).expect(200)
	lite.call("DELETE", "/employee/3", admin, nil).expect(200)

	var out, errOut bytes.Buffer
	if err := run([]string{"copy", "-from", source, "-to", target}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("copy: %v (stderr %s)", err, errOut.String())
	}
	if want := "users: 2 rows copied\nemployees: 2 rows copied\ntickets: 1 rows copied\n"; out.String() != want {
		t.Fatalf("stdout %q, want %q", out.String(), want)
	}

	pg := newTestServer(t, func(c *Config) { c.DatabaseURL = target })
	pgAdmin := pg.token("boss", testPassword)
	if e := pg.call("POST", "/employee/", pgAdmin, validEmployee(7200)).expect(200).obj(); e["id"] != 4.0 {
		t.Fatalf("new employee id %v, want 4 (3 was handed out before)", e["id"])
	}

	t.Run("errors are one line and never show the password", func(t *testing.T) {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = "127.0.0.1:1" // nothing listens there
		u.User = url.UserPassword("ticketapi", "n0t-the-Password")
		for _, args := range [][]string{
			{"copy", "-from", source, "-to", u.String()},
			{"copy", "-from", source, "-to", target}, // not empty any more
			{"copy", "-from", source},
		} {
			err := run(args, strings.NewReader(""), io.Discard, io.Discard)
			if err == nil || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "n0t-the-Password") {
				t.Errorf("%v: err = %v", args, err)
			}
		}
	})
}

func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	db := copyFixture(t, "original.db")
	var out, errOut bytes.Buffer
	dest := filepath.Join(dir, "copy.db")
	if err := run([]string{"backup", "-db", db, dest}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("backup: %v (%s)", err, errOut.String())
	}
	t.Run("a PostgreSQL database is pointed to pg_dump, its password not shown", func(t *testing.T) {
		var out, errOut bytes.Buffer
		pgDest := filepath.Join(dir, "pg.db")
		err := run([]string{"backup", "-db", "postgres://ticketapi:s3cret-pw@db.internal/ticketapi", pgDest},
			strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error()+errOut.String(), "s3cret-pw") {
			t.Fatalf("backup of a PostgreSQL URL: %v (%s), want a pointer to pg_dump without the password", err, errOut.String())
		}
		if _, err := os.Stat(pgDest); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("backup of a PostgreSQL URL left %s behind: %v", pgDest, err)
		}
	})
	t.Run("the copy is private and holds every row", func(t *testing.T) {
		info, err := os.Stat(dest)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("copy mode: %v %v", info, err)
		}
		copyDB, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer copyDB.Close()
		var users, tickets int
		copyDB.QueryRow("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tickets)").Scan(&users, &tickets)
		if users != 5 || tickets != 3 {
			t.Fatalf("copy has %d users and %d tickets, want 5 and 3", users, tickets)
		}
	})
	t.Run("an existing destination is not overwritten", func(t *testing.T) {
		if err := run([]string{"backup", "-db", db, dest}, strings.NewReader(""), &out, &errOut); err == nil {
			t.Fatal("backup overwrote an existing file")
		}
	})
	t.Run("a missing database is an error, not a new empty backup", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.db")
		err := run([]string{"backup", "-db", missing, filepath.Join(dir, "x.db")}, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatal("backup created the database it was asked to copy")
		}
	})
}
