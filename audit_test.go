package main

// audit_test.go: the audit trail: one entry for each change and security
// event, none for a write that fails, nothing secret in any, admins only.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// auditAfter is the trail's entries after id last, oldest first, as an
// admin reads them through GET /audit/.
func (ts *testServer) auditAfter(adminToken string, last int64) []auditEntry {
	ts.t.Helper()
	var entries []auditEntry
	res := ts.call("GET", "/audit/?limit=100", adminToken, nil).expect(http.StatusOK)
	if err := json.Unmarshal(res.body, &entries); err != nil {
		ts.t.Fatal(err)
	}
	entries = slices.DeleteFunc(entries, func(e auditEntry) bool { return e.ID <= last })
	slices.Reverse(entries)
	return entries
}

// lastAuditID is the newest entry's id.
func (ts *testServer) lastAuditID() int64 {
	ts.t.Helper()
	var id int64
	if err := ts.store.read.QueryRowContext(context.Background(), "SELECT COALESCE(MAX(id), 0) FROM audit").Scan(&id); err != nil {
		ts.t.Fatal(err)
	}
	return id
}

// want is an entry a step should write: its action and target, its actor
// (0: none), and the names of the changes it holds.
type want struct {
	action  string
	target  string // "user:5"; "user" for none
	actor   int64
	changes []string
}

func (w want) check(t *testing.T, e auditEntry) {
	t.Helper()
	target := e.TargetType
	if e.TargetID != nil {
		target += fmt.Sprintf(":%d", *e.TargetID)
	}
	var actor int64
	if e.ActorID != nil {
		actor = *e.ActorID
	}
	var changes []string
	for name := range e.Changes {
		changes = append(changes, name)
	}
	slices.Sort(changes)
	slices.Sort(w.changes)
	if e.Action != w.action || target != w.target || actor != w.actor || !slices.Equal(changes, w.changes) {
		t.Errorf("entry %s %s by %d changing %v, want %s %s by %d changing %v",
			e.Action, target, actor, changes, w.action, w.target, w.actor, w.changes)
	}
	if e.Client == "" || e.RequestID == "" || e.Time == "" {
		t.Errorf("entry %s lacks its client, request id or time: %+v", e.Action, e)
	}
}

