package main

// lists.go: the filters and sort orders the list routes take in the query
// (docs/api.md §5, "Filters and sorting"). A request's parameters become a
// listQuery: conditions from a fixed list of SQL fragments with ?
// placeholders, and an order from a fixed list of columns. A client's text
// only ever travels as an argument, never as SQL.

import (
	"context"
	"database/sql"
	"net/url"
	"slices"
	"strings"
	"time"
)

// listQuery is what a list request asked for beyond its page: the
// conditions a row must meet (all of them) and the order of the rows.
type listQuery struct {
	conds []string // SQL fragments written in this file, each with ? placeholders
	args  []any    // the arguments of conds' placeholders, in order
	order []sortKey
	given bool  // a filter or sort parameter was in the query
	after []any // a cursor's values (paging.go): only rows after them in the order

	noTotal bool // total_count=false (paging.go): no X-Total-Count

	text    *textSearch // q, until narrowSearch (search.go) decides whether its index finds the candidates
	bounded bool        // an id filter, which has its own index, keeps the rows to one employee's or creator's
	planned bool        // PostgreSQL plans this list's queries for q's value each time (search.go)
}

// sortKey is one key of an ORDER BY.
type sortKey struct {
	field string // as the client names it
	sortColumn
	desc bool
}

// sortColumn is what a sort field orders by: a NULL (only rows copied from
// the original hold them) counts as the value answers show for it, so a
// list sorts by what the client sees and a cursor (paging.go) can name
// any row.
type sortColumn struct {
	expr string // a column, or COALESCE of a column
	text bool   // PostgreSQL compares it byte by byte (byteOrder), as SQLite does
}

// byteOrder makes PostgreSQL compare text byte by byte, as SQLite does.
const byteOrder = ` COLLATE "C"`

// in is the column's expression with collate ("" or byteOrder) added to
// text: what an ORDER BY names, and what an index for it must hold.
func (c sortColumn) in(collate string) string {
	if c.text {
		return c.expr + collate
	}
	return c.expr
}

// sql is the column's expression, in the database's byte-by-byte order
// for text.
func (c sortColumn) sql(d *dialect) string {
	if d == postgresDialect {
		return c.in(byteOrder)
	}
	return c.expr
}

// where adds a condition; cond is always a constant of this file.
func (l *listQuery) where(cond string, args ...any) {
	l.conds = append(l.conds, cond)
	l.args = append(l.args, args...)
}

// listSpec is what one resource's list allows: the sort fields a client
// may name, each with what it orders by.
type listSpec struct {
	sortFields []string              // in the order the 422 message lists them
	columns    map[string]sortColumn // sort field → what it orders by
}

var (
	byID        = sortColumn{"id", false}
	byCreated   = sortColumn{"COALESCE(created, '')", true}
	byFirstName = sortColumn{"COALESCE(first_name, '')", true}
	byLastName  = sortColumn{"COALESCE(last_name, '')", true}
	ticketList  = listSpec{
		sortFields: []string{"id", "created", "status", "title", "employee_id"},
		columns: map[string]sortColumn{"id": byID, "created": byCreated, "status": {"COALESCE(status, '')", true},
			"title": {"COALESCE(title, '')", true}, "employee_id": {"COALESCE(employee_id, 0)", false}},
	}
	employeeList = listSpec{
		sortFields: []string{"id", "created", "last_name", "first_name", "country", "city"},
		columns: map[string]sortColumn{"id": byID, "created": byCreated, "last_name": byLastName,
			"first_name": byFirstName, "country": {"COALESCE(country, '')", true}, "city": {"COALESCE(city, '')", true}},
	}
	userList = listSpec{
		sortFields: []string{"id", "created", "username", "last_name", "first_name"},
		columns: map[string]sortColumn{"id": byID, "created": byCreated, "username": {"COALESCE(username, '')", true},
			"last_name": byLastName, "first_name": byFirstName},
	}
)

// sortPattern is the sort parameter's pattern in openapi.json: a field,
// then more after commas, each optionally after "-".
func (spec listSpec) sortPattern() string {
	field := "-?(" + strings.Join(spec.sortFields, "|") + ")"
	return "^" + field + "(," + field + ")*$"
}

