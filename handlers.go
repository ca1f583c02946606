package main

// handlers.go: the route table (docs/api.md §5) and the handlers, each
// under a comment naming its route. A handler reads like a recipe: read and
// validate the request (requests.go), call the store, write the answer.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
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
	limits   *rateLimiter   // each caller's requests and writes (ratelimit.go)
	metrics  *metrics       // what /metrics reports, on its own listener (metrics.go)
	// longestUsername (bytes) is the longest a user can have: the rule's
	// maxUsernameLength, or a longer one an upgraded database holds.
	longestUsername int
}

// maxUsernameLength is the longest username the rules allow (readUsername in models.go).
const maxUsernameLength = 16

func newApp(cfg *Config, store *Store, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, store: store, log: log, hasher: newLoginHasher(cfg),
		tokens: newTokens(cfg.Auth.SecretKey, time.Duration(cfg.Auth.ExpireMinutes)*time.Minute),
		roles:  routeRoles(cfg.RBAC), mux: http.NewServeMux(), throttle: newThrottle(cfg, store)}
	a.limits = newRateLimiter(cfg.RateLimit, log)
	a.metrics = newMetrics(a)
	var err error
	if a.trusted, err = cfg.trustedProxies(); err != nil {
		return nil, err
	}
	if a.longestUsername, err = store.LongestUsername(context.Background()); err != nil {
		return nil, err
	}
	a.longestUsername = max(a.longestUsername, maxUsernameLength)
	a.routes()
	if err := a.docsRoutes(); err != nil {
		return nil, err
	}
	return a, nil
}

// routeTable is every API route: its method and path under the root path
// (/api/v1), who may call it (see rbac.go), and its handler. A path ending
// in "/" is a collection: it answers with and without the slash. The
// config's "rbac" key can give a route of the role table other roles.
var routeTable = []route{
	{"POST /token", public, (*app).login},
	{"GET /me", anyUser, (*app).me},
	{"GET /status", activeUser, (*app).status},
	{"GET /token/scope_example", withScope("scope_example"), (*app).scopeExample},

	{"POST /user/", roles("admin"), (*app).createUser},
	{"GET /user/", roles("admin", "manager"), (*app).listUsers},
	{"GET /user/{user_id}", roles("admin", "manager"), (*app).getUser},
	{"GET /user/username/{username}", roles("admin", "manager"), (*app).getUserByUsername},
	{"GET /user/phone/{phone}", roles("admin", "manager"), (*app).getUserByPhone},
	{"GET /user/email/{email}", roles("admin", "manager"), (*app).getUserByEmail},
	{"PUT /user/{user_id}", roles("admin"), (*app).putUser},
	{"DELETE /user/{user_id}", roles("admin"), (*app).deleteUser},
	{"PATCH /user/password", roles("admin", "manager", "support"), (*app).changeOwnPassword},
	{"PATCH /user/{user_id}/contacts", roles("admin", "manager"), (*app).patchContacts},
	{"PATCH /user/{user_id}/password", roles("admin"), (*app).setUserPassword},
	{"PATCH /user/{user_id}/username", roles("admin"), (*app).patchUsername},
	{"PATCH /user/{user_id}/role", roles("admin"), (*app).patchRole},
	{"PATCH /user/{user_id}/disabled", roles("admin", "manager"), (*app).patchDisabled},
	{"PATCH /user/{user_id}/login_denied", roles("admin", "manager"), (*app).patchLoginDenied},

	{"POST /employee/", roles("admin", "manager"), (*app).createEmployee},
	{"GET /employee/", roles("admin", "manager", "support"), (*app).listEmployees},
	{"GET /employee/{employee_id}", roles("admin", "manager", "support"), (*app).getEmployee},
	{"PUT /employee/{employee_id}", roles("admin", "manager"), (*app).putEmployee},
	{"DELETE /employee/{employee_id}", roles("admin", "manager"), (*app).deleteEmployee},

	{"POST /ticket/{employee_id}", roles("admin", "manager", "support"), (*app).createTicket},
	{"GET /ticket/", roles("admin", "manager", "support"), (*app).listTickets},
	{"GET /ticket/my/", roles("admin", "manager", "support"), (*app).listMyTickets},
	{"GET /ticket/{ticket_id}", roles("admin", "manager", "support"), (*app).getTicket},
	{"PUT /ticket/{ticket_id}", roles("admin", "manager"), (*app).putTicket},
	{"DELETE /ticket/{ticket_id}", roles("admin", "manager"), (*app).deleteTicket},

	{"GET /audit/", roles("admin"), (*app).listAudit},
}