// TestAuditEveryAction runs each change and security event once, and
// finds exactly its entry (or entries) with the right fields; then looks
// for anything secret in the whole trail.
func TestAuditEveryAction(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.LoginThrottle.MaxFailuresPerUser = 3 })
	admin, adminToken := ts.userWithToken("auditadmin", "admin")
	manager, managerToken := ts.userWithToken("auditmanager", "manager")
	const newPassword = "N3w-Secret!x"
	var userID, employeeID, ticketID int64
	var userToken, staleToken string
	id := func(res *response) int64 { return int64(res.obj()["id"].(float64)) }
	target := func(kind string, id *int64) func() string {
		return func() string { return fmt.Sprintf("%s:%d", kind, *id) }
	}
	login := func(username, password string) *response {
		return ts.form("/token", url.Values{"username": {username}, "password": {password}})
	}

	steps := []struct {
		name   string
		do     func()
		target func() string
		want   []want
	}{
		{"user created", func() {
			userID = id(ts.call("POST", "/user/", adminToken, validNewUser("audited", 1)).expect(http.StatusOK))
		}, target("user", &userID), []want{{"user.created", "", admin.ID,
			[]string{"username", "first_name", "last_name", "phone", "email", "role", "disabled", "login_denied"}}}},
		{"user updated", func() {
			body := validNewUser("auditedtwo", 1)
			delete(body, "password")
			ts.call("PUT", fmt.Sprintf("/user/%d", userID), adminToken, body).expect(http.StatusOK)
		}, target("user", &userID), []want{{"user.updated", "", admin.ID, []string{"username", "email"}}}},
		{"contacts changed", func() {
			ts.call("PATCH", fmt.Sprintf("/user/%d/contacts", userID), managerToken, map[string]any{
				"first_name": "Berta", "last_name": "Nielsen", "phone": "+491298760001", "email": "auditedtwo@example.com"}).expect(http.StatusOK)
		}, target("user", &userID), []want{{"user.updated", "", manager.ID, []string{"first_name"}}}},
		{"username changed", func() {
			ts.call("PATCH", fmt.Sprintf("/user/%d/username", userID), adminToken, map[string]any{"username": "audited"}).expect(http.StatusOK)
		}, target("user", &userID), []want{{"user.updated", "", admin.ID, []string{"username"}}}},
		{"roles changed", func() {
			ts.call("PATCH", fmt.Sprintf("/user/%d/role", userID), adminToken, map[string]any{"role": []string{"support", "manager"}}).expect(http.StatusOK)
		}, target("user", &userID), []want{{"user.roles_changed", "", admin.ID, []string{"role"}}}},
		{"disabled", func() {
			ts.call("PATCH", fmt.Sprintf("/user/%d/disabled", userID), managerToken, map[string]any{"disabled": true}).expect(http.StatusOK)
		}, target("user", &userID), []want{{"user.disabled", "", manager.ID, []string{"disabled"}}}},
		{"enabled", func() {
			ts.call("PATCH", fmt.Sprintf("/user/%d/disabled", userID), managerToken, map[string]any{"disabled": false}).expect(http.StatusOK)
		}, target("user", &userID), []want{{"user.enabled", "", manager.ID, []string{"disabled"}}}},
		{"login allowed again", func() {
			ts.call("PATCH", fmt.Sprintf("/user/%d/login_denied", userID), adminToken, map[string]any{"login_denied": true}).expect(http.StatusOK)
			ts.call("PATCH", fmt.Sprintf("/user/%d/login_denied", userID), adminToken, map[string]any{"login_denied": false}).expect(http.StatusOK)
		}, target("user", &userID), []want{{"user.login_denied", "", admin.ID, []string{"login_denied"}},
			{"user.login_allowed", "", admin.ID, []string{"login_denied"}}}},
		{"several kinds of change at once: an entry for each", func() {
			body := validNewUser("audited", 1)
			delete(body, "password")
			body["first_name"], body["role"], body["disabled"] = "Carla", []string{"support"}, true
			body["email"] = "auditedtwo@example.com"
			ts.call("PUT", fmt.Sprintf("/user/%d", userID), adminToken, body).expect(http.StatusOK)
			ts.call("PATCH", fmt.Sprintf("/user/%d/disabled", userID), adminToken, map[string]any{"disabled": false}).expect(http.StatusOK)
		}, target("user", &userID), []want{{"user.roles_changed", "", admin.ID, []string{"role"}},
			{"user.disabled", "", admin.ID, []string{"disabled"}}, {"user.updated", "", admin.ID, []string{"first_name"}},
			{"user.enabled", "", admin.ID, []string{"disabled"}}}},
		{"login ok", func() {
			userToken = login("audited", testPassword).expect(http.StatusOK).obj()["access_token"].(string)
		},
			target("user", &userID), []want{{"login.ok", "", -1, nil}}},
		{"password changed by an admin", func() {
			ts.call("PATCH", fmt.Sprintf("/user/%d/password", userID), adminToken, map[string]any{"password": newPassword}).expect(http.StatusOK)
			staleToken = userToken
		}, target("user", &userID), []want{{"user.password_changed", "", admin.ID, nil}}},
		{"token refused for the changed password", func() {
			ts.call("GET", "/me", staleToken, nil).expect(http.StatusUnauthorized)
		}, target("user", &userID), []want{{"token.refused", "", -1, nil}}},
		{"wrong password", func() { login("audited", "Wr0ng-pass!").expect(http.StatusBadRequest) },
			target("user", &userID), []want{{"login.wrong_password", "", -1, nil}}},
		{"own password changed; a wrong current password first", func() {
			userToken = login("audited", newPassword).expect(http.StatusOK).obj()["access_token"].(string)
			ts.call("PATCH", "/user/password", userToken, map[string]any{"password": testPassword, "current_password": "Wr0ng-pass!"}).expect(http.StatusBadRequest)
			ts.call("PATCH", "/user/password", userToken, map[string]any{"password": testPassword, "current_password": newPassword}).expect(http.StatusOK)
		}, target("user", &userID), []want{{"login.ok", "", -1, nil}, {"password.check_failed", "", -1, nil},
			{"user.password_changed", "", -1, nil}}},
		{"login denied", func() {
			ts.call("PATCH", fmt.Sprintf("/user/%d/login_denied", manager.ID), adminToken, map[string]any{"login_denied": true}).expect(http.StatusOK)
			login("auditmanager", testPassword).expect(http.StatusBadRequest, "User login denied")
		}, func() string { return fmt.Sprintf("user:%d", manager.ID) }, []want{{"user.login_denied", "", admin.ID, []string{"login_denied"}},
			{"login.denied", "", manager.ID, nil}}},
		{"unknown user", func() { login("nobody", "Passw0rd!-typed-here").expect(http.StatusBadRequest) },
			func() string { return "user" }, []want{{"login.unknown_user", "", 0, nil}}},
		{"user deleted", func() { ts.call("DELETE", fmt.Sprintf("/user/%d", userID), adminToken, nil).expect(http.StatusOK) },
			target("user", &userID), []want{{"user.deleted", "", admin.ID,
				[]string{"username", "first_name", "last_name", "phone", "email", "role", "disabled", "login_denied"}}}},
		{"employee created", func() {
			employeeID = id(ts.call("POST", "/employee/", adminToken, validEmployee(1)).expect(http.StatusOK))
		}, target("employee", &employeeID), []want{{"employee.created", "", admin.ID,
			[]string{"first_name", "last_name", "nick_name", "phone", "email", "birthday", "country", "city", "address"}}}},
		{"employee updated", func() {
			body := validEmployee(1)
			body["city"] = "Berlin"
			ts.call("PUT", fmt.Sprintf("/employee/%d", employeeID), adminToken, body).expect(http.StatusOK)
		}, target("employee", &employeeID), []want{{"employee.updated", "", admin.ID, []string{"city"}}}},
		{"ticket created", func() {
			ticketID = id(ts.call("POST", fmt.Sprintf("/ticket/%d", employeeID), adminToken, validTicket()).expect(http.StatusOK))
		}, target("ticket", &ticketID), []want{{"ticket.created", "", admin.ID,
			[]string{"title", "description", "status", "owner_id", "employee_id"}}}},
		{"ticket updated", func() {
			body := validTicket()
			body["status"] = "Closed"
			ts.call("PUT", fmt.Sprintf("/ticket/%d", ticketID), adminToken, body).expect(http.StatusOK)
		}, target("ticket", &ticketID), []want{{"ticket.updated", "", admin.ID, []string{"status"}}}},
		{"ticket deleted", func() { ts.call("DELETE", fmt.Sprintf("/ticket/%d", ticketID), adminToken, nil).expect(http.StatusOK) },
			target("ticket", &ticketID), []want{{"ticket.deleted", "", admin.ID,
				[]string{"title", "description", "status", "owner_id", "employee_id"}}}},
		{"employee deleted", func() {
			ts.call("DELETE", fmt.Sprintf("/employee/%d", employeeID), adminToken, nil).expect(http.StatusOK)
		},
			target("employee", &employeeID), []want{{"employee.deleted", "", admin.ID,
				[]string{"first_name", "last_name", "nick_name", "phone", "email", "birthday", "country", "city", "address"}}}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			last := ts.lastAuditID()
			step.do()
			got := ts.auditAfter(adminToken, last)
			if len(got) != len(step.want) {
				t.Fatalf("%d entries, want %d: %+v", len(got), len(step.want), got)
			}
			for i, w := range step.want {
				w.target = step.target()
				if w.actor == -1 { // the user the step's target names acted
					fmt.Sscanf(w.target[strings.Index(w.target, ":")+1:], "%d", &w.actor)
				}
				w.check(t, got[i])
			}
		})
	}

	t.Run("wrong passwords, then throttled", func(t *testing.T) {
		u := ts.addUser("throttled", "support")
		last, failures := ts.lastAuditID(), 0
		for login("throttled", "Wr0ng-pass!").status != http.StatusTooManyRequests {
			if failures++; failures > 10 {
				t.Fatal("never throttled")
			}
		}
		got := ts.auditAfter(adminToken, last)
		if len(got) != failures+1 {
			t.Fatalf("%d entries for %d failures and a throttled login: %+v", len(got), failures, got)
		}
		for i, e := range got {
			action := map[bool]string{true: "login.throttled", false: "login.wrong_password"}[i == failures]
			want{action, fmt.Sprintf("user:%d", u.ID), u.ID, nil}.check(t, e)
		}
	})

	t.Run("the ticket's deleted entry tells what it held", func(t *testing.T) {
		res := ts.call("GET", fmt.Sprintf("/audit/?target=ticket:%d&action=ticket.deleted", ticketID), adminToken, nil).expect(http.StatusOK)
		var entries []auditEntry
		json.Unmarshal(res.body, &entries)
		if len(entries) != 1 || entries[0].Changes["status"].Old != "Closed" || entries[0].Changes["status"].New != nil {
			t.Fatalf("ticket.deleted entries %+v, want one with the old status Closed", entries)
		}
	})

	t.Run("nothing secret in any entry", func(t *testing.T) {
		rows, err := ts.store.read.QueryContext(context.Background(), "SELECT "+auditColumns+" FROM audit")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		secrets := []string{testPassword, newPassword, "Wr0ng-pass!", "Passw0rd!-typed-here", "nobody", "$argon2", "$2a$", "$2b$",
			adminToken, managerToken, userToken, testSecret, "hashed"}
		n := 0
		for rows.Next() {
			n++
			var cols [10]any
			ptrs := make([]any, len(cols))
			for i := range cols {
				ptrs[i] = &cols[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprint(cols)
			for _, s := range secrets {
				if s != "" && strings.Contains(line, s) {
					t.Errorf("an entry holds %q: %s", s, line)
				}
			}
		}
		if n < 30 {
			t.Fatalf("only %d entries scanned", n)
		}
	})
}

// TestAuditFailedWritesLeaveNone: a write answered 404, 409, 412 or 422,
// or rolled back, leaves no entry.
func TestAuditFailedWritesLeaveNone(t *testing.T) {
	ts := newTestServer(t)
	admin, adminToken := ts.userWithToken("failadmin", "admin")
	other := ts.addUser("failother", "support")
	employeeID := int64(ts.call("POST", "/employee/", adminToken, validEmployee(1)).expect(http.StatusOK).obj()["id"].(float64))
	ts.call("POST", fmt.Sprintf("/ticket/%d", employeeID), adminToken, validTicket()).expect(http.StatusOK)

	cases := []struct {
		name   string
		do     func() *response
		status int
	}{
		{"422 username taken (the store's check)", func() *response {
			return ts.call("POST", "/user/", adminToken, validNewUser("failother", 2))
		}, http.StatusUnprocessableEntity},
		{"422 email taken on update", func() *response {
			body := validNewUser("failother", 3)
			body["email"] = "failadmin@example.com"
			delete(body, "password")
			return ts.call("PUT", fmt.Sprintf("/user/%d", other.ID), adminToken, body)
		}, http.StatusUnprocessableEntity},
		{"409 last admin", func() *response {
			return ts.call("PATCH", fmt.Sprintf("/user/%d/disabled", admin.ID), adminToken, map[string]any{"disabled": true})
		}, http.StatusConflict},
		{"409 employee has tickets", func() *response {
			return ts.call("DELETE", fmt.Sprintf("/employee/%d", employeeID), adminToken, nil)
		}, http.StatusConflict},
		{"409 user owns tickets", func() *response {
			return ts.call("DELETE", fmt.Sprintf("/user/%d", admin.ID), adminToken, nil)
		}, http.StatusConflict},
		{"404 ticket", func() *response { return ts.call("PUT", "/ticket/999", adminToken, validTicket()) }, http.StatusNotFound},
		{"404 employee of a new ticket", func() *response { return ts.call("POST", "/ticket/999", adminToken, validTicket()) }, http.StatusNotFound},
		{"412 stale If-Match", func() *response {
			return ts.call("PUT", fmt.Sprintf("/employee/%d", employeeID), adminToken, validEmployee(1), "If-Match", `"stale"`)
		}, http.StatusPreconditionFailed},
		{"422 invalid body", func() *response {
			body := validTicket()
			body["title"] = ""
			return ts.call("PUT", "/ticket/1", adminToken, body)
		}, http.StatusUnprocessableEntity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			last := ts.lastAuditID()
			c.do().expect(c.status)
			if got := ts.auditAfter(adminToken, last); len(got) != 0 {
				t.Fatalf("a failed write left entries: %+v", got)
			}
		})
	}

	t.Run("a write rolled back after its entry, alone and sharing a commit", func(t *testing.T) {
		last := ts.lastAuditID()
		boom := errors.New("boom")
		failing := func(tx *txn) error {
			if err := audited(context.Background(), tx, nil, entry("ticket.updated", "ticket", 1)); err != nil {
				return err
			}
			return boom
		}
		if err := ts.store.inTx(context.Background(), failing); !errors.Is(err, boom) {
			t.Fatalf("alone: %v, want boom", err)
		}
		var wg sync.WaitGroup
		for i := range 20 { // some of these share a commit, each in its savepoint
			wg.Go(func() {
				f := failing
				if i%2 == 0 {
					f = func(tx *txn) error {
						return audited(context.Background(), tx, nil, entry("ticket.updated", "ticket", 2))
					}
				}
				ts.store.inTx(context.Background(), f)
			})
		}
		wg.Wait()
		var failed, kept int
		ts.store.read.QueryRowContext(context.Background(), "SELECT count(*) FROM audit WHERE id > ? AND target_id = 1", last).Scan(&failed)
		ts.store.read.QueryRowContext(context.Background(), "SELECT count(*) FROM audit WHERE id > ? AND target_id = 2", last).Scan(&kept)
		if failed != 0 || kept != 10 {
			t.Fatalf("%d entries of failed writes (want 0), %d of committed ones (want 10)", failed, kept)
		}
	})
}