// selectSQL is one SELECT of a page of the list: base ("SELECT ... FROM
// table"), then the conditions, the order, the page.
func (l *listQuery) selectSQL(d *dialect, base string, p page) (string, []any) {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString(" WHERE id > ?")
	args := append([]any{p.after}, l.args...)
	for _, c := range l.conds {
		b.WriteString(" AND ")
		b.WriteString(c)
	}
	if l.after != nil {
		cond, afterArgs := l.afterCondition(d)
		b.WriteString(" AND ")
		b.WriteString(cond)
		args = append(args, afterArgs...)
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(l.orderBy(d))
	b.WriteString(" LIMIT ? OFFSET ?")
	return b.String(), append(args, p.limit, p.skip)
}

// keys is the order: the sort's keys, ending with id (unique: the order
// is total, so pages are stable). An id the client did not name goes the
// way of the last key, so sort=-f is exactly sort=f reversed, and one
// index on (f, id) serves both, read forwards or backwards.
func (l *listQuery) keys() []sortKey {
	if len(l.order) == 0 {
		return []sortKey{{"id", byID, false}}
	}
	last := l.order[len(l.order)-1]
	if last.field == "id" {
		return l.order
	}
	return append(slices.Clip(l.order), sortKey{"id", byID, last.desc})
}

// orderBy is the ORDER BY list.
func (l *listQuery) orderBy(d *dialect) string {
	var keys []string
	for _, k := range l.keys() {
		key := k.sql(d)
		if k.desc {
			key += " DESC"
		}
		keys = append(keys, key)
	}
	return strings.Join(keys, ", ")
}

// queryList runs a list's SELECT outside the pool's prepared statements:
// filter combinations are too many to keep each one prepared for good, as
// the pool does with the rest. (pgx still prepares and caches it on its
// connection, unless argsFor says otherwise.)
func (s *Store) queryList(ctx context.Context, l *listQuery, base string, p page) (*sql.Rows, error) {
	query, args := l.selectSQL(s.dialect, base, p)
	return s.read.DB.QueryContext(ctx, s.dialect.rebind(query), l.argsFor(args)...)
}

// FindTickets is a page of the tickets that meet l, in l's order.
func (s *Store) FindTickets(ctx context.Context, l *listQuery, p page) ([]Ticket, error) {
	if err := s.narrowSearch(ctx, l); err != nil {
		return nil, err
	}
	return scanTickets(s.queryList(ctx, l, "SELECT "+ticketColumns+" FROM tickets", p))
}

// FindUsers is a page of the users that meet l, in l's order.
func (s *Store) FindUsers(ctx context.Context, l *listQuery, p page) ([]User, error) {
	return scanUsers(s.queryList(ctx, l, "SELECT "+userColumns+" FROM users", p))
}

// FindEmployees is a page of the employees that meet l, in l's order,
// each with its tickets: two queries a page, as ListEmployees.
func (s *Store) FindEmployees(ctx context.Context, l *listQuery, p page) ([]Employee, error) {
	if err := s.narrowSearch(ctx, l); err != nil {
		return nil, err
	}
	employees, err := scanEmployees(s.queryList(ctx, l, "SELECT "+employeeColumns+" FROM employees", p))
	if err != nil || len(employees) == 0 {
		return employees, err
	}
	ids := make([]any, len(employees))
	for i, e := range employees {
		ids[i] = e.ID
	}
	tickets, err := scanTickets(s.read.DB.QueryContext(ctx, s.dialect.rebind("SELECT "+ticketColumns+" FROM tickets "+
		"WHERE employee_id IN ("+placeholders(len(ids))+") ORDER BY employee_id, id"), ids...))
	if err != nil {
		return nil, err
	}
	return withTickets(employees, tickets), nil
}

// placeholders is n ? placeholders, comma-separated.
func placeholders(n int) string {
	return strings.Repeat("?, ", n-1) + "?"
}

// ---- reading the query ----

// filters reads a list route's filter and sort parameters from the query
// into a listQuery; each problem found joins the request's 422.
type filters struct {
	q          *request
	values     url.Values
	l          *listQuery
	sortFailed bool // a cursor cannot be checked against a sort that has a problem
}

func (q *request) filters() *filters {
	return &filters{q: q, values: q.r.URL.Query(), l: &listQuery{}}
}

func (f *filters) problem(typ, name, msg string, input any, ctx map[string]any) {
	f.q.problems = append(f.q.problems, fieldError{Type: typ, Loc: []any{"query", name}, Msg: msg, Input: input, Ctx: ctx})
}

// all returns every value of a parameter, and notes that one was given.
func (f *filters) all(name string) []string {
	v := f.values[name]
	if len(v) > 0 {
		f.l.given = true
	}
	return v
}

// text reads a parameter's first value, checked like a body field; ok is
// false when it is absent or has a problem.
func (f *filters) text(name string, min, max int, pat string) (s string, ok bool) {
	v := f.all(name)
	if len(v) == 0 {
		return "", false
	}
	return v[0], f.checkText(name, v[0], min, max, pat)
}

func (f *filters) checkText(name, s string, min, max int, pat string) bool {
	if !storable(s) {
		f.problem("string_unicode", name, "Input should be a valid string, unable to parse raw data as a unicode string", s, nil)
		return false
	}
	if p := checkText(s, min, max, pat); p != nil {
		p.Loc = []any{"query", name}
		f.q.problems = append(f.q.problems, *p)
		return false
	}
	return true
}

// id reads an id (an integer ≥ 0) to match exactly: employee_id,
// creator_id or the audit's actor_id, each served by its index, which
// bounds the rows.
func (f *filters) id(name, cond string) {
	v := f.all(name)
	if len(v) == 0 {
		return
	}
	n, problem := parseInt("query", name, v[0])
	if problem == nil && n < 0 {
		problem = &fieldError{Type: "greater_than_equal", Loc: []any{"query", name}, Input: v[0],
			Msg: "Input should be greater than or equal to 0", Ctx: map[string]any{"ge": 0}}
	}
	if problem != nil {
		f.q.problems = append(f.q.problems, *problem)
		return
	}
	f.l.where(cond, n)
	f.l.bounded = true
}

// instant reads a date (midnight UTC) or an RFC 3339 date and time, as the
// text of created: "2006-01-02 15:04:05" in UTC, which compares as time
// does. A fraction of a second rounds up: created holds whole seconds, so
// created ≥ t and created < t keep their meaning. cond (one ?) is given it.
func (f *filters) instant(name, cond string) {
	if t, ok := f.instantOf(name); ok {
		f.l.where(cond, t)
	}
}

// instantOf is the parameter read as instant reads it, if it was given
// and valid.
func (f *filters) instantOf(name string) (string, bool) {
	v := f.all(name)
	if len(v) == 0 {
		return "", false
	}
	t, err := time.Parse(time.DateOnly, v[0])
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, v[0])
	}
	if err != nil {
		f.problem("datetime_parsing", name, "Input should be a date (2025-01-31) or a date and time "+
			"in RFC 3339 (2025-01-31T12:00:00Z)", v[0], nil)
		return "", false
	}
	if t.Nanosecond() != 0 {
		t = t.Truncate(time.Second).Add(time.Second)
	}
	return t.UTC().Format(time.DateTime), true
}

