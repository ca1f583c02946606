package main

// handlers.go: the routes (docs/api.md §5), each handler under a comment naming
// its route, and the few helpers they all use to read requests and write
// answers. A handler reads like a recipe: read and validate the request,
// call the store, write the answer.

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 1 << 20

// app is the server: its config, store, token issuer and routes.
type app struct {
	cfg      *Config
	store    *Store
	log      *slog.Logger
	hasher   *hasher
	tokens   *tokens
	roles    map[string][]string
	mux      *http.ServeMux
	throttle throttle
	trusted  []netip.Prefix // proxies whose X-Forwarded-For is believed
}

func newApp(cfg *Config, store *Store, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, store: store, log: log, hasher: newLoginHasher(cfg),
		tokens: newTokens(cfg.Auth.SecretKey, time.Duration(cfg.Auth.ExpireMinutes)*time.Minute),
		roles:  routeRoles(cfg.RBAC), mux: http.NewServeMux(), throttle: newThrottle(cfg.LoginThrottle, store)}
	var err error
	if a.trusted, err = cfg.trustedProxies(); err != nil {
		return nil, err
	}
	a.routes()
	if err := a.docsRoutes(); err != nil {
		return nil, err
	}
	return a, nil
}

// routes registers every route. Paths are under the root path (/api/v1).
func (a *app) routes() {
	a.mux.HandleFunc("/", a.noRoute) // everything no route below matches
	a.handle("POST /token", http.HandlerFunc(a.login))
	a.handle("GET /me", a.guarded(guard{}, a.me))
	a.handle("GET /status", a.guarded(guard{active: true}, a.status))
	a.handle("GET /token/scope_example", a.guarded(guard{active: true, scope: "scope_example"}, a.scopeExample))

	a.protect("POST /user/", a.createUser)
	a.protect("GET /user/", a.listUsers)
	a.protect("GET /user/{user_id}", a.getUser)
	a.protect("GET /user/username/{username}", a.getUserBy(a.store.UserByUsername, "username"))
	a.protect("GET /user/phone/{phone}", a.getUserBy(a.store.UserByPhone, "phone"))
	a.protect("GET /user/email/{email}", a.getUserBy(a.store.UserByEmail, "email"))
	a.protect("PUT /user/{user_id}", a.putUser)
	a.protect("DELETE /user/{user_id}", a.deleteUser)
	a.protect("PATCH /user/password", a.changeOwnPassword)
	a.protect("PATCH /user/{user_id}/contacts", a.patchUser(func(in *input) func(*User) error {
		c := readContacts(in)
		return func(u *User) error {
			u.FirstName, u.LastName, u.Phone, u.Email = c.FirstName, c.LastName, c.Phone, c.Email
			return nil
		}
	}))
	a.protect("PATCH /user/{user_id}/password", a.setUserPassword)
	a.protect("PATCH /user/{user_id}/username", a.patchUser(func(in *input) func(*User) error {
		name := readUsername(in)
		return func(u *User) error { u.Username = name; return nil }
	}))
	a.protect("PATCH /user/{user_id}/role", a.patchUser(func(in *input) func(*User) error {
		roles := in.roles("role")
		return func(u *User) error { return setRoles(u, roles) }
	}))
	a.protect("PATCH /user/{user_id}/disabled", a.patchUserAs(func(in *input, caller *User) func(*User) error {
		disabled, _ := in.boolean("disabled", true)
		return func(u *User) error {
			u.Disabled = disabled
			return mayLockOut(caller, u, disabled)
		}
	}))
	a.protect("PATCH /user/{user_id}/login_denied", a.patchUserAs(func(in *input, caller *User) func(*User) error {
		denied, _ := in.boolean("login_denied", true)
		return func(u *User) error {
			u.LoginDenied = denied
			return mayLockOut(caller, u, denied)
		}
	}))

	a.protect("POST /employee/", a.createEmployee)
	a.protect("GET /employee/", a.listEmployees)
	a.protect("GET /employee/{employee_id}", a.getEmployee)
	a.protect("PUT /employee/{employee_id}", a.putEmployee)
	a.protect("DELETE /employee/{employee_id}", a.deleteEmployee)

	a.protect("POST /ticket/{employee_id}", a.createTicket)
	a.protect("GET /ticket/", a.listTickets)
	a.protect("GET /ticket/my/", a.listMyTickets)
	a.protect("GET /ticket/{ticket_id}", a.getTicket)
	a.protect("PUT /ticket/{ticket_id}", a.putTicket)
	a.protect("DELETE /ticket/{ticket_id}", a.deleteTicket)
}

