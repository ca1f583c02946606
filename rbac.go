package main

// rbac.go: who may call which route (docs/api.md §2 and §3), checked in one
// wrapping handler, guarded.

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// defaultRouteRoles is docs/api.md §3: each route under the root path and the roles
// that may call it (a user needs any one of them). The config's "rbac" key
// can replace any route's list. Every route listed here must be registered
// with protect, and every route registered with protect must be listed: a
// test holds the two together.
var defaultRouteRoles = map[string][]string{
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

// routeRoles is the default map with the config's overrides applied.
func routeRoles(overrides map[string][]string) map[string][]string {
	roles := make(map[string][]string, len(defaultRouteRoles))
	for route, list := range defaultRouteRoles {
		roles[route] = list
	}
	for route, list := range overrides {
		roles[route] = list
	}
	return roles
}

// userHandler is a handler that runs for an authenticated caller.
type userHandler func(w http.ResponseWriter, r *http.Request, caller *User)

// guard is what a route asks of its caller.
type guard struct {
	active bool     // refuse a disabled user (every route but /me)
	scope  string   // a scope the token must carry
	roles  []string // the caller needs one of these; nil: no role check
}

// guarded is the one wrapping handler that runs docs/api.md §2's checks in order:
// bearer header, token, user, password in force, scope, disabled, roles.
// The first check that fails answers.
func (a *app) guarded(g guard, next userHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, c, err := a.authenticate(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		requestInfoOf(r).user = caller.Username
		if g.scope != "" && !slices.Contains(c.Scopes, g.scope) {
			w.Header().Set("WWW-Authenticate", `Bearer scope="`+g.scope+`"`)
			a.fail(w, r, errNotEnoughPermissions)
			return
		}
		if g.active && caller.Disabled {
			a.fail(w, r, errUserDisabled)
			return
		}
		if g.roles != nil && !slices.ContainsFunc(caller.Role, func(role string) bool { return slices.Contains(g.roles, role) }) {
			a.fail(w, r, errNotEnoughPermissions)
			return
		}
		next(w, r, caller)
	})
}

// protect registers a route of the RBAC table: an active caller holding one
// of the route's roles.
func (a *app) protect(route string, h userHandler) {
	roles, ok := a.roles[route]
	if !ok {
		panic("rbac: route " + route + " is not in defaultRouteRoles")
	}
	a.handle(route, a.guarded(guard{active: true, roles: roles}, h))
}

const (
	errNotAuthenticated     failure = "not_authenticated"
	errCouldNotValidate     failure = "could_not_validate_credentials"
	errTokenHasExpired      failure = "token_has_expired"
	errIncorrectLogin       failure = "incorrect_user_name_or_password"
	errUserDisabled         failure = "user_disabled"
	errUserLoginDenied      failure = "user_login_denied"
	errNotEnoughPermissions failure = "not_enough_permissions"
	errTooManyFailures      failure = "too_many_failed_login_attempts"
)

// authenticate finds the caller from the bearer token.
func (a *app) authenticate(r *http.Request) (*User, *claims, error) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, nil, errNotAuthenticated
	}
	c, err := a.tokens.parse(raw)
	if errors.Is(err, errTokenExpired) {
		return nil, nil, errTokenHasExpired
	} else if err != nil {
		return nil, nil, errCouldNotValidate
	}
	u, err := a.store.AuthUser(r.Context(), c.Subject)
	if errors.Is(err, errUserNotFound) {
		return nil, nil, errIncorrectLogin
	} else if err != nil {
		return nil, nil, err
	}
	if !a.tokens.matches(c, u) {
		return nil, nil, errCouldNotValidate // the password changed after the token was issued
	}
	return u, c, nil
}
