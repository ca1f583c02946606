package main

// models.go: the three resources, their JSON shapes, and the validation
// rules of docs/api.md §4. Every rule is one line of a rules function below, so the
// rules can be read next to the spec's tables.

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// User is a user as the API shows it: never with its password hash.
type User struct {
	ID          int64    `json:"id"`
	Username    string   `json:"username"`
	FirstName   string   `json:"first_name"`
	LastName    string   `json:"last_name"`
	Phone       string   `json:"phone"`
	Email       string   `json:"email"`
	Role        []string `json:"role"`
	Disabled    bool     `json:"disabled"`
	LoginDenied bool     `json:"login_denied"`
	Created     string   `json:"created"`
	Updated     *string  `json:"updated"`

	hashedPassword string // loaded for login and token checks, never encoded
}

// Employee is a person tickets are about, with all of their tickets.
type Employee struct {
	ID        int64    `json:"id"`
	FirstName string   `json:"first_name"`
	LastName  string   `json:"last_name"`
	NickName  string   `json:"nick_name"`
	Phone     string   `json:"phone"`
	Email     string   `json:"email"`
	Birthday  string   `json:"birthday"`
	Country   string   `json:"country"`
	City      string   `json:"city"`
	Address   string   `json:"address"`
	Created   string   `json:"created"`
	Updated   *string  `json:"updated"`
	Tickets   []Ticket `json:"tickets"`
}

