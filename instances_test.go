package main

// instances_test.go: several ticketapi instances on one PostgreSQL database
// behave as one service. A token issued by one works on another;
// a password change, disable or delete through one is enforced by the
// other on the very next request; failed logins count across instances;
// the last-admin check and unique usernames hold under concurrent requests
// to different instances; instances starting together on an empty database
// create one first admin between them.
//
// Each in-process instance has its own Store, app, caches and throttle, as
// separate processes would; TestInstancesRealProcesses runs two real
// processes of the binary. Everything here needs PostgreSQL
// (TICKETAPI_TEST_DATABASE_URL) and skips without it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// newInstancePair starts two in-process instances, A and B, on one new
// PostgreSQL schema; edit changes the config of both.
func newInstancePair(t *testing.T, edit ...func(*Config)) (a, b *testServer) {
	t.Helper()
	dbURL := newPostgresSchema(t)
	edits := append([]func(*Config){func(c *Config) { c.DatabaseURL = dbURL }}, edit...)
	a, b = newTestServer(t, edits...), newTestServer(t, edits...)
	if a.store == b.store || a.app == b.app {
		t.Fatal("the two instances share a store or an app")
	}
	return a, b
}

// letterName is prefix plus two letters for n (usernames are letters only).
func letterName(prefix string, n int) string {
	return prefix + string(rune('a'+n/26%26)) + string(rune('a'+n%26))
}

// instanceAnswer is an answer to a request sent from a goroutine of its
// own, where the test may not fail (err says what went wrong instead).
type instanceAnswer struct {
	status int
	detail string
	body   []byte
	err    error
}

// instanceCall is ts.call for goroutines other than the test's.
func instanceCall(ts *testServer, method, path, token string, body any) instanceAnswer {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return instanceAnswer{err: err}
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, ts.srv.URL+ts.cfg.RootPath+path, reader)
	if err != nil {
		return instanceAnswer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		return instanceAnswer{err: err}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return instanceAnswer{err: err}
	}
	observe(req, res, data)
	r := response{status: res.StatusCode, body: data}
	return instanceAnswer{status: res.StatusCode, detail: r.detail(), body: data}
}

// activeAdminIDs are the ids of the admins who can log in and use the API,
// read from the database.
func activeAdminIDs(t *testing.T, ts *testServer) []int64 {
	t.Helper()
	users, err := ts.store.ListUsers(context.Background(), page{limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, u := range users {
		if u.activeAdmin() {
			ids = append(ids, u.ID)
		}
	}
	return ids
}

func TestInstancesShareTokens(t *testing.T) {
	a, b := newInstancePair(t)
	alice := a.addUser("alice", "support")
	bobby := b.addUser("bobby", "manager")
	cases := []struct {
		name           string
		issuer, holder *testServer
		user           *User
	}{
		{"issued by A, used on B", a, b, alice},
		{"issued by B, used on A", b, a, bobby},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token := c.issuer.token(c.user.Username, testPassword, "scope_example")
			me := c.holder.call("GET", "/me", token, nil).expect(200).obj()
			if me["username"] != c.user.Username || me["id"] != float64(c.user.ID) {
				t.Fatalf("/me on the other instance: %v, want user %d %s", me, c.user.ID, c.user.Username)
			}
			c.holder.call("GET", "/status", token, nil).expect(200)
			c.holder.call("GET", "/token/scope_example", token, nil).expect(200)
			c.holder.call("GET", "/employee/", token, nil).expect(200)
		})
	}
}