// handle registers route ("METHOD /path" under the root path). A route
// ending in "/" is a collection: it answers both with and without the
// slash, and nothing below it.
func (a *app) handle(route string, h http.Handler) {
	method, path, _ := strings.Cut(route, " ")
	full := method + " " + a.cfg.RootPath + path
	if strings.HasSuffix(path, "/") {
		a.mux.Handle(full+"{$}", h)
		full = strings.TrimSuffix(full, "/")
	}
	a.mux.Handle(full, h)
}

// ---- Authentication (docs/api.md §2) ----

// POST /token: OAuth2 password grant, form-encoded.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		err = r.ParseMultipartForm(maxBodyBytes)
	} else {
		err = r.ParseForm()
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		a.tooLarge(w, r)
		return
	}
	var problems validationError
	form := func(name string) string { // a required field: empty counts as missing
		v := r.PostFormValue(name)
		if v == "" {
			problems = append(problems, fieldError{Type: "missing", Loc: []any{"body", name}, Msg: "Field required"})
		}
		return v
	}
	username, password := form("username"), form("password")
	if gt, given := r.PostForm["grant_type"]; given {
		if p := checkText(gt[0], 0, 1<<30, patternGrantType); p != nil {
			p.Loc = []any{"body", "grant_type"}
			problems = append(problems, *p)
		}
	}
	if len(problems) > 0 {
		a.fail(w, r, problems)
		return
	}

	client := requestInfoOf(r).client
	if wait := a.throttle.blocked(username, client); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		a.fail(w, r, errTooManyFailures)
		return
	}
	u, err := a.store.UserByUsername(r.Context(), username)
	if err != nil && !errors.Is(err, errUserNotFound) {
		a.fail(w, r, err)
		return
	}
	var hash string
	if u != nil {
		hash = u.hashedPassword
	}
	ok, outdated := a.hasher.Verify(r.Context(), hash, password) // an unknown user takes as long as a wrong password
	if r.Context().Err() != nil {
		return // the client went away while its login waited for a hashing slot
	}
	if !ok {
		if d := a.throttle.failed(username, client); d > 0 {
			select { // slow down a guesser, but not past the client's patience
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
		a.fail(w, r, errIncorrectLogin)
		return
	}
	a.throttle.succeeded(username, client)
	if u.LoginDenied {
		a.fail(w, r, errUserLoginDenied)
		return
	}
	if outdated {
		a.rehash(r, u, password)
	}
	token, err := a.tokens.issue(u, grantedScopes(r.PostFormValue("scope"), a.cfg.Auth.OAuth2Scheme.Scopes), time.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	requestInfoOf(r).user = u.Username
	writeJSON(w, http.StatusOK, map[string]string{"access_token": token, "token_type": "bearer"})
}

// rehash replaces a hash made with other parameters (or bcrypt, when argon2
// is configured) now that the password is known. Failure only costs a log line.
func (a *app) rehash(r *http.Request, u *User, password string) {
	hash, err := a.hasher.Hash(password)
	if err == nil {
		err = a.store.RehashPassword(r.Context(), u.ID, u.hashedPassword, hash)
	}
	if err != nil {
		a.log.Warn("could not upgrade a password hash", "user", u.Username, "request_id", requestInfoOf(r).id, "error", err)
		return
	}
	u.hashedPassword = hash
}

// GET /me: the caller, even a disabled one; already encoded when it came
// from the user cache (SQLite).
func (a *app) me(w http.ResponseWriter, r *http.Request, caller *User) {
	if caller.me != nil {
		writeEncoded(w, http.StatusOK, caller.me)
		return
	}
	writeJSON(w, http.StatusOK, caller)
}

// GET /status
func (a *app) status(w http.ResponseWriter, r *http.Request, caller *User) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// GET /token/scope_example
func (a *app) scopeExample(w http.ResponseWriter, r *http.Request, caller *User) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "Access allowed base on token 'scopes': ['scope_example']"})
}

