package main

// store_test.go: store.go's data layer (docs/api.md §9): the database
// enforces foreign keys, a broken unique index is the same API failure as
// the store's own check, unique phones, emails and usernames, ids never
// reused, nothing orphaned, and the last active admin kept, also under
// concurrent requests.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

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
		{"a user's username in upper case", insertUser, []any{strings.ToUpper(u.Username), "+1999000006", "other6@example.com"}, errUsernameTaken},
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

// TestLastAdminUnderConcurrency: two admins disable each other at the same
// moment. The check runs inside each write transaction, so exactly one wins.
func TestLastAdminUnderConcurrency(t *testing.T) {
	for round := 0; round < 5; round++ {
		ts := newTestServer(t)
		first, firstToken := ts.userWithToken("adminone", "admin")
		second, secondToken := ts.userWithToken("admintwo", "admin")
		results := make(chan int, 2)
		disable := func(token string, target *User) {
			results <- ts.call("PATCH", fmt.Sprintf("/user/%d/disabled", target.ID), token, map[string]any{"disabled": true}).status
		}
		go disable(firstToken, second)
		go disable(secondToken, first)
		a, b := <-results, <-results
		// One succeeds (200). The other is refused: 409 when its transaction
		// ran second, or 400 User disabled when its caller was already disabled.
		refused := func(status int) bool { return status == 409 || status == 400 }
		if !(a == 200 && refused(b) || b == 200 && refused(a)) {
			t.Fatalf("round %d: answers %d and %d, want one 200 and one refusal", round, a, b)
		}
		active := 0
		for _, u := range []*User{first, second} {
			got, err := ts.store.UserByID(context.Background(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.activeAdmin() {
				active++
			}
		}
		if active != 1 {
			t.Fatalf("round %d: %d active admins left, want 1", round, active)
		}
	}
}

func TestRBACLastActiveAdmin(t *testing.T) {
	t.Parallel()
	const lastAdmin = "Cannot remove the last active admin"
	// Each case runs on its own server holding the admin "soloadmin" (who sends
	// the request) and, depending on the scenario, a second admin who is not
	// active.
	lockouts := []struct {
		name, method, path string
		body               func(solo *User) any
	}{
		{"delete", "DELETE", "", nil},
		{"disable", "PATCH", "/disabled", func(*User) any { return map[string]any{"disabled": true} }},
		{"login-deny", "PATCH", "/login_denied", func(*User) any { return map[string]any{"login_denied": true} }},
		{"remove the admin role", "PATCH", "/role", func(*User) any { return map[string]any{"role": []string{"manager"}} }},
		{"empty the roles by PUT", "PUT", "", func(u *User) any { return rbacPutBody(u, "role", []string{}) }},
		{"disable by PUT", "PUT", "", func(u *User) any { return rbacPutBody(u, "disabled", true) }},
		{"login-deny by PUT", "PUT", "", func(u *User) any { return rbacPutBody(u, "login_denied", true) }},
	}
	scenarios := []struct {
		name   string
		second func(*User) // how the second admin is made inactive; nil: no second admin
	}{
		{"the only admin", nil},
		{"with a disabled second admin", func(u *User) { u.Disabled = true }},
		{"with a login-denied second admin", func(u *User) { u.LoginDenied = true }},
	}
	for _, sc := range scenarios {
		for _, l := range lockouts {
			t.Run(fmt.Sprintf("%s: cannot %s the last active admin", sc.name, l.name), func(t *testing.T) {
				t.Parallel()
				ts := newTestServer(t)
				solo, soloToken := ts.userWithToken("soloadmin", "admin")
				if sc.second != nil {
					second := ts.addUser("second", "admin")
					rbacUpdate(t, ts, second.ID, sc.second)
				}
				var body any
				if l.body != nil {
					body = l.body(solo)
				}
				before := rbacSnapshot(t, ts.store)
				rbacError(t, ts.call(l.method, fmt.Sprintf("/user/%d%s", solo.ID, l.path), soloToken, body),
					http.StatusConflict, lastAdmin, "")
				rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
			})
		}
	}

	t.Run("with a second active admin one may be demoted, then the other is the last", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t)
		solo, soloToken := ts.userWithToken("soloadmin", "admin")
		second, secondToken := ts.userWithToken("second", "admin")
		ts.call("PATCH", fmt.Sprintf("/user/%d/role", solo.ID), soloToken,
			map[string]any{"role": []string{"manager"}}).expect(http.StatusOK)
		rbacError(t, ts.call("DELETE", fmt.Sprintf("/user/%d", second.ID), secondToken, nil),
			http.StatusConflict, lastAdmin, "")
	})
}