// TestAuditEntryFailsItsCommit: an entry that cannot be inserted fails the
// commit it was to join, and the change it records goes with it.
func TestAuditEntryFailsItsCommit(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	admin := ts.addUser("commitadmin", "admin")
	employee := Employee{FirstName: "Anna", LastName: "Smith", NickName: "Anna", Phone: "+15550001234",
		Email: "anna@example.com", Birthday: "1990-01-01", Country: "Austria", City: "Vienna", Address: "Ring 1"}
	if _, err := ts.store.CreateEmployee(ctx, &employee); err != nil {
		t.Fatal(err)
	}
	count := func(table string) (n int) {
		ts.store.read.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)
		return n
	}
	tickets, entries := count("tickets"), count("audit")
	err := ts.store.inTx(ctx, func(tx *txn) error {
		ticket := Ticket{Title: "Printer", Description: "Out of paper", Status: "New"}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tickets (title, description, status, employee_id, owner_id, created)
			VALUES (?, ?, ?, ?, ?, ?)`, ticket.Title, ticket.Description, ticket.Status, employee.ID, admin.ID, now()); err != nil {
			return err
		}
		err := audited(ctx, tx, nil, created("ticket", &ticket.ID, &ticket))
		tx.audit[0] = nil // its time: NOT NULL, so the insert fails
		return err
	})
	if err == nil || count("tickets") != tickets || count("audit") != entries {
		t.Fatalf("%v; %d tickets and %d entries, want an error and %d and %d as before", err,
			count("tickets"), count("audit"), tickets, entries)
	}
}

// TestAuditRBAC: only an active admin reads the trail.
func TestAuditRBAC(t *testing.T) {
	ts := newTestServer(t)
	_, adminToken := ts.userWithToken("rbacadmin", "admin")
	_, managerToken := ts.userWithToken("rbacmanager", "manager")
	_, supportToken := ts.userWithToken("rbacsupport", "support")
	_, noRoleToken := ts.userWithToken("rbacnone")
	disabled, disabledToken := ts.userWithToken("rbacoff", "admin")
	ts.call("PATCH", fmt.Sprintf("/user/%d/disabled", disabled.ID), adminToken, map[string]any{"disabled": true}).expect(http.StatusOK)
	cases := []struct {
		name, token string
		status      int
		detail      string
	}{
		{"admin", adminToken, http.StatusOK, ""},
		{"manager", managerToken, http.StatusUnauthorized, "Not enough permissions"},
		{"support", supportToken, http.StatusUnauthorized, "Not enough permissions"},
		{"no role", noRoleToken, http.StatusUnauthorized, "Not enough permissions"},
		{"disabled admin", disabledToken, http.StatusBadRequest, "User disabled"},
		{"no token", "", http.StatusUnauthorized, "Not authenticated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/audit/", "/audit"} {
				res := ts.call("GET", path, c.token, nil).expect(c.status)
				if c.detail != "" && res.detail() != c.detail {
					t.Errorf("%s: detail %q, want %q", path, res.detail(), c.detail)
				}
			}
		})
	}
}

// TestAuditFiltersAndPaging: each filter selects its entries, newest
// first; the Link pages through all of them; bad values are 422.
func TestAuditFiltersAndPaging(t *testing.T) {
	ts := newTestServer(t)
	admin, adminToken := ts.userWithToken("filteradmin", "admin")
	manager, managerToken := ts.userWithToken("filtermanager", "manager")
	employeeID := int64(ts.call("POST", "/employee/", managerToken, validEmployee(1)).expect(http.StatusOK).obj()["id"].(float64))
	var tickets []int64
	for range 5 {
		res := ts.call("POST", fmt.Sprintf("/ticket/%d", employeeID), adminToken, validTicket()).expect(http.StatusOK)
		tickets = append(tickets, int64(res.obj()["id"].(float64)))
	}
	ts.call("DELETE", fmt.Sprintf("/ticket/%d", tickets[2]), managerToken, nil).expect(http.StatusOK)
	read := func(query string) []auditEntry {
		t.Helper()
		var entries []auditEntry
		json.Unmarshal(ts.call("GET", "/audit/?"+query, adminToken, nil).expect(http.StatusOK).body, &entries)
		for i := 1; i < len(entries); i++ {
			if entries[i].ID >= entries[i-1].ID {
				t.Fatalf("%s: not newest first: %d after %d", query, entries[i].ID, entries[i-1].ID)
			}
		}
		return entries
	}
	actions := func(entries []auditEntry) []string {
		var s []string
		for _, e := range entries {
			s = append(s, e.Action)
		}
		return s
	}
	cases := []struct {
		query string
		want  []string
	}{
		{fmt.Sprintf("target=ticket:%d", tickets[2]), []string{"ticket.deleted", "ticket.created"}},
		{"target=employee", []string{"employee.created"}},
		{fmt.Sprintf("actor_id=%d&target=ticket", manager.ID), []string{"ticket.deleted"}},
		{fmt.Sprintf("actor_id=%d&action=ticket.created", admin.ID), slices.Repeat([]string{"ticket.created"}, 5)},
		{"action=login.ok", []string{"login.ok", "login.ok"}},
		{"action=ticket.created&since=2000-01-01&until=2999-01-01", slices.Repeat([]string{"ticket.created"}, 5)},
		{"action=ticket.created&since=2999-01-01", nil},
		{"action=ticket.created&until=2000-01-01T00:00:00Z", nil},
		{"target=ticket:999999", nil},
	}
	for _, c := range cases {
		if got := actions(read(c.query)); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}

	t.Run("keyset paging through the Link", func(t *testing.T) {
		all := read("limit=100")
		var paged []auditEntry
		next := ts.cfg.RootPath + "/audit/?limit=3"
		for pages := 0; next != ""; pages++ {
			if pages > 10 {
				t.Fatal("the Link never ends")
			}
			res := ts.call("GET", strings.TrimPrefix(next, ts.cfg.RootPath), adminToken, nil).expect(http.StatusOK)
			var entries []auditEntry
			json.Unmarshal(res.body, &entries)
			paged = append(paged, entries...)
			next = ""
			if link := res.header.Get("Link"); link != "" {
				next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
			}
		}
		if len(paged) != len(all) {
			t.Fatalf("paged %d entries, want %d", len(paged), len(all))
		}
		for i := range all {
			if paged[i].ID != all[i].ID {
				t.Fatalf("entry %d: id %d paged, %d at once", i, paged[i].ID, all[i].ID)
			}
		}
	})

	t.Run("bad values are 422", func(t *testing.T) {
		for _, q := range []string{"target=order:1", "target=ticket:", "target=ticket:x", "action=Login", "actor_id=-1",
			"actor_id=x", "since=yesterday", "until=2025-13-01", "before_id=0", "limit=-1", "target=%FF"} {
			ts.call("GET", "/audit/?"+q, adminToken, nil).expect(http.StatusUnprocessableEntity)
		}
	})
}

// TestAuditConcurrentWriters: 50 writers at once, every committed change
// audited exactly once.
func TestAuditConcurrentWriters(t *testing.T) {
	ts := newTestServer(t)
	_, adminToken := ts.userWithToken("concadmin", "admin")
	employeeID := int64(ts.call("POST", "/employee/", adminToken, validEmployee(1)).expect(http.StatusOK).obj()["id"].(float64))
	last := ts.lastAuditID()
	ids := make(chan int64, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			res := ts.call("POST", fmt.Sprintf("/ticket/%d", employeeID), adminToken, validTicket())
			if res.status == http.StatusOK {
				ids <- int64(res.obj()["id"].(float64))
			}
		})
	}
	wg.Wait()
	close(ids)
	created := map[int64]int{}
	for id := range ids {
		created[id] = 0
	}
	if len(created) != 50 {
		t.Fatalf("%d tickets created, want 50", len(created))
	}
	for _, e := range ts.auditAfter(adminToken, last) {
		if e.Action != "ticket.created" || e.TargetID == nil {
			t.Fatalf("unexpected entry %+v", e)
		}
		if _, ok := created[*e.TargetID]; !ok {
			t.Fatalf("an entry for ticket %d, which was not created", *e.TargetID)
		}
		created[*e.TargetID]++
	}
	for id, n := range created {
		if n != 1 {
			t.Errorf("ticket %d has %d entries, want 1", id, n)
		}
	}
}

// TestAuditRetention: pruning deletes the entries older than the
// retention and keeps the others; 0 days keeps everything.
func TestAuditRetention(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser("keepme", "admin") // one entry of today
	ctx := context.Background()
	old := time.Now().UTC().AddDate(0, 0, -31).Format(time.DateTime)
	if err := ts.store.inTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit (time, action, target_type, changes, client, request_id)
			VALUES (?, 'login.unknown_user', 'user', '{}', '', '')`, old)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		ts.store.read.QueryRowContext(ctx, "SELECT count(*) FROM audit").Scan(&n)
		return n
	}
	if n, err := ts.store.pruneAudit(ctx, 32); err != nil || n != 0 || count() != 2 {
		t.Fatalf("32 days: pruned %d (%v), %d left; want 0 and 2", n, err, count())
	}
	stop := ts.store.pruneAuditEvery(time.Hour, 30)
	deadline := time.Now().Add(10 * time.Second)
	for count() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if count() != 1 {
		t.Fatalf("%d entries after pruning at 30 days, want 1", count())
	}
	if ts.cfg.AuditRetentionDays != 365 {
		t.Errorf("audit_retention_days defaults to %d, want 365", ts.cfg.AuditRetentionDays)
	}
}