func TestInstancesPasswordChange(t *testing.T) {
	a, b := newInstancePair(t)
	admin := a.addUser("theadmin", "admin")
	const newPassword = "N3w!password"
	cases := []struct {
		name       string
		byAdmin    bool // PATCH /user/{id}/password by an admin, else PATCH /user/password by the user
		via, check *testServer
	}{
		{"own password through A, checked on B", false, a, b},
		{"own password through B, checked on A", false, b, a},
		{"set by an admin through A, checked on B", true, a, b},
		{"set by an admin through B, checked on A", true, b, a},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.via.addUser(letterName("changer", i), "support")
			old := c.check.token(u.Username, testPassword)
			for range 3 { // the checking instance has seen the user with the old password
				c.check.call("GET", "/status", old, nil).expect(200)
				c.via.call("GET", "/status", old, nil).expect(200)
			}

			var res *response
			if c.byAdmin {
				res = c.via.call("PATCH", fmt.Sprintf("/user/%d/password", u.ID), c.via.token(admin.Username, testPassword),
					map[string]any{"password": newPassword})
			} else {
				res = c.via.call("PATCH", "/user/password", old, map[string]any{"password": newPassword})
			}
			if m := res.expect(200).obj(); m["message"] != "Password changed successfully" {
				t.Fatalf("password change answered %v", m)
			}

			// The very next request on the other instance refuses the old token.
			c.check.call("GET", "/me", old, nil).expect(401, "Could not validate credentials")
			c.check.call("GET", "/status", old, nil).expect(401, "Could not validate credentials")
			c.check.form("/token", url.Values{"username": {u.Username}, "password": {testPassword}}).
				expect(400, "Incorrect User name or password")
			fresh := c.check.token(u.Username, newPassword)
			c.via.call("GET", "/status", fresh, nil).expect(200)
			c.check.call("GET", "/status", fresh, nil).expect(200)
		})
	}
}

func TestInstancesDisableAndDelete(t *testing.T) {
	a, b := newInstancePair(t)
	admin := a.addUser("theadmin", "admin")
	cases := []struct {
		name string
		// change locks the user out through via, with an admin's token.
		change func(via *testServer, adminToken string, u *User)
		// enforced checks the other instance, given the user's token from before.
		enforced func(t *testing.T, check *testServer, u *User, token string)
	}{
		{
			name: "disabled",
			change: func(via *testServer, adminToken string, u *User) {
				via.call("PATCH", fmt.Sprintf("/user/%d/disabled", u.ID), adminToken, map[string]any{"disabled": true}).expect(200)
			},
			enforced: func(t *testing.T, check *testServer, u *User, token string) {
				check.call("GET", "/status", token, nil).expect(400, "User disabled")
				check.call("GET", "/employee/", token, nil).expect(400, "User disabled")
				// /me still answers a disabled user, and shows the flag.
				if me := check.call("GET", "/me", token, nil).expect(200).obj(); me["disabled"] != true {
					t.Fatalf("/me of a disabled user: %v", me)
				}
				// A disabled user can still log in (docs/api.md §2), but cannot use the new token.
				fresh := check.token(u.Username, testPassword)
				check.call("GET", "/status", fresh, nil).expect(400, "User disabled")
			},
		},
		{
			name: "login denied",
			change: func(via *testServer, adminToken string, u *User) {
				via.call("PATCH", fmt.Sprintf("/user/%d/login_denied", u.ID), adminToken, map[string]any{"login_denied": true}).expect(200)
			},
			enforced: func(t *testing.T, check *testServer, u *User, token string) {
				check.form("/token", url.Values{"username": {u.Username}, "password": {testPassword}}).
					expect(400, "User login denied")
				check.call("GET", "/status", token, nil).expect(200) // tokens already issued keep working (docs/api.md §2)
			},
		},
		{
			name: "deleted",
			change: func(via *testServer, adminToken string, u *User) {
				via.call("DELETE", fmt.Sprintf("/user/%d", u.ID), adminToken, nil).expect(200)
			},
			enforced: func(t *testing.T, check *testServer, u *User, token string) {
				check.call("GET", "/me", token, nil).expect(400, "Incorrect User name or password")
				check.call("GET", "/status", token, nil).expect(400, "Incorrect User name or password")
				check.form("/token", url.Values{"username": {u.Username}, "password": {testPassword}}).
					expect(400, "Incorrect User name or password")
			},
		},
	}
	directions := []struct {
		name       string
		via, check *testServer
	}{{"through B, enforced on A", b, a}, {"through A, enforced on B", a, b}}
	n := 0
	for _, c := range cases {
		for _, d := range directions {
			n++
			t.Run(c.name+" "+d.name, func(t *testing.T) {
				u := d.via.addUser(letterName("lockedout", n), "support")
				token := d.check.token(u.Username, testPassword)
				for range 3 { // both instances have seen the user as active
					d.check.call("GET", "/status", token, nil).expect(200)
					d.via.call("GET", "/status", token, nil).expect(200)
				}
				c.change(d.via, d.via.token(admin.Username, testPassword), u)
				c.enforced(t, d.check, u, token)
			})
		}
	}

	t.Run("re-enabled through A, usable on B at once", func(t *testing.T) {
		u := b.addUser("comeback", "support")
		token := b.token(u.Username, testPassword)
		adminToken := a.token(admin.Username, testPassword)
		a.call("PATCH", fmt.Sprintf("/user/%d/disabled", u.ID), adminToken, map[string]any{"disabled": true}).expect(200)
		b.call("GET", "/status", token, nil).expect(400, "User disabled")
		a.call("PATCH", fmt.Sprintf("/user/%d/disabled", u.ID), adminToken, map[string]any{"disabled": false}).expect(200)
		b.call("GET", "/status", token, nil).expect(200)
	})
}

