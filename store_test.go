package main

// store_test.go: the data layer (docs/api.md §9): the original project's database
// files open and upgrade in place without losing a row, old password hashes
// keep working and are upgraded, concurrent writers queue instead of
// failing, password hashing is bounded, and the database itself enforces
// foreign keys.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// testHashPrefix is how a hash made with the test config's argon2id
// parameters starts.
const testHashPrefix = "$argon2id$v=19$m=1024,t=1,p=1$"

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
		if v := stScalar(t, db, "PRAGMA user_version"); v != int64(1) {
			t.Errorf("user_version = %v, want 1", v)
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
		if v := stScalar(t, again.store.read.DB, "PRAGMA user_version"); v != int64(1) {
			t.Errorf("user_version = %v, want 1", v)
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

func TestBcryptHashes(t *testing.T) {
	t.Parallel()

	t.Run("a passlib bcrypt hash logs in and is upgraded to argon2id", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t)
		ts.addUser("bcryptuser", "support")
		b, err := bcrypt.GenerateFromPassword([]byte(testPassword), 4)
		if err != nil {
			t.Fatal(err)
		}
		hash := "$2b$" + strings.TrimPrefix(string(b), "$2a$")
		if _, err := ts.store.write.ExecContext(context.Background(), "UPDATE users SET hashed_password = ? WHERE username = ?", hash, "bcryptuser"); err != nil {
			t.Fatal(err)
		}
		ts.form("/token", url.Values{"username": {"bcryptuser"}, "password": {"Wrong0pass!"}}).expect(400, "Incorrect User name or password")
		if h := stHash(t, ts, "bcryptuser"); h != hash {
			t.Fatalf("a failed login changed the hash to %s", h)
		}
		token := ts.token("bcryptuser", testPassword)
		ts.call("GET", "/status", token, nil).expect(200)
		if h := stHash(t, ts, "bcryptuser"); !strings.HasPrefix(h, testHashPrefix) {
			t.Fatalf("hash after login: %s, want %s...", h, testHashPrefix)
		}
		ts.token("bcryptuser", testPassword)
	})

	t.Run("a server configured for bcrypt writes $2b$ hashes", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(c *Config) { c.Auth.PwdContext.Schemes = []string{"bcrypt"} })
		_, admin := ts.userWithToken("bcryptadmin", "admin")
		ts.call("POST", "/user/", admin, validNewUser("newbcrypt", 7001)).expect(200)
		if h := stHash(t, ts, "newbcrypt"); !strings.HasPrefix(h, "$2b$04$") {
			t.Fatalf("hash of a new user: %s, want $2b$04$...", h)
		}
		token := ts.token("newbcrypt", testPassword)
		ts.call("GET", "/status", token, nil).expect(200)

		// An argon2id hash, or a bcrypt hash of another cost, is replaced on login.
		argon := newHasher(testConfig(t))
		argonHash, err := argon.Hash(testPassword)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bcrypt.GenerateFromPassword([]byte(testPassword), 5)
		if err != nil {
			t.Fatal(err)
		}
		for name, old := range map[string]string{"argonuser": argonHash, "costfive": "$2b$" + strings.TrimPrefix(string(b), "$2a$")} {
			ts.addUser(name, "support")
			if _, err := ts.store.write.ExecContext(context.Background(), "UPDATE users SET hashed_password = ? WHERE username = ?", old, name); err != nil {
				t.Fatal(err)
			}
			ts.token(name, testPassword)
			if h := stHash(t, ts, name); !strings.HasPrefix(h, "$2b$04$") {
				t.Errorf("hash of %s after login: %s, want $2b$04$...", name, h)
			}
			ts.token(name, testPassword)
		}
	})
}