// rbacPutBody is a PUT /user/{id} body that keeps u as it is but for one field.
func rbacPutBody(u *User, field string, value any) map[string]any {
	b := map[string]any{"username": u.Username, "first_name": u.FirstName, "last_name": u.LastName,
		"phone": u.Phone, "email": u.Email, "role": u.Role}
	b[field] = value
	return b
}

func TestValidationUniqueConflicts(t *testing.T) {
	t.Parallel()
	ts, _, tok := valServer(t)
	newUser := func(username, phone, email string) map[string]any {
		body := validNewUser(username, 0)
		body["phone"], body["email"] = phone, email
		return ts.call("POST", "/user/", tok, body).expect(200).obj()
	}
	newUser("annauser", "+491111111111", "anna@example.com")
	bert := newUser("bertuser", "+492222222222", "bert@example.com")
	bertPath := fmt.Sprintf("/user/%d", valID(bert))
	const (
		userTaken  = "Username already registered"
		emailTaken = "Email already registered"
		phoneTaken = "Phone already registered"
	)
	conflict := func(t *testing.T, res *response, detail string) {
		t.Helper()
		valExact(t, res, 422, map[string]any{"detail": detail})
	}

	t.Run("users", func(t *testing.T) {
		cases := []struct {
			name, field string
			value       any
			detail      string
		}{
			{"same username", "username", "annauser", userTaken},
			{"same username in upper case", "username", "ANNAUSER", userTaken},
			{"same username in mixed case", "username", "AnnaUser", userTaken},
			{"same email", "email", "anna@example.com", emailTaken},
			{"same email in upper case", "email", "ANNA@example.com", emailTaken},
			{"same email, domain in upper case", "email", "anna@EXAMPLE.COM", emailTaken},
			{"same phone", "phone", "+491111111111", phoneTaken},
		}
		for _, c := range cases {
			t.Run("POST /user/ "+c.name, func(t *testing.T) {
				ts := valFor(ts, t)
				body := validNewUser("carluser", 3)
				body[c.field] = c.value
				before := valCount(ts, "users")
				conflict(t, ts.call("POST", "/user/", tok, body), c.detail)
				if valCount(ts, "users") != before {
					t.Errorf("a user was written")
				}
			})
			type route struct {
				name, method, suffix string
				body                 map[string]any
			}
			routes := []route{{"PUT /user/{user_id}", "PUT", "", valPick(bert, valUserInput...)}}
			if c.field == "username" {
				routes = append(routes, route{"PATCH /user/{user_id}/username", "PATCH", "/username", map[string]any{}})
			} else {
				routes = append(routes, route{"PATCH /user/{user_id}/contacts", "PATCH", "/contacts",
					valPick(bert, "first_name", "last_name", "phone", "email")})
			}
			for _, r := range routes {
				t.Run(r.name+" "+c.name, func(t *testing.T) {
					ts := valFor(ts, t)
					body := map[string]any{}
					for k, v := range r.body {
						body[k] = v
					}
					body[c.field] = c.value
					before := string(ts.call("GET", bertPath, tok, nil).expect(200).body)
					conflict(t, ts.call(r.method, bertPath+r.suffix, tok, body), c.detail)
					if after := string(ts.call("GET", bertPath, tok, nil).expect(200).body); after != before {
						t.Errorf("refused update changed the user: %s → %s", before, after)
					}
				})
			}
		}
	})

	t.Run("a user's own unchanged values are no conflict", func(t *testing.T) {
		ts := valFor(ts, t)
		own := valPick(bert, valUserInput...)
		obj := ts.call("PUT", bertPath, tok, own).expect(200).obj()
		if valJSON(valPick(obj, valUserInput...)) != valJSON(own) {
			t.Errorf("answered %s", valJSON(obj))
		}
		ts.call("PATCH", bertPath+"/contacts", tok, valPick(bert, "first_name", "last_name", "phone", "email")).expect(200)
		ts.call("PATCH", bertPath+"/username", tok, map[string]any{"username": "bertuser"}).expect(200)
		ts.call("PATCH", bertPath+"/username", tok, map[string]any{"username": "BertUser"}).expect(200) // its own, in another case
		ts.call("PATCH", bertPath+"/username", tok, map[string]any{"username": "bertuser"}).expect(200)
		own["email"] = "BERT@example.com" // its own email in another case
		if obj := ts.call("PUT", bertPath, tok, own).expect(200).obj(); obj["email"] != "BERT@example.com" {
			t.Errorf("email %v, want it stored as given", obj["email"])
		}
	})

	t.Run("employees", func(t *testing.T) {
		ts := valFor(ts, t)
		e1 := validEmployee(1)
		e1["email"] = "emp.one@example.com"
		ts.call("POST", "/employee/", tok, e1).expect(200)
		e2 := ts.call("POST", "/employee/", tok, validEmployee(2)).expect(200).obj()
		e2Path := fmt.Sprintf("/employee/%d", valID(e2))
		cases := []struct {
			name, field, value, detail string
		}{
			{"same phone", "phone", e1["phone"].(string), phoneTaken},
			{"same email", "email", "emp.one@example.com", emailTaken},
			{"same email in upper case", "email", "EMP.ONE@Example.com", emailTaken},
		}
		for _, c := range cases {
			t.Run("POST /employee/ "+c.name, func(t *testing.T) {
				ts := valFor(ts, t)
				body := validEmployee(3)
				body[c.field] = c.value
				before := valCount(ts, "employees")
				conflict(t, ts.call("POST", "/employee/", tok, body), c.detail)
				if valCount(ts, "employees") != before {
					t.Errorf("an employee was written")
				}
			})
			t.Run("PUT /employee/{employee_id} "+c.name, func(t *testing.T) {
				ts := valFor(ts, t)
				body := valPick(e2, valEmployeeIn...)
				body[c.field] = c.value
				before := string(ts.call("GET", e2Path, tok, nil).expect(200).body)
				conflict(t, ts.call("PUT", e2Path, tok, body), c.detail)
				if after := string(ts.call("GET", e2Path, tok, nil).expect(200).body); after != before {
					t.Errorf("refused update changed the employee")
				}
			})
		}
		t.Run("own unchanged values are no conflict", func(t *testing.T) {
			ts := valFor(ts, t)
			ts.call("PUT", e2Path, tok, valPick(e2, valEmployeeIn...)).expect(200)
			body := valPick(e2, valEmployeeIn...)
			body["email"] = strings.ToUpper(body["email"].(string)[:1]) + body["email"].(string)[1:]
			ts.call("PUT", e2Path, tok, body).expect(200)
		})
		t.Run("a user's phone and email are free for an employee", func(t *testing.T) {
			ts := valFor(ts, t)
			body := validEmployee(4)
			body["phone"], body["email"] = "+491111111111", "anna@example.com"
			ts.call("POST", "/employee/", tok, body).expect(200)
		})
	})
}

