package main

// rbac_test.go: rbac.go: the bearer checks and their order (docs/api.md
// §2) and role-based access control (§3): routeTable's role column is
// docs/api.md's table, every cell of the role matrix, the finer order of
// the scope, disabled and role checks, and config overrides (rbac,
// raise_error).
//
// FuzzBearerToken: whatever the Authorization header holds, the answer is
// 200, 400 or 401, and 200 only for the real token. Identifiers here start
// with rbac; the TestRBAC tests of auth_test.go, middleware_test.go,
// handlers_test.go and store_test.go use the helpers too.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// rbacSpecTable is the role table of docs/api.md §3, copied by hand: the server's
// routeTable's role column must say exactly this.
var rbacSpecTable = map[string][]string{
	"POST /user/":                        {"admin"},
	"GET /user/":                         {"admin", "manager"},
	"GET /user/{user_id}":                {"admin", "manager"},
	"GET /user/username/{username}":      {"admin", "manager"},
	"GET /user/phone/{phone}":            {"admin", "manager"},
	"GET /user/email/{email}":            {"admin", "manager"},
	"PUT /user/{user_id}":                {"admin"},
	"DELETE /user/{user_id}":             {"admin"},
	"PATCH /user/password":               {"admin", "manager", "support"},
	"PATCH /user/{user_id}/contacts":     {"admin", "manager"},
	"PATCH /user/{user_id}/password":     {"admin"},
	"PATCH /user/{user_id}/username":     {"admin"},
	"PATCH /user/{user_id}/role":         {"admin"},
	"PATCH /user/{user_id}/disabled":     {"admin", "manager"},
	"PATCH /user/{user_id}/login_denied": {"admin", "manager"},
	"POST /employee/":                    {"admin", "manager"},
	"GET /employee/":                     {"admin", "manager", "support"},
	"GET /employee/{employee_id}":        {"admin", "manager", "support"},
	"PUT /employee/{employee_id}":        {"admin", "manager"},
	"DELETE /employee/{employee_id}":     {"admin", "manager"},
	"POST /ticket/{employee_id}":         {"admin", "manager", "support"},
	"GET /ticket/":                       {"admin", "manager", "support"},
	"GET /ticket/{ticket_id}":            {"admin", "manager", "support"},
	"GET /ticket/my/":                    {"admin", "manager", "support"},
	"PUT /ticket/{ticket_id}":            {"admin", "manager"},
	"DELETE /ticket/{ticket_id}":         {"admin", "manager"},
	"GET /audit/":                        {"admin"},
}

// rbacCallers are the callers of the role matrix: each role alone, a user
// with no role at all, and a user holding two roles.
var rbacCallers = []struct {
	label, username string
	roles           []string
}{
	{"admin", "admin", []string{"admin"}},
	{"manager", "manager", []string{"manager"}},
	{"support", "support", []string{"support"}},
	{"no role", "norole", []string{}},
	{"manager+support", "mansup", []string{"manager", "support"}},
}

// ---- small helpers (the TestRBAC tests of other files use them too) ----

// rbacOn is ts reporting to t, so a subtest's failures stop the subtest
// (the helpers call t.Fatal, which must run on the test's own goroutine).
func rbacOn(ts *testServer, t testing.TB) *testServer {
	c := *ts
	c.t = t
	return &c
}

// rbacJSONBody fails unless the body is exactly the JSON value want.
func rbacJSONBody(t testing.TB, r *response, want any) {
	t.Helper()
	var got, w any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
	data, _ := json.Marshal(want)
	_ = json.Unmarshal(data, &w)
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("body %s, want %s", bytes.TrimSpace(r.body), data)
	}
}

// rbacRefused fails unless the answer is exactly 401 {"detail":"Not enough permissions"}.
func rbacRefused(t testing.TB, r *response) {
	t.Helper()
	r.expect(http.StatusUnauthorized, "Not enough permissions")
	rbacJSONBody(t, r, map[string]string{"detail": "Not enough permissions"})
}

// rbacError fails unless the answer is exactly {"detail": detail} with status;
// www, when not empty, is the WWW-Authenticate header the answer must carry.
func rbacError(t testing.TB, r *response, status int, detail, www string) {
	t.Helper()
	r.expect(status, detail)
	rbacJSONBody(t, r, map[string]string{"detail": detail})
	if www != "" {
		if got := r.header.Get("WWW-Authenticate"); got != www {
			t.Fatalf("WWW-Authenticate %q, want %q", got, www)
		}
	}
}

// rbacState is everything in the database, password hashes included.
type rbacState struct {
	Users     []User
	Employees []Employee
	Tickets   []Ticket
}

func rbacSnapshot(t testing.TB, s *Store) rbacState {
	t.Helper()
	ctx := context.Background()
	var st rbacState
	var err error
	if st.Users, err = s.ListUsers(ctx, page{limit: math.MaxInt32}); err != nil {
		t.Fatal(err)
	}
	if st.Employees, err = s.ListEmployees(ctx, page{limit: math.MaxInt32}); err != nil {
		t.Fatal(err)
	}
	if st.Tickets, err = s.ListTickets(ctx, page{limit: math.MaxInt32}); err != nil {
		t.Fatal(err)
	}
	return st
}

func rbacUnchanged(t testing.TB, before, after rbacState) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("a refused request changed the database:\nbefore %+v\nafter  %+v", before, after)
	}
}