// stDo sends one request from any goroutine (ts.call may only run on the
// test's own goroutine).
func stDo(ts *testServer, method, path, token string, body any) (int, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(method, ts.srv.URL+ts.cfg.RootPath+path, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

type stAnswer struct {
	status int
	body   []byte
	err    error
}

// stBurst runs n requests at once (released together) and returns the answers.
func stBurst(n int, send func(i int) (int, []byte, error)) []stAnswer {
	answers := make([]stAnswer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, b, err := send(i)
			answers[i] = stAnswer{s, b, err}
		}()
	}
	close(start)
	wg.Wait()
	return answers
}

func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	var users []*User
	var tokens []string
	for i, role := range []string{"admin", "manager", "support", "support", "manager"} {
		u, tok := ts.userWithToken(fmt.Sprintf("worker%c", 'a'+i), role)
		users, tokens = append(users, u), append(tokens, tok)
	}
	employee := ts.call("POST", "/employee/", tokens[0], validEmployee(5000)).expect(200).obj()
	eid := fmt.Sprint(employee["id"])

	t.Run("50 tickets created at once all succeed with distinct ids", func(t *testing.T) {
		answers := stBurst(50, func(i int) (int, []byte, error) {
			body := validTicket()
			body["title"] = fmt.Sprintf("Concurrent %03d", i)
			return stDo(ts, "POST", "/ticket/"+eid, tokens[i%len(tokens)], body)
		})
		ids := map[float64]bool{}
		for i, a := range answers {
			if a.err != nil || a.status != 200 {
				t.Fatalf("ticket %d: %d %v %s", i, a.status, a.err, a.body)
			}
			var tk map[string]any
			if err := json.Unmarshal(a.body, &tk); err != nil {
				t.Fatal(err)
			}
			if tk["title"] != fmt.Sprintf("Concurrent %03d", i) || tk["owner_id"] != float64(users[i%len(users)].ID) {
				t.Fatalf("ticket %d answered %v", i, tk)
			}
			ids[tk["id"].(float64)] = true
		}
		if len(ids) != 50 {
			t.Fatalf("%d distinct ids for 50 tickets", len(ids))
		}
		listed := ts.call("GET", "/ticket/?limit=100", tokens[0], nil).expect(200).list()
		if len(listed) != 50 {
			t.Fatalf("GET /ticket/ lists %d tickets, want 50", len(listed))
		}
		titles := map[string]bool{}
		for _, tk := range listed {
			if !ids[tk["id"].(float64)] {
				t.Fatalf("listed ticket %v was not answered to any create", tk["id"])
			}
			titles[tk["title"].(string)] = true
		}
		if len(titles) != 50 {
			t.Fatalf("%d distinct titles listed, want 50", len(titles))
		}
	})

	t.Run("of concurrent employees with one phone exactly one wins", func(t *testing.T) {
		answers := stBurst(20, func(i int) (int, []byte, error) {
			body := validEmployee(6000 + i)
			body["phone"] = "+380991234567"
			return stDo(ts, "POST", "/employee/", tokens[i%2], body)
		})
		stOneWinner(t, answers, "Phone already registered")
	})

	t.Run("of concurrent employees with one email exactly one wins", func(t *testing.T) {
		answers := stBurst(20, func(i int) (int, []byte, error) {
			body := validEmployee(7000 + i)
			body["email"] = "same.person@example.com"
			return stDo(ts, "POST", "/employee/", tokens[i%2], body)
		})
		stOneWinner(t, answers, "Email already registered")
		employees := ts.call("GET", "/employee/", tokens[0], nil).expect(200).list()
		phones, emails := 0, 0
		for _, e := range employees {
			if e["phone"] == "+380991234567" {
				phones++
			}
			if e["email"] == "same.person@example.com" {
				emails++
			}
		}
		if phones != 1 || emails != 1 {
			t.Fatalf("%d employees hold the contested phone and %d the contested email, want 1 each", phones, emails)
		}
	})

	// Closing the server waits for every handler (and its access log line),
	// so the log buffer is read only once nothing writes to it.
	ts.srv.Close()
	if log := ts.log.String(); strings.Contains(log, "database is locked") || strings.Contains(log, "internal error") {
		t.Fatalf("the server logged a failure under concurrent writes:\n%s", log)
	}
}

func stOneWinner(t *testing.T, answers []stAnswer, conflict string) {
	t.Helper()
	won := 0
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("request %d: %v", i, a.err)
		}
		switch {
		case a.status == 200:
			won++
		case a.status == 422 && string(a.body) == `{"detail":"`+conflict+`"}`+"\n":
		default:
			t.Fatalf("request %d: %d %s, want 200 or 422 %s", i, a.status, a.body, conflict)
		}
	}
	if won != 1 {
		t.Fatalf("%d requests won, want exactly 1", won)
	}
}