// search reads q, matched as a substring of each of the columns: ASCII
// letters without case on both databases (lower()), every other letter
// also on PostgreSQL. An empty q filters nothing. index, when not nil, is
// the text index (search.go) that may find the candidates; conds stays
// the exact match either way.
func (f *filters) search(conds string, columns int, index *textIndex) {
	s, ok := f.text("q", 0, 64, "")
	if !ok || s == "" {
		return
	}
	pattern := "%" + likeEscaper.Replace(s) + "%"
	args := make([]any, columns)
	for i := range args {
		args[i] = pattern
	}
	f.l.where(conds, args...)
	if index != nil {
		f.l.text = &textSearch{index, s, pattern}
	}
}

// likeEscaper makes %, _ and \ plain text in a LIKE pattern (ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// sort reads sort: fields of spec, comma-separated, each once, "-" first
// for descending. Fields after id change nothing (ids are unique) and are
// dropped.
func (f *filters) sort(spec listSpec) {
	v := f.all("sort")
	if len(v) == 0 {
		return
	}
	var order []sortKey
	seen := map[string]bool{}
	for _, field := range strings.Split(v[0], ",") {
		name, desc := strings.CutPrefix(field, "-")
		column, known := spec.columns[name]
		if !known || seen[name] {
			expected := "'" + strings.Join(spec.sortFields, "', '") + "'"
			f.problem("enum", "sort", "Input should be a comma-separated list of fields among "+expected+
				", each at most once, each optionally after '-' (descending)", v[0], map[string]any{"expected": expected})
			f.sortFailed = true
			return
		}
		seen[name] = true
		if !seen["id"] || name == "id" {
			order = append(order, sortKey{name, column, desc})
		}
	}
	f.l.order = order
}