// TestAuditOriginalUpgradesEmpty: the original's file gets an empty trail.
func TestAuditOriginalUpgradesEmpty(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.DatabaseURL = copyFixture(t, "original.db") })
	if n := ts.lastAuditID(); n != 0 {
		t.Fatalf("the upgraded file's trail holds entries up to id %d, want none", n)
	}
}

// TestAuditOffBuild: the build without the trail, which bench/run.sh
// measures the trail's cost against, still compiles; this one has it.
func TestAuditOffBuild(t *testing.T) {
	t.Parallel()
	if !auditTrail {
		t.Fatal("built with -tags noaudit: a server without its audit trail, only for measuring")
	}
	if out, err := exec.Command("go", "vet", "-tags", "noaudit", ".").CombinedOutput(); err != nil {
		t.Fatalf("go vet -tags noaudit: %v\n%s", err, out)
	}
}

// TestAuditCreatedValues: a created row's entry holds each field's value
// as the row's answer shows it, letters beyond ASCII included.
func TestAuditCreatedValues(t *testing.T) {
	ts := newTestServer(t)
	_, adminToken := ts.userWithToken("valuesadmin", "admin")
	employeeID := int64(ts.call("POST", "/employee/", adminToken, validEmployee(1)).expect(http.StatusOK).obj()["id"].(float64))
	body := validTicket()
	body["title"], body["description"] = "Überweisung 7 ’dringend’", "Ça va. L’été - Ελληνικά 日本"
	ticket := ts.call("POST", fmt.Sprintf("/ticket/%d", employeeID), adminToken, body).expect(http.StatusOK).obj()
	res := ts.call("GET", fmt.Sprintf("/audit/?target=ticket:%v", ticket["id"]), adminToken, nil).expect(http.StatusOK)
	var entries []struct {
		Changes map[string]map[string]any `json:"changes"`
	}
	if err := json.Unmarshal(res.body, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("%v, %s", err, res.body)
	}
	for _, name := range []string{"title", "description", "status", "owner_id", "employee_id"} {
		change := entries[0].Changes[name]
		if _, hasOld := change["old"]; hasOld || change["new"] != ticket[name] {
			t.Errorf("%s: %v, want only the new value %v", name, change, ticket[name])
		}
	}
}