// rbacUpdate changes a user straight in the store.
func rbacUpdate(t testing.TB, ts *testServer, id int64, change func(*User)) {
	t.Helper()
	if _, err := ts.store.UpdateUser(context.Background(), id, func(u *User) error { change(u); return nil }); err != nil {
		t.Fatal(err)
	}
}

// rbacUserByName reads a user (with its password hash) from the store.
func rbacUserByName(t testing.TB, ts *testServer, username string) *User {
	t.Helper()
	u, err := ts.store.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	return u
}

// rbacLetters spells n in lower-case letters (usernames are ASCII letters only).
func rbacLetters(n int) string {
	s := ""
	for i := 0; i < 4; i++ {
		s = string(rune('a'+n%26)) + s
		n /= 26
	}
	return s
}

// rbacClaims are the claims the server itself would put in a token for u.
func rbacClaims(ts *testServer, u *User, iat, exp time.Time) *claims {
	return &claims{Scopes: []string{}, Pwd: ts.app.tokens.passwordFingerprint(u.hashedPassword),
		RegisteredClaims: jwt.RegisteredClaims{Subject: u.Username, IssuedAt: jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(exp)}}
}

// rbacMapClaims is c as a JSON object with one claim set to value, of
// whatever JSON type value has.
func rbacMapClaims(c *claims, name string, value any) jwt.MapClaims {
	data, _ := json.Marshal(c)
	m := jwt.MapClaims{}
	json.Unmarshal(data, &m)
	m[name] = value
	return m
}