func TestValidationIDsNeverReused(t *testing.T) {
	t.Parallel()
	ts, _, tok := valServer(t)
	emp := valID(ts.call("POST", "/employee/", tok, validEmployee(1)).expect(200).obj())
	cases := []struct {
		name   string
		create func(ts *testServer, n int) map[string]any
		path   string
	}{
		{"user", func(ts *testServer, n int) map[string]any {
			return ts.call("POST", "/user/", tok, validNewUser(valLetters("reuse", n), n)).expect(200).obj()
		}, "/user/%d"},
		{"employee", func(ts *testServer, n int) map[string]any {
			return ts.call("POST", "/employee/", tok, validEmployee(100+n)).expect(200).obj()
		}, "/employee/%d"},
		{"ticket", func(ts *testServer, n int) map[string]any {
			return ts.call("POST", fmt.Sprintf("/ticket/%d", emp), tok, validTicket()).expect(200).obj()
		}, "/ticket/%d"},
	}
	for _, c := range cases {
		t.Run("delete the newest "+c.name+" and create another: the new id is greater", func(t *testing.T) {
			ts := valFor(ts, t)
			a, b := c.create(ts, 1), c.create(ts, 2)
			if valID(b) <= valID(a) {
				t.Fatalf("ids %v then %v", a["id"], b["id"])
			}
			ts.call("DELETE", fmt.Sprintf(c.path, valID(b)), tok, nil).expect(200)
			next := c.create(ts, 3)
			if valID(next) <= valID(b) {
				t.Errorf("after deleting id %v the next %s got id %v", b["id"], c.name, next["id"])
			}
			ts.call("GET", fmt.Sprintf(c.path, valID(b)), tok, nil).expect(404)
		})
	}
	t.Run("ids survive a restart of the store", func(t *testing.T) {
		// A newer server on the same file continues after the highest id ever given.
		ts := valFor(ts, t)
		e := ts.call("POST", "/employee/", tok, validEmployee(500)).expect(200).obj()
		ts.call("DELETE", fmt.Sprintf("/employee/%d", valID(e)), tok, nil).expect(200)
		ts2 := newTestServer(t, func(c *Config) { c.DatabaseURL = ts.cfg.DatabaseURL })
		tok2 := ts2.token("valadmin", testPassword)
		e2 := ts2.call("POST", "/employee/", tok2, validEmployee(501)).expect(200).obj()
		if valID(e2) <= valID(e) {
			t.Errorf("after a restart the deleted id %v was followed by %v", e["id"], e2["id"])
		}
	})
}