// ---- Users ----

// POST /user/
func (a *app) createUser(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	in := readUser(q.body(), true)
	if !q.valid() {
		return
	}
	if _, bad := unknownRole(in.Role); bad {
		a.fail(w, r, errUnknownRole)
		return
	}
	hash, err := a.hasher.Hash(in.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	in.User.hashedPassword = hash
	u, err := a.store.CreateUser(r.Context(), &in.User)
	a.reply(w, r, u, err)
}

// GET /user/?skip=&limit=&after_id=
func (a *app) listUsers(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	p := q.page()
	if !q.valid() {
		return
	}
	users, err := a.store.ListUsers(r.Context(), p)
	a.reply(w, r, users, err)
}

// GET /user/{user_id}
func (a *app) getUser(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("user_id")
	if !q.valid() {
		return
	}
	u, err := a.store.UserByID(r.Context(), id)
	a.reply(w, r, u, err)
}

// GET /user/username/{username}, /user/phone/{phone}, /user/email/{email}:
// the value is looked up as given; no match is a 404.
func (a *app) getUserBy(find func(ctx context.Context, v string) (*User, error), name string) userHandler {
	return func(w http.ResponseWriter, r *http.Request, caller *User) {
		u, err := find(r.Context(), r.PathValue(name))
		a.reply(w, r, u, err)
	}
}

// PUT /user/{user_id}: every field but the password; disabled and
// login_denied stay as they are when absent.
func (a *app) putUser(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("user_id")
	in := readUser(q.body(), false)
	if !q.valid() {
		return
	}
	u, err := a.store.UpdateUser(r.Context(), id, func(u *User) error {
		u.Username, u.FirstName, u.LastName, u.Phone, u.Email = in.Username, in.FirstName, in.LastName, in.Phone, in.Email
		if in.disabledGiven {
			u.Disabled = in.Disabled
		}
		if in.loginDeniedGiven {
			u.LoginDenied = in.LoginDenied
		}
		return setRoles(u, in.Role)
	})
	a.reply(w, r, u, err)
}

// setRoles gives u the roles, refusing a name that is not a role.
func setRoles(u *User, roles []string) error {
	if _, bad := unknownRole(roles); bad {
		return errUnknownRole
	}
	u.Role = roles
	return nil
}

// mayLockOut refuses a manager who would disable or login-deny an admin:
// only an admin may lock out an admin.
func mayLockOut(caller, target *User, lockingOut bool) error {
	if lockingOut && slices.Contains(target.Role, "admin") && !slices.Contains(caller.Role, "admin") {
		return errNotEnoughPermissions
	}
	return nil
}

// patchUser makes the handler of a PATCH /user/{user_id}/... route: read
// reads the body and returns the change to make once the user is loaded.
func (a *app) patchUser(read func(in *input) func(*User) error) userHandler {
	return a.patchUserAs(func(in *input, _ *User) func(*User) error { return read(in) })
}

// patchUserAs is patchUser for a change that depends on who makes it.
func (a *app) patchUserAs(read func(in *input, caller *User) func(*User) error) userHandler {
	return func(w http.ResponseWriter, r *http.Request, caller *User) {
		q := a.parse(w, r)
		id := q.id("user_id")
		change := read(q.body(), caller)
		if !q.valid() {
			return
		}
		u, err := a.store.UpdateUser(r.Context(), id, change)
		a.reply(w, r, u, err)
	}
}

// DELETE /user/{user_id}
func (a *app) deleteUser(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("user_id")
	if !q.valid() {
		return
	}
	err := a.store.DeleteUser(r.Context(), id)
	a.reply(w, r, a.message("user_deleted_successfully"), err)
}

// PATCH /user/password: the caller's own password.
func (a *app) changeOwnPassword(w http.ResponseWriter, r *http.Request, caller *User) {
	a.changePassword(w, r, func(q *request) int64 { return caller.ID })
}

// PATCH /user/{user_id}/password
func (a *app) setUserPassword(w http.ResponseWriter, r *http.Request, caller *User) {
	a.changePassword(w, r, func(q *request) int64 { return q.id("user_id") })
}

func (a *app) changePassword(w http.ResponseWriter, r *http.Request, target func(*request) int64) {
	q := a.parse(w, r)
	id := target(q)
	password := q.body().password("password")
	if !q.valid() {
		return
	}
	hash, err := a.hasher.Hash(password)
	if err == nil {
		err = a.store.SetPassword(r.Context(), id, hash)
	}
	a.reply(w, r, a.message("password_changed_successfully"), err)
}

// ---- Employees ----

// POST /employee/
func (a *app) createEmployee(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	e := readEmployee(q.body())
	if !q.valid() {
		return
	}
	created, err := a.store.CreateEmployee(r.Context(), &e)
	a.reply(w, r, created, err)
}

// GET /employee/?skip=&limit=&after_id=
func (a *app) listEmployees(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	p := q.page()
	if !q.valid() {
		return
	}
	body, err := a.store.CachedAnswer(r.Context(), fmt.Sprintf("employees %d %d %d", p.after, p.skip, p.limit),
		func() (any, error) { return a.store.ListEmployees(r.Context(), p) })
	a.replyEncoded(w, r, body, err)
}

// GET /employee/{employee_id}
func (a *app) getEmployee(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("employee_id")
	if !q.valid() {
		return
	}
	body, err := a.store.CachedAnswer(r.Context(), fmt.Sprintf("employee %d", id),
		func() (any, error) { return a.store.Employee(r.Context(), id) })
	a.replyEncoded(w, r, body, err)
}

// PUT /employee/{employee_id}
func (a *app) putEmployee(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("employee_id")
	e := readEmployee(q.body())
	if !q.valid() {
		return
	}
	updated, err := a.store.UpdateEmployee(r.Context(), id, &e)
	a.reply(w, r, updated, err)
}

// DELETE /employee/{employee_id}
func (a *app) deleteEmployee(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("employee_id")
	if !q.valid() {
		return
	}
	err := a.store.DeleteEmployee(r.Context(), id)
	a.reply(w, r, a.message("employee_deleted_successfully"), err)
}

// ---- Tickets ----

// POST /ticket/{employee_id}: a ticket about the employee, owned by the caller.
func (a *app) createTicket(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	employeeID := q.id("employee_id")
	t := readTicket(q.body())
	if !q.valid() {
		return
	}
	created, err := a.store.CreateTicket(r.Context(), employeeID, caller.ID, &t)
	a.reply(w, r, created, err)
}

// GET /ticket/?skip=&limit=&after_id=
func (a *app) listTickets(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	p := q.page()
	if !q.valid() {
		return
	}
	tickets, err := a.store.ListTickets(r.Context(), p)
	a.reply(w, r, tickets, err)
}

// GET /ticket/my/?skip=&limit=&after_id=: the tickets the caller created.
func (a *app) listMyTickets(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	p := q.page()
	if !q.valid() {
		return
	}
	tickets, err := a.store.ListTicketsOf(r.Context(), caller.ID, p)
	a.reply(w, r, tickets, err)
}

// GET /ticket/{ticket_id}
func (a *app) getTicket(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("ticket_id")
	if !q.valid() {
		return
	}
	t, err := a.store.Ticket(r.Context(), id)
	a.reply(w, r, t, err)
}

// PUT /ticket/{ticket_id}
func (a *app) putTicket(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("ticket_id")
	t := readTicket(q.body())
	if !q.valid() {
		return
	}
	updated, err := a.store.UpdateTicket(r.Context(), id, &t)
	a.reply(w, r, updated, err)
}

// DELETE /ticket/{ticket_id}
func (a *app) deleteTicket(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("ticket_id")
	if !q.valid() {
		return
	}
	err := a.store.DeleteTicket(r.Context(), id)
	a.reply(w, r, a.message("ticket_deleted_successfully"), err)
}

// ---- Reading requests ----

// request collects the problems of one request's path, query and body, so
// a 422 names all of them at once.
type request struct {
	a        *app
	w        http.ResponseWriter
	r        *http.Request
	problems validationError
	in       *input
	tooLarge bool
	notJSON  bool // the Content-Type names something else than JSON
}

func (a *app) parse(w http.ResponseWriter, r *http.Request) *request {
	return &request{a: a, w: w, r: r}
}

// id reads an integer path value.
func (q *request) id(name string) int64 {
	n, problem := parseInt("path", name, q.r.PathValue(name))
	if problem != nil {
		q.problems = append(q.problems, *problem)
	}
	return n
}

// page reads skip (≥ 0, default 0), limit (≥ 0, default and ceiling
// BODY_RESPONSE_ITEMS_LIMIT; a larger limit is capped silently) and
// after_id (≥ 0, default 0: only items with a larger id).
func (q *request) page() page {
	query := q.r.URL.Query() // parses the query string: once, not per parameter
	read := func(name string, fallback int64) int64 {
		v, given := query[name]
		if !given {
			return fallback
		}
		n, problem := parseInt("query", name, v[0])
		if problem == nil && n < 0 {
			problem = &fieldError{Type: "greater_than_equal", Loc: []any{"query", name}, Input: v[0],
				Msg: "Input should be greater than or equal to 0", Ctx: map[string]any{"ge": 0}}
		}
		if problem != nil {
			q.problems = append(q.problems, *problem)
		}
		return n
	}
	ceiling := int64(q.a.cfg.ItemsLimit)
	return page{skip: read("skip", 0), limit: min(read("limit", ceiling), ceiling), after: read("after_id", 0)}
}

// body reads the JSON body once (at most maxBodyBytes). When it is not a
// JSON object, that is the body's only problem and its fields read as empty.
func (q *request) body() *input {
	if q.in != nil {
		return q.in
	}
	q.in = &input{}
	if ct := q.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			q.notJSON, q.in.dead = true, true
			return q.in
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		q.tooLarge, q.in.dead = true, true
	case err != nil || len(strings.TrimSpace(string(data))) == 0:
		q.problems = append(q.problems, fieldError{Type: "missing", Loc: []any{"body"}, Msg: "Field required"})
		q.in.dead = true
	default:
		in, problems := newInput(data)
		if problems != nil {
			q.problems = append(q.problems, problems...)
			q.in.dead = true
		} else {
			q.in = in
		}
	}
	return q.in
}