// exactly reads a text parameter matched whole against cond's column,
// ASCII letters without case (lower(), as q).
func (f *filters) exactly(name, cond string) {
	if s, ok := f.text(name, 1, 64, ""); ok {
		f.l.where(cond, s)
	}
}

// boolean reads true or false (nothing else) to match against cond's column.
func (f *filters) boolean(name, cond string) {
	v := f.all(name)
	if len(v) == 0 {
		return
	}
	if v[0] != "true" && v[0] != "false" {
		f.problem("bool_parsing", name, "Input should be a valid boolean, unable to interpret input", v[0], nil)
		return
	}
	f.l.where(cond, v[0] == "true")
}

// hasRole is the condition "the user's role, a JSON array, holds ?", in
// each database's way of looking into JSON.
var hasRole = map[*dialect]string{
	sqliteDialect:   "EXISTS (SELECT 1 FROM json_each(users.role) WHERE value = ?)",
	postgresDialect: "COALESCE(users.role, '[]')::jsonb @> jsonb_build_array(CAST(? AS TEXT))",
}

// role reads one of knownRoles.
func (f *filters) role(d *dialect) {
	v := f.all("role")
	if len(v) == 0 {
		return
	}
	if !slices.Contains(knownRoles, v[0]) {
		expected := "'admin', 'manager' or 'support'"
		f.problem("enum", "role", "Input should be "+expected, v[0], map[string]any{"expected": expected})
		return
	}
	f.l.where(hasRole[d], v[0])
}

// ticketFilters reads the filters and sort of GET /ticket/ and GET /ticket/my/.
func (q *request) ticketFilters() *listQuery {
	f := q.filters()
	var statuses []any
	for _, s := range f.all("status") {
		if f.checkText("status", s, 3, 16, patternTicketText) {
			statuses = append(statuses, s)
		}
	}
	if len(statuses) > 0 {
		f.l.where("status IN ("+placeholders(len(statuses))+")", statuses...)
	}
	f.id("employee_id", "employee_id = ?")
	f.id("creator_id", "owner_id = ?")
	// The expression sort=created orders by, so its index serves the
	// range; a row without created is in neither.
	created := byCreated.sql(q.a.store.dialect)
	f.instant("created_after", created+" >= ?")
	f.instant("created_before", created+" < ? AND created IS NOT NULL")
	f.search(`(lower(title) LIKE lower(CAST(? AS TEXT)) ESCAPE '\' OR lower(description) LIKE lower(CAST(? AS TEXT)) ESCAPE '\')`, 2, ticketText)
	f.sort(ticketList)
	f.cursor()
	f.totalCount()
	return f.l
}

// employeeFilters reads the filters and sort of GET /employee/.
func (q *request) employeeFilters() *listQuery {
	f := q.filters()
	f.exactly("country", "lower(country) = lower(CAST(? AS TEXT))")
	f.exactly("city", "lower(city) = lower(CAST(? AS TEXT))")
	f.search(`(lower(first_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\' OR lower(last_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\'
		OR lower(nick_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\' OR lower(email) LIKE lower(CAST(? AS TEXT)) ESCAPE '\'
		OR phone LIKE ? ESCAPE '\')`, 5, employeeText)
	f.sort(employeeList)
	f.cursor()
	f.totalCount()
	return f.l
}

// userFilters reads the filters and sort of GET /user/.
func (q *request) userFilters() *listQuery {
	f := q.filters()
	f.role(q.a.store.dialect)
	f.boolean("disabled", "COALESCE(disabled, false) = ?")
	f.boolean("login_denied", "COALESCE(login_denied, false) = ?")
	f.search(`(lower(username) LIKE lower(CAST(? AS TEXT)) ESCAPE '\' OR lower(first_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\'
		OR lower(last_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\' OR lower(email) LIKE lower(CAST(? AS TEXT)) ESCAPE '\')`, 4, nil)
	f.sort(userList)
	f.cursor()
	f.totalCount()
	return f.l
}