// rbacSign signs c with method and key.
func rbacSign(t testing.TB, method jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rbacPathParam matches a {name} of a route pattern.
var rbacPathParam = regexp.MustCompile(`\{[a-z_]+\}`)

func rbacSplit(route string) (method, path string) {
	method, path, _ = strings.Cut(route, " ")
	return method, path
}

func rbacSortedRoutes(m map[string][]string) []string {
	routes := make([]string, 0, len(m))
	for r := range m {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	return routes
}

func rbacSameRoles(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// ---- §3: the route table ----

func TestRBACRouteTableMatchesSpec(t *testing.T) {
	t.Parallel()
	defaults := routeRoles(nil) // routeTable's role column
	t.Run("routeTable has every route of the spec table and no other", func(t *testing.T) {
		for _, route := range rbacSortedRoutes(rbacSpecTable) {
			got, ok := defaults[route]
			if !ok {
				t.Errorf("spec route %q is missing from routeTable", route)
				continue
			}
			if !rbacSameRoles(got, rbacSpecTable[route]) {
				t.Errorf("%s: routeTable says %v, the spec says %v", route, got, rbacSpecTable[route])
			}
		}
		for _, route := range rbacSortedRoutes(defaults) {
			if _, ok := rbacSpecTable[route]; !ok {
				t.Errorf("routeTable has %q, which the spec table does not list", route)
			}
		}
	})

	ts := newTestServer(t)
	t.Run("a server without rbac overrides uses the spec table", func(t *testing.T) {
		if len(ts.app.roles) != len(rbacSpecTable) {
			t.Errorf("server has %d routes in its role map, spec %d", len(ts.app.roles), len(rbacSpecTable))
		}
		for route, want := range rbacSpecTable {
			if !rbacSameRoles(ts.app.roles[route], want) {
				t.Errorf("%s: server roles %v, spec %v", route, ts.app.roles[route], want)
			}
		}
	})

	// Every route of the map (and the three auth-only routes) is registered
	// and guarded: without a token it answers 401 Not authenticated, not
	// 404/405 and not the handler's own answer.
	routes := append(rbacSortedRoutes(defaults), "GET /me", "GET /status", "GET /token/scope_example")
	for _, route := range routes {
		t.Run(route+" needs a bearer token", func(t *testing.T) {
			method, path := rbacSplit(route)
			path = rbacPathParam.ReplaceAllString(path, "1")
			var body any
			if method != http.MethodGet && method != http.MethodDelete {
				body = map[string]any{}
			}
			res := rbacOn(ts, t).call(method, path, "", body)
			rbacError(t, res, http.StatusUnauthorized, "Not authenticated", "Bearer")
		})
	}
}

// ---- §3: every cell of the role matrix ----

// rbacWorld is the state the matrix works on: the callers with their
// tokens, and records to address.
type rbacWorld struct {
	base     *testServer
	ts       *testServer // base reporting to the running subtest
	seq      int
	tokens   map[string]string // by username
	users    map[string]*User  // by username
	fixture  string            // token of an admin that only sets things up
	employee int64
	ticket   int64
}

func (w *rbacWorld) next() int { w.seq++; return w.seq }

func (w *rbacWorld) name(prefix string) string { return prefix + rbacLetters(w.next()) }

// freshUser is a new support user to be changed or deleted by one request.
func (w *rbacWorld) freshUser() *User { return w.ts.addUser(w.name("target"), "support") }

// freshEmployee is a new employee without tickets, and the number its body was made with.
func (w *rbacWorld) freshEmployee() (int64, int) {
	n := w.next()
	res := w.ts.call("POST", "/employee/", w.fixture, validEmployee(n)).expect(http.StatusOK)
	return int64(res.obj()["id"].(float64)), n
}

func (w *rbacWorld) freshTicket() int64 {
	res := w.ts.call("POST", fmt.Sprintf("/ticket/%d", w.employee), w.fixture, validTicket()).expect(http.StatusOK)
	return int64(res.obj()["id"].(float64))
}

// rbacRequest is one request of a matrix cell, and what an allowed caller gets.
type rbacRequest struct {
	path     string
	body     any
	status   int            // for an allowed caller
	wantBody map[string]any // for an allowed caller, when not nil
	after    func()         // runs after an allowed request succeeded
}

// rbacRequests builds, for each route of the table, a request that succeeds
// for an allowed caller: path parameters name existing records (fresh ones
// where the request changes or deletes them).
var rbacRequests = map[string]func(w *rbacWorld, caller string) rbacRequest{
	"POST /user/": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/user/", body: validNewUser(w.name("newuser"), w.next()), status: 200}
	},
	"GET /user/": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/user/", status: 200}
	},
	"GET /user/{user_id}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/user/%d", w.users["support"].ID), status: 200}
	},
	"GET /user/username/{username}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/user/username/support", status: 200}
	},
	"GET /user/phone/{phone}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/user/phone/" + w.users["support"].Phone, status: 200}
	},
	"GET /user/email/{email}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/user/email/" + w.users["support"].Email, status: 200}
	},
	"PUT /user/{user_id}": func(w *rbacWorld, _ string) rbacRequest {
		u := w.freshUser()
		return rbacRequest{path: fmt.Sprintf("/user/%d", u.ID), status: 200, body: map[string]any{
			"username": u.Username, "first_name": "Changed", "last_name": "Person", "phone": u.Phone,
			"email": u.Email, "role": []string{"manager"}}}
	},
	"DELETE /user/{user_id}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/user/%d", w.freshUser().ID), status: 200,
			wantBody: map[string]any{"message": "User deleted successfully"}}
	},
	"PATCH /user/password": func(w *rbacWorld, caller string) rbacRequest {
		return rbacRequest{path: "/user/password", body: map[string]any{"password": testPassword}, status: 200,
			wantBody: map[string]any{"message": "Password changed successfully"},
			// The new hash ends the caller's token: log in again.
			after: func() { w.tokens[caller] = w.ts.token(caller, testPassword) }}
	},
	"PATCH /user/{user_id}/contacts": func(w *rbacWorld, _ string) rbacRequest {
		n := w.next()
		return rbacRequest{path: fmt.Sprintf("/user/%d/contacts", w.freshUser().ID), status: 200, body: map[string]any{
			"first_name": "Olena", "last_name": "Kovalenko", "phone": fmt.Sprintf("+4930%07d", n),
			"email": "contact" + rbacLetters(n) + "@example.com"}}
	},
	"PATCH /user/{user_id}/password": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/user/%d/password", w.freshUser().ID), status: 200,
			body:     map[string]any{"password": "An0ther!pass"},
			wantBody: map[string]any{"message": "Password changed successfully"}}
	},
	"PATCH /user/{user_id}/username": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/user/%d/username", w.freshUser().ID), status: 200,
			body: map[string]any{"username": w.name("renamed")}}
	},
	"PATCH /user/{user_id}/role": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/user/%d/role", w.freshUser().ID), status: 200,
			body: map[string]any{"role": []string{"manager", "support"}}}
	},
	"PATCH /user/{user_id}/disabled": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/user/%d/disabled", w.freshUser().ID), status: 200,
			body: map[string]any{"disabled": true}}
	},
	"PATCH /user/{user_id}/login_denied": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/user/%d/login_denied", w.freshUser().ID), status: 200,
			body: map[string]any{"login_denied": true}}
	},
	"POST /employee/": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/employee/", body: validEmployee(w.next()), status: 200}
	},
	"GET /employee/": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/employee/", status: 200}
	},
	"GET /employee/{employee_id}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/employee/%d", w.employee), status: 200}
	},
	"PUT /employee/{employee_id}": func(w *rbacWorld, _ string) rbacRequest {
		id, n := w.freshEmployee()
		body := validEmployee(n)
		body["city"] = "Berlin"
		return rbacRequest{path: fmt.Sprintf("/employee/%d", id), body: body, status: 200}
	},
	"DELETE /employee/{employee_id}": func(w *rbacWorld, _ string) rbacRequest {
		id, _ := w.freshEmployee()
		return rbacRequest{path: fmt.Sprintf("/employee/%d", id), status: 200,
			wantBody: map[string]any{"message": "Employee deleted successfully"}}
	},
	"POST /ticket/{employee_id}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/ticket/%d", w.employee), body: validTicket(), status: 200}
	},
	"GET /ticket/": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/ticket/", status: 200}
	},
	"GET /ticket/{ticket_id}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/ticket/%d", w.ticket), status: 200}
	},
	"GET /ticket/my/": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/ticket/my/", status: 200}
	},
	"PUT /ticket/{ticket_id}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/ticket/%d", w.freshTicket()), status: 200,
			body: map[string]any{"title": "Printer problem", "description": "Paper jam again.", "status": "Open"}}
	},
	"DELETE /ticket/{ticket_id}": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: fmt.Sprintf("/ticket/%d", w.freshTicket()), status: 200,
			wantBody: map[string]any{"message": "Ticket deleted successfully"}}
	},
	"GET /audit/": func(w *rbacWorld, _ string) rbacRequest {
		return rbacRequest{path: "/audit/?action=ticket.created", status: 200}
	},
}