// valid answers 413, 415 or 422 when the request had problems, and tells whether
// the handler may go on.
func (q *request) valid() bool {
	if q.tooLarge {
		q.a.tooLarge(q.w, q.r)
		return false
	}
	if q.notJSON {
		writeJSON(q.w, http.StatusUnsupportedMediaType, map[string]string{"detail": "Content-Type must be application/json"})
		return false
	}
	if q.in != nil {
		q.problems = append(q.problems, q.in.errs...)
	}
	if len(q.problems) > 0 {
		q.a.fail(q.w, q.r, q.problems)
		return false
	}
	return true
}

// ---- Writing answers ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"detail":"Internal Server Error"}`)
	}
	writeEncoded(w, status, body)
}

var newline = []byte{'\n'}

// Header values every answer carries, made once instead of per request.
// Shared by all answers: they are only ever replaced, never appended to.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	nosniff         = []string{"nosniff"}
	noStore         = []string{"no-store"}
)

// writeEncoded answers with a body already encoded as JSON.
func writeEncoded(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body) + 1)}
	w.WriteHeader(status)
	w.Write(body) // body may be a cached answer: never appended to
	w.Write(newline)
}

// reply writes v, or the failure err stands for.
func (a *app) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// replyEncoded is reply for an answer already encoded (see CachedAnswer).
func (a *app) replyEncoded(w http.ResponseWriter, r *http.Request, body []byte, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeEncoded(w, http.StatusOK, body)
}