// TestHashConcurrencyBound runs alone (not parallel), so every argon2 hash
// running while it samples is one of its own logins.
func TestHashConcurrencyBound(t *testing.T) {
	if cap(hashSlots) != runtime.NumCPU() {
		t.Fatalf("cap(hashSlots) = %d, want runtime.NumCPU() = %d", cap(hashSlots), runtime.NumCPU())
	}
	ts := newTestServer(t, func(c *Config) {
		c.Auth.Argon2.MemoryKiB, c.Auth.Argon2.Iterations = 8192, 2
	})
	hash, err := ts.app.hasher.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		u := &User{Username: fmt.Sprintf("burst%c", 'a'+i), FirstName: "Test", LastName: "User",
			Phone: fmt.Sprintf("+1666%07d", i), Email: fmt.Sprintf("burst%d@example.com", i),
			Role: []string{"support"}, hashedPassword: hash}
		if _, err := ts.store.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}

	// Sample how many slots are taken and how many goroutines are inside
	// argon2 at once, while the burst runs.
	stop := make(chan struct{})
	var maxSlots, maxHashing, samples int
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		buf := make([]byte, 1<<20)
		for {
			select {
			case <-stop:
				return
			default:
			}
			maxSlots = max(maxSlots, len(hashSlots))
			stack := string(buf[:runtime.Stack(buf, true)])
			hashing := 0
			for _, g := range strings.Split(stack, "\n\n") {
				if strings.Contains(g, "golang.org/x/crypto/argon2.IDKey") {
					hashing++
				}
			}
			maxHashing = max(maxHashing, hashing)
			samples++
			time.Sleep(200 * time.Microsecond)
		}
	}()
	answers := stBurst(n, func(i int) (int, []byte, error) {
		form := url.Values{"username": {fmt.Sprintf("burst%c", 'a'+i)}, "password": {testPassword}}
		res, err := ts.srv.Client().PostForm(ts.srv.URL+ts.cfg.RootPath+"/token", form)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, body, err
	})
	close(stop)
	<-sampled

	for i, a := range answers {
		if a.err != nil || a.status != 200 || !strings.Contains(string(a.body), `"access_token"`) {
			t.Errorf("login %d: %d %v %s", i, a.status, a.err, a.body)
		}
	}
	if maxSlots > cap(hashSlots) {
		t.Errorf("%d hash slots taken at once, cap is %d", maxSlots, cap(hashSlots))
	}
	if maxHashing > cap(hashSlots) {
		t.Errorf("%d goroutines were hashing with argon2 at once, more than cap(hashSlots) = %d", maxHashing, cap(hashSlots))
	}
	if maxSlots == 0 || maxHashing == 0 {
		t.Errorf("the sampler never saw a hash running (%d samples, max slots %d, max hashing %d)", samples, maxSlots, maxHashing)
	}
	t.Logf("%d samples: at most %d slots taken, %d hashes running (cap %d)", samples, maxSlots, maxHashing, cap(hashSlots))
}

func TestStoreForeignKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()

	t.Run("every pooled connection has foreign keys on", func(t *testing.T) {
		if ts.store.dialect == postgresDialect {
			// PostgreSQL always enforces them: check they are declared.
			var n int
			if err := ts.store.read.QueryRowContext(ctx, `SELECT count(*) FROM pg_constraint
				WHERE contype = 'f' AND conrelid = 'tickets'::regclass`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("foreign keys on tickets: %d (%v), want 2", n, err)
			}
			return
		}
		for name, pool := range map[string]*sql.DB{"read": ts.store.read.DB, "write": ts.store.write.DB} {
			// Hold several connections at once so each is a distinct one.
			n := 1
			if name == "read" {
				n = 4
			}
			var conns []*sql.Conn
			for range n {
				c, err := pool.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for i, c := range conns {
				var fk int
				if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
					t.Fatal(err)
				}
				if fk != 1 {
					t.Errorf("%s pool connection %d: foreign_keys = %d, want 1", name, i, fk)
				}
				c.Close()
			}
		}
	})

	t.Run("the database refuses to orphan tickets", func(t *testing.T) {
		u, token := ts.userWithToken("fkowner", "manager")
		e := ts.call("POST", "/employee/", token, validEmployee(8000)).expect(200).obj()
		ts.call("POST", "/ticket/"+fmt.Sprint(e["id"]), token, validTicket()).expect(200)

		for what, stmt := range map[string]string{
			"delete an employee with tickets": fmt.Sprintf("DELETE FROM employees WHERE id = %v", e["id"]),
			"delete a user owning tickets":    fmt.Sprintf("DELETE FROM users WHERE id = %d", u.ID),
			"file a ticket about nobody": fmt.Sprintf(`INSERT INTO tickets (title, description, status, employee_id, owner_id, created)
				VALUES ('Orphan ticket', 'Nobody to point at', 'New', 999999, %d, '2024-01-01 00:00:00')`, u.ID),
		} {
			_, err := ts.store.write.ExecContext(ctx, stmt)
			if !foreignKeyViolation(err) {
				t.Errorf("%s through raw SQL: %v, want a foreign key violation", what, err)
			}
		}
		ts.call("GET", "/employee/"+fmt.Sprint(e["id"]), token, nil).expect(200)
		ts.call("GET", "/me", token, nil).expect(200)
	})
}