// route is one line of routeTable.
type route struct {
	pattern string // "METHOD /path", under the root path
	access  access
	handler func(a *app, w http.ResponseWriter, r *http.Request, caller *User)
}

// routes registers routeTable, each route behind guarded, and the catch-all
// that answers what no route matches.
func (a *app) routes() {
	a.mux.HandleFunc("/", a.noRoute)
	for _, rt := range routeTable {
		a.handle(rt.pattern, a.guarded(rt))
	}
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

// errServerStopping answers a login still waiting for a hashing slot when
// the server stops; stoppingRetryAfter (seconds) is about how long a
// restart takes.
const (
	errServerStopping  failure = "server_shutting_down"
	stoppingRetryAfter         = 5
)

// turnAwayAtStop answers a password check that found the server stopping
// before a hashing slot was free.
func (a *app) turnAwayAtStop(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", fmt.Sprint(stoppingRetryAfter))
	w.Header().Set("Connection", "close")
	a.fail(w, r, errServerStopping)
}

// POST /token: OAuth2 password grant, form-encoded.
func (a *app) login(w http.ResponseWriter, r *http.Request, _ *User) {
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

	if len(username) > a.longestUsername {
		a.metrics.login("unknown_user")
		a.fail(w, r, errIncorrectLogin) // no user has so long a name: refused before any work
		return
	}
	client := requestInfoOf(r).client
	wait, holdBack := a.throttle.admit(username, client) // counted as a failure until the password proves right
	if wait > 0 {
		a.loginOutcome(r, "login.throttled", a.userNamed(r, username))
		a.metrics.login("throttled")
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		a.fail(w, r, errTooManyFailures)
		return
	}
	u, err := a.store.UserByUsername(r.Context(), username)
	if err != nil && !errors.Is(err, errUserNotFound) {
		a.throttle.release(username, client)
		a.fail(w, r, err)
		return
	}
	var hash string
	if u != nil {
		hash = u.hashedPassword
	}
	ok, outdated, err := a.hasher.Verify(r.Context(), hash, password) // an unknown user takes as long as a wrong password
	if err != nil {                                                   // no hashing slot was had, so nothing was checked
		a.throttle.release(username, client)
		if errors.Is(err, errStopping) {
			a.turnAwayAtStop(w, r)
		}
		return // else the client went away while its login waited for a hashing slot
	}
	if !ok {
		outcome := "unknown_user"
		if u != nil {
			outcome = "wrong_password"
		}
		a.loginOutcome(r, "login."+outcome, u)
		a.metrics.login(outcome)
		if holdBack > 0 {
			select { // slow down a guesser, but not past the client's patience
			case <-time.After(holdBack):
			case <-r.Context().Done():
			}
		}
		a.fail(w, r, errIncorrectLogin)
		return
	}
	a.throttle.succeeded(username, client)
	if u.LoginDenied {
		a.loginOutcome(r, "login.denied", u)
		a.metrics.login("login_denied")
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
	if err := a.loginOutcome(r, "login.ok", u); err != nil {
		a.fail(w, r, err) // no token is handed out that the trail does not know of
		return
	}
	a.metrics.login("ok")
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

// GET /me: the caller, even a disabled one.
func (a *app) me(w http.ResponseWriter, r *http.Request, caller *User) {
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
	a.replyResource(w, r, u, err)
}

// GET /user/?skip=&limit=&after_id=, and the filters and sort of lists.go
func (a *app) listUsers(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	p := q.page()
	l := q.userFilters()
	if !q.valid() {
		return
	}
	if l.given {
		users, err := a.store.FindUsers(r.Context(), l, p.peek())
		replyPage(a, w, r, l, p, "users", users, err, userSortValues)
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
	a.replyResource(w, r, u, err)
}

// GET /user/username/{username}
func (a *app) getUserByUsername(w http.ResponseWriter, r *http.Request, caller *User) {
	u, err := a.store.UserByUsername(r.Context(), r.PathValue("username"))
	a.replyResource(w, r, u, err)
}

// GET /user/phone/{phone}
func (a *app) getUserByPhone(w http.ResponseWriter, r *http.Request, caller *User) {
	u, err := a.store.UserByPhone(r.Context(), r.PathValue("phone"))
	a.replyResource(w, r, u, err)
}

// GET /user/email/{email}: any case of the address's letters.
func (a *app) getUserByEmail(w http.ResponseWriter, r *http.Request, caller *User) {
	u, err := a.store.UserByEmail(r.Context(), r.PathValue("email"))
	a.replyResource(w, r, u, err)
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
	u, err := a.store.UpdateUser(ifMatch(r, userNow, id), id, adminGuard(caller, func(u *User) error {
		u.Username, u.FirstName, u.LastName, u.Phone, u.Email = in.Username, in.FirstName, in.LastName, in.Phone, in.Email
		if in.disabledGiven {
			u.Disabled = in.Disabled
		}
		if in.loginDeniedGiven {
			u.LoginDenied = in.LoginDenied
		}
		return setRoles(u, in.Role)
	}))
	a.replyResource(w, r, u, err)
}

// setRoles gives u the roles, refusing a name that is not a role.
func setRoles(u *User, roles []string) error {
	if _, bad := unknownRole(roles); bad {
		return errUnknownRole
	}
	u.Role = roles
	return nil
}

// mayTouch refuses a caller without the admin role any user who holds it:
// only an admin may change or delete an admin account.
func mayTouch(caller, target *User) error {
	if slices.Contains(target.Role, "admin") && !slices.Contains(caller.Role, "admin") {
		return errNotEnoughPermissions
	}
	return nil
}

// adminGuard wraps a change to a user in mayTouch, before the change (no
// admin account is changed by a non-admin) and after it (nor made one).
func adminGuard(caller *User, change func(*User) error) func(*User) error {
	return func(u *User) error {
		if err := mayTouch(caller, u); err != nil {
			return err
		}
		if err := change(u); err != nil {
			return err
		}
		return mayTouch(caller, u)
	}
}

// PATCH /user/{user_id}/contacts: names, phone and email.
func (a *app) patchContacts(w http.ResponseWriter, r *http.Request, caller *User) {
	a.patchUser(w, r, caller, func(in *input) func(*User) error {
		c := readContacts(in)
		return func(u *User) error {
			u.FirstName, u.LastName, u.Phone, u.Email = c.FirstName, c.LastName, c.Phone, c.Email
			return nil
		}
	})
}

// PATCH /user/{user_id}/username
func (a *app) patchUsername(w http.ResponseWriter, r *http.Request, caller *User) {
	a.patchUser(w, r, caller, func(in *input) func(*User) error {
		name := readUsername(in)
		return func(u *User) error { u.Username = name; return nil }
	})
}

// PATCH /user/{user_id}/role
func (a *app) patchRole(w http.ResponseWriter, r *http.Request, caller *User) {
	a.patchUser(w, r, caller, func(in *input) func(*User) error {
		roles := in.roles("role")
		return func(u *User) error { return setRoles(u, roles) }
	})
}

// PATCH /user/{user_id}/disabled
func (a *app) patchDisabled(w http.ResponseWriter, r *http.Request, caller *User) {
	a.patchUser(w, r, caller, func(in *input) func(*User) error {
		disabled, _ := in.boolean("disabled", true)
		return func(u *User) error { u.Disabled = disabled; return nil }
	})
}

// PATCH /user/{user_id}/login_denied
func (a *app) patchLoginDenied(w http.ResponseWriter, r *http.Request, caller *User) {
	a.patchUser(w, r, caller, func(in *input) func(*User) error {
		denied, _ := in.boolean("login_denied", true)
		return func(u *User) error { u.LoginDenied = denied; return nil }
	})
}

// patchUser runs a PATCH /user/{user_id}/... route: read reads the body
// and returns the change to make once the user is loaded (and adminGuard
// allows it).
func (a *app) patchUser(w http.ResponseWriter, r *http.Request, caller *User, read func(in *input) func(*User) error) {
	q := a.parse(w, r)
	id := q.id("user_id")
	change := read(q.body())
	if !q.valid() {
		return
	}
	u, err := a.store.UpdateUser(ifMatch(r, userNow, id), id, adminGuard(caller, change))
	a.replyResource(w, r, u, err)
}

// DELETE /user/{user_id}
func (a *app) deleteUser(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("user_id")
	if !q.valid() {
		return
	}
	err := a.store.DeleteUser(ifMatch(r, userNow, id), id, func(u *User) error { return mayTouch(caller, u) })
	a.reply(w, r, a.message("user_deleted_successfully"), err)
}

// PATCH /user/password: the caller's own password. current_password, when
// given (always, with require_current_password), must be the one in force.
func (a *app) changeOwnPassword(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	in := q.body()
	password := in.password("password")
	current, given := readCurrentPassword(in, a.cfg.RequireCurrentPassword)
	if !q.valid() {
		return
	}
	if given && !a.currentPasswordMatches(w, r, caller, current) {
		return
	}
	a.setPassword(w, r, caller, caller.ID, password)
}

// currentPasswordMatches tells whether current is the caller's password,
// and answers when it is not. A wrong one counts as a failed login of the
// caller from this client, so a stolen token gives no way around the login
// throttle to guess the password it would need.
func (a *app) currentPasswordMatches(w http.ResponseWriter, r *http.Request, caller *User, current string) bool {
	client := requestInfoOf(r).client
	if wait, _ := a.throttle.admit(caller.Username, client); wait > 0 {
		a.loginOutcome(r, "login.throttled", caller)
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		a.fail(w, r, errTooManyFailures)
		return false
	}
	ok, _, err := a.hasher.Verify(r.Context(), caller.hashedPassword, current)
	switch {
	case err != nil: // no hashing slot was had: nothing was guessed
		a.throttle.release(caller.Username, client)
		if errors.Is(err, errStopping) {
			a.turnAwayAtStop(w, r)
		}
	case ok:
		a.throttle.succeeded(caller.Username, client)
	default:
		a.loginOutcome(r, "password.check_failed", caller)
		a.fail(w, r, errIncorrectLogin)
	}
	return ok
}

// PATCH /user/{user_id}/password
func (a *app) setUserPassword(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("user_id")
	password := q.body().password("password")
	if !q.valid() {
		return
	}
	a.setPassword(w, r, caller, id, password)
}

// setPassword gives user id a new password (which ends every token issued
// under the old one), if adminGuard allows the caller to.
func (a *app) setPassword(w http.ResponseWriter, r *http.Request, caller *User, id int64, password string) {
	hash, err := a.hasher.Hash(password)
	if err == nil {
		_, err = a.store.UpdateUser(ifMatch(r, userNow, id), id, adminGuard(caller, func(u *User) error { u.hashedPassword = hash; return nil }))
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
	a.replyResource(w, r, created, err)
}

// GET /employee/?skip=&limit=&after_id=, and the filters and sort of lists.go
func (a *app) listEmployees(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	p := q.page()
	l := q.employeeFilters()
	if !q.valid() {
		return
	}
	if l.given { // not cached: the cache's key would have to be the whole query
		employees, err := a.store.FindEmployees(r.Context(), l, p.peek())
		replyPage(a, w, r, l, p, "employees", employees, err, employeeSortValues)
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
	body, tag, err := a.store.EmployeeAnswer(r.Context(), id)
	a.replyResourceEncoded(w, r, body, tag, err)
}

// PUT /employee/{employee_id}
func (a *app) putEmployee(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("employee_id")
	e := readEmployee(q.body())
	if !q.valid() {
		return
	}
	updated, err := a.store.UpdateEmployee(ifMatch(r, employeeNow, id), id, &e)
	a.replyResource(w, r, updated, err)
}

// DELETE /employee/{employee_id}
func (a *app) deleteEmployee(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("employee_id")
	if !q.valid() {
		return
	}
	err := a.store.DeleteEmployee(ifMatch(r, employeeNow, id), id)
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
	a.replyResource(w, r, created, err)
}

// GET /ticket/?skip=&limit=&after_id=, and the filters and sort of lists.go
func (a *app) listTickets(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	p := q.page()
	l := q.ticketFilters()
	if !q.valid() {
		return
	}
	if l.given {
		tickets, err := a.store.FindTickets(r.Context(), l, p.peek())
		replyPage(a, w, r, l, p, "tickets", tickets, err, ticketSortValues)
		return
	}
	tickets, err := a.store.ListTickets(r.Context(), p)
	a.reply(w, r, tickets, err)
}

// GET /ticket/my/?skip=&limit=&after_id=: the tickets the caller created.
func (a *app) listMyTickets(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	p := q.page()
	l := q.ticketFilters()
	if !q.valid() {
		return
	}
	if l.given {
		l.where("owner_id = ?", caller.ID)
		l.bounded = true
		tickets, err := a.store.FindTickets(r.Context(), l, p.peek())
		replyPage(a, w, r, l, p, "tickets", tickets, err, ticketSortValues)
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
	a.replyResource(w, r, t, err)
}

// PUT /ticket/{ticket_id}
func (a *app) putTicket(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("ticket_id")
	t := readTicket(q.body())
	if !q.valid() {
		return
	}
	updated, err := a.store.UpdateTicket(ifMatch(r, ticketNow, id), id, &t)
	a.replyResource(w, r, updated, err)
}

// DELETE /ticket/{ticket_id}
func (a *app) deleteTicket(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	id := q.id("ticket_id")
	if !q.valid() {
		return
	}
	err := a.store.DeleteTicket(ifMatch(r, ticketNow, id), id)
	a.reply(w, r, a.message("ticket_deleted_successfully"), err)
}
