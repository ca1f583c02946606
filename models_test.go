package main

// models_test.go: models.go's validation rules (docs/api.md §4) and the
// shapes of validation problems (§6), end to end through the HTTP server.
// Every rule of §4 is a table of cases below, at and above each bound; one
// runner sends each case through every route that takes the field and
// checks the answer and that a refused request wrote nothing. Server-owned
// fields in a body are ignored.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// ---- Small helpers, prefixed val (handlers_test.go and store_test.go use them too) ----

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
