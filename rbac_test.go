package main

// rbac_test.go: docs/api.md §2 (authentication: login, the bearer checks and their
// order) and §3 (role-based access control: every cell of the role table,
// config overrides, admin lock-out protection), end to end against a real
// server. Identifiers here start with rbac so they cannot clash with other
// test files of the package.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
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

// ---- small helpers of this file ----

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

// rbacSign signs c with method and key.
func rbacSign(t testing.TB, method jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rbacSegment decodes one base64url segment of a JWT as a JSON object.
func rbacSegment(t testing.TB, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, want 3", token, len(parts))
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("token segment %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("token segment %d: %v: %s", i, err, data)
	}
	return m
}

// rbacRaw sends a request to path (NOT under the root path) without
// following redirects.
func rbacRaw(t testing.TB, ts *testServer, method, path, token string) *response {
	t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := *ts.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{t: t, status: res.StatusCode, header: res.Header, body: data}
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

// ---- §2: login ----

// rbacLogin posts a login form.
func rbacLogin(ts *testServer, fields ...string) *response {
	v := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		v.Set(fields[i], fields[i+1])
	}
	return ts.form("/token", v)
}

func rbacHasProblem(problems []fieldError, typ string, loc ...any) bool {
	for _, p := range problems {
		if (typ == "" || p.Type == typ) && reflect.DeepEqual(p.Loc, loc) {
			return true
		}
	}
	return false
}

func TestRBACLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, adminToken := ts.userWithToken("bossman", "admin")
	ts.addUser("alice", "support")

	t.Run("right credentials give a bearer token, not cached", func(t *testing.T) {
		before := time.Now().Unix()
		res := rbacLogin(rbacOn(ts, t), "username", "alice", "password", testPassword).expect(http.StatusOK)
		after := time.Now().Unix()
		if got := res.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", got)
		}
		body := res.obj()
		if len(body) != 2 || body["token_type"] != "bearer" {
			t.Fatalf("body %s, want exactly access_token and token_type bearer", res.body)
		}
		tok, _ := body["access_token"].(string)
		header, payload := rbacSegment(t, tok, 0), rbacSegment(t, tok, 1)
		if header["alg"] != "HS256" {
			t.Errorf("alg %v, want HS256", header["alg"])
		}
		if payload["sub"] != "alice" {
			t.Errorf("sub %v, want alice", payload["sub"])
		}
		if scopes, ok := payload["scopes"].([]any); !ok || len(scopes) != 0 {
			t.Errorf("scopes %#v, want an empty array", payload["scopes"])
		}
		iat, ok1 := payload["iat"].(float64)
		exp, ok2 := payload["exp"].(float64)
		if !ok1 || !ok2 {
			t.Fatalf("iat %v, exp %v: want numbers", payload["iat"], payload["exp"])
		}
		if int64(iat) < before-1 || int64(iat) > after+1 {
			t.Errorf("iat %v is not now (%d..%d)", iat, before, after)
		}
		if want := float64(ts.cfg.Auth.ExpireMinutes * 60); exp-iat != want {
			t.Errorf("exp - iat = %v s, want %v s", exp-iat, want)
		}
		if ts.cfg.Auth.ExpireMinutes != 60 {
			t.Errorf("default ACCESS_TOKEN_EXPIRE_MINUTES %d, want 60", ts.cfg.Auth.ExpireMinutes)
		}
		// The signature is HS256 with the server's key.
		if _, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})).Parse(tok,
			func(*jwt.Token) (any, error) { return []byte(testSecret), nil }); err != nil {
			t.Errorf("token does not verify with the server key: %v", err)
		}
		rbacOn(ts, t).call("GET", "/employee/", tok, nil).expect(http.StatusOK)
	})

	t.Run("unknown user and wrong password get the same 400", func(t *testing.T) {
		tt := rbacOn(ts, t)
		unknown := rbacLogin(tt, "username", "nosuchuser", "password", testPassword)
		wrong := rbacLogin(tt, "username", "alice", "password", "Wr0ngPass!")
		rbacError(t, unknown, http.StatusBadRequest, "Incorrect User name or password", "")
		rbacError(t, wrong, http.StatusBadRequest, "Incorrect User name or password", "")
		if !bytes.Equal(unknown.body, wrong.body) {
			t.Fatalf("bodies differ: %s vs %s", unknown.body, wrong.body)
		}
	})

	t.Run("login_denied user: right password is User login denied, wrong password the usual answer", func(t *testing.T) {
		tt := rbacOn(ts, t)
		u, earlier := tt.userWithToken("deniedone", "support")
		tt.call("PATCH", fmt.Sprintf("/user/%d/login_denied", u.ID), adminToken,
			map[string]any{"login_denied": true}).expect(http.StatusOK)
		rbacError(t, rbacLogin(tt, "username", "deniedone", "password", testPassword),
			http.StatusBadRequest, "User login denied", "")
		rbacError(t, rbacLogin(tt, "username", "deniedone", "password", "Wr0ngPass!"),
			http.StatusBadRequest, "Incorrect User name or password", "")
		// A token issued before keeps working.
		tt.call("GET", "/employee/", earlier, nil).expect(http.StatusOK)
		tt.call("GET", "/status", earlier, nil).expect(http.StatusOK)
	})

	t.Run("disabled user can log in but is refused on /status", func(t *testing.T) {
		tt := rbacOn(ts, t)
		u := tt.addUser("disabledone", "support")
		rbacUpdate(t, ts, u.ID, func(u *User) { u.Disabled = true })
		tok := tt.token("disabledone", testPassword)
		rbacError(t, tt.call("GET", "/status", tok, nil), http.StatusBadRequest, "User disabled", "")
	})

	t.Run("missing username or password is 422 missing", func(t *testing.T) {
		tt := rbacOn(ts, t)
		p := rbacLogin(tt, "password", testPassword).expect(http.StatusUnprocessableEntity).problems()
		if !rbacHasProblem(p, "missing", "body", "username") {
			t.Errorf("no username: %+v", p)
		}
		p = rbacLogin(tt, "username", "alice").expect(http.StatusUnprocessableEntity).problems()
		if !rbacHasProblem(p, "missing", "body", "password") {
			t.Errorf("no password: %+v", p)
		}
		p = rbacLogin(tt).expect(http.StatusUnprocessableEntity).problems()
		if len(p) != 2 || !rbacHasProblem(p, "missing", "body", "username") || !rbacHasProblem(p, "missing", "body", "password") {
			t.Errorf("empty form: %+v", p)
		}
	})

	t.Run("grant_type password is accepted, client_id and client_secret ignored", func(t *testing.T) {
		rbacLogin(rbacOn(ts, t), "username", "alice", "password", testPassword, "grant_type", "password",
			"client_id", "someclient", "client_secret", "whatever").expect(http.StatusOK)
	})

	t.Run("grant_type client_credentials is 422", func(t *testing.T) {
		p := rbacLogin(rbacOn(ts, t), "username", "alice", "password", testPassword, "grant_type", "client_credentials").
			expect(http.StatusUnprocessableEntity).problems()
		if !rbacHasProblem(p, "", "body", "grant_type") {
			t.Errorf("problems %+v, want one at body.grant_type", p)
		}
	})

	t.Run("multipart form login works", func(t *testing.T) {
		tt := rbacOn(ts, t)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("username", "alice")
		mw.WriteField("password", testPassword)
		mw.Close()
		req, err := http.NewRequest("POST", ts.srv.URL+ts.cfg.RootPath+"/token", &buf)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res := tt.send(req).expect(http.StatusOK)
		if res.obj()["token_type"] != "bearer" {
			t.Fatalf("body %s", res.body)
		}
	})

	t.Run("only declared scopes are granted", func(t *testing.T) {
		tt := rbacOn(ts, t)
		res := rbacLogin(tt, "username", "alice", "password", testPassword, "scope", "scope_example other").expect(http.StatusOK)
		scopes := rbacSegment(t, res.obj()["access_token"].(string), 1)["scopes"]
		if !reflect.DeepEqual(scopes, []any{"scope_example"}) {
			t.Errorf("scopes %#v, want [scope_example]", scopes)
		}
		res = rbacLogin(tt, "username", "alice", "password", testPassword).expect(http.StatusOK)
		scopes = rbacSegment(t, res.obj()["access_token"].(string), 1)["scopes"]
		if !reflect.DeepEqual(scopes, []any{}) {
			t.Errorf("scopes %#v, want []", scopes)
		}
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

// ---- §1: 404, 405 and collection paths ----

func TestRBACNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("bossman", "admin")
	notFound := map[string]string{"detail": "Not Found"}

	for _, p := range []string{"/nothing", "/user/1/nothing", "/ticket/my/extra", "/employee/1/tickets"} {
		t.Run("unknown route "+p+" is 404 Not Found", func(t *testing.T) {
			res := rbacOn(ts, t).call("GET", p, token, nil).expect(http.StatusNotFound)
			rbacJSONBody(t, res, notFound)
		})
	}
	t.Run("a path outside the root path is 404 Not Found", func(t *testing.T) {
		res := rbacRaw(t, ts, "GET", "/user/", token).expect(http.StatusNotFound)
		rbacJSONBody(t, res, notFound)
	})

	wrong := []struct {
		method, path string
		allow        []string
	}{
		{"DELETE", "/me", []string{"GET"}},
		{"POST", "/status", []string{"GET"}},
		{"GET", "/token", []string{"POST"}},
		{"PATCH", "/employee/", []string{"GET", "POST"}},
		{"PATCH", "/employee", []string{"GET", "POST"}},
		{"DELETE", "/user/", []string{"GET", "POST"}},
		{"PATCH", "/user/1", []string{"GET", "PUT", "DELETE"}},
		{"POST", "/ticket/my/", []string{"GET"}},
	}
	for _, c := range wrong {
		t.Run(c.method+" "+c.path+" is 405 with Allow", func(t *testing.T) {
			res := rbacOn(ts, t).call(c.method, c.path, "", nil).expect(http.StatusMethodNotAllowed)
			rbacJSONBody(t, res, map[string]string{"detail": "Method Not Allowed"})
			allow := strings.Split(res.header.Get("Allow"), ", ")
			for _, m := range c.allow {
				if !slices.Contains(allow, m) {
					t.Errorf("Allow %q lacks %s", res.header.Get("Allow"), m)
				}
			}
			if slices.Contains(allow, c.method) {
				t.Errorf("Allow %q lists the refused method %s", res.header.Get("Allow"), c.method)
			}
		})
	}

	for _, p := range []string{"/user", "/user/", "/employee", "/employee/", "/ticket", "/ticket/", "/ticket/my", "/ticket/my/"} {
		t.Run("GET "+p+" answers 200 without a redirect", func(t *testing.T) {
			res := rbacRaw(t, ts, "GET", ts.cfg.RootPath+p, token)
			if res.status != http.StatusOK {
				t.Fatalf("status %d (Location %q): %s", res.status, res.header.Get("Location"), res.body)
			}
			res.list()
		})
	}
	t.Run("POST /employee without the slash creates", func(t *testing.T) {
		rbacOn(ts, t).call("POST", "/employee", token, validEmployee(7)).expect(http.StatusOK)
	})
}

// ---- §3 (beyond): admins cannot be locked out ----

func TestRBACManagerCannotLockOutAdmin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.addUser("firstadmin", "admin")
	admin := ts.addUser("bossman", "admin")
	mixed := ts.addUser("hybrid", "admin", "support")
	plain := ts.addUser("plain", "support")
	_, managerToken := ts.userWithToken("chief", "manager")

	for _, target := range []*User{admin, mixed} {
		for _, field := range []string{"disabled", "login_denied"} {
			t.Run(fmt.Sprintf("manager cannot set %s on %s", field, target.Username), func(t *testing.T) {
				before := rbacSnapshot(t, ts.store)
				rbacRefused(t, rbacOn(ts, t).call("PATCH", fmt.Sprintf("/user/%d/%s", target.ID, field), managerToken,
					map[string]any{field: true}))
				rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
			})
		}
	}
	t.Run("manager may still disable a user without admin", func(t *testing.T) {
		u := rbacOn(ts, t).call("PATCH", fmt.Sprintf("/user/%d/disabled", plain.ID), managerToken,
			map[string]any{"disabled": true}).expect(http.StatusOK).obj()
		if u["disabled"] != true {
			t.Fatalf("user %v", u)
		}
	})
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
