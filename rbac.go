package main

// rbac.go: who may call which route (docs/api.md §2 and §3). Each route's
// access is a column of routeTable in handlers.go; guarded is the one
// wrapping handler that checks it.

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// access is what a route asks of its caller.
type access struct {
	public bool     // no token needed; the handler gets no caller
	active bool     // refuse a disabled user (every route but GET /me)
	scope  string   // a scope the token must carry
	roles  []string // the caller needs one of these; nil: any role
}

var (
	public     = access{public: true}
	anyUser    = access{}             // any valid token, even a disabled user's
	activeUser = access{active: true} // a valid token of a user who is not disabled
)

// withScope is an active user whose token carries scope.
func withScope(scope string) access { return access{active: true, scope: scope} }

// roles is an active user holding one of the named roles: a line of the
// role table (docs/api.md §3).
func roles(names ...string) access { return access{active: true, roles: names} }

// routeRoles is the role table: each route of routeTable that checks roles,
// with the roles the config's "rbac" key gives it instead, if any.
func routeRoles(overrides map[string][]string) map[string][]string {
	table := map[string][]string{}
	for _, rt := range routeTable {
		if rt.access.roles != nil {
			table[rt.pattern] = rt.access.roles
		}
	}
	for route, list := range overrides {
		table[route] = list
	}
	return table
}

// guarded is the one wrapping handler that runs docs/api.md §2's checks in
// order: bearer header, token, user, password in force, the caller's rate
// (ratelimit.go; before login, the client address's), scope, disabled,
// roles. The first check that fails answers.
func (a *app) guarded(rt route) http.Handler {
	need := rt.access
	if need.roles != nil {
		need.roles = a.roles[rt.pattern] // the config may have changed them
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if need.public {
			if a.admit(w, r, nil) {
				rt.handler(a, w, r, nil)
			}
			return
		}
		caller, c, err := a.authenticate(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		requestInfoOf(r).user = caller.Username
		requestInfoOf(r).userID = caller.ID
		if !a.admit(w, r, caller) {
			return
		}
		if need.scope != "" && !slices.Contains(c.Scopes, need.scope) {
			w.Header().Set("WWW-Authenticate", `Bearer scope="`+need.scope+`"`)
			a.fail(w, r, errNotEnoughPermissions)
			return
		}
		if need.active && caller.Disabled {
			a.fail(w, r, errUserDisabled)
			return
		}
		if need.roles != nil && !slices.ContainsFunc(caller.Role, func(role string) bool { return slices.Contains(need.roles, role) }) {
			a.fail(w, r, errNotEnoughPermissions)
			return
		}
		rt.handler(a, w, r, caller)
	})
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
		a.loginOutcome(r, "token.refused", u)
		return nil, nil, errCouldNotValidate // the password changed after the token was issued
	}
	return u, c, nil
}