// rbacGenericRequest covers a route this file has no request for yet: path
// parameters become 1 and the body {}; an allowed caller then only has to
// get past the role check.
func rbacGenericRequest(route string) rbacRequest {
	_, path := rbacSplit(route)
	req := rbacRequest{path: rbacPathParam.ReplaceAllString(path, "1")}
	if method, _ := rbacSplit(route); method != http.MethodGet && method != http.MethodDelete {
		req.body = map[string]any{}
	}
	return req
}

func TestRBACMatrix(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	w := &rbacWorld{base: ts, ts: ts, tokens: map[string]string{}, users: map[string]*User{}}
	_, w.fixture = ts.userWithToken("fixtureadmin", "admin")
	for _, c := range rbacCallers {
		w.users[c.username], w.tokens[c.username] = ts.userWithToken(c.username, c.roles...)
	}
	w.employee, _ = w.freshEmployee()
	w.ticket = w.freshTicket()

	for _, route := range rbacSortedRoutes(routeRoles(nil)) {
		method, _ := rbacSplit(route)
		allowedRoles, inSpec := rbacSpecTable[route]
		if !inSpec {
			allowedRoles = routeRoles(nil)[route]
		}
		build, known := rbacRequests[route]
		if !known {
			t.Errorf("%s: this file has no request for the route; it is checked with a generic request only", route)
		}
		for _, c := range rbacCallers {
			allowed := slices.ContainsFunc(c.roles, func(r string) bool { return slices.Contains(allowedRoles, r) })
			verb := "cannot"
			if allowed {
				verb = "may"
			}
			t.Run(fmt.Sprintf("%s %s %s", c.label, verb, route), func(t *testing.T) {
				w.ts = rbacOn(ts, t)
				req := rbacGenericRequest(route)
				if known {
					req = build(w, c.username)
				}
				before := rbacSnapshot(t, ts.store)
				res := w.ts.call(method, req.path, w.tokens[c.username], req.body)
				if !allowed {
					rbacRefused(t, res)
					rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
					return
				}
				if res.status == http.StatusUnauthorized && res.detail() == "Not enough permissions" {
					t.Fatalf("allowed caller refused: %d %s", res.status, res.body)
				}
				if !known {
					return
				}
				res.expect(req.status)
				if req.wantBody != nil {
					rbacJSONBody(t, res, req.wantBody)
				}
				if req.after != nil {
					req.after()
				}
			})
		}
	}
}

// ---- §3: only an admin may change an admin account ----

// rbacUserChange is a request that changes target (a user it was made
// for) and would succeed for an admin.
func rbacUserChange(w *rbacWorld, route string, target *User) (path string, body any) {
	id := fmt.Sprintf("/user/%d", target.ID)
	n := w.next()
	switch route {
	case "PUT /user/{user_id}":
		return id, map[string]any{"username": target.Username, "first_name": "Changed", "last_name": "Person",
			"phone": target.Phone, "email": target.Email, "role": target.Role, "disabled": false, "login_denied": false}
	case "DELETE /user/{user_id}":
		return id, nil
	case "PATCH /user/{user_id}/contacts":
		return id + "/contacts", map[string]any{"first_name": "Olena", "last_name": "Kovalenko",
			"phone": fmt.Sprintf("+4930%07d", n), "email": "contact" + rbacLetters(n) + "@example.com"}
	case "PATCH /user/{user_id}/password":
		return id + "/password", map[string]any{"password": "An0ther!pass"}
	case "PATCH /user/{user_id}/username":
		return id + "/username", map[string]any{"username": w.name("renamed")}
	case "PATCH /user/{user_id}/role":
		return id + "/role", map[string]any{"role": []string{"support"}}
	case "PATCH /user/{user_id}/disabled":
		return id + "/disabled", map[string]any{"disabled": !target.Disabled}
	case "PATCH /user/{user_id}/login_denied":
		return id + "/login_denied", map[string]any{"login_denied": !target.LoginDenied}
	}
	w.ts.t.Fatalf("no change request for %s", route)
	return "", nil
}