func (a *app) message(name string) map[string]string {
	return map[string]string{"message": a.cfg.Message[name]}
}

// fail answers an error: a validation problem list as 422, a named failure
// with its status and detail from the config's raise_error table, anything
// else as a 500 whose cause goes to the log, never to the client.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	var problems validationError
	var f failure
	switch {
	case errors.As(err, &problems):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": problems})
	case errors.As(err, &f):
		e, ok := a.cfg.RaiseError[string(f)]
		if !ok {
			a.internalError(w, r, fmt.Errorf("raise_error has no entry %q", f))
			return
		}
		if f == errNotAuthenticated || f == errCouldNotValidate || f == errTokenHasExpired {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		writeJSON(w, e.StatusCode, map[string]string{"detail": e.Detail})
	default:
		a.internalError(w, r, err)
	}
}

func (a *app) internalError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("internal error", "request_id", requestInfoOf(r).id, "method", r.Method, "path", r.URL.Path, "error", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"detail": "Internal Server Error"})
}

func (a *app) tooLarge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"detail": "Request body too large"})
}

// ---- Around every request ----

// requestInfo is what the access log line says about a request; handlers
// fill in the user.
type requestInfo struct {
	id, user, client string
}

type requestInfoKey struct{}

func requestInfoOf(r *http.Request) *requestInfo {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// statusRecorder remembers the status a handler wrote, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// ServeHTTP runs every request through, in order: request id, access log,
// panic recovery, security headers, CORS, then the route (or a JSON 404/405).
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// Header keys in their canonical spelling ("X-Request-Id") are looked
	// up and set directly: Get and Set would respell "X-Request-ID" anew,
	// into a new string, on every request.
	info := &requestInfo{client: clientAddress(r, a.trusted)}
	if ids := r.Header["X-Request-Id"]; len(ids) > 0 {
		info.id = ids[0]
	}
	if info.id == "" || len(info.id) > 128 {
		// Unique, not secret: math/rand's generator needs no system call.
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], rand.Uint64())
		info.id = hex.EncodeToString(b[:])
	}
	r = r.WithContext(context.WithValue(withVersionMemo(r.Context()), requestInfoKey{}, info))
	rec := &statusRecorder{ResponseWriter: w}
	h := rec.Header()
	h["X-Request-Id"] = []string{info.id}
	h["X-Content-Type-Options"] = nosniff
	h["Cache-Control"] = noStore

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.Error("panic", "request_id", info.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rec.status == 0 {
				writeJSON(rec, http.StatusInternalServerError, map[string]string{"detail": "Internal Server Error"})
			}
		}
		// The access log line, handed to the handler directly: Logger's
		// methods also record the caller's program counter, which costs
		// and which no handler here prints.
		if lh := a.log.Handler(); lh.Enabled(r.Context(), slog.LevelInfo) {
			end := time.Now()
			line := slog.NewRecord(end, slog.LevelInfo, "request", 0)
			line.AddAttrs(slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status),
				slog.Float64("duration_ms", float64(end.Sub(start).Microseconds())/1000), slog.String("user", info.user),
				slog.String("request_id", info.id), slog.String("client", info.client))
			lh.Handle(r.Context(), line)
		}
	}()

	if a.cors(rec, r) {
		return
	}
	a.mux.ServeHTTP(rec, r)
}