func TestInstancesShareLoginThrottle(t *testing.T) {
	// Both instances trust the loopback as their proxy (as behind NGINX), so
	// each case can come from a client address of its own.
	a, b := newInstancePair(t, fastThrottle(4, 6), func(c *Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	on := map[rune]*testServer{'A': a, 'B': b}
	login := func(ts *testServer, client, username, password string) *response {
		t.Helper()
		req, err := http.NewRequest("POST", ts.srv.URL+ts.cfg.RootPath+"/token",
			strings.NewReader(url.Values{"username": {username}, "password": {password}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client)
		return ts.send(req)
	}
	refused := func(t *testing.T, res *response) {
		t.Helper()
		res.expect(429, "Too many failed login attempts")
		if retry, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || retry < 1 || retry > 901 {
			t.Fatalf("Retry-After %q", res.header.Get("Retry-After"))
		}
	}

	// A (username, client) pair is blocked after 4 failures, wherever they
	// were made: "AAAA" is the one-instance baseline.
	pairCases := []struct {
		name, failures string
	}{
		{"all four failures on A", "AAAA"},
		{"alternating A and B", "ABAB"},
		{"three on B, one on A", "BBBA"},
		{"one on A, three on B", "ABBB"},
	}
	for i, c := range pairCases {
		t.Run("pair: "+c.name, func(t *testing.T) {
			username := letterName("victim", i)
			a.addUser(username, "support")
			client := fmt.Sprintf("198.51.100.%d", i+1)
			for n, where := range c.failures {
				res := login(on[where], client, username, "Wrong!pass1")
				if res.status != 400 || res.detail() != "Incorrect User name or password" {
					t.Fatalf("failure %d (on %c): %d %s, want 400 before the limit", n+1, where, res.status, res.body)
				}
			}
			for _, ts := range []*testServer{a, b} {
				refused(t, login(ts, client, username, "Wrong!pass1"))
				refused(t, login(ts, client, username, testPassword)) // the right password too
			}
			// Another client is not blocked for that user, on either instance.
			login(b, fmt.Sprintf("203.0.113.%d", i+1), username, testPassword).expect(200)
			login(a, fmt.Sprintf("203.0.113.%d", i+1), username, testPassword).expect(200)
		})
	}

	t.Run("pair: a success on B clears the failures made on A", func(t *testing.T) {
		a.addUser("forgetful", "support")
		const client = "198.51.100.50"
		for _, where := range "ABA" {
			login(on[where], client, "forgetful", "Wrong!pass1").expect(400)
		}
		login(b, client, "forgetful", testPassword).expect(200)
		for _, where := range "AB" { // would reach the limit of 4 had the success not cleared the pair
			login(on[where], client, "forgetful", "Wrong!pass1").expect(400)
		}
		login(a, client, "forgetful", testPassword).expect(200)
	})

	// A client address is blocked after 6 failures over many usernames,
	// wherever they were made.
	clientCases := []struct {
		name, failures string
	}{
		{"all six failures on B", "BBBBBB"},
		{"alternating A and B", "ABABAB"},
		{"five on A, one on B", "AAAAAB"},
	}
	a.addUser("realuser", "support")
	for i, c := range clientCases {
		t.Run("client: "+c.name, func(t *testing.T) {
			client := fmt.Sprintf("192.0.2.%d", i+1)
			for n, where := range c.failures {
				res := login(on[where], client, letterName("guess", n), "x")
				if res.status != 400 {
					t.Fatalf("failure %d (on %c): %d %s, want 400 before the limit", n+1, where, res.status, res.body)
				}
			}
			refused(t, login(a, client, "realuser", testPassword))
			refused(t, login(b, client, "realuser", testPassword))
			login(a, fmt.Sprintf("192.0.2.%d", 100+i), "realuser", testPassword).expect(200)
		})
	}
}

// TestInstancesLastAdminUnderConcurrency: two admins, and at the same
// moment each removes their own admin status, one through A and one
// through B. Neither request changes who the other caller is, so the only
// thing that can refuse one is the last-admin check: exactly one must
// succeed and the other get 409, every round, and one admin stays.
func TestInstancesLastAdminUnderConcurrency(t *testing.T) {
	a, b := newInstancePair(t)
	removals := []struct {
		name, method, suffix string
		body                 any
	}{
		{"remove the admin role", "PATCH", "/role", map[string]any{"role": []string{"support"}}},
		{"disable", "PATCH", "/disabled", map[string]any{"disabled": true}},
		{"deny login", "PATCH", "/login_denied", map[string]any{"login_denied": true}},
		{"delete", "DELETE", "", nil},
	}
	const rounds = 20
	var survivor *User // the active admin the last round left
	for round := range rounds {
		removal := removals[round%len(removals)]
		x, y := a.addUser(letterName("adminx", round), "admin"), b.addUser(letterName("adminy", round), "admin")
		if survivor != nil { // x and y are the only active admins again
			if _, err := a.store.UpdateUser(context.Background(), survivor.ID, func(u *User) error {
				u.Role = []string{"support"}
				return nil
			}); err != nil {
				t.Fatalf("round %d: demote the last round's admin: %v", round, err)
			}
		}
		if ids := activeAdminIDs(t, a); !slices.Equal(ids, []int64{x.ID, y.ID}) {
			t.Fatalf("round %d: active admins %v before the race, want %d and %d", round, ids, x.ID, y.ID)
		}
		sides := []struct {
			ts    *testServer
			self  *User
			token string
		}{{a, x, a.token(x.Username, testPassword)}, {b, y, b.token(y.Username, testPassword)}}

		answers := make([]instanceAnswer, len(sides))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, s := range sides {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				answers[i] = instanceCall(s.ts, removal.method, fmt.Sprintf("/user/%d%s", s.self.ID, removal.suffix), s.token, removal.body)
			}()
		}
		close(start)
		wg.Wait()

		var won, lost []int
		for i, ans := range answers {
			switch {
			case ans.err != nil:
				t.Fatalf("round %d (%s): request through %c: %v", round, removal.name, 'A'+i, ans.err)
			case ans.status == 200:
				won = append(won, i)
			case ans.status == 409 && ans.detail == "Cannot remove the last active admin":
				lost = append(lost, i)
			default:
				t.Fatalf("round %d (%s): through %c: %d %s, want 200 or 409 last active admin",
					round, removal.name, 'A'+i, ans.status, ans.body)
			}
		}
		if len(won) != 1 || len(lost) != 1 {
			t.Fatalf("round %d (%s): answers %d %s and %d %s, want exactly one 200 and one 409",
				round, removal.name, answers[0].status, answers[0].body, answers[1].status, answers[1].body)
		}
		survivor = sides[lost[0]].self
		if ids := activeAdminIDs(t, a); !slices.Equal(ids, []int64{survivor.ID}) {
			t.Fatalf("round %d (%s): active admins %v afterwards, want only %d (the refused one)", round, removal.name, ids, survivor.ID)
		}
	}
}

// TestInstancesUniqueUsernameUnderConcurrency: ten creates of one username
// at the same moment, spread over A and B, make one user; the rest get the
// spec's 422, never a 500.
func TestInstancesUniqueUsernameUnderConcurrency(t *testing.T) {
	a, b := newInstancePair(t)
	a.addUser("theadmin", "admin")
	tokens := []string{a.token("theadmin", testPassword), b.token("theadmin", testPassword)}
	instances := []*testServer{a, b}
	const rounds, creators = 5, 10
	for round := range rounds {
		username := letterName("samename", round)
		answers := make([]instanceAnswer, creators)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range creators {
			body := validNewUser(username, round*creators+i)
			body["email"] = fmt.Sprintf("creator%d@example.com", round*creators+i) // only the username collides
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				answers[i] = instanceCall(instances[i%2], "POST", "/user/", tokens[i%2], body)
			}()
		}
		close(start)
		wg.Wait()

		created := 0
		for i, ans := range answers {
			switch {
			case ans.err != nil:
				t.Fatalf("round %d: create %d: %v", round, i, ans.err)
			case ans.status == 200:
				created++
			case ans.status == 422 && ans.detail == "Username already registered":
			default:
				t.Fatalf("round %d: create %d through %c: %d %s, want 200 or 422 Username already registered",
					round, i, 'A'+i%2, ans.status, ans.body)
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d creates of %s answered 200, want exactly 1", round, created, username)
		}
		users, err := a.store.ListUsers(context.Background(), page{limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		same := 0
		for _, u := range users {
			if u.Username == username {
				same++
			}
		}
		if same != 1 {
			t.Fatalf("round %d: %d users named %s in the database, want 1", round, same, username)
		}
	}
}

// TestInstancesFirstAdmin: two instances started together through serve on
// an empty database create one "admin", and only the one that created it
// prints its generated password.
func TestInstancesFirstAdmin(t *testing.T) {
	t.Setenv("TICKETAPI_ADMIN_PASSWORD", "")
	for round := range 3 {
		dbURL := newPostgresSchema(t)
		start := make(chan struct{})
		servers := make([]*mtServer, 2)
		readies := make([]chan string, 2)
		for i := range servers {
			cfg := mtServeConfig(t)
			cfg.DatabaseURL = dbURL
			s := &mtServer{t: t, cfg: cfg, log: &lockedBuffer{buf: &bytes.Buffer{}}, done: make(chan error, 1),
				client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}}
			ctx, cancel := context.WithCancel(context.Background())
			s.cancel = cancel
			ready := make(chan string, 1)
			logger := slog.New(slog.NewTextHandler(s.log, nil))
			go func() {
				<-start
				s.done <- serve(ctx, cfg, logger, ready)
			}()
			servers[i], readies[i] = s, ready
			t.Cleanup(func() { s.stop() })
		}
		close(start)
		for i, s := range servers {
			select {
			case s.addr = <-readies[i]:
			case err := <-s.done:
				s.done <- err // for stop, at cleanup
				t.Fatalf("round %d: instance %c did not start: %v\n%s", round, 'A'+i, err, s.log)
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: instance %c did not start within 30 s", round, 'A'+i)
			}
		}

		if n := mtUserCount(t, dbURL); n != 1 {
			t.Fatalf("round %d: %d users after two starts on an empty database, want the one admin", round, n)
		}
		var password string
		printed := 0
		for _, s := range servers {
			if logged := mtLoggedPasswords(t, s.log.String()); len(logged) > 0 {
				printed++
				password = logged[0]
				if len(logged) != 1 {
					t.Fatalf("round %d: one log holds %d passwords:\n%s", round, len(logged), s.log)
				}
			}
		}
		if printed != 1 {
			t.Fatalf("round %d: %d of the two logs printed a generated password, want exactly 1:\nA:\n%s\nB:\n%s",
				round, printed, servers[0].log, servers[1].log)
		}
		for i, s := range servers {
			status, token := s.login("admin", password)
			if status != 200 {
				t.Fatalf("round %d: the printed password does not log in on %c: %d", round, 'A'+i, status)
			}
			other := servers[1-i]
			if status, me := other.get("/me", token); status != 200 || me["username"] != "admin" {
				t.Fatalf("round %d: /me on %c with a token from %c: %d %v", round, 'A'+1-i, 'A'+i, status, me)
			}
		}
		for i, s := range servers {
			if err := s.stop(); err != nil {
				t.Fatalf("round %d: instance %c: serve returned %v", round, 'A'+i, err)
			}
		}
	}
}

// TestInstancesRealProcesses runs two processes of the binary on one
// PostgreSQL database, as behind NGINX, with the same TICKETAPI_SECRET_KEY
// and no admin password given.
func TestInstancesRealProcesses(t *testing.T) {
	dbURL := newPostgresSchema(t)
	bin := opsBuild(t)
	config := map[string]any{
		"database_url":   dbURL,
		"log_format":     "text",
		"login_throttle": map[string]any{"max_failures_per_user": 3},
	}
	procs := []*opsProc{
		newOpsInstance(t, bin, config).start("TICKETAPI_ADMIN_PASSWORD="),
		newOpsInstance(t, bin, config).start("TICKETAPI_ADMIN_PASSWORD="),
	}
	for _, p := range procs {
		p.waitListening()
	}
	a, b := procs[0], procs[1]

	// One of the two created the first admin and printed its password.
	var password string
	printed := 0
	for _, p := range procs {
		if logged := mtLoggedPasswords(t, p.log.String()); len(logged) > 0 {
			printed, password = printed+1, logged[0]
		}
	}
	if printed != 1 {
		t.Fatalf("%d of the two processes printed a generated password, want exactly 1:\nA:\n%s\nB:\n%s", printed, a.log, b.log)
	}
	adminA, adminB := a.login("admin", password), b.login("admin", password)

	user := validNewUser("walker", 1)
	id := a.must(200, "POST", "/api/v1/user/", adminA, user)["id"]

	t.Run("a token from one process works on the other", func(t *testing.T) {
		for _, c := range []struct{ issuer, holder *opsProc }{{a, b}, {b, a}} {
			token := c.issuer.login("walker", testPassword)
			if me := c.holder.must(200, "GET", "/api/v1/me", token, nil); me["username"] != "walker" || me["id"] != id {
				t.Fatalf("/me on the other process: %v", me)
			}
		}
	})

	t.Run("a password change through A ends the old token on B at once", func(t *testing.T) {
		old := b.login("walker", testPassword)
		for range 3 {
			b.must(200, "GET", "/api/v1/status", old, nil)
		}
		a.must(200, "PATCH", "/api/v1/user/password", old, map[string]any{"password": "N3w!password"})
		if m := b.must(401, "GET", "/api/v1/me", old, nil); m["detail"] != "Could not validate credentials" {
			t.Fatalf("old token on B: %v", m)
		}
		b.must(400, "POST", "/api/v1/token", "", url.Values{"username": {"walker"}, "password": {testPassword}})
		a.must(200, "GET", "/api/v1/status", b.login("walker", "N3w!password"), nil)
	})

	t.Run("disable and delete through B are enforced on A at once", func(t *testing.T) {
		token := a.login("walker", "N3w!password")
		a.must(200, "GET", "/api/v1/status", token, nil)
		b.must(200, "PATCH", fmt.Sprintf("/api/v1/user/%v/disabled", id), adminB, map[string]any{"disabled": true})
		if m := a.must(400, "GET", "/api/v1/status", token, nil); m["detail"] != "User disabled" {
			t.Fatalf("disabled user's token on A: %v", m)
		}
		b.must(200, "DELETE", fmt.Sprintf("/api/v1/user/%v", id), adminB, nil)
		if m := a.must(400, "GET", "/api/v1/me", token, nil); m["detail"] != "Incorrect User name or password" {
			t.Fatalf("deleted user's token on A: %v", m)
		}
		if m := a.must(400, "POST", "/api/v1/token", "", url.Values{"username": {"walker"}, "password": {"N3w!password"}}); m["detail"] != "Incorrect User name or password" {
			t.Fatalf("deleted user's login on A: %v", m)
		}
	})

	t.Run("failed logins on both processes add up", func(t *testing.T) {
		bad := url.Values{"username": {"admin"}, "password": {"Wrong!pass1"}}
		a.must(400, "POST", "/api/v1/token", "", bad)
		b.must(400, "POST", "/api/v1/token", "", bad)
		a.must(400, "POST", "/api/v1/token", "", bad)
		for _, p := range procs {
			ans, err := p.do("POST", "/api/v1/token", "", url.Values{"username": {"admin"}, "password": {password}})
			if err != nil {
				t.Fatal(err)
			}
			if ans.status != 429 || ans.header.Get("Retry-After") == "" {
				t.Fatalf("login after 3 failures spread over two processes: %d (Retry-After %q) %s, want 429 with Retry-After",
					ans.status, ans.header.Get("Retry-After"), ans.body)
			}
		}
	})

	for i, p := range procs {
		p.stop()
		if log := p.log.String(); strings.Contains(log, "level=ERROR") || strings.Contains(log, "status=5") {
			t.Errorf("process %c logged an error or a 5xx:\n%s", 'A'+i, log)
		}
	}
}