// TestRBACManagerCannotChangeAdmin: a manager may change nothing about an
// admin account (here one an admin locked out: disabled and login-denied),
// nor give anyone the admin role, on every route that changes a user: the
// ones the role table gives managers, and, on a server whose rbac config
// gives managers every user route, the others too. The answer is the role
// check's, and nothing changes; the same request on a support user passes.
func TestRBACManagerCannotChangeAdmin(t *testing.T) {
	t.Parallel()
	allUserRoutes := map[string][]string{}
	for _, rt := range routeTable {
		if strings.Contains(rt.pattern, "{user_id}") && !strings.HasPrefix(rt.pattern, "GET ") {
			allUserRoutes[rt.pattern] = []string{"admin", "manager"}
		}
	}
	for _, setup := range []struct {
		name string
		rbac map[string][]string
	}{{"default roles", nil}, {"rbac giving managers every user route", allUserRoutes}} {
		t.Run(setup.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, func(c *Config) { c.RBAC = setup.rbac })
			w := &rbacWorld{base: ts, ts: ts}
			_, adminToken := ts.userWithToken("bossman", "admin")
			_, managerToken := ts.userWithToken("chief", "manager")
			lockedOutAdmin := func() *User {
				u := w.ts.addUser(w.name("lockedout"), "admin")
				rbacUpdate(t, ts, u.ID, func(u *User) { u.Disabled, u.LoginDenied = true, true })
				return rbacUserByName(t, ts, u.Username)
			}
			routes := 0
			for _, route := range rbacSortedRoutes(allUserRoutes) {
				if !slices.Contains(ts.app.roles[route], "manager") {
					continue
				}
				routes++
				method, _ := rbacSplit(route)
				t.Run("manager cannot "+route+" on an admin", func(t *testing.T) {
					w.ts = rbacOn(ts, t)
					path, body := rbacUserChange(w, route, lockedOutAdmin())
					before := rbacSnapshot(t, ts.store)
					rbacRefused(t, w.ts.call(method, path, managerToken, body))
					rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
				})
				t.Run("manager may "+route+" on a support user", func(t *testing.T) {
					w.ts = rbacOn(ts, t)
					path, body := rbacUserChange(w, route, w.freshUser())
					w.ts.call(method, path, managerToken, body).expect(http.StatusOK)
				})
				t.Run("admin may "+route+" on an admin", func(t *testing.T) {
					w.ts = rbacOn(ts, t)
					path, body := rbacUserChange(w, route, lockedOutAdmin())
					w.ts.call(method, path, adminToken, body).expect(http.StatusOK)
				})
			}
			if want := map[bool]int{true: 3, false: len(allUserRoutes)}[setup.rbac == nil]; routes != want {
				t.Fatalf("managers hold %d of the user routes, want %d", routes, want)
			}
			if setup.rbac == nil {
				return
			}
			t.Run("manager cannot give anyone the admin role", func(t *testing.T) {
				tt := rbacOn(ts, t)
				w.ts = tt
				target := w.freshUser()
				path, body := rbacUserChange(w, "PUT /user/{user_id}", target)
				body.(map[string]any)["role"] = []string{"admin"}
				before := rbacSnapshot(t, ts.store)
				rbacRefused(t, tt.call("PUT", path, managerToken, body))
				rbacRefused(t, tt.call("PATCH", path+"/role", managerToken, map[string]any{"role": []string{"admin", "support"}}))
				rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
			})
		})
	}
}

// ---- §2: the bearer checks, in order ----