// Ticket is a support ticket about an employee, created by a user (its owner).
type Ticket struct {
	ID          int64   `json:"id"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	Status      string  `json:"status"`
	OwnerID     int64   `json:"owner_id"`
	EmployeeID  int64   `json:"employee_id"`
	Created     string  `json:"created"`
	Updated     *string `json:"updated"`
}

// knownRoles are the only role names a user can hold.
var knownRoles = []string{"admin", "manager", "support"}

// The patterns of docs/api.md §4. Lengths are checked apart from the patterns (in
// runes), as pydantic does, so each pattern only says which characters.
// openapi.json carries the same strings; a test keeps the two equal.
const (
	patternASCIILetters = `^[A-Za-z]+$`
	patternNameLetters  = `^[\p{L} '’-]+$`
	patternPhone        = `^\+[0-9]+$`
	patternEmail        = `^[\p{L}0-9._%+-]+@([\p{L}0-9]([\p{L}0-9-]*[\p{L}0-9])?\.)+\p{L}{2,}$`
	patternDate         = `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	patternAddress      = `^[\p{L}0-9 ,.:/#'’-]+$`
	patternTicketText   = `^[\p{L}0-9 #'’-]+$`
	patternDescription  = `^[\p{L}0-9 #'’.-]+$`
	patternGrantType    = `^password$`
	patternAuditTarget  = `^(user|employee|ticket)(:[0-9]{1,18})?$` // GET /audit/'s target
	patternAuditAction  = `^[a-z_]+\.[a-z_]+$`                      // GET /audit/'s action
	passwordSpecials    = "!@#$%^&*"
)

// compiled holds every pattern above, compiled once at start.
var compiled = func() map[string]*regexp.Regexp {
	res := map[string]*regexp.Regexp{}
	for _, p := range []string{patternASCIILetters, patternNameLetters, patternPhone, patternEmail,
		patternDate, patternAddress, patternTicketText, patternDescription, patternGrantType,
		patternAuditTarget, patternAuditAction} {
		res[p] = regexp.MustCompile(p)
	}
	return res
}()

// pattern is the compiled form of one of the pattern constants.
func pattern(p string) *regexp.Regexp { return compiled[p] }

// fieldError is one entry of a 422 validation answer, in FastAPI's shape.
type fieldError struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// validationError is every problem found in one request, answered as a 422.
type validationError []fieldError

func (v validationError) Error() string { return fmt.Sprintf("%d validation problems", len(v)) }

// input reads the fields of one JSON object body and collects every problem
// it finds, so a client learns all of them from one answer.
type input struct {
	fields map[string]json.RawMessage
	errs   validationError
	dead   bool // the body was no JSON object: its problem is reported once, fields read as empty
}

// newInput decodes a body that must be one JSON object, in one pass; only
// a body that is valid JSON but no object is decoded again, to show it.
func newInput(body []byte) (*input, validationError) {
	in := &input{}
	err := json.Unmarshal(body, &in.fields)
	var notObject *json.UnmarshalTypeError
	switch {
	case errors.As(err, &notObject) || err == nil && in.fields == nil: // an array, a string, a number, null
		return nil, validationError{{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract attributes from", Input: decoded(body)}}
	case err != nil:
		return nil, validationError{{Type: "json_invalid", Loc: []any{"body", 0},
			Msg: "JSON decode error: " + err.Error(), Input: map[string]any{}}}
	}
	return in, nil
}

func (in *input) add(typ, field, msg string, value any, ctx map[string]any) {
	in.errs = append(in.errs, fieldError{Type: typ, Loc: []any{"body", field}, Msg: msg, Input: value, Ctx: ctx})
}

// raw returns the field's JSON value, or reports it missing when required.
// A JSON null counts as absent.
func (in *input) raw(field string, required bool) (json.RawMessage, bool) {
	v, ok := in.fields[field]
	if ok && string(v) != "null" {
		return v, true
	}
	if required && !in.dead {
		in.add("missing", field, "Field required", nil, nil)
	}
	return nil, false
}

// decoded is the JSON value as a client would read it, for the "input" key.
func decoded(v json.RawMessage) any {
	var x any
	_ = json.Unmarshal(v, &x)
	return x
}

// text checks a required string: its type, its length in runes, then its pattern.
// Like pydantic, it reports only the first problem of each field.
func (in *input) text(field string, min, max int, pat string) string {
	v, ok := in.raw(field, true)
	if !ok {
		return ""
	}
	var s string
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		in.add("string_type", field, "Input should be a valid string", decoded(v), nil)
		return ""
	}
	if problem := checkText(s, min, max, pat); problem != nil {
		problem.Loc = []any{"body", field}
		in.errs = append(in.errs, *problem)
	}
	return s
}

// checkText applies a length range and a pattern to one string; nil means valid.
func checkText(s string, min, max int, pat string) *fieldError {
	n := utf8.RuneCountInString(s)
	switch {
	case n < min:
		return &fieldError{Type: "string_too_short", Input: s, Ctx: map[string]any{"min_length": min},
			Msg: fmt.Sprintf("String should have at least %d character%s", min, plural(min))}
	case n > max:
		return &fieldError{Type: "string_too_long", Input: s, Ctx: map[string]any{"max_length": max},
			Msg: fmt.Sprintf("String should have at most %d character%s", max, plural(max))}
	case pat != "" && !pattern(pat).MatchString(s):
		return &fieldError{Type: "string_pattern_mismatch", Input: s, Ctx: map[string]any{"pattern": pat},
			Msg: fmt.Sprintf("String should match pattern '%s'", pat)}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// boolean reads a boolean field; present is false when it was absent (or null).
func (in *input) boolean(field string, required bool) (value, present bool) {
	v, ok := in.raw(field, required)
	if !ok {
		return false, false
	}
	if string(v) != "true" && string(v) != "false" {
		in.add("bool_type", field, "Input should be a valid boolean", decoded(v), nil)
		return false, false
	}
	return string(v) == "true", true
}

// roles reads a list of role names: duplicates removed, sorted. Whether each
// name is a known role is decided later (404 Unknown role, as the original did).
func (in *input) roles(field string) []string {
	v, ok := in.raw(field, true)
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &items) != nil {
		in.add("list_type", field, "Input should be a valid list", decoded(v), nil)
		return nil
	}
	roles := []string{}
	for i, item := range items {
		var s string
		if item[0] != '"' || json.Unmarshal(item, &s) != nil {
			in.errs = append(in.errs, fieldError{Type: "string_type", Loc: []any{"body", field, i},
				Msg: "Input should be a valid string", Input: decoded(item)})
			continue
		}
		roles = append(roles, s)
	}
	slices.Sort(roles)
	return slices.Compact(roles)
}

// passedText is text that also tells whether the value passed its checks,
// so a rule that comes after them runs only on a well-formed string.
func (in *input) passedText(field string, min, max int, pat string) (string, bool) {
	before := len(in.errs)
	s := in.text(field, min, max, pat)
	_, present := in.fields[field]
	return s, present && !in.dead && len(in.errs) == before
}

// date reads a real calendar date YYYY-MM-DD (no 30 February).
func (in *input) date(field string) string {
	s, ok := in.passedText(field, 10, 10, patternDate)
	if !ok {
		return s
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		in.add("date_parsing", field, "Input should be a valid date in the format YYYY-MM-DD", s, nil)
	}
	return s
}

// password reads a new password: 8–64 runes with an upper-case letter, a
// lower-case letter, a digit and one of !@#$%^&*.
func (in *input) password(field string) string {
	s, ok := in.passedText(field, 8, 64, "")
	if !ok {
		return s
	}
	if problem := passwordProblem(s); problem != "" {
		in.add("value_error", field, "Value error, "+problem, s, nil)
	}
	return s
}

func passwordProblem(s string) string {
	checks := []struct {
		ok   func(rune) bool
		what string
	}{
		{unicode.IsUpper, "an upper-case letter"},
		{unicode.IsLower, "a lower-case letter"},
		{func(r rune) bool { return r >= '0' && r <= '9' }, "a digit"},
		{func(r rune) bool { return strings.ContainsRune(passwordSpecials, r) }, "one of " + passwordSpecials},
	}
	for _, c := range checks {
		if !strings.ContainsFunc(s, c.ok) {
			return "Password must contain at least " + c.what
		}
	}
	return ""
}

// The rules of docs/api.md §4, one line per field.

func readUsername(in *input) string { return in.text("username", 5, 16, patternASCIILetters) }
func readName(in *input, f string) string {
	return in.text(f, 2, 16, patternNameLetters)
}
func readPhone(in *input) string { return in.text("phone", 10, 20, patternPhone) }
func readEmail(in *input) string { return in.text("email", 8, 64, patternEmail) }

// readCurrentPassword reads current_password of PATCH /user/password: any
// string a password can be (it is compared, not judged), required or not.
func readCurrentPassword(in *input, required bool) (password string, given bool) {
	if _, present := in.raw("current_password", required); !present {
		return "", false
	}
	return in.text("current_password", 1, 64, ""), true
}

// userInput is the body of POST /user/ and PUT /user/{id}.
type userInput struct {
	User
	Password         string
	disabledGiven    bool
	loginDeniedGiven bool
}

func readUser(in *input, withPassword bool) userInput {
	var u userInput
	u.Username = readUsername(in)
	u.FirstName = readName(in, "first_name")
	u.LastName = readName(in, "last_name")
	u.Phone = readPhone(in)
	u.Email = readEmail(in)
	u.Role = in.roles("role")
	u.Disabled, u.disabledGiven = in.boolean("disabled", false)
	u.LoginDenied, u.loginDeniedGiven = in.boolean("login_denied", false)
	if withPassword {
		u.Password = in.password("password")
	}
	return u
}

func readContacts(in *input) User {
	return User{
		FirstName: readName(in, "first_name"),
		LastName:  readName(in, "last_name"),
		Phone:     readPhone(in),
		Email:     readEmail(in),
	}
}

func readEmployee(in *input) Employee {
	return Employee{
		FirstName: readName(in, "first_name"),
		LastName:  readName(in, "last_name"),
		NickName:  in.text("nick_name", 3, 16, patternASCIILetters),
		Phone:     readPhone(in),
		Email:     readEmail(in),
		Birthday:  in.date("birthday"),
		Country:   in.text("country", 3, 32, patternNameLetters),
		City:      in.text("city", 3, 32, patternNameLetters),
		Address:   in.text("address", 16, 64, patternAddress),
	}
}

func readTicket(in *input) Ticket {
	return Ticket{
		Title:       in.text("title", 8, 32, patternTicketText),
		Description: in.text("description", 8, 64, patternDescription),
		Status:      in.text("status", 3, 16, patternTicketText),
	}
}

// unknownRole returns the first role name that is not one of knownRoles.
func unknownRole(roles []string) (string, bool) {
	for _, r := range roles {
		if !slices.Contains(knownRoles, r) {
			return r, true
		}
	}
	return "", false
}

// parseInt reads an integer from a path or query value; an out-of-range
// integer is a validation problem, not a crash.
func parseInt(where, name, value string) (int64, *fieldError) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, &fieldError{Type: "int_parsing", Loc: []any{where, name}, Input: value,
			Msg: "Input should be a valid integer, unable to parse string as an integer"}
	}
	return n, nil
}