// TestStoreConstraintErrors: a write that gets past the store's own checks
// (raw SQL here; a race in life) and breaks a unique index gets the same
// API failure as the check would give, on both databases.
func TestStoreConstraintErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	u := ts.addUser("uniqueowner", "support")
	_, token := ts.userWithToken("uniquemanager", "manager")
	e := ts.call("POST", "/employee/", token, validEmployee(8100)).expect(200).obj()

	insertUser := `INSERT INTO users (username, phone, email, role, disabled, login_denied, hashed_password, created)
		VALUES (?, ?, ?, '[]', false, false, 'x', '2024-01-01 00:00:00')`
	insertEmployee := `INSERT INTO employees (first_name, phone, email, created) VALUES ('Dup', ?, ?, '2024-01-01 00:00:00')`
	for _, c := range []struct {
		what  string
		query string
		args  []any
		want  failure
	}{
		{"a user's username", insertUser, []any{u.Username, "+1999000001", "other1@example.com"}, errUsernameTaken},
		{"a user's phone", insertUser, []any{"uniquephone", u.Phone, "other2@example.com"}, errPhoneTaken},
		{"a user's email", insertUser, []any{"uniqueemail", "+1999000003", u.Email}, errEmailTaken},
		{"an employee's phone", insertEmployee, []any{e["phone"], "other4@example.com"}, errPhoneTaken},
		{"an employee's email", insertEmployee, []any{"+1999000005", e["email"]}, errEmailTaken},
	} {
		err := ts.store.inTx(ctx, func(tx *txn) error {
			_, err := tx.ExecContext(ctx, c.query, c.args...)
			return err
		})
		if !errors.Is(err, c.want) {
			t.Errorf("%s taken twice through raw SQL: %v, want %s", c.what, err, c.want)
		}
	}
	// The failed writes left nothing behind, and the store still writes.
	var n int
	if err := ts.store.read.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != 2 {
		t.Fatalf("users after the refused inserts: %d (%v), want 2", n, err)
	}
	ts.call("POST", "/employee/", token, validEmployee(8101)).expect(200)
}

// TestVersionMemoForgetsAtAWrite: a request looks its caches up at the
// version it first read (versionMemo), but after a write of its own it must
// read again: a cache at the old version would not show its write.
func TestVersionMemoForgetsAtAWrite(t *testing.T) {
	ts := newTestServer(t)
	if ts.store.watch == nil {
		t.Skip("the change watch is SQLite's; PostgreSQL has no cache to empty")
	}
	ctx := withVersionMemo(context.Background())
	before, err := ts.store.watch.version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ts.store.watch.version(ctx); again != before {
		t.Fatalf("the memo read data_version again without a write: %d, then %d", before, again)
	}
	if _, err := ts.store.CreateEmployee(ctx, &Employee{FirstName: "Memo", LastName: "Test", NickName: "M",
		Phone: "+17770009999", Email: "memo@example.com", Birthday: "1990-01-01", Country: "Austria",
		City: "Wien", Address: "Ring 1"}); err != nil {
		t.Fatal(err)
	}
	after, err := ts.store.watch.version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatalf("after its own write the request still saw data_version %d", before)
	}
}

// TestChangeWatchSharedChecksAreFresh: requests asking at once share one
// reading of data_version, but each gets a reading taken after it asked,
// so a commit that ended before a request asked is always seen.
func TestChangeWatchSharedChecksAreFresh(t *testing.T) {
	ts := newTestServer(t)
	if ts.store.watch == nil {
		t.Skip("the change watch is SQLite's; PostgreSQL has no cache to empty")
	}
	ctx := context.Background()
	// Readers keep the watch busy, so a check is nearly always under way
	// when a writer asks: the writer must wait for the next one.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		repeatUntil(stop, &readers, func() bool { ts.store.watch.version(ctx); return true })
	}
	defer func() { close(stop); readers.Wait() }()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				before, err := ts.store.watch.version(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := ts.store.CreateEmployee(ctx, &Employee{FirstName: "Watch", LastName: "Test", NickName: "W",
					Phone: fmt.Sprintf("+1777%03d%04d", g, i), Email: fmt.Sprintf("watch%d_%d@example.com", g, i),
					Birthday: "1990-01-01", Country: "Austria", City: "Wien", Address: "Ring 1"}); err != nil {
					t.Error(err)
					return
				}
				// Other goroutines keep asking meanwhile, so this check is
				// often shared; it must still see this goroutine's commit.
				after, err := ts.store.watch.version(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if after == before {
					t.Errorf("data_version %d both before and after a commit", after)
					return
				}
			}
		}()
	}
	wg.Wait()
}