func TestRBACAuthChecks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, adminToken := ts.userWithToken("bossman", "admin")
	alice, aliceToken := ts.userWithToken("alice", "support")
	alice = rbacUserByName(t, ts, alice.Username)
	now := time.Now()
	right := rbacClaims(ts, alice, now, now.Add(time.Hour))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	// Each check is tried on an RBAC route, on /status and on /me.
	paths := []string{"/employee/", "/status", "/me"}
	try := func(t *testing.T, authorization string, status int, detail, www string) {
		t.Helper()
		for _, p := range paths {
			var headers []string
			if authorization != "<none>" {
				headers = []string{"Authorization", authorization}
			}
			res := rbacOn(ts, t).call("GET", p, "", nil, headers...)
			if status == http.StatusOK {
				res.expect(http.StatusOK)
				continue
			}
			t.Logf("GET %s", p)
			rbacError(t, res, status, detail, www)
		}
	}

	t.Run("a correctly forged token works (so the cases below fail for their one flaw)", func(t *testing.T) {
		try(t, "Bearer "+rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), right), http.StatusOK, "", "")
	})

	// Rows of the §2 check table, in the table's order.
	t.Run("missing header is 401 Not authenticated", func(t *testing.T) {
		try(t, "<none>", http.StatusUnauthorized, "Not authenticated", "Bearer")
	})
	t.Run("Basic scheme is 401 Not authenticated", func(t *testing.T) {
		try(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:"+testPassword)),
			http.StatusUnauthorized, "Not authenticated", "Bearer")
	})
	t.Run("token without a scheme is 401 Not authenticated", func(t *testing.T) {
		try(t, aliceToken, http.StatusUnauthorized, "Not authenticated", "Bearer")
	})
	t.Run("empty bearer token is 401 Not authenticated", func(t *testing.T) {
		try(t, "Bearer ", http.StatusUnauthorized, "Not authenticated", "Bearer")
		try(t, "Bearer", http.StatusUnauthorized, "Not authenticated", "Bearer")
	})
	t.Run("the scheme word is case-insensitive", func(t *testing.T) {
		try(t, "bearer "+aliceToken, http.StatusOK, "", "")
		try(t, "BEARER "+aliceToken, http.StatusOK, "", "")
	})

	invalid := []struct{ name, token string }{
		{"garbage token", "garbage"},
		{"three garbage segments", "abc.def.ghi"},
		{"signed with another key", rbacSign(t, jwt.SigningMethodHS256, []byte("another-secret-key-0123456789abcdef0123"), right)},
		{"alg none", rbacSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, right)},
		{"HS384 with the right secret", rbacSign(t, jwt.SigningMethodHS384, []byte(testSecret), right)},
		{"HS512 with the right secret", rbacSign(t, jwt.SigningMethodHS512, []byte(testSecret), right)},
		{"ES256 key", rbacSign(t, jwt.SigningMethodES256, ecKey, right)},
		{"no exp claim", func() string {
			c := *right
			c.ExpiresAt = nil
			return rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), &c)
		}()},
		{"no sub claim", func() string {
			c := *right
			c.Subject = ""
			return rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), &c)
		}()},
		{"exp a JSON string", rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), rbacMapClaims(right, "exp", fmt.Sprint(now.Add(time.Hour).Unix())))},
		{"iat a JSON string", rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), rbacMapClaims(right, "iat", fmt.Sprint(now.Unix())))},
		{"nbf a JSON string", rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), rbacMapClaims(right, "nbf", fmt.Sprint(now.Unix())))},
		{"exp null", rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), rbacMapClaims(right, "exp", nil))},
		{"tampered payload", func() string {
			parts := strings.Split(aliceToken, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			payload = bytes.Replace(payload, []byte(`"alice"`), []byte(`"bossman"`), 1)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
		}()},
		{"expired and signed with another key (signature is checked first)", rbacSign(t, jwt.SigningMethodHS256,
			[]byte("another-secret-key-0123456789abcdef0123"), rbacClaims(ts, alice, now.Add(-2*time.Hour), now.Add(-time.Hour)))},
	}
	for _, c := range invalid {
		t.Run(c.name+" is 401 Could not validate credentials", func(t *testing.T) {
			try(t, "Bearer "+c.token, http.StatusUnauthorized, "Could not validate credentials", "Bearer")
		})
	}

	t.Run("expired token is 400 Token has expired", func(t *testing.T) {
		expired := rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret),
			rbacClaims(ts, alice, now.Add(-2*time.Hour), now.Add(-time.Minute)))
		try(t, "Bearer "+expired, http.StatusBadRequest, "Token has expired", "Bearer")
	})

	t.Run("token of a deleted user is 400 Incorrect User name or password", func(t *testing.T) {
		tt := rbacOn(ts, t)
		gone, goneToken := tt.userWithToken("goner", "support")
		tt.call("GET", "/me", goneToken, nil).expect(http.StatusOK)
		tt.call("DELETE", fmt.Sprintf("/user/%d", gone.ID), adminToken, nil).expect(http.StatusOK)
		try(t, "Bearer "+goneToken, http.StatusBadRequest, "Incorrect User name or password", "")
		// A correctly signed token naming a user who never existed: the same.
		ghost := *right
		ghost.Subject = "nobodyhere"
		try(t, "Bearer "+rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), &ghost),
			http.StatusBadRequest, "Incorrect User name or password", "")
		// An expired token of a deleted user: expiry is checked first.
		expired := rbacClaims(ts, gone, now.Add(-2*time.Hour), now.Add(-time.Minute))
		try(t, "Bearer "+rbacSign(t, jwt.SigningMethodHS256, []byte(testSecret), expired),
			http.StatusBadRequest, "Token has expired", "Bearer")
	})

	t.Run("own password change ends older tokens and the new login works at once", func(t *testing.T) {
		tt := rbacOn(ts, t)
		_, old := tt.userWithToken("changer", "support")
		const newPassword = "N3wPassw0rd#"
		tt.call("PATCH", "/user/password", old, map[string]any{"password": newPassword}).expect(http.StatusOK)
		try(t, "Bearer "+old, http.StatusUnauthorized, "Could not validate credentials", "")
		fresh := tt.token("changer", newPassword)
		tt.call("GET", "/status", fresh, nil).expect(http.StatusOK)
		rbacError(t, tt.form("/token", url.Values{"username": {"changer"}, "password": {testPassword}}),
			http.StatusBadRequest, "Incorrect User name or password", "")
	})

	t.Run("admin setting a password ends the user's older tokens and the new login works at once", func(t *testing.T) {
		tt := rbacOn(ts, t)
		victim, old := tt.userWithToken("victim", "support")
		const newPassword = "Adm1nSet!pw"
		tt.call("PATCH", fmt.Sprintf("/user/%d/password", victim.ID), adminToken,
			map[string]any{"password": newPassword}).expect(http.StatusOK)
		try(t, "Bearer "+old, http.StatusUnauthorized, "Could not validate credentials", "")
		fresh := tt.token("victim", newPassword)
		tt.call("GET", "/employee/", fresh, nil).expect(http.StatusOK)
		// The admin's own token is untouched.
		tt.call("GET", "/status", adminToken, nil).expect(http.StatusOK)
	})

	t.Run("disabled user is 400 User disabled on RBAC routes and /status, /me still answers", func(t *testing.T) {
		tt := rbacOn(ts, t)
		u, tok := tt.userWithToken("sleepy", "support")
		rbacUpdate(t, ts, u.ID, func(u *User) { u.Disabled = true })
		rbacError(t, tt.call("GET", "/employee/", tok, nil), http.StatusBadRequest, "User disabled", "")
		rbacError(t, tt.call("GET", "/status", tok, nil), http.StatusBadRequest, "User disabled", "")
		me := tt.call("GET", "/me", tok, nil).expect(http.StatusOK).obj()
		if me["username"] != "sleepy" || me["disabled"] != true {
			t.Fatalf("/me of a disabled user: %v", me)
		}
	})

	t.Run("password check comes before the disabled check", func(t *testing.T) {
		tt := rbacOn(ts, t)
		u, tok := tt.userWithToken("sleepier", "support")
		tt.call("PATCH", fmt.Sprintf("/user/%d/password", u.ID), adminToken,
			map[string]any{"password": "Adm1nSet!pw"}).expect(http.StatusOK)
		rbacUpdate(t, ts, u.ID, func(u *User) { u.Disabled = true })
		rbacError(t, tt.call("GET", "/employee/", tok, nil), http.StatusUnauthorized, "Could not validate credentials", "")
	})

	t.Run("disabled check comes before the role check", func(t *testing.T) {
		tt := rbacOn(ts, t)
		u, tok := tt.userWithToken("idleone")
		rbacUpdate(t, ts, u.ID, func(u *User) { u.Disabled = true })
		rbacError(t, tt.call("DELETE", "/user/1", tok, nil), http.StatusBadRequest, "User disabled", "")
	})

	t.Run("user without a role is 401 Not enough permissions on RBAC routes only", func(t *testing.T) {
		tt := rbacOn(ts, t)
		_, tok := tt.userWithToken("nobody")
		rbacRefused(t, tt.call("GET", "/employee/", tok, nil))
		rbacRefused(t, tt.call("GET", "/ticket/my", tok, nil))
		rbacJSONBody(t, tt.call("GET", "/status", tok, nil).expect(http.StatusOK), map[string]string{"status": "ok"})
		tt.call("GET", "/me", tok, nil).expect(http.StatusOK)
	})

	t.Run("role check comes before validation: support DELETE /user/abc is 401 not 422", func(t *testing.T) {
		tt := rbacOn(ts, t)
		rbacRefused(t, tt.call("DELETE", "/user/abc", aliceToken, nil))
		rbacRefused(t, tt.call("PUT", "/user/abc", aliceToken, "not json"))
		rbacRefused(t, tt.call("PATCH", "/user/abc/role", aliceToken, map[string]any{"role": "x"}))
		// The same requests from an admin are validation errors.
		p := tt.call("DELETE", "/user/abc", adminToken, nil).expect(http.StatusUnprocessableEntity).problems()
		if len(p) != 1 || p[0].Type != "int_parsing" || !reflect.DeepEqual(p[0].Loc, []any{"path", "user_id"}) {
			t.Fatalf("admin DELETE /user/abc: %+v", p)
		}
	})

	t.Run("validation comes before 404", func(t *testing.T) {
		tt := rbacOn(ts, t)
		tt.call("PUT", "/user/999999", adminToken, map[string]any{"username": "x"}).expect(http.StatusUnprocessableEntity)
		tt.call("PUT", "/employee/999999", adminToken, map[string]any{}).expect(http.StatusUnprocessableEntity)
		tt.call("PUT", "/ticket/999999", adminToken, map[string]any{"title": 1}).expect(http.StatusUnprocessableEntity)
		tt.call("POST", "/ticket/999999", adminToken, map[string]any{}).expect(http.StatusUnprocessableEntity)
		tt.call("PATCH", "/user/999999/disabled", adminToken, map[string]any{"disabled": "yes"}).expect(http.StatusUnprocessableEntity)
	})

	t.Run("a valid request for a missing record is 404", func(t *testing.T) {
		tt := rbacOn(ts, t)
		rbacError(t, tt.call("GET", "/user/999999", adminToken, nil), 404, "User not found", "")
		rbacError(t, tt.call("DELETE", "/user/999999", adminToken, nil), 404, "User not found", "")
		rbacError(t, tt.call("PATCH", "/user/999999/disabled", adminToken, map[string]any{"disabled": true}), 404, "User not found", "")
		rbacError(t, tt.call("GET", "/user/username/nosuchuser", adminToken, nil), 404, "User not found", "")
		rbacError(t, tt.call("GET", "/employee/999999", aliceToken, nil), 404, "Employee not found", "")
		rbacError(t, tt.call("PUT", "/employee/999999", adminToken, validEmployee(1)), 404, "Employee not found", "")
		rbacError(t, tt.call("POST", "/ticket/999999", aliceToken, validTicket()), 404, "Employee not found", "")
		rbacError(t, tt.call("GET", "/ticket/999999", aliceToken, nil), 404, "Ticket not found", "")
		rbacError(t, tt.call("PUT", "/ticket/999999", adminToken, validTicket()), 404, "Ticket not found", "")
		rbacError(t, tt.call("DELETE", "/ticket/999999", adminToken, nil), 404, "Ticket not found", "")
	})
}

