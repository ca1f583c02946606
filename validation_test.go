package main

// validation_test.go pins docs/api.md §4 (validation rules), §5 (routes and their
// answers) and §6 (validation error shapes) end to end, through the HTTP
// server. Every rule of §4 is a table of cases below, at and above each
// bound; one runner sends each case through every route that takes the
// field and checks the answer and that a refused request wrote nothing.

import (
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// ---- Small helpers of this file (prefixed val, to stay out of other files' way) ----

// valServer starts a test server with one admin caller.
func valServer(t *testing.T) (*testServer, *User, string) {
	t.Helper()
	ts := newTestServer(t)
	admin, tok := ts.userWithToken("valadmin", "admin")
	return ts, admin, tok
}

// valFor is ts reporting to t: a subtest must fail itself, not its parent.
func valFor(ts *testServer, t testing.TB) *testServer {
	c := *ts
	c.t = t
	return &c
}

// valLetters makes a name of ASCII letters unique to n.
func valLetters(prefix string, n int) string {
	b := []byte(prefix)
	for i := 0; i < 4; i++ {
		b = append(b, byte('a'+n%26))
		n /= 26
	}
	return string(b)
}

func valRep(s string, n int) string { return strings.Repeat(s, n) }

func valJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// valCount is the number of rows of a table, read straight from the database.
func valCount(ts *testServer, table string) int {
	ts.t.Helper()
	var n int
	if err := ts.store.read.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		ts.t.Fatal(err)
	}
	return n
}

// valIDs are the ids of a table's rows matching where, ascending.
func valIDs(ts *testServer, table, where string, args ...any) []int64 {
	ts.t.Helper()
	rows, err := ts.store.read.QueryContext(context.Background(), "SELECT id FROM "+table+" "+where+" ORDER BY id", args...)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			ts.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// valPasswordState is a user's hash and updated time, read from the database.
func valPasswordState(ts *testServer, id int64) string {
	ts.t.Helper()
	var s string
	err := ts.store.read.QueryRowContext(context.Background(),
		"SELECT hashed_password || '|' || COALESCE(updated, '') FROM users WHERE id = ?", id).Scan(&s)
	if err != nil {
		ts.t.Fatal(err)
	}
	return s
}

// valSnapshot is every row of every table, read straight from the
// database: a refused request must leave it as it was.
func valSnapshot(ts *testServer) string {
	ts.t.Helper()
	var b strings.Builder
	for _, table := range []string{"users", "employees", "tickets"} {
		rows, err := ts.store.read.QueryContext(context.Background(), "SELECT * FROM "+table+" ORDER BY id")
		if err != nil {
			ts.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				ts.t.Fatal(err)
			}
			fmt.Fprintln(&b, append([]any{table}, vals...)...)
		}
		rows.Close()
	}
	return b.String()
}

func valPick(obj map[string]any, keys ...string) map[string]any {
	m := map[string]any{}
	for _, k := range keys {
		m[k] = obj[k]
	}
	return m
}

func valID(obj map[string]any) int64 {
	f, _ := obj["id"].(float64)
	return int64(f)
}

var (
	valUserKeys     = []string{"id", "username", "first_name", "last_name", "phone", "email", "role", "disabled", "login_denied", "created", "updated"}
	valEmployeeKeys = []string{"id", "first_name", "last_name", "nick_name", "phone", "email", "birthday", "country", "city", "address", "created", "updated", "tickets"}
	valTicketKeys   = []string{"id", "title", "description", "status", "owner_id", "employee_id", "created", "updated"}
	valUserInput    = []string{"username", "first_name", "last_name", "phone", "email", "role"}
	valEmployeeIn   = []string{"first_name", "last_name", "nick_name", "phone", "email", "birthday", "country", "city", "address"}
	valTicketIn     = []string{"title", "description", "status"}
)

// valKeys fails unless obj has exactly these keys.
func valKeys(t testing.TB, what string, obj map[string]any, keys []string) {
	t.Helper()
	got := make([]string, 0, len(obj))
	for k := range obj {
		got = append(got, k)
	}
	want := slices.Clone(keys)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s has keys %v, want exactly %v", what, got, want)
	}
}

var valStampRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$`)

// valStamp fails unless v is a "YYYY-MM-DD HH:MM:SS" UTC time of about now.
func valStamp(t testing.TB, what string, v any) {
	t.Helper()
	s, ok := v.(string)
	if !ok || !valStampRe.MatchString(s) {
		t.Errorf("%s = %#v, want a YYYY-MM-DD HH:MM:SS string", what, v)
		return
	}
	at, err := time.Parse(time.DateTime, s)
	if err != nil {
		t.Errorf("%s = %q: %v", what, s, err)
		return
	}
	if d := time.Since(at); d < -time.Minute || d > time.Minute {
		t.Errorf("%s = %q is %v away from now (UTC)", what, s, d)
	}
}

// valUserObject checks the shape of a user in an answer.
func valUserObject(t testing.TB, obj map[string]any) {
	t.Helper()
	valKeys(t, "user", obj, valUserKeys)
	valStamp(t, "user created", obj["created"])
	if r, ok := obj["role"].([]any); !ok || !slices.IsSortedFunc(r, func(a, b any) int { return strings.Compare(a.(string), b.(string)) }) {
		t.Errorf("role %v is not a sorted list", obj["role"])
	}
}

// valNoSecrets fails when an answer mentions a password.
func valNoSecrets(t testing.TB, res *response) {
	t.Helper()
	if strings.Contains(string(res.body), "hashed_password") || strings.Contains(string(res.body), `"password"`) ||
		strings.Contains(string(res.body), "$argon2") || strings.Contains(string(res.body), "$2b$") {
		t.Errorf("answer shows a password or its hash: %s", res.body)
	}
}

// valExact fails unless the answer is exactly this JSON object.
func valExact(t testing.TB, res *response, status int, want map[string]any) {
	t.Helper()
	res.expect(status)
	if got := res.obj(); valJSON(got) != valJSON(want) {
		t.Errorf("body %s, want exactly %s", res.body, valJSON(want))
	}
}

// valWant is one expected entry of a 422 validation answer.
type valWant struct {
	typ string
	loc []any
}

// String names the entry. A json_invalid entry's loc is ["body", <position
// of the error>] in FastAPI, so only its first element is compared.
func (w valWant) String() string {
	loc := w.loc
	if w.typ == "json_invalid" && len(loc) == 2 {
		loc = []any{loc[0], "<position>"}
	}
	return w.typ + " at " + valJSON(loc)
}

// valProblems fails unless res is a 422 validation answer with exactly these
// entries (in any order), each with a message.
func valProblems(t testing.TB, res *response, want ...valWant) []fieldError {
	t.Helper()
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", res.status, res.body)
	}
	problems := res.problems()
	var got, exp []string
	for _, p := range problems {
		got = append(got, valWant{p.Type, p.Loc}.String())
		if p.Msg == "" {
			t.Errorf("entry %s has no msg", valWant{p.Type, p.Loc})
		}
	}
	for _, w := range want {
		exp = append(exp, w.String())
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Fatalf("problems %v, want exactly %v\nbody %s", got, exp, res.body)
	}
	return problems
}

// valOneProblem fails unless res is a 422 with exactly one entry.
func valOneProblem(t testing.TB, res *response, typ string, loc ...any) fieldError {
	t.Helper()
	return valProblems(t, res, valWant{typ, loc})[0]
}

// ---- The rules of §4 as tables of cases ----

// valCase is one value sent for a field.
type valCase struct {
	name  string
	value any    // valAbsent: the field is left out of the body
	want  string // "" when accepted, else the type of the 422 entry
	echo  any    // the value answered when accepted, when it differs from value
	loc   []any  // the entry's loc, when not ["body", field]
}

type valAbsentT struct{}

var valAbsent = valAbsentT{}

// valField is a field with its length bounds and its cases.
type valField struct {
	name     string
	min, max int
	cases    []valCase
}

func valOK(name string, v any) valCase              { return valCase{name: name, value: v} }
func valBad(name string, v any, typ string) valCase { return valCase{name: name, value: v, want: typ} }

// The usual entry types of a refused string.
const (
	short    = "string_too_short"
	long     = "string_too_long"
	mismatch = "string_pattern_mismatch"
)

// valStringCases adds the cases every required string field shares: no
// coercion from other JSON types, null and absent are missing.
func valStringCases(cases ...valCase) []valCase {
	return append(cases,
		valBad("number instead of string", 12345678, "string_type"),
		valBad("boolean instead of string", true, "string_type"),
		valBad("list instead of string", []string{"abcdefghij"}, "string_type"),
		valBad("object instead of string", map[string]any{"v": "abcdefghij"}, "string_type"),
		valBad("null", nil, "missing"),
		valBad("absent", valAbsent, "missing"))
}

func valUsernameField() valField {
	return valField{"username", 5, 16, valStringCases(
		valOK("5 letters (minimum)", "abcde"),
		valOK("16 letters (maximum)", "ABCDEfghijKLMNop"),
		valBad("4 letters", "abcd", short),
		valBad("empty", "", short),
		valBad("17 letters", "ABCDEfghijKLMNopq", long),
		valBad("non-ASCII letter Müller", "Müller", mismatch),
		valBad("5 non-ASCII letters", "ÄÖÜäö", mismatch),
		valBad("leading space", " abcde", mismatch),
		valBad("trailing space", "abcde ", mismatch),
		valBad("digit", "abcd1", mismatch),
		valBad("underscore", "ab_cde", mismatch),
		valBad("hyphen", "ab-cde", mismatch),
	)}
}

// valNameField: 2–16 name letters (first_name, last_name).
func valNameField(name string) valField {
	return valField{name, 2, 16, valStringCases(
		valOK("2 letters (minimum)", "Al"),
		valOK("16 letters (maximum)", "Abcdefghijklmnop"),
		valOK("16 two-byte letters (32 bytes)", valRep("ä", 16)),
		valOK("apostrophe O'Brien", "O'Brien"),
		valOK("typographic apostrophe O’Brien", "O’Brien"),
		valOK("hyphen Jean-Luc", "Jean-Luc"),
		valOK("umlaut Müller", "Müller"),
		valOK("Cyrillic Олена", "Олена"),
		valOK("space Anne Marie", "Anne Marie"),
		valOK("leading space is a name letter", " Anna"),
		valOK("trailing space is a name letter", "Anna "),
		valBad("1 letter", "A", short),
		valBad("1 two-byte letter (2 bytes)", "Ä", short),
		valBad("empty", "", short),
		valBad("17 letters", "Abcdefghijklmnopq", long),
		valBad("17 two-byte letters", valRep("ä", 17), long),
		valBad("digit Ann3", "Ann3", mismatch),
		valBad("underscore", "Ann_Lee", mismatch),
		valBad("dot", "Ann.", mismatch),
		valBad("comma", "Lee, Ann", mismatch),
		valBad("at sign", "Ann@Lee", mismatch),
	)}
}

// valPlaceField: 3–32 name letters (country, city).
func valPlaceField(name string) valField {
	return valField{name, 3, 32, valStringCases(
		valOK("3 letters (minimum)", "Ulm"),
		valOK("32 letters (maximum)", "Abcdefghijklmnopqrstuvwxyzabcdef"),
		valOK("32 two-byte letters", valRep("ü", 32)),
		valOK("apostrophe and space Côte d’Ivoire", "Côte d’Ivoire"),
		valOK("hyphen Guinea-Bissau", "Guinea-Bissau"),
		valOK("Cyrillic Київ", "Київ"),
		valBad("2 letters", "UK", short),
		valBad("2 two-byte letters (4 bytes)", "Üö", short),
		valBad("33 letters", "Abcdefghijklmnopqrstuvwxyzabcdefg", long),
		valBad("33 two-byte letters", valRep("ü", 33), long),
		valBad("digit", "Area 51", mismatch),
		valBad("dot", "St. Louis", mismatch),
		valBad("slash", "Zürich/ZH", mismatch),
	)}
}

func valNickField() valField {
	return valField{"nick_name", 3, 16, valStringCases(
		valOK("3 letters (minimum)", "Jue"),
		valOK("16 letters (maximum)", "Abcdefghijklmnop"),
		valBad("2 letters", "Ju", short),
		valBad("17 letters", "Abcdefghijklmnopq", long),
		valBad("non-ASCII letter", "Jüe", mismatch),
		valBad("non-ASCII Müller", "Müller", mismatch),
		valBad("digit", "Jue1", mismatch),
		valBad("space", "Jo Jo", mismatch),
		valBad("leading space", " Jue", mismatch),
		valBad("apostrophe", "O'Jue", mismatch),
	)}
}

func valPhoneField() valField {
	return valField{"phone", 10, 20, valStringCases(
		valOK("plus and 9 digits, 10 chars (minimum)", "+123456789"),
		valOK("plus and 19 digits, 20 chars (maximum)", "+1234567890123456789"),
		valBad("9 chars", "+12345678", short),
		valBad("21 chars", "+12345678901234567890", long),
		valBad("no plus", "1234567890", mismatch),
		valBad("no plus, 11 digits", "12345678901", mismatch),
		valBad("space", "+12345 67890", mismatch),
		valBad("hyphen", "+12345-67890", mismatch),
		valBad("two plus signs", "++123456789", mismatch),
		valBad("plus inside", "+12345+67890", mismatch),
		valBad("trailing space", "+1234567890 ", mismatch),
		valBad("letter", "+123456789a", mismatch),
		valBad("non-ASCII digits", "+١٢٣٤٥٦٧٨٩", mismatch),
	)}
}

func valEmailField() valField {
	return valField{"email", 8, 64, valStringCases(
		valOK("every local-part character", "a.b_c%d+e-f@example.co.uk"),
		valOK("letters outside ASCII", "jürgen@münchen.de"),
		valOK("8 chars (minimum)", "ab@cd.ef"),
		valOK("64 chars (maximum)", valRep("a", 52)+"@example.com"),
		valOK("inner hyphen in a label", "x@sub-domain.example.org"),
		valOK("upper case", "Anna.Upper@Example.COM"),
		valBad("7 chars", "a@bc.de", short),
		valBad("65 chars", valRep("a", 53)+"@example.com", long),
		valBad("no @", "anna.example.com", mismatch),
		valBad("two @", "an@na@example.com", mismatch),
		valBad("space", "an na@example.com", mismatch),
		valBad("leading space", " anna@example.com", mismatch),
		valBad("trailing space", "anna@example.com ", mismatch),
		valBad("single-label domain", "anna@localhost", mismatch),
		valBad("digit in last label", "anna@x.c0m", mismatch),
		valBad("last label one letter", "anna@x.c", mismatch),
		valBad("label with leading hyphen", "anna@-x.com", mismatch),
		valBad("label with trailing hyphen", "anna@x-.com", mismatch),
		valBad("empty label", "anna@example..com", mismatch),
		valBad("domain starting with a dot", "anna@.example.com", mismatch),
		valBad("underscore in domain", "anna@exa_mple.com", mismatch),
		valBad("parenthesis in local part", "an(na)@example.com", mismatch),
		valBad("empty local part", "@example.com", mismatch),
	)}
}

func valPasswordField() valField {
	cases := []valCase{
		valOK("8 chars (minimum)", "Pass0rd!"),
		valOK("64 chars (maximum)", "Passw0rd!"+valRep("x", 55)),
		valOK("64 characters, 124 bytes", "Pa0!"+valRep("ä", 60)),
		valBad("7 chars", "Pas0rd!", short),
		valBad("7 characters, 8 bytes", "Päs0rd!", short),
		valBad("empty", "", short),
		valBad("65 chars", "Passw0rd!"+valRep("x", 56), long),
		valBad("65 characters of two bytes", "Pa0!"+valRep("ä", 61), long),
		valBad("no upper-case letter", "passw0rd!", "value_error"),
		valBad("no lower-case letter", "PASSW0RD!", "value_error"),
		valBad("no digit", "Password!", "value_error"),
		valBad("no special character", "Passw0rdd", "value_error"),
		valBad("? is not a special character", "Passw0rd?", "value_error"),
		valBad("space is not a special character", "Passw0rd ", "value_error"),
	}
	for _, c := range "!@#$%^&*" {
		cases = append(cases, valOK("special "+string(c), "Passw0rd"+string(c)))
	}
	return valField{"password", 8, 64, valStringCases(cases...)}
}

func valBirthdayField() valField {
	const date = "date_parsing"
	return valField{"birthday", 10, 10, valStringCases(
		valOK("29 February of a leap year", "1992-02-29"),
		valOK("29 February 2000", "2000-02-29"),
		valOK("31 December", "1990-12-31"),
		valOK("1 January", "1990-01-01"),
		valBad("29 February of a common year", "1990-02-29", date),
		valBad("29 February 1900", "1900-02-29", date),
		valBad("month 13", "1990-13-01", date),
		valBad("month 0", "1990-00-10", date),
		valBad("day 0", "1990-01-00", date),
		valBad("31 April", "1990-04-31", date),
		valBad("day 32", "1990-01-32", date),
		valBad("no leading zeros", "1990-1-1", short),
		valBad("digits only", "19900101", short),
		valBad("slashes", "1990/01/01", mismatch),
		valBad("day first", "01-01-1990", mismatch),
		valBad("full-width digits", "１９９０-01-01", mismatch),
		valBad("trailing space", "1990-01-01 ", long),
		valBad("with a time", "1990-01-01T00:00:00", long),
	)}
}

func valAddressField() valField {
	return valField{"address", 16, 64, valStringCases(
		valOK("every allowed punctuation", "Flat #3/4, O'Neil Rd. 5: A-B"),
		valOK("typographic apostrophe", "’s-Hertogenbosch, Markt 1"),
		valOK("Cyrillic", "Вулиця Хрещатик, 14, Київ"),
		valOK("16 chars (minimum)", "abcdefghijklmnop"),
		valOK("64 chars (maximum)", valRep("a", 64)),
		valOK("64 two-byte letters", valRep("ß", 64)),
		valOK("leading and trailing spaces", " Main Street 12, Kyiv "),
		valBad("15 chars", "abcdefghijklmno", short),
		valBad("15 two-byte letters (30 bytes)", valRep("ü", 15), short),
		valBad("65 chars", valRep("a", 65), long),
		valBad("65 two-byte letters", valRep("ß", 65), long),
		valBad("underscore", "Main St_5, Springfield", mismatch),
		valBad("semicolon", "Main St 5; Springfield", mismatch),
		valBad("parentheses", "Main St (5), Springfield", mismatch),
		valBad("at sign", "Main St 5 @ Springfield", mismatch),
		valBad("exclamation mark", "Main St 5, Springfield!", mismatch),
		valBad("double quote", `Main St "5", Springfield`, mismatch),
	)}
}

func valTitleField() valField {
	return valField{"title", 8, 32, valStringCases(
		valOK("letters and space", "Network problem"),
		valOK("every allowed punctuation", "Bug #42 - O'Neil’s PC"),
		valOK("8 chars (minimum)", "abcdefgh"),
		valOK("32 chars (maximum)", valRep("a", 32)),
		valOK("32 two-byte letters", valRep("ж", 32)),
		valOK("leading and trailing spaces", " Printer jam "),
		valBad("7 chars", "abcdefg", short),
		valBad("7 two-byte letters (14 bytes)", valRep("ж", 7), short),
		valBad("33 chars", valRep("a", 33), long),
		valBad("33 two-byte letters", valRep("ж", 33), long),
		valBad("dot", "Problem with v1.2", mismatch),
		valBad("exclamation mark", "Problem!", mismatch),
		valBad("underscore", "Printer_jam", mismatch),
		valBad("slash", "Printer/jam", mismatch),
		valBad("colon", "Printer: jam", mismatch),
		valBad("comma", "Printer, jam", mismatch),
	)}
}

func valDescriptionField() valField {
	return valField{"description", 8, 64, valStringCases(
		valOK("dot is allowed", "Cannot reach the share."),
		valOK("every allowed punctuation", "v1.2 - O'Neil’s #3 printer."),
		valOK("8 chars (minimum)", "abcdefgh"),
		valOK("64 chars (maximum)", valRep("a", 64)),
		valOK("64 two-byte letters", valRep("ж", 64)),
		valBad("7 chars", "abcdefg", short),
		valBad("65 chars", valRep("a", 65), long),
		valBad("65 two-byte letters", valRep("ж", 65), long),
		valBad("exclamation mark", "Cannot reach!", mismatch),
		valBad("comma", "Cannot, reach", mismatch),
		valBad("colon", "see: the share", mismatch),
		valBad("underscore", "a_b c d e f", mismatch),
		valBad("slash", "path/to/share", mismatch),
	)}
}

func valStatusField() valField {
	return valField{"status", 3, 16, valStringCases(
		valOK("3 chars (minimum)", "New"),
		valOK("space", "In progress"),
		valOK("typographic apostrophe", "Won’t fix"),
		valOK("hash hyphen apostrophe", "#1 - O'Neil"),
		valOK("16 chars (maximum)", valRep("a", 16)),
		valOK("two-byte letters", "Ääö"),
		valBad("2 chars", "No", short),
		valBad("2 two-byte letters (4 bytes)", "Ää", short),
		valBad("17 chars", valRep("a", 17), long),
		valBad("dot", "Done.", mismatch),
		valBad("exclamation mark", "Done!", mismatch),
		valBad("underscore", "in_progress", mismatch),
	)}
}

func valRoleField() valField {
	return valField{"role", 0, 0, []valCase{
		{name: "duplicates removed and sorted", value: []string{"support", "admin", "support"}, echo: []string{"admin", "support"}},
		{name: "all three sorted", value: []string{"support", "manager", "admin"}, echo: []string{"admin", "manager", "support"}},
		valOK("empty list", []string{}),
		valOK("one role", []string{"manager"}),
		valBad("string instead of list", "admin", "list_type"),
		valBad("number instead of list", 1, "list_type"),
		valBad("boolean instead of list", true, "list_type"),
		valBad("object instead of list", map[string]any{"admin": true}, "list_type"),
		{name: "number in the list", value: []any{1}, want: "string_type", loc: []any{"body", "role", 0}},
		{name: "boolean second in the list", value: []any{"admin", true}, want: "string_type", loc: []any{"body", "role", 1}},
		{name: "null in the list", value: []any{"admin", nil}, want: "string_type", loc: []any{"body", "role", 1}},
		valBad("null", nil, "missing"),
		valBad("absent", valAbsent, "missing"),
	}}
}

// valBoolField: a boolean; required on its own PATCH route, optional on POST and PUT.
func valBoolField(name string, required bool) valField {
	cases := []valCase{
		valOK("true", true),
		valOK("false", false),
		valBad("string true", "true", "bool_type"),
		valBad("string yes", "yes", "bool_type"),
		valBad("number 1", 1, "bool_type"),
		valBad("number 0", 0, "bool_type"),
		valBad("list", []bool{true}, "bool_type"),
		valBad("object", map[string]any{"v": true}, "bool_type"),
	}
	if required {
		cases = append(cases, valBad("null", nil, "missing"), valBad("absent", valAbsent, "missing"))
	}
	return valField{name, 0, 0, cases}
}

// ---- The runner ----

// valProbe is one route the field cases go through.
type valProbe struct {
	body     func(ts *testServer, n int) map[string]any // a valid body, unique to n
	send     func(ts *testServer, body map[string]any) *response
	state    func(ts *testServer) string // what a refused request must leave as it was
	echoes   bool                        // an accepted value comes back in the answer's field
	accepted func(t *testing.T, ts *testServer, field string, body map[string]any, res *response)
}

// valRun sends every case of every field through the probe's route.
func valRun(t *testing.T, ts *testServer, p valProbe, fields ...valField) {
	t.Helper()
	n := 0
	for _, f := range fields {
		for _, c := range f.cases {
			verdict := "accepted"
			if c.want != "" {
				verdict = "refused " + c.want
			}
			t.Run(f.name+" "+c.name+" "+verdict, func(t *testing.T) {
				ts := valFor(ts, t)
				n++
				body := p.body(ts, n)
				if _, absent := c.value.(valAbsentT); absent {
					delete(body, f.name)
				} else {
					body[f.name] = c.value
				}
				before := p.state(ts)
				res := p.send(ts, body)
				if c.want == "" {
					res.expect(http.StatusOK)
					if p.echoes && f.name != "password" { // a password is never shown
						want := c.value
						if c.echo != nil {
							want = c.echo
						}
						if got := res.obj()[f.name]; valJSON(got) != valJSON(want) {
							t.Errorf("answered %s = %s, want exactly %s", f.name, valJSON(got), valJSON(want))
						}
					}
					if p.accepted != nil {
						p.accepted(t, ts, f.name, body, res)
					}
					return
				}
				loc := c.loc
				if loc == nil {
					loc = []any{"body", f.name}
				}
				pr := valOneProblem(t, res, c.want, loc...)
				valProblemDetails(t, pr, f, c)
				if after := p.state(ts); after != before {
					t.Errorf("a refused request changed what is stored:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// valProblemDetails checks an entry's msg, ctx and input.
func valProblemDetails(t *testing.T, p fieldError, f valField, c valCase) {
	t.Helper()
	switch p.Type {
	case short:
		if want := fmt.Sprintf("String should have at least %d characters", f.min); p.Msg != want {
			t.Errorf("msg %q, want %q", p.Msg, want)
		}
		if valJSON(p.Ctx["min_length"]) != valJSON(f.min) {
			t.Errorf("ctx %v, want min_length %d", p.Ctx, f.min)
		}
	case long:
		if want := fmt.Sprintf("String should have at most %d characters", f.max); p.Msg != want {
			t.Errorf("msg %q, want %q", p.Msg, want)
		}
		if valJSON(p.Ctx["max_length"]) != valJSON(f.max) {
			t.Errorf("ctx %v, want max_length %d", p.Ctx, f.max)
		}
	case mismatch:
		if !strings.HasPrefix(p.Msg, "String should match pattern '") || p.Ctx["pattern"] == nil {
			t.Errorf("msg %q ctx %v, want the pattern named", p.Msg, p.Ctx)
		}
	case "value_error":
		if !strings.HasPrefix(p.Msg, "Value error, ") {
			t.Errorf("msg %q, want it to start with 'Value error, '", p.Msg)
		}
	case "missing":
		if p.Msg != "Field required" {
			t.Errorf("msg %q, want %q", p.Msg, "Field required")
		}
	}
	if c.want != "missing" && c.loc == nil && valJSON(p.Input) != valJSON(c.value) {
		t.Errorf("input %s, want the value sent %s", valJSON(p.Input), valJSON(c.value))
	}
}

// ---- 1. Every rule of §4 on every route that takes the field ----

func TestValidationUserFields(t *testing.T) {
	t.Parallel()
	userFields := func(extra ...valField) []valField {
		return append([]valField{valUsernameField(), valNameField("first_name"), valNameField("last_name"),
			valPhoneField(), valEmailField(), valRoleField(), valBoolField("disabled", false),
			valBoolField("login_denied", false)}, extra...)
	}
	// getBody reads a user and keeps the given fields: a valid body that
	// conflicts with no one but the user itself.
	getBody := func(tok, path string, keys ...string) func(ts *testServer, n int) map[string]any {
		return func(ts *testServer, n int) map[string]any {
			return valPick(ts.call("GET", path, tok, nil).expect(200).obj(), keys...)
		}
	}
	getState := func(tok, path string) func(ts *testServer) string {
		return func(ts *testServer) string { return string(ts.call("GET", path, tok, nil).expect(200).body) }
	}
	// persisted checks an updated user: its shape, updated set, and the
	// field as stored equal to the field as answered.
	persisted := func(tok, path string) func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
		return func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
			obj := res.obj()
			valUserObject(t, obj)
			valNoSecrets(t, res)
			valStamp(t, "updated", obj["updated"])
			stored := ts.call("GET", path, tok, nil).expect(200).obj()
			if valJSON(stored) != valJSON(obj) {
				t.Errorf("stored %s, answered %s", valJSON(stored), valJSON(obj))
			}
		}
	}

	t.Run("POST /user/", func(t *testing.T) {
		t.Parallel()
		ts, _, tok := valServer(t)
		valRun(t, ts, valProbe{
			body: func(ts *testServer, n int) map[string]any { return validNewUser(valLetters("newuser", n), n) },
			send: func(ts *testServer, body map[string]any) *response { return ts.call("POST", "/user/", tok, body) },
			state: func(ts *testServer) string {
				return fmt.Sprint(valCount(ts, "users"))
			},
			echoes: true,
			accepted: func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
				obj := res.obj()
				valUserObject(t, obj)
				valNoSecrets(t, res)
				if obj["updated"] != nil {
					t.Errorf("updated = %v after create, want null", obj["updated"])
				}
				if field == "password" { // the password given is the one in force
					ts.token(body["username"].(string), body["password"].(string))
				}
			},
		}, userFields(valPasswordField())...)
	})

	t.Run("PUT /user/{user_id}", func(t *testing.T) {
		t.Parallel()
		ts, _, tok := valServer(t)
		path := fmt.Sprintf("/user/%d", ts.addUser("puttarget", "support").ID)
		valRun(t, ts, valProbe{
			body: getBody(tok, path, valUserInput...),
			send: func(ts *testServer, body map[string]any) *response {
				return ts.call("PUT", path, tok, body)
			},
			state: getState(tok, path), echoes: true, accepted: persisted(tok, path),
		}, userFields()...)
	})

	t.Run("PATCH /user/{user_id}/contacts", func(t *testing.T) {
		t.Parallel()
		ts, _, tok := valServer(t)
		path := fmt.Sprintf("/user/%d", ts.addUser("contactee", "support").ID)
		valRun(t, ts, valProbe{
			body: getBody(tok, path, "first_name", "last_name", "phone", "email"),
			send: func(ts *testServer, body map[string]any) *response {
				return ts.call("PATCH", path+"/contacts", tok, body)
			},
			state: getState(tok, path), echoes: true, accepted: persisted(tok, path),
		}, valNameField("first_name"), valNameField("last_name"), valPhoneField(), valEmailField())
	})

	// The single-field PATCH routes.
	for _, route := range []struct {
		suffix string
		field  valField
	}{
		{"username", valUsernameField()},
		{"role", valRoleField()},
		{"disabled", valBoolField("disabled", true)},
		{"login_denied", valBoolField("login_denied", true)},
	} {
		t.Run("PATCH /user/{user_id}/"+route.suffix, func(t *testing.T) {
			t.Parallel()
			ts, _, tok := valServer(t)
			path := fmt.Sprintf("/user/%d", ts.addUser("patchee", "support").ID)
			valRun(t, ts, valProbe{
				body: getBody(tok, path, route.field.name),
				send: func(ts *testServer, body map[string]any) *response {
					return ts.call("PATCH", path+"/"+route.suffix, tok, body)
				},
				state: getState(tok, path), echoes: true, accepted: persisted(tok, path),
			}, route.field)
		})
	}

	passwordChanged := map[string]any{"message": "Password changed successfully"}

	t.Run("PATCH /user/{user_id}/password", func(t *testing.T) {
		t.Parallel()
		ts, _, tok := valServer(t)
		target := ts.addUser("pwtarget", "support")
		valRun(t, ts, valProbe{
			body: func(ts *testServer, n int) map[string]any { return map[string]any{"password": testPassword} },
			send: func(ts *testServer, body map[string]any) *response {
				return ts.call("PATCH", fmt.Sprintf("/user/%d/password", target.ID), tok, body)
			},
			state: func(ts *testServer) string { return valPasswordState(ts, target.ID) },
			accepted: func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
				valExact(t, res, 200, passwordChanged)
				ts.token(target.Username, body["password"].(string))
			},
		}, valPasswordField())
	})

	t.Run("PATCH /user/password", func(t *testing.T) {
		t.Parallel()
		ts, _, _ := valServer(t)
		self, tok := ts.userWithToken("selfchanger", "support")
		valRun(t, ts, valProbe{
			body: func(ts *testServer, n int) map[string]any { return map[string]any{"password": testPassword} },
			send: func(ts *testServer, body map[string]any) *response {
				return ts.call("PATCH", "/user/password", tok, body)
			},
			state: func(ts *testServer) string { return valPasswordState(ts, self.ID) },
			accepted: func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
				valExact(t, res, 200, passwordChanged)
				tok = ts.token(self.Username, body["password"].(string)) // the old token died with the old password
			},
		}, valPasswordField())
	})
}

func TestValidationEmployeeFields(t *testing.T) {
	t.Parallel()
	fields := func() []valField {
		return []valField{valNameField("first_name"), valNameField("last_name"), valNickField(), valPhoneField(),
			valEmailField(), valBirthdayField(), valPlaceField("country"), valPlaceField("city"), valAddressField()}
	}

	t.Run("POST /employee/", func(t *testing.T) {
		t.Parallel()
		ts, _, tok := valServer(t)
		valRun(t, ts, valProbe{
			body: func(ts *testServer, n int) map[string]any { return validEmployee(n) },
			send: func(ts *testServer, body map[string]any) *response { return ts.call("POST", "/employee/", tok, body) },
			state: func(ts *testServer) string {
				return fmt.Sprint(valCount(ts, "employees"))
			},
			echoes: true,
			accepted: func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
				obj := res.obj()
				valKeys(t, "employee", obj, valEmployeeKeys)
				if valJSON(valPick(obj, valEmployeeIn...)) != valJSON(body) {
					t.Errorf("answered %s, sent %s", valJSON(valPick(obj, valEmployeeIn...)), valJSON(body))
				}
				if valJSON(obj["tickets"]) != "[]" || obj["updated"] != nil {
					t.Errorf("tickets %v updated %v, want [] and null", obj["tickets"], obj["updated"])
				}
			},
		}, fields()...)
	})

	t.Run("PUT /employee/{employee_id}", func(t *testing.T) {
		t.Parallel()
		ts, _, tok := valServer(t)
		path := fmt.Sprintf("/employee/%d", valID(ts.call("POST", "/employee/", tok, validEmployee(9999)).expect(200).obj()))
		valRun(t, ts, valProbe{
			body: func(ts *testServer, n int) map[string]any {
				return valPick(ts.call("GET", path, tok, nil).expect(200).obj(), valEmployeeIn...)
			},
			send: func(ts *testServer, body map[string]any) *response { return ts.call("PUT", path, tok, body) },
			state: func(ts *testServer) string {
				return string(ts.call("GET", path, tok, nil).expect(200).body)
			},
			echoes: true,
			accepted: func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
				obj := res.obj()
				valKeys(t, "employee", obj, valEmployeeKeys)
				valStamp(t, "updated", obj["updated"])
				if stored := ts.call("GET", path, tok, nil).expect(200).obj(); valJSON(stored) != valJSON(obj) {
					t.Errorf("stored %s, answered %s", valJSON(stored), valJSON(obj))
				}
			},
		}, fields()...)
	})
}

func TestValidationTicketFields(t *testing.T) {
	t.Parallel()
	fields := func() []valField { return []valField{valTitleField(), valDescriptionField(), valStatusField()} }

	t.Run("POST /ticket/{employee_id}", func(t *testing.T) {
		t.Parallel()
		ts, admin, tok := valServer(t)
		emp := valID(ts.call("POST", "/employee/", tok, validEmployee(1)).expect(200).obj())
		valRun(t, ts, valProbe{
			body: func(ts *testServer, n int) map[string]any { return validTicket() },
			send: func(ts *testServer, body map[string]any) *response {
				return ts.call("POST", fmt.Sprintf("/ticket/%d", emp), tok, body)
			},
			state: func(ts *testServer) string {
				return fmt.Sprint(valCount(ts, "tickets"))
			},
			echoes: true,
			accepted: func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
				obj := res.obj()
				valKeys(t, "ticket", obj, valTicketKeys)
				if obj["owner_id"] != float64(admin.ID) || obj["employee_id"] != float64(emp) {
					t.Errorf("owner_id %v employee_id %v, want %d and %d", obj["owner_id"], obj["employee_id"], admin.ID, emp)
				}
			},
		}, fields()...)
	})

	t.Run("PUT /ticket/{ticket_id}", func(t *testing.T) {
		t.Parallel()
		ts, _, tok := valServer(t)
		emp := valID(ts.call("POST", "/employee/", tok, validEmployee(1)).expect(200).obj())
		path := fmt.Sprintf("/ticket/%d", valID(ts.call("POST", fmt.Sprintf("/ticket/%d", emp), tok, validTicket()).expect(200).obj()))
		valRun(t, ts, valProbe{
			body: func(ts *testServer, n int) map[string]any {
				return valPick(ts.call("GET", path, tok, nil).expect(200).obj(), valTicketIn...)
			},
			send: func(ts *testServer, body map[string]any) *response { return ts.call("PUT", path, tok, body) },
			state: func(ts *testServer) string {
				return string(ts.call("GET", path, tok, nil).expect(200).body)
			},
			echoes: true,
			accepted: func(t *testing.T, ts *testServer, field string, body map[string]any, res *response) {
				obj := res.obj()
				valKeys(t, "ticket", obj, valTicketKeys)
				valStamp(t, "updated", obj["updated"])
				if stored := ts.call("GET", path, tok, nil).expect(200).obj(); valJSON(stored) != valJSON(obj) {
					t.Errorf("stored %s, answered %s", valJSON(stored), valJSON(obj))
				}
			},
		}, fields()...)
	})
}

// ---- 2. The shapes of §6 ----

func TestValidationProblemShapes(t *testing.T) {
	t.Parallel()
	ts, _, tok := valServer(t)
	target := ts.addUser("shapetarget", "support")
	emp := valID(ts.call("POST", "/employee/", tok, validEmployee(1)).expect(200).obj())
	ticket := valID(ts.call("POST", fmt.Sprintf("/ticket/%d", emp), tok, validTicket()).expect(200).obj())

	t.Run("several bad fields at once: one entry per problem", func(t *testing.T) {
		ts := valFor(ts, t)
		cases := []struct {
			name, method, path, table string
			body                      map[string]any
			want                      []valWant
		}{
			{"POST /user/", "POST", "/user/", "users", map[string]any{
				"username": "abc", "first_name": "A", "phone": "12345", "email": "bad",
				"role": "admin", "disabled": "no", "login_denied": 1, "password": "short"},
				[]valWant{{short, []any{"body", "username"}}, {short, []any{"body", "first_name"}},
					{"missing", []any{"body", "last_name"}}, {short, []any{"body", "phone"}},
					{short, []any{"body", "email"}}, {"list_type", []any{"body", "role"}},
					{"bool_type", []any{"body", "disabled"}}, {"bool_type", []any{"body", "login_denied"}},
					{short, []any{"body", "password"}}}},
			{"POST /user/ pattern, type and password rule together", "POST", "/user/", "users", map[string]any{
				"username": "Müller", "first_name": "Ann3", "last_name": 7, "phone": "+12 345 678 90",
				"email": "anna@localhost", "role": []any{"admin", 2}, "password": "password1!"},
				[]valWant{{mismatch, []any{"body", "username"}}, {mismatch, []any{"body", "first_name"}},
					{"string_type", []any{"body", "last_name"}}, {mismatch, []any{"body", "phone"}},
					{mismatch, []any{"body", "email"}}, {"string_type", []any{"body", "role", 1}},
					{"value_error", []any{"body", "password"}}}},
			{"POST /employee/", "POST", "/employee/", "employees", map[string]any{
				"first_name": "Ann3", "last_name": 5, "nick_name": "Jü", "phone": "+12 345 678 90",
				"email": "anna@localhost", "birthday": "1990-02-30", "city": "X", "address": "short"},
				[]valWant{{mismatch, []any{"body", "first_name"}}, {"string_type", []any{"body", "last_name"}},
					{short, []any{"body", "nick_name"}}, {mismatch, []any{"body", "phone"}},
					{mismatch, []any{"body", "email"}}, {"date_parsing", []any{"body", "birthday"}},
					{"missing", []any{"body", "country"}}, {short, []any{"body", "city"}},
					{short, []any{"body", "address"}}}},
			{"POST /ticket/{employee_id}", "POST", fmt.Sprintf("/ticket/%d", emp), "tickets", map[string]any{
				"title": "Title with dot.", "status": 7},
				[]valWant{{mismatch, []any{"body", "title"}}, {"missing", []any{"body", "description"}},
					{"string_type", []any{"body", "status"}}}},
			{"PUT /user/{user_id} with an empty object", "PUT", fmt.Sprintf("/user/%d", target.ID), "users", map[string]any{},
				[]valWant{{"missing", []any{"body", "username"}}, {"missing", []any{"body", "first_name"}},
					{"missing", []any{"body", "last_name"}}, {"missing", []any{"body", "phone"}},
					{"missing", []any{"body", "email"}}, {"missing", []any{"body", "role"}}}},
			{"PATCH /user/{user_id}/contacts with an empty object", "PATCH", fmt.Sprintf("/user/%d/contacts", target.ID), "users", map[string]any{},
				[]valWant{{"missing", []any{"body", "first_name"}}, {"missing", []any{"body", "last_name"}},
					{"missing", []any{"body", "phone"}}, {"missing", []any{"body", "email"}}}},
			{"PUT /ticket/{ticket_id} with an empty object", "PUT", fmt.Sprintf("/ticket/%d", ticket), "tickets", map[string]any{},
				[]valWant{{"missing", []any{"body", "title"}}, {"missing", []any{"body", "description"}},
					{"missing", []any{"body", "status"}}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ts := valFor(ts, t)
				before := valCount(ts, c.table)
				valProblems(t, ts.call(c.method, c.path, tok, c.body), c.want...)
				if after := valCount(ts, c.table); after != before {
					t.Errorf("%s rows %d → %d", c.table, before, after)
				}
			})
		}
	})

	// Every JSON route, with a body that would be valid if it were parsed.
	routes := []struct{ method, path string }{
		{"POST", "/user/"},
		{"PUT", fmt.Sprintf("/user/%d", target.ID)},
		{"PATCH", fmt.Sprintf("/user/%d/contacts", target.ID)},
		{"PATCH", fmt.Sprintf("/user/%d/username", target.ID)},
		{"PATCH", fmt.Sprintf("/user/%d/role", target.ID)},
		{"PATCH", fmt.Sprintf("/user/%d/disabled", target.ID)},
		{"PATCH", fmt.Sprintf("/user/%d/login_denied", target.ID)},
		{"PATCH", fmt.Sprintf("/user/%d/password", target.ID)},
		{"PATCH", "/user/password"},
		{"POST", "/employee/"},
		{"PUT", fmt.Sprintf("/employee/%d", emp)},
		{"POST", fmt.Sprintf("/ticket/%d", emp)},
		{"PUT", fmt.Sprintf("/ticket/%d", ticket)},
	}
	stored := valSnapshot

	t.Run("malformed JSON: one json_invalid entry", func(t *testing.T) {
		for _, body := range []string{`{"username": "abc"`, `{username: "abc"}`, `{'a': 1}`, `{"a":1}}`,
			`{"a":1} {"b":2}`, `{"a":}`, `nul`, `{"a":1,}`, "\x00"} {
			for _, r := range routes {
				t.Run(r.method+" "+r.path+" "+body, func(t *testing.T) {
					ts := valFor(ts, t)
					before := stored(ts)
					res := ts.call(r.method, r.path, tok, body)
					valProblems(t, res, valWant{"json_invalid", []any{"body", float64(0)}})
					if after := stored(ts); after != before {
						t.Errorf("malformed body changed what is stored")
					}
				})
			}
		}
	})

	t.Run("JSON that is not an object: one model_attributes_type entry", func(t *testing.T) {
		for _, body := range []string{`[]`, `"x"`, `3`, `true`, `[{"username": "abcde"}]`} {
			for _, r := range routes {
				t.Run(r.method+" "+r.path+" "+body, func(t *testing.T) {
					ts := valFor(ts, t)
					before := stored(ts)
					valOneProblem(t, ts.call(r.method, r.path, tok, body), "model_attributes_type", "body")
					if after := stored(ts); after != before {
						t.Errorf("a body that is no object changed what is stored")
					}
				})
			}
		}
	})

	t.Run("empty body: 422 missing body", func(t *testing.T) {
		for _, body := range []any{"", "  \n ", nil} {
			for _, r := range routes {
				t.Run(fmt.Sprintf("%s %s %q", r.method, r.path, body), func(t *testing.T) {
					ts := valFor(ts, t)
					before := stored(ts)
					valOneProblem(t, ts.call(r.method, r.path, tok, body), "missing", "body")
					if after := stored(ts); after != before {
						t.Errorf("an empty body changed what is stored")
					}
				})
			}
		}
	})

	t.Run("wrong JSON types are refused, never coerced", func(t *testing.T) {
		cases := []struct {
			name, method, path, field string
			value                     any
			typ                       string
			loc                       []any
		}{
			{"number for username", "POST", "/user/", "username", 12345, "string_type", nil},
			{"number for phone", "POST", "/user/", "phone", 491298760001, "string_type", nil},
			{"string for disabled", "POST", "/user/", "disabled", "true", "bool_type", nil},
			{"string for login_denied", "PUT", fmt.Sprintf("/user/%d", target.ID), "login_denied", "false", "bool_type", nil},
			{"string role instead of a list", "POST", "/user/", "role", "admin", "list_type", nil},
			{"role list with a number", "POST", "/user/", "role", []any{"admin", 3}, "string_type", []any{"body", "role", 1}},
			{"string role on PATCH role", "PATCH", fmt.Sprintf("/user/%d/role", target.ID), "role", "admin", "list_type", nil},
			{"number 1 for disabled on PATCH", "PATCH", fmt.Sprintf("/user/%d/disabled", target.ID), "disabled", 1, "bool_type", nil},
			{"number for password", "PATCH", fmt.Sprintf("/user/%d/password", target.ID), "password", 12345678, "string_type", nil},
			{"number for birthday", "POST", "/employee/", "birthday", 19900101, "string_type", nil},
			{"number for ticket status", "POST", fmt.Sprintf("/ticket/%d", emp), "status", 1, "string_type", nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ts := valFor(ts, t)
				var body map[string]any
				switch {
				case strings.HasPrefix(c.path, "/user/") && c.method == "POST":
					body = validNewUser("coerceme", 77)
				case strings.HasPrefix(c.path, "/user/") && c.method == "PUT":
					body = valPick(ts.call("GET", c.path, tok, nil).expect(200).obj(), valUserInput...)
				case strings.HasPrefix(c.path, "/employee/"):
					body = validEmployee(77)
				case strings.HasPrefix(c.path, "/ticket/"):
					body = validTicket()
				default:
					body = map[string]any{}
				}
				body[c.field] = c.value
				loc := c.loc
				if loc == nil {
					loc = []any{"body", c.field}
				}
				before := stored(ts)
				valOneProblem(t, ts.call(c.method, c.path, tok, body), c.typ, loc...)
				if after := stored(ts); after != before {
					t.Errorf("a refused request changed what is stored")
				}
			})
		}
	})

	t.Run("unknown fields are ignored", func(t *testing.T) {
		ts := valFor(ts, t)
		u := validNewUser("unknownfld", 501)
		u["favourite_colour"], u["nick"], u["extra"] = "blue", 5, map[string]any{"a": 1}
		res := ts.call("POST", "/user/", tok, u).expect(200)
		valUserObject(t, res.obj())
		e := validEmployee(501)
		e["hobby"] = "chess"
		valKeys(t, "employee", ts.call("POST", "/employee/", tok, e).expect(200).obj(), valEmployeeKeys)
		tk := validTicket()
		tk["priority"] = "high"
		valKeys(t, "ticket", ts.call("POST", fmt.Sprintf("/ticket/%d", emp), tok, tk).expect(200).obj(), valTicketKeys)
		valExact(t, ts.call("PATCH", fmt.Sprintf("/user/%d/password", target.ID), tok,
			map[string]any{"password": testPassword, "old_password": "whatever"}), 200,
			map[string]any{"message": "Password changed successfully"})
	})
}

func TestValidationServerOwnedFields(t *testing.T) {
	t.Parallel()
	ts, admin, tok := valServer(t)
	other := ts.addUser("otheruser", "support")
	owned := map[string]any{"id": 4242, "created": "2000-01-01 00:00:00", "updated": "2000-01-02 00:00:00",
		"owner_id": other.ID, "hashed_password": "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA",
		"employee_id": 4242}
	with := func(body map[string]any) map[string]any {
		for k, v := range owned {
			body[k] = v
		}
		return body
	}
	notOwned := func(t *testing.T, obj map[string]any) {
		t.Helper()
		if valID(obj) == 4242 || obj["created"] == owned["created"] || obj["updated"] == owned["updated"] {
			t.Errorf("a server-owned field was taken from the body: %s", valJSON(obj))
		}
	}

	t.Run("POST /user/ ignores id, created, updated, hashed_password", func(t *testing.T) {
		ts := valFor(ts, t)
		res := ts.call("POST", "/user/", tok, with(validNewUser("ownedfields", 1))).expect(200)
		obj := res.obj()
		valUserObject(t, obj)
		valNoSecrets(t, res)
		notOwned(t, obj)
		if obj["updated"] != nil {
			t.Errorf("updated %v, want null", obj["updated"])
		}
		ts.token("ownedfields", testPassword) // the password given, not the hash given, is in force
		ts.call("GET", "/user/4242", tok, nil).expect(404, "User not found")
	})

	t.Run("PUT /user/{user_id} ignores id, created and password fields", func(t *testing.T) {
		ts := valFor(ts, t)
		path := fmt.Sprintf("/user/%d", other.ID)
		before := ts.call("GET", path, tok, nil).expect(200).obj()
		body := with(valPick(before, valUserInput...))
		body["password"] = "Other0ne!!"
		obj := ts.call("PUT", path, tok, body).expect(200).obj()
		if valID(obj) != other.ID || obj["created"] != before["created"] {
			t.Errorf("id/created changed: %s", valJSON(obj))
		}
		valStamp(t, "updated", obj["updated"])
		ts.token(other.Username, testPassword)
		ts.call("GET", "/user/4242", tok, nil).expect(404, "User not found")
	})

	t.Run("PATCH contacts ignores username, role, disabled", func(t *testing.T) {
		ts := valFor(ts, t)
		path := fmt.Sprintf("/user/%d", other.ID)
		before := ts.call("GET", path, tok, nil).expect(200).obj()
		body := valPick(before, "first_name", "last_name", "phone", "email")
		body["username"], body["role"], body["disabled"], body["login_denied"] = "hijacked", []string{"admin"}, true, true
		obj := ts.call("PATCH", path+"/contacts", tok, with(body)).expect(200).obj()
		for _, k := range []string{"id", "username", "role", "disabled", "login_denied", "created"} {
			if valJSON(obj[k]) != valJSON(before[k]) {
				t.Errorf("%s changed from %s to %s", k, valJSON(before[k]), valJSON(obj[k]))
			}
		}
	})

	var empID int64
	t.Run("POST /employee/ ignores id, created, updated, tickets", func(t *testing.T) {
		ts := valFor(ts, t)
		body := with(validEmployee(1))
		body["tickets"] = []any{validTicket()}
		obj := ts.call("POST", "/employee/", tok, body).expect(200).obj()
		notOwned(t, obj)
		empID = valID(obj)
		if valJSON(obj["tickets"]) != "[]" || obj["updated"] != nil {
			t.Errorf("tickets %v updated %v, want [] and null", obj["tickets"], obj["updated"])
		}
		if valCount(ts, "tickets") != 0 {
			t.Errorf("tickets in an employee body were written")
		}
	})

	t.Run("POST /ticket/{employee_id}: owner is the caller, employee from the path", func(t *testing.T) {
		ts := valFor(ts, t)
		other2 := valID(ts.call("POST", "/employee/", tok, validEmployee(2)).expect(200).obj())
		body := with(validTicket())
		body["employee_id"] = other2
		obj := ts.call("POST", fmt.Sprintf("/ticket/%d", empID), tok, body).expect(200).obj()
		notOwned(t, obj)
		if obj["owner_id"] != float64(admin.ID) || obj["employee_id"] != float64(empID) {
			t.Errorf("owner_id %v employee_id %v, want %d (caller) and %d (path)", obj["owner_id"], obj["employee_id"], admin.ID, empID)
		}
		// PUT cannot move a ticket to another owner or employee either.
		path := fmt.Sprintf("/ticket/%d", valID(obj))
		put := ts.call("PUT", path, tok, body).expect(200).obj()
		if put["owner_id"] != float64(admin.ID) || put["employee_id"] != float64(empID) || valID(put) != valID(obj) || put["created"] != obj["created"] {
			t.Errorf("PUT changed server-owned fields: %s (was %s)", valJSON(put), valJSON(obj))
		}
	})
}

// ---- 3. Paging ----

func TestValidationPaging(t *testing.T) {
	t.Parallel()
	ts, admin, tok := valServer(t)
	ctx := context.Background()
	other := ts.addUser("otherowner", "support")
	for i := range 104 {
		u := &User{Username: valLetters("pageuser", i), FirstName: "Page", LastName: "User",
			Phone: fmt.Sprintf("+4477%08d", i), Email: fmt.Sprintf("page%d@example.com", i), Role: []string{}, hashedPassword: "unused"}
		if _, err := ts.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	var emps []int64
	for i := range 103 {
		e := &Employee{FirstName: "Page", LastName: "Employee", NickName: "Pager", Phone: fmt.Sprintf("+3805%08d", i),
			Email: fmt.Sprintf("emp%d@example.com", i), Birthday: "1990-01-01", Country: "Ukraine", City: "Kyiv",
			Address: "Khreschatyk St, 14, UA 01001"}
		if _, err := ts.store.CreateEmployee(ctx, e); err != nil {
			t.Fatal(err)
		}
		emps = append(emps, e.ID)
	}
	for i := range 160 { // 120 of them the admin's, 40 another user's, interleaved
		owner := admin.ID
		if i%4 == 0 {
			owner = other.ID
		}
		tk := &Ticket{Title: "Paged ticket", Description: "One of many tickets", Status: "New"}
		if _, err := ts.store.CreateTicket(ctx, emps[i%len(emps)], owner, tk); err != nil {
			t.Fatal(err)
		}
	}

	lists := []struct {
		path string
		all  []int64
	}{
		{"/user/", valIDs(ts, "users", "")},
		{"/employee/", valIDs(ts, "employees", "")},
		{"/ticket/", valIDs(ts, "tickets", "")},
		{"/ticket/my/", valIDs(ts, "tickets", "WHERE owner_id = ?", admin.ID)},
	}
	for _, l := range lists {
		if len(l.all) <= 100 {
			t.Fatalf("%s: only %d rows, the test needs more than 100", l.path, len(l.all))
		}
	}
	window := func(all []int64, skip, limit int) []int64 {
		lo, hi := min(skip, len(all)), min(skip+limit, len(all))
		return all[lo:hi]
	}
	cases := []struct {
		name, query string
		skip, limit int
	}{
		{"defaults: skip 0, limit 100", "", 0, 100},
		{"limit 150 capped silently at 100", "?limit=150", 0, 100},
		{"limit 101 capped at 100", "?limit=101", 0, 100},
		{"limit 100", "?limit=100", 0, 100},
		{"limit 5", "?limit=5", 0, 5},
		{"skip 3 limit 4", "?skip=3&limit=4", 3, 4},
		{"limit before skip in the query", "?limit=4&skip=3", 3, 4},
		{"skip 100: the rest", "?skip=100", 100, 100},
		{"skip 98 limit 150: capped window", "?skip=98&limit=150", 98, 100},
		{"limit 0: empty", "?limit=0", 0, 0},
		{"limit 0 with skip", "?skip=5&limit=0", 5, 0},
		{"skip past the end: empty", "?skip=10000", 10000, 100},
		{"huge limit capped", "?limit=9223372036854775807", 0, 100},
	}
	for _, l := range lists {
		for _, c := range cases {
			t.Run(l.path+" "+c.name, func(t *testing.T) {
				ts := valFor(ts, t)
				res := ts.call("GET", l.path+c.query, tok, nil).expect(200)
				if c.limit == 0 && strings.TrimSpace(string(res.body)) != "[]" {
					t.Errorf("body %s, want []", res.body)
				}
				items := res.list()
				got := make([]int64, 0, len(items))
				for _, it := range items {
					got = append(got, valID(it))
					if l.path == "/ticket/my/" && it["owner_id"] != float64(admin.ID) {
						t.Errorf("/ticket/my/ shows ticket %v of owner %v", it["id"], it["owner_id"])
					}
				}
				if want := window(l.all, c.skip, c.limit); !slices.Equal(got, want) {
					t.Errorf("ids %v, want %v", got, want)
				}
			})
		}
		t.Run(l.path+" without the trailing slash", func(t *testing.T) {
			ts := valFor(ts, t)
			items := ts.call("GET", strings.TrimSuffix(l.path, "/")+"?skip=2&limit=3", tok, nil).expect(200).list()
			got := []int64{}
			for _, it := range items {
				got = append(got, valID(it))
			}
			if want := window(l.all, 2, 3); !slices.Equal(got, want) {
				t.Errorf("ids %v, want %v", got, want)
			}
		})
		bad := []struct {
			name, query string
			want        []valWant
		}{
			{"negative skip", "?skip=-1", []valWant{{"greater_than_equal", []any{"query", "skip"}}}},
			{"negative limit", "?limit=-1", []valWant{{"greater_than_equal", []any{"query", "limit"}}}},
			{"both negative: two entries", "?skip=-5&limit=-1", []valWant{{"greater_than_equal", []any{"query", "skip"}}, {"greater_than_equal", []any{"query", "limit"}}}},
			{"skip not an integer", "?skip=abc", []valWant{{"int_parsing", []any{"query", "skip"}}}},
			{"limit a decimal", "?limit=1.5", []valWant{{"int_parsing", []any{"query", "limit"}}}},
			{"skip empty", "?skip=", []valWant{{"int_parsing", []any{"query", "skip"}}}},
			{"limit out of int64 range", "?limit=99999999999999999999", []valWant{{"int_parsing", []any{"query", "limit"}}}},
			{"skip out of int64 range", "?skip=-99999999999999999999", []valWant{{"int_parsing", []any{"query", "skip"}}}},
			{"bad skip and negative limit", "?skip=x&limit=-2", []valWant{{"int_parsing", []any{"query", "skip"}}, {"greater_than_equal", []any{"query", "limit"}}}},
		}
		for _, c := range bad {
			t.Run(l.path+" "+c.name+" → 422", func(t *testing.T) {
				ts := valFor(ts, t)
				for _, p := range valProblems(t, ts.call("GET", l.path+c.query, tok, nil), c.want...) {
					if p.Type == "greater_than_equal" && (p.Msg != "Input should be greater than or equal to 0" || valJSON(p.Ctx) != `{"ge":0}`) {
						t.Errorf("entry %+v, want msg and ctx of ge 0", p)
					}
				}
			})
		}
	}
}

// ---- 4. Path ids ----

func TestValidationPathIDs(t *testing.T) {
	t.Parallel()
	ts, _, tok := valServer(t)
	emp := valID(ts.call("POST", "/employee/", tok, validEmployee(1)).expect(200).obj())
	ts.call("POST", fmt.Sprintf("/ticket/%d", emp), tok, validTicket()).expect(200)
	userBody := validNewUser("pathidsuser", 1)
	delete(userBody, "password")
	routes := []struct {
		method, path, param string // path has %s where the id goes
		body                any
	}{
		{"GET", "/user/%s", "user_id", nil},
		{"PUT", "/user/%s", "user_id", userBody},
		{"DELETE", "/user/%s", "user_id", nil},
		{"PATCH", "/user/%s/contacts", "user_id", valPick(userBody, "first_name", "last_name", "phone", "email")},
		{"PATCH", "/user/%s/password", "user_id", map[string]any{"password": testPassword}},
		{"PATCH", "/user/%s/username", "user_id", map[string]any{"username": "pathidsuser"}},
		{"PATCH", "/user/%s/role", "user_id", map[string]any{"role": []string{"support"}}},
		{"PATCH", "/user/%s/disabled", "user_id", map[string]any{"disabled": true}},
		{"PATCH", "/user/%s/login_denied", "user_id", map[string]any{"login_denied": true}},
		{"GET", "/employee/%s", "employee_id", nil},
		{"PUT", "/employee/%s", "employee_id", validEmployee(2)},
		{"DELETE", "/employee/%s", "employee_id", nil},
		{"POST", "/ticket/%s", "employee_id", validTicket()},
		{"GET", "/ticket/%s", "ticket_id", nil},
		{"PUT", "/ticket/%s", "ticket_id", validTicket()},
		{"DELETE", "/ticket/%s", "ticket_id", nil},
	}
	stored := valSnapshot
	for _, r := range routes {
		for _, id := range []string{"abc", "1.5", "99999999999999999999", "-99999999999999999999", "1e3", "0x1A", "%201", "1%20"} {
			t.Run(r.method+" "+fmt.Sprintf(r.path, id)+" → 422 int_parsing", func(t *testing.T) {
				ts := valFor(ts, t)
				before := stored(ts)
				p := valOneProblem(t, ts.call(r.method, fmt.Sprintf(r.path, id), tok, r.body), "int_parsing", "path", r.param)
				if unescaped, _ := url.PathUnescape(id); p.Input != unescaped {
					t.Errorf("input %v, want %q", p.Input, unescaped)
				}
				if after := stored(ts); after != before {
					t.Errorf("a refused request changed what is stored")
				}
			})
		}
	}

	t.Run("a path problem and body problems are reported together", func(t *testing.T) {
		cases := []struct {
			name, method, path string
			body               any
			want               []valWant
		}{
			{"PUT /user/abc with an empty object", "PUT", "/user/abc", map[string]any{}, []valWant{
				{"int_parsing", []any{"path", "user_id"}}, {"missing", []any{"body", "username"}},
				{"missing", []any{"body", "first_name"}}, {"missing", []any{"body", "last_name"}},
				{"missing", []any{"body", "phone"}}, {"missing", []any{"body", "email"}}, {"missing", []any{"body", "role"}}}},
			{"PATCH /user/1.5/password with a weak password", "PATCH", "/user/1.5/password", map[string]any{"password": "weak"},
				[]valWant{{"int_parsing", []any{"path", "user_id"}}, {short, []any{"body", "password"}}}},
			{"PUT /ticket/x with a bad title", "PUT", "/ticket/x", map[string]any{"title": "bad.title", "description": "Fine description", "status": "New"},
				[]valWant{{"int_parsing", []any{"path", "ticket_id"}}, {mismatch, []any{"body", "title"}}}},
			{"POST /ticket/abc with malformed JSON", "POST", "/ticket/abc", `{"title":`,
				[]valWant{{"int_parsing", []any{"path", "employee_id"}}, {"json_invalid", []any{"body", float64(0)}}}},
			{"PUT /employee/99999999999999999999 with no body", "PUT", "/employee/99999999999999999999", "",
				[]valWant{{"int_parsing", []any{"path", "employee_id"}}, {"missing", []any{"body"}}}},
			{"PATCH /user/abc/role with a string role", "PATCH", "/user/abc/role", map[string]any{"role": "admin"},
				[]valWant{{"int_parsing", []any{"path", "user_id"}}, {"list_type", []any{"body", "role"}}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ts := valFor(ts, t)
				valProblems(t, ts.call(c.method, c.path, tok, c.body), c.want...)
			})
		}
	})
}

// ---- 5. Every route of §5 with its exact success body ----

func TestValidationUserRoutes(t *testing.T) {
	t.Parallel()
	ts, admin, tok := valServer(t)
	n := 100
	create := func(ts *testServer, username string, edit func(map[string]any)) map[string]any {
		ts.t.Helper()
		n++
		body := validNewUser(username, n)
		if edit != nil {
			edit(body)
		}
		res := ts.call("POST", "/user/", tok, body).expect(200)
		valNoSecrets(ts.t, res)
		obj := res.obj()
		valUserObject(ts.t, obj)
		if obj["updated"] != nil {
			ts.t.Errorf("updated %v after create, want null", obj["updated"])
		}
		return obj
	}
	var anna map[string]any

	t.Run("POST /user/ answers the user object", func(t *testing.T) {
		ts := valFor(ts, t)
		body := validNewUser("annanielsen", 1)
		body["role"] = []string{"support", "admin", "support"}
		anna = create(ts, "annanielsen", func(b map[string]any) { b["role"] = body["role"] })
		want := map[string]any{"id": anna["id"], "username": "annanielsen", "first_name": "Anna", "last_name": "Nielsen",
			"phone": anna["phone"], "email": "annanielsen@example.com", "role": []string{"admin", "support"},
			"disabled": false, "login_denied": false, "created": anna["created"], "updated": nil}
		if valJSON(anna) != valJSON(want) {
			t.Errorf("answered %s, want %s", valJSON(anna), valJSON(want))
		}
		if valID(anna) <= admin.ID {
			t.Errorf("id %v, want above %d", anna["id"], admin.ID)
		}
	})

	t.Run("POST /user/ with an empty role list and both flags set", func(t *testing.T) {
		ts := valFor(ts, t)
		obj := create(ts, "flaggeduser", func(b map[string]any) {
			b["role"], b["disabled"], b["login_denied"] = []string{}, true, true
		})
		if valJSON(obj["role"]) != "[]" || obj["disabled"] != true || obj["login_denied"] != true {
			t.Errorf("answered %s", valJSON(obj))
		}
	})

	t.Run("GET /user/{user_id} and the lookups answer the same object", func(t *testing.T) {
		ts := valFor(ts, t)
		for _, path := range []string{
			fmt.Sprintf("/user/%d", valID(anna)),
			"/user/username/annanielsen",
			"/user/phone/" + anna["phone"].(string),
			"/user/phone/" + url.PathEscape(anna["phone"].(string)),
			"/user/phone/%2B" + strings.TrimPrefix(anna["phone"].(string), "+"),
			"/user/email/annanielsen@example.com",
			"/user/email/AnnaNielsen@Example.COM", // store.go compares emails without case
		} {
			res := ts.call("GET", path, tok, nil).expect(200)
			valNoSecrets(t, res)
			if got := res.obj(); valJSON(got) != valJSON(anna) {
				t.Errorf("GET %s answered %s, want %s", path, valJSON(got), valJSON(anna))
			}
		}
	})

	t.Run("GET /user/ lists user objects by id", func(t *testing.T) {
		ts := valFor(ts, t)
		res := ts.call("GET", "/user/", tok, nil).expect(200)
		valNoSecrets(t, res)
		list := res.list()
		if len(list) != valCount(ts, "users") {
			t.Fatalf("%d users listed, %d stored", len(list), valCount(ts, "users"))
		}
		for i, u := range list {
			valUserObject(t, u)
			if i > 0 && valID(u) <= valID(list[i-1]) {
				t.Errorf("ids not ascending: %v after %v", u["id"], list[i-1]["id"])
			}
			if u["username"] == "annanielsen" && valJSON(u) != valJSON(anna) {
				t.Errorf("listed %s, want %s", valJSON(u), valJSON(anna))
			}
		}
	})

	t.Run("GET /me never shows the password hash", func(t *testing.T) {
		ts := valFor(ts, t)
		res := ts.call("GET", "/me", tok, nil).expect(200)
		valNoSecrets(t, res)
		valUserObject(t, res.obj())
	})

	t.Run("PUT keeps disabled and login_denied when absent", func(t *testing.T) {
		ts := valFor(ts, t)
		u := create(ts, "flagkeeper", func(b map[string]any) { b["disabled"], b["login_denied"] = true, true })
		path := fmt.Sprintf("/user/%d", valID(u))
		body := valPick(u, valUserInput...)
		body["first_name"] = "Changed"
		obj := ts.call("PUT", path, tok, body).expect(200).obj()
		if obj["disabled"] != true || obj["login_denied"] != true || obj["first_name"] != "Changed" {
			t.Errorf("PUT without the flags answered %s, want both still true", valJSON(obj))
		}
		body["disabled"], body["login_denied"] = false, false
		obj = ts.call("PUT", path, tok, body).expect(200).obj()
		if obj["disabled"] != false || obj["login_denied"] != false {
			t.Errorf("PUT with false answered %s", valJSON(obj))
		}
		delete(body, "disabled")
		delete(body, "login_denied")
		obj = ts.call("PUT", path, tok, body).expect(200).obj()
		if obj["disabled"] != false || obj["login_denied"] != false {
			t.Errorf("PUT without the flags answered %s, want both still false", valJSON(obj))
		}
	})

	t.Run("POST /user/ defaults disabled and login_denied to false", func(t *testing.T) {
		ts := valFor(ts, t)
		obj := create(ts, "defaultflags", nil)
		if obj["disabled"] != false || obj["login_denied"] != false {
			t.Errorf("answered %s", valJSON(obj))
		}
	})

	// Every kind of update sets updated; the user answers echo the change.
	updates := []struct {
		name    string
		method  string
		suffix  string
		body    func(u map[string]any) map[string]any
		message string // when the answer is a message, not the user
		check   func(t *testing.T, obj map[string]any)
	}{
		{"PUT /user/{user_id}", "PUT", "", func(u map[string]any) map[string]any {
			b := valPick(u, valUserInput...)
			b["last_name"], b["role"] = "O’Brien", []string{"support", "manager", "support"}
			return b
		}, "", func(t *testing.T, obj map[string]any) {
			if obj["last_name"] != "O’Brien" || valJSON(obj["role"]) != `["manager","support"]` {
				t.Errorf("answered %s", valJSON(obj))
			}
		}},
		{"PATCH /user/{user_id}/contacts", "PATCH", "/contacts", func(u map[string]any) map[string]any {
			return map[string]any{"first_name": "Jean-Luc", "last_name": "Олена", "phone": "+491510000077", "email": "new." + u["username"].(string) + "@example.org"}
		}, "", func(t *testing.T, obj map[string]any) {
			if obj["first_name"] != "Jean-Luc" || obj["last_name"] != "Олена" || obj["phone"] != "+491510000077" ||
				obj["email"] != "new."+obj["username"].(string)+"@example.org" {
				t.Errorf("answered %s", valJSON(obj))
			}
		}},
		{"PATCH /user/{user_id}/username", "PATCH", "/username", func(u map[string]any) map[string]any {
			return map[string]any{"username": "Renamed" + valLetters("", int(valID(u)))}
		}, "", func(t *testing.T, obj map[string]any) {
			if !strings.HasPrefix(obj["username"].(string), "Renamed") {
				t.Errorf("answered %s", valJSON(obj))
			}
		}},
		{"PATCH /user/{user_id}/role", "PATCH", "/role", func(u map[string]any) map[string]any {
			return map[string]any{"role": []string{"support", "admin", "support"}}
		}, "", func(t *testing.T, obj map[string]any) {
			if valJSON(obj["role"]) != `["admin","support"]` {
				t.Errorf("role %s, want [admin support]", valJSON(obj["role"]))
			}
		}},
		{"PATCH /user/{user_id}/role to an empty list", "PATCH", "/role", func(u map[string]any) map[string]any {
			return map[string]any{"role": []string{}}
		}, "", func(t *testing.T, obj map[string]any) {
			if valJSON(obj["role"]) != `[]` {
				t.Errorf("role %s, want []", valJSON(obj["role"]))
			}
		}},
		{"PATCH /user/{user_id}/disabled", "PATCH", "/disabled", func(u map[string]any) map[string]any {
			return map[string]any{"disabled": true}
		}, "", func(t *testing.T, obj map[string]any) {
			if obj["disabled"] != true || obj["login_denied"] != false {
				t.Errorf("answered %s", valJSON(obj))
			}
		}},
		{"PATCH /user/{user_id}/login_denied", "PATCH", "/login_denied", func(u map[string]any) map[string]any {
			return map[string]any{"login_denied": true}
		}, "", func(t *testing.T, obj map[string]any) {
			if obj["login_denied"] != true || obj["disabled"] != false {
				t.Errorf("answered %s", valJSON(obj))
			}
		}},
		{"PATCH /user/{user_id}/password", "PATCH", "/password", func(u map[string]any) map[string]any {
			return map[string]any{"password": "N3w-Passw0rd!"}
		}, "Password changed successfully", nil},
	}
	for i, up := range updates {
		t.Run(up.name+" sets updated", func(t *testing.T) {
			ts := valFor(ts, t)
			u := create(ts, valLetters("updated", i), nil)
			path := fmt.Sprintf("/user/%d", valID(u))
			res := ts.call(up.method, path+up.suffix, tok, up.body(u))
			stored := ts.call("GET", path, tok, nil).expect(200).obj()
			valStamp(t, "updated", stored["updated"])
			if stored["created"] != u["created"] || valID(stored) != valID(u) {
				t.Errorf("id/created changed: %s, was %s", valJSON(stored), valJSON(u))
			}
			if up.message != "" {
				valExact(t, res, 200, map[string]any{"message": up.message})
				ts.token(u["username"].(string), "N3w-Passw0rd!")
				return
			}
			res.expect(200)
			valNoSecrets(t, res)
			obj := res.obj()
			valUserObject(t, obj)
			if valJSON(obj) != valJSON(stored) {
				t.Errorf("answered %s, stored %s", valJSON(obj), valJSON(stored))
			}
			up.check(t, obj)
		})
	}

	t.Run("PATCH /user/password changes the caller's own password and sets updated", func(t *testing.T) {
		ts := valFor(ts, t)
		u := create(ts, "ownpassword", nil)
		own := ts.token("ownpassword", testPassword)
		valExact(t, ts.call("PATCH", "/user/password", own, map[string]any{"password": "Fresh&Passw0rd"}), 200,
			map[string]any{"message": "Password changed successfully"})
		stored := ts.call("GET", fmt.Sprintf("/user/%d", valID(u)), tok, nil).expect(200).obj()
		valStamp(t, "updated", stored["updated"])
		ts.token("ownpassword", "Fresh&Passw0rd")
		if res := ts.form("/token", url.Values{"username": {"ownpassword"}, "password": {testPassword}}); res.status != 400 {
			t.Errorf("old password still logs in: %d %s", res.status, res.body)
		}
	})

	t.Run("DELETE /user/{user_id}", func(t *testing.T) {
		ts := valFor(ts, t)
		u := create(ts, "deleteme", nil)
		path := fmt.Sprintf("/user/%d", valID(u))
		valExact(t, ts.call("DELETE", path, tok, nil), 200, map[string]any{"message": "User deleted successfully"})
		ts.call("GET", path, tok, nil).expect(404, "User not found")
		ts.call("DELETE", path, tok, nil).expect(404, "User not found")
	})
}

func TestValidationEmployeeAndTicketRoutes(t *testing.T) {
	t.Parallel()
	ts, admin, tok := valServer(t)
	support, supTok := ts.userWithToken("supportuser", "support")

	var e1, e2 map[string]any
	var tickets []map[string]any // t1, t2 about e1 by support; t3 about e2 by admin

	t.Run("POST /employee/ answers the employee with no tickets", func(t *testing.T) {
		ts := valFor(ts, t)
		body := validEmployee(1)
		res := ts.call("POST", "/employee/", tok, body).expect(200)
		if !strings.Contains(string(res.body), `"tickets":[]`) {
			t.Errorf("tickets not an empty list: %s", res.body)
		}
		e1 = res.obj()
		valKeys(t, "employee", e1, valEmployeeKeys)
		want := map[string]any{"id": e1["id"], "first_name": "Jürgen", "last_name": "Müller", "nick_name": "Jue",
			"phone": body["phone"], "email": body["email"], "birthday": "1990-02-28", "country": "Germany",
			"city": "München", "address": "Khreschatyk St, 14, UA 01001", "created": e1["created"], "updated": nil,
			"tickets": []any{}}
		if valJSON(e1) != valJSON(want) {
			t.Errorf("answered %s, want %s", valJSON(e1), valJSON(want))
		}
		valStamp(t, "created", e1["created"])
		e2 = ts.call("POST", "/employee", tok, validEmployee(2)).expect(200).obj()
		if valID(e2) <= valID(e1) {
			t.Errorf("second employee id %v not above %v", e2["id"], e1["id"])
		}
	})

	t.Run("GET /employee/{employee_id} answers the same object", func(t *testing.T) {
		ts := valFor(ts, t)
		if got := ts.call("GET", fmt.Sprintf("/employee/%d", valID(e1)), supTok, nil).expect(200).obj(); valJSON(got) != valJSON(e1) {
			t.Errorf("answered %s, want %s", valJSON(got), valJSON(e1))
		}
	})

	t.Run("POST /ticket/{employee_id} answers the ticket, owned by the caller", func(t *testing.T) {
		ts := valFor(ts, t)
		for i, c := range []struct {
			emp    map[string]any
			tok    string
			owner  int64
			status string
		}{{e1, supTok, support.ID, "New"}, {e1, supTok, support.ID, "Open"}, {e2, tok, admin.ID, "Closed"}} {
			body := validTicket()
			body["title"], body["status"] = fmt.Sprintf("Ticket number %d", i+1), c.status
			obj := ts.call("POST", fmt.Sprintf("/ticket/%d", valID(c.emp)), c.tok, body).expect(200).obj()
			valKeys(t, "ticket", obj, valTicketKeys)
			want := map[string]any{"id": obj["id"], "title": body["title"], "description": body["description"],
				"status": c.status, "owner_id": c.owner, "employee_id": valID(c.emp), "created": obj["created"], "updated": nil}
			if valJSON(obj) != valJSON(want) {
				t.Errorf("answered %s, want %s", valJSON(obj), valJSON(want))
			}
			valStamp(t, "created", obj["created"])
			if len(tickets) > 0 && valID(obj) <= valID(tickets[len(tickets)-1]) {
				t.Errorf("ticket ids not increasing")
			}
			tickets = append(tickets, obj)
		}
	})

	t.Run("GET /ticket/{ticket_id} answers the same object", func(t *testing.T) {
		ts := valFor(ts, t)
		for _, tk := range tickets {
			if got := ts.call("GET", fmt.Sprintf("/ticket/%d", valID(tk)), supTok, nil).expect(200).obj(); valJSON(got) != valJSON(tk) {
				t.Errorf("answered %s, want %s", valJSON(got), valJSON(tk))
			}
		}
	})

	t.Run("GET /employee/{employee_id} shows its tickets by id", func(t *testing.T) {
		ts := valFor(ts, t)
		got := ts.call("GET", fmt.Sprintf("/employee/%d", valID(e1)), tok, nil).expect(200).obj()
		if valJSON(got["tickets"]) != valJSON(tickets[:2]) {
			t.Errorf("tickets %s, want %s", valJSON(got["tickets"]), valJSON(tickets[:2]))
		}
		got = ts.call("GET", fmt.Sprintf("/employee/%d", valID(e2)), tok, nil).expect(200).obj()
		if valJSON(got["tickets"]) != valJSON(tickets[2:]) {
			t.Errorf("tickets %s, want %s", valJSON(got["tickets"]), valJSON(tickets[2:]))
		}
	})

	t.Run("GET /employee/ lists employees with their tickets", func(t *testing.T) {
		ts := valFor(ts, t)
		list := ts.call("GET", "/employee/", supTok, nil).expect(200).list()
		if len(list) != 2 {
			t.Fatalf("%d employees listed, want 2", len(list))
		}
		for i, e := range list {
			valKeys(t, "employee", e, valEmployeeKeys)
			want := tickets[:2]
			if i == 1 {
				want = tickets[2:]
			}
			if valJSON(e["tickets"]) != valJSON(want) {
				t.Errorf("employee %v tickets %s, want %s", e["id"], valJSON(e["tickets"]), valJSON(want))
			}
		}
		if valID(list[0]) != valID(e1) || valID(list[1]) != valID(e2) {
			t.Errorf("order %v %v, want %v %v", list[0]["id"], list[1]["id"], e1["id"], e2["id"])
		}
	})

	t.Run("GET /ticket/ lists every ticket by id", func(t *testing.T) {
		ts := valFor(ts, t)
		if got := ts.call("GET", "/ticket/", supTok, nil).expect(200).list(); valJSON(got) != valJSON(tickets) {
			t.Errorf("listed %s, want %s", valJSON(got), valJSON(tickets))
		}
	})

	t.Run("GET /ticket/my/ lists only the caller's tickets", func(t *testing.T) {
		ts := valFor(ts, t)
		for _, path := range []string{"/ticket/my/", "/ticket/my"} {
			if got := ts.call("GET", path, supTok, nil).expect(200).list(); valJSON(got) != valJSON(tickets[:2]) {
				t.Errorf("support %s: %s, want %s", path, valJSON(got), valJSON(tickets[:2]))
			}
			if got := ts.call("GET", path, tok, nil).expect(200).list(); valJSON(got) != valJSON(tickets[2:]) {
				t.Errorf("admin %s: %s, want %s", path, valJSON(got), valJSON(tickets[2:]))
			}
		}
		_, nobody := ts.userWithToken("noticketuser", "manager")
		if res := ts.call("GET", "/ticket/my/", nobody, nil).expect(200); strings.TrimSpace(string(res.body)) != "[]" {
			t.Errorf("a user without tickets got %s, want []", res.body)
		}
	})

	t.Run("PUT /ticket/{ticket_id} sets updated and keeps owner and employee", func(t *testing.T) {
		ts := valFor(ts, t)
		old := tickets[0]
		body := map[string]any{"title": "Renamed ticket", "description": "New description.", "status": "Closed"}
		obj := ts.call("PUT", fmt.Sprintf("/ticket/%d", valID(old)), tok, body).expect(200).obj()
		valKeys(t, "ticket", obj, valTicketKeys)
		valStamp(t, "updated", obj["updated"])
		want := map[string]any{"id": old["id"], "title": "Renamed ticket", "description": "New description.",
			"status": "Closed", "owner_id": old["owner_id"], "employee_id": old["employee_id"], "created": old["created"],
			"updated": obj["updated"]}
		if valJSON(obj) != valJSON(want) {
			t.Errorf("answered %s, want %s", valJSON(obj), valJSON(want))
		}
		if got := ts.call("GET", fmt.Sprintf("/ticket/%d", valID(old)), tok, nil).expect(200).obj(); valJSON(got) != valJSON(obj) {
			t.Errorf("stored %s, answered %s", valJSON(got), valJSON(obj))
		}
		tickets[0] = obj
	})

	t.Run("PUT /employee/{employee_id} sets updated and shows its tickets", func(t *testing.T) {
		ts := valFor(ts, t)
		body := valPick(e1, valEmployeeIn...)
		body["first_name"], body["birthday"] = "Олена", "1992-02-29"
		obj := ts.call("PUT", fmt.Sprintf("/employee/%d", valID(e1)), tok, body).expect(200).obj()
		valKeys(t, "employee", obj, valEmployeeKeys)
		valStamp(t, "updated", obj["updated"])
		if obj["first_name"] != "Олена" || obj["birthday"] != "1992-02-29" || obj["created"] != e1["created"] || valID(obj) != valID(e1) {
			t.Errorf("answered %s", valJSON(obj))
		}
		if valJSON(obj["tickets"]) != valJSON(tickets[:2]) {
			t.Errorf("tickets %s, want %s", valJSON(obj["tickets"]), valJSON(tickets[:2]))
		}
		if got := ts.call("GET", fmt.Sprintf("/employee/%d", valID(e1)), tok, nil).expect(200).obj(); valJSON(got) != valJSON(obj) {
			t.Errorf("stored %s, answered %s", valJSON(got), valJSON(obj))
		}
	})

	t.Run("DELETE /ticket/{ticket_id} then DELETE /employee/{employee_id}", func(t *testing.T) {
		ts := valFor(ts, t)
		path := fmt.Sprintf("/ticket/%d", valID(tickets[2]))
		valExact(t, ts.call("DELETE", path, tok, nil), 200, map[string]any{"message": "Ticket deleted successfully"})
		ts.call("GET", path, tok, nil).expect(404, "Ticket not found")
		ts.call("DELETE", path, tok, nil).expect(404, "Ticket not found")
		epath := fmt.Sprintf("/employee/%d", valID(e2))
		valExact(t, ts.call("DELETE", epath, tok, nil), 200, map[string]any{"message": "Employee deleted successfully"})
		ts.call("GET", epath, tok, nil).expect(404, "Employee not found")
		ts.call("DELETE", epath, tok, nil).expect(404, "Employee not found")
	})
}

// ---- 6. Unique conflicts ----

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

// ---- 7. Not found ----

func TestValidationNotFound(t *testing.T) {
	t.Parallel()
	ts, _, tok := valServer(t)
	known := ts.addUser("knownuser", "support")
	emp := valID(ts.call("POST", "/employee/", tok, validEmployee(1)).expect(200).obj())
	ticket := valID(ts.call("POST", fmt.Sprintf("/ticket/%d", emp), tok, validTicket()).expect(200).obj())
	userBody := validNewUser("ghostuser", 1)
	delete(userBody, "password")
	const (
		noUser     = "User not found"
		noEmployee = "Employee not found"
		noTicket   = "Ticket not found"
	)
	cases := []struct {
		method, path string
		body         any
		detail       string
	}{
		{"GET", "/user/%s", nil, noUser},
		{"PUT", "/user/%s", userBody, noUser},
		{"DELETE", "/user/%s", nil, noUser},
		{"PATCH", "/user/%s/contacts", valPick(userBody, "first_name", "last_name", "phone", "email"), noUser},
		{"PATCH", "/user/%s/password", map[string]any{"password": testPassword}, noUser},
		{"PATCH", "/user/%s/username", map[string]any{"username": "ghostuser"}, noUser},
		{"PATCH", "/user/%s/role", map[string]any{"role": []string{"support"}}, noUser},
		{"PATCH", "/user/%s/role", map[string]any{"role": []string{"root"}}, noUser}, // User not found before Unknown role
		{"PUT", "/user/%s", map[string]any{"username": "ghostuser", "first_name": "Gh", "last_name": "Ost",
			"phone": "+490000000001", "email": "ghost@example.com", "role": []string{"root"}}, noUser},
		{"PATCH", "/user/%s/disabled", map[string]any{"disabled": true}, noUser},
		{"PATCH", "/user/%s/login_denied", map[string]any{"login_denied": true}, noUser},
		{"GET", "/employee/%s", nil, noEmployee},
		{"PUT", "/employee/%s", validEmployee(2), noEmployee},
		{"DELETE", "/employee/%s", nil, noEmployee},
		{"POST", "/ticket/%s", validTicket(), noEmployee},
		{"GET", "/ticket/%s", nil, noTicket},
		{"PUT", "/ticket/%s", validTicket(), noTicket},
		{"DELETE", "/ticket/%s", nil, noTicket},
	}
	stored := valSnapshot
	for _, c := range cases {
		for _, id := range []string{"999999", "0", "-1", "9223372036854775807"} {
			t.Run(fmt.Sprintf(c.method+" "+c.path, id)+" → 404", func(t *testing.T) {
				ts := valFor(ts, t)
				before := stored(ts)
				valExact(t, ts.call(c.method, fmt.Sprintf(c.path, id), tok, c.body), 404, map[string]any{"detail": c.detail})
				if stored(ts) != before {
					t.Errorf("a 404 request wrote something")
				}
			})
		}
	}

	t.Run("lookups: found, not found, never validated", func(t *testing.T) {
		lookups := []struct {
			path  string
			found bool
		}{
			{"/user/username/knownuser", true},
			{"/user/username/nobodyhere", false},
			{"/user/username/ab", false},          // too short for a username: still just 404
			{"/user/username/M%C3%BCller", false}, // not ASCII: still 404
			{"/user/username/KNOWNUSER", false},   // usernames are exact
			{"/user/phone/" + known.Phone, true},
			{"/user/phone/%2B" + strings.TrimPrefix(known.Phone, "+"), true},
			{"/user/phone/+19999999999", false},
			{"/user/phone/123", false},
			{"/user/email/knownuser@example.com", true},
			{"/user/email/KnownUser@EXAMPLE.com", true}, // the store compares emails without case
			{"/user/email/nobody@example.com", false},
			{"/user/email/not-an-email", false},
		}
		for _, l := range lookups {
			t.Run(l.path, func(t *testing.T) {
				ts := valFor(ts, t)
				res := ts.call("GET", l.path, tok, nil)
				if !l.found {
					valExact(t, res, 404, map[string]any{"detail": noUser})
					return
				}
				obj := res.expect(200).obj()
				valUserObject(t, obj)
				if valID(obj) != known.ID {
					t.Errorf("found user %v, want %d", obj["id"], known.ID)
				}
			})
		}
	})

	t.Run("unknown role → 404 Unknown role, nothing written", func(t *testing.T) {
		ts := valFor(ts, t)
		for _, roles := range [][]string{{"root"}, {"admin", "root"}, {"Admin"}, {""}} {
			body := validNewUser("rolelessuser", 5)
			body["role"] = roles
			before := valCount(ts, "users")
			valExact(t, ts.call("POST", "/user/", tok, body), 404, map[string]any{"detail": "Unknown role"})
			if valCount(ts, "users") != before {
				t.Errorf("role %v: a user was written", roles)
			}
		}
		path := fmt.Sprintf("/user/%d", known.ID)
		before := string(ts.call("GET", path, tok, nil).expect(200).body)
		valExact(t, ts.call("PATCH", path+"/role", tok, map[string]any{"role": []string{"superuser"}}), 404,
			map[string]any{"detail": "Unknown role"})
		body := valPick(ts.call("GET", path, tok, nil).obj(), valUserInput...)
		body["role"] = []string{"support", "root"}
		valExact(t, ts.call("PUT", path, tok, body), 404, map[string]any{"detail": "Unknown role"})
		if after := string(ts.call("GET", path, tok, nil).expect(200).body); after != before {
			t.Errorf("an unknown role changed the user: %s → %s", before, after)
		}
	})

	t.Run("existing records are found", func(t *testing.T) {
		ts := valFor(ts, t)
		ts.call("GET", fmt.Sprintf("/user/%d", known.ID), tok, nil).expect(200)
		ts.call("GET", fmt.Sprintf("/employee/%d", emp), tok, nil).expect(200)
		ts.call("GET", fmt.Sprintf("/ticket/%d", ticket), tok, nil).expect(200)
	})
}

// ---- 8. Ids never reused, nothing orphaned ----

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

// ---- 9. Body size ----

func TestValidationBodyTooLarge(t *testing.T) {
	t.Parallel()
	ts, _, tok := valServer(t)
	emp := valID(ts.call("POST", "/employee/", tok, validEmployee(1)).expect(200).obj())
	tooLarge := map[string]any{"detail": "Request body too large"}
	padded := func(body map[string]any, size int) string {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		return string(data) + valRep(" ", size-len(data))
	}

	t.Run("exactly 1 MiB is accepted", func(t *testing.T) {
		ts := valFor(ts, t)
		ts.call("POST", "/employee/", tok, padded(validEmployee(2), 1<<20)).expect(200)
	})
	t.Run("1 MiB and one byte → 413", func(t *testing.T) {
		ts := valFor(ts, t)
		before := valCount(ts, "employees")
		valExact(t, ts.call("POST", "/employee/", tok, padded(validEmployee(3), 1<<20+1)), 413, tooLarge)
		if valCount(ts, "employees") != before {
			t.Errorf("an employee was written")
		}
	})
	t.Run("a 2 MiB field → 413 on JSON routes", func(t *testing.T) {
		ts := valFor(ts, t)
		for _, r := range []struct {
			method, path string
			body         map[string]any
		}{
			{"POST", "/user/", validNewUser("hugeuser", 4)},
			{"POST", "/employee/", validEmployee(4)},
			{"PUT", fmt.Sprintf("/employee/%d", emp), validEmployee(5)},
			{"POST", fmt.Sprintf("/ticket/%d", emp), validTicket()},
		} {
			r.body["padding"] = valRep("a", 2<<20)
			before := valSnapshot(ts)
			valExact(t, ts.call(r.method, r.path, tok, r.body), 413, tooLarge)
			if after := valSnapshot(ts); after != before {
				t.Errorf("%s %s: a too-large body changed what is stored", r.method, r.path)
			}
		}
	})
	t.Run("POST /token form over 1 MiB → 413", func(t *testing.T) {
		ts := valFor(ts, t)
		res := ts.form("/token", url.Values{"username": {"valadmin"}, "password": {testPassword}, "padding": {valRep("a", 1<<20)}})
		valExact(t, res, 413, tooLarge)
	})
	t.Run("POST /token multipart form over 1 MiB → 413", func(t *testing.T) {
		ts := valFor(ts, t)
		var b strings.Builder
		mw := multipart.NewWriter(&b)
		mw.WriteField("username", "valadmin")
		mw.WriteField("password", testPassword)
		mw.WriteField("padding", valRep("a", 1<<20))
		mw.Close()
		req, err := http.NewRequest("POST", ts.srv.URL+ts.cfg.RootPath+"/token", strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		valExact(t, ts.send(req), 413, tooLarge)
	})
}