func TestValidationNothingOrphaned(t *testing.T) {
	t.Parallel()
	ts, _, tok := valServer(t)
	author, authorTok := ts.userWithToken("authoruser", "support")
	emp := valID(ts.call("POST", "/employee/", tok, validEmployee(1)).expect(200).obj())
	ticket := valID(ts.call("POST", fmt.Sprintf("/ticket/%d", emp), authorTok, validTicket()).expect(200).obj())
	empPath, userPath, ticketPath := fmt.Sprintf("/employee/%d", emp), fmt.Sprintf("/user/%d", author.ID), fmt.Sprintf("/ticket/%d", ticket)

	t.Run("deleting an employee with tickets → 409 Employee has tickets", func(t *testing.T) {
		ts := valFor(ts, t)
		valExact(t, ts.call("DELETE", empPath, tok, nil), 409, map[string]any{"detail": "Employee has tickets"})
		obj := ts.call("GET", empPath, tok, nil).expect(200).obj()
		if tickets, _ := obj["tickets"].([]any); len(tickets) != 1 {
			t.Errorf("employee tickets %v, want the one ticket", obj["tickets"])
		}
	})
	t.Run("deleting a user who owns tickets → 409 User owns tickets", func(t *testing.T) {
		ts := valFor(ts, t)
		valExact(t, ts.call("DELETE", userPath, tok, nil), 409, map[string]any{"detail": "User owns tickets"})
		ts.call("GET", userPath, tok, nil).expect(200)
		ts.call("GET", ticketPath, tok, nil).expect(200)
	})
	t.Run("once the ticket is gone both can be deleted", func(t *testing.T) {
		ts := valFor(ts, t)
		ts.call("DELETE", ticketPath, tok, nil).expect(200)
		valExact(t, ts.call("DELETE", empPath, tok, nil), 200, map[string]any{"message": "Employee deleted successfully"})
		valExact(t, ts.call("DELETE", userPath, tok, nil), 200, map[string]any{"message": "User deleted successfully"})
	})
}