// ---- §2: the finer order ----

func TestRBACFinerOrder(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, adminToken := ts.userWithToken("bossman", "admin")
	scoped := ts.addUser("scoped", "support")
	scopedToken := ts.token("scoped", testPassword, "scope_example")
	plainToken := ts.token("scoped", testPassword)

	t.Run("token with scope scope_example may call /token/scope_example", func(t *testing.T) {
		res := rbacOn(ts, t).call("GET", "/token/scope_example", scopedToken, nil).expect(http.StatusOK)
		rbacJSONBody(t, res, map[string]string{"status": "Access allowed base on token 'scopes': ['scope_example']"})
	})
	t.Run("token without the scope is 401 with the scope in WWW-Authenticate", func(t *testing.T) {
		res := rbacOn(ts, t).call("GET", "/token/scope_example", plainToken, nil)
		rbacError(t, res, http.StatusUnauthorized, "Not enough permissions", `Bearer scope="scope_example"`)
	})
	t.Run("a user without roles but with the scope may call it", func(t *testing.T) {
		tt := rbacOn(ts, t)
		tt.addUser("rolelss")
		tt.call("GET", "/token/scope_example", tt.token("rolelss", testPassword, "scope_example"), nil).expect(http.StatusOK)
	})
	t.Run("scope check comes before the disabled check", func(t *testing.T) {
		tt := rbacOn(ts, t)
		rbacUpdate(t, ts, scoped.ID, func(u *User) { u.Disabled = true })
		defer rbacUpdate(t, ts, scoped.ID, func(u *User) { u.Disabled = false })
		rbacError(t, tt.call("GET", "/token/scope_example", plainToken, nil),
			http.StatusUnauthorized, "Not enough permissions", `Bearer scope="scope_example"`)
		rbacError(t, tt.call("GET", "/token/scope_example", scopedToken, nil), http.StatusBadRequest, "User disabled", "")
	})

	t.Run("PATCH role of a missing user with an unknown role is 404 User not found", func(t *testing.T) {
		rbacError(t, rbacOn(ts, t).call("PATCH", "/user/999999/role", adminToken, map[string]any{"role": []string{"wizard"}}),
			http.StatusNotFound, "User not found", "")
	})
	t.Run("PUT of a missing user with an unknown role is 404 User not found", func(t *testing.T) {
		body := validNewUser("missing", 1)
		delete(body, "password")
		body["role"] = []string{"wizard"}
		rbacError(t, rbacOn(ts, t).call("PUT", "/user/999999", adminToken, body), http.StatusNotFound, "User not found", "")
	})
	t.Run("PATCH role of an existing user with an unknown role is 404 Unknown role and changes nothing", func(t *testing.T) {
		before := rbacSnapshot(t, ts.store)
		rbacError(t, rbacOn(ts, t).call("PATCH", fmt.Sprintf("/user/%d/role", scoped.ID), adminToken,
			map[string]any{"role": []string{"support", "wizard"}}), http.StatusNotFound, "Unknown role", "")
		rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
	})
}