// noRoute is the mux's catch-all "/": it answers a path no route matches
// (404) or a method the path does not have (405, with Allow) in JSON, where
// the mux would write plain text. It asks the mux which methods would have
// matched, off the hot path: only requests that match nothing get here.
func (a *app) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
		probe := *r
		probe.Method = method
		if _, pattern := a.mux.Handler(&probe); pattern != "/" {
			allow = append(allow, method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"detail": "Method Not Allowed"})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
}

// cors applies the config's cors section; it answers preflight requests
// itself and reports that it did.
func (a *app) cors(w http.ResponseWriter, r *http.Request) (answered bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	c := a.cfg.CORS
	allowed := slices.Contains(c.AllowOrigins, origin) || slices.Contains(c.AllowOrigins, "*")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	h := w.Header()
	h.Add("Vary", "Origin")
	if !allowed {
		if preflight {
			writeJSON(w, http.StatusBadRequest, map[string]string{"detail": "Disallowed CORS origin"})
		}
		return preflight
	}
	if slices.Contains(c.AllowOrigins, "*") && !c.AllowCredentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if !preflight {
		return false
	}
	methods := strings.Join(c.AllowMethods, ", ")
	if slices.Contains(c.AllowMethods, "*") {
		methods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
	}
	headers := strings.Join(c.AllowHeaders, ", ")
	if slices.Contains(c.AllowHeaders, "*") {
		headers = r.Header.Get("Access-Control-Request-Headers")
	}
	h.Set("Access-Control-Allow-Methods", methods)
	if headers != "" {
		h.Set("Access-Control-Allow-Headers", headers)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}