// ---- §2/§8: raise_error and rbac from the config ----

func TestRBACConfigOverrides(t *testing.T) {
	t.Parallel()
	t.Run("raise_error can make permission failures 403 Forbidden", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(c *Config) {
			c.RaiseError["not_enough_permissions"] = APIError{StatusCode: http.StatusForbidden, Detail: "Forbidden"}
		})
		_, adminToken := ts.userWithToken("bossman", "admin")
		_, supportToken := ts.userWithToken("helper", "support")
		target := ts.addUser("target", "support")
		before := rbacSnapshot(t, ts.store)
		rbacError(t, ts.call("DELETE", fmt.Sprintf("/user/%d", target.ID), supportToken, nil), http.StatusForbidden, "Forbidden", "")
		rbacError(t, ts.call("GET", "/user/", supportToken, nil), http.StatusForbidden, "Forbidden", "")
		rbacError(t, ts.call("GET", "/token/scope_example", supportToken, nil), http.StatusForbidden, "Forbidden", "")
		rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
		ts.call("GET", "/user/", adminToken, nil).expect(http.StatusOK)
	})

	t.Run("rbac in the config replaces a route's roles", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(c *Config) {
			c.RBAC = map[string][]string{"GET /user/": {"support"}}
		})
		_, supportToken := ts.userWithToken("helper", "support")
		_, managerToken := ts.userWithToken("chief", "manager")
		_, adminToken := ts.userWithToken("bossman", "admin")
		if got := len(ts.call("GET", "/user/", supportToken, nil).expect(http.StatusOK).list()); got != 3 {
			t.Errorf("support lists %d users, want 3", got)
		}
		rbacRefused(t, ts.call("GET", "/user/", managerToken, nil))
		rbacRefused(t, ts.call("GET", "/user", adminToken, nil))
		// Other routes keep the default table.
		ts.call("GET", "/user/1", managerToken, nil).expect(http.StatusOK)
		rbacRefused(t, ts.call("GET", "/user/1", supportToken, nil))
	})

	t.Run("rbac naming an unknown route or role is refused at start", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.RBAC = map[string][]string{"GET /nothing/": {"admin"}}
		if err := cfg.check(); err == nil {
			t.Error("unknown route accepted")
		}
		cfg.RBAC = map[string][]string{"GET /user/": {"wizard"}}
		if err := cfg.check(); err == nil {
			t.Error("unknown role accepted")
		}
	})
}

// ---- §2: whatever the Authorization header holds ----

func FuzzBearerToken(f *testing.F) {
	ts, token := fuzzServer(f)
	f.Add("Bearer " + token)
	f.Add("bearer " + token + "x")
	f.Add("Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJmdXp6ZXIifQ.")
	f.Add("Bearer a.b.c")
	f.Add("Basic Zm9vOmJhcg==")
	f.Add("Bearer " + strings.Repeat("A", 5000))
	f.Add("Bearer")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/api/v1/me", nil)
		r.Header["Authorization"] = []string{header}
		rec := ts.serve(r)
		switch rec.Code {
		case 200, 400, 401:
		default:
			t.Fatalf("Authorization %q: %d %s", header, rec.Code, rec.Body)
		}
		signed := token[:strings.LastIndex(token, ".")] // header and claims: the part the signature covers
		if rec.Code == 200 && !strings.Contains(header, signed) {
			t.Fatalf("Authorization %q was accepted", header)
		}
	})
}
