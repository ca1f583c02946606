package main

// listindexes_test.go: the query plans of the lists that must cost the
// same at a million tickets as at a thousand (docs/performance.md, "Data
// growth"), so that an index cannot silently stop being used.

import (
	"context"
	"database/sql"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// liPlan is the query plan of the page query a GET of route (ticket or
// employee) with query would run, on the test server's database, after
// narrowSearch (search.go) has chosen whether a text index finds q's
// candidates. PostgreSQL is told to avoid whole-table scans (and, when
// ordered, sorts): its planner rightly prefers them on a test's few rows,
// so the plan shows whether the index can serve the query, which is what
// holds it flat on many rows.
func liPlan(t *testing.T, ts *testServer, route, query string, ordered bool) string {
	t.Helper()
	l, base := liQuery(t, ts, route, query)
	ctx := context.Background()
	if err := ts.store.narrowSearch(ctx, l); err != nil {
		t.Fatal(err)
	}
	settings := []string{"SET LOCAL enable_seqscan = off"}
	if ordered {
		settings = append(settings, "SET LOCAL enable_sort = off")
	}
	sqlText, args := l.selectSQL(ts.store.dialect, base, page{limit: 101})
	tx := liRead(t, ts, settings...)
	defer tx.Rollback()
	return liExplain(t, tx, ts.store.dialect, sqlText, args)
}

// liSeed adds n employees with a ticket each, whose text the searches
// below do not match, so that PostgreSQL's statistics (taken here) show
// the text indexes worth using, as they are on a large table. VACUUM also
// moves the rows from the GIN indexes' pending list into the indexes, as
// autovacuum does.
func liSeed(t *testing.T, ts *testServer, n int) {
	t.Helper()
	ctx := context.Background()
	err := ts.store.inTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < 999 + ?)
			INSERT INTO employees (id, first_name, last_name, nick_name, phone, email, created)
			SELECT i, 'Seed', 'Employee', 'seed', '+1555' || CAST(i AS TEXT), 'seed' || CAST(i AS TEXT) || '@example.com',
				'2024-01-01 00:00:00' FROM n`, n)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO tickets (title, description, status, employee_id, created)
			SELECT 'Ticket number ' || CAST(id AS TEXT), 'Seeded by the test', 'Open', id, created FROM employees WHERE id >= 1000`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ts.store.dialect == postgresDialect {
		if _, err := ts.store.write.ExecContext(ctx, "VACUUM ANALYZE employees, tickets"); err != nil {
			t.Fatal(err)
		}
	}
}

// liQuery is the listQuery a GET of route (ticket or employee) with query
// reads, and the start of its SELECT.
func liQuery(t *testing.T, ts *testServer, route, query string) (*listQuery, string) {
	t.Helper()
	q := ts.app.parse(nil, httptest.NewRequest("GET", "/api/v1/"+route+"/?"+query, nil))
	var l *listQuery
	base := "SELECT " + ticketColumns + " FROM tickets"
	switch route {
	case "ticket":
		l = q.ticketFilters()
	case "employee":
		l, base = q.employeeFilters(), "SELECT "+employeeColumns+" FROM employees"
	default:
		t.Fatalf("no list route %q", route)
	}
	if len(q.problems) > 0 {
		t.Fatalf("%s: %v", query, q.problems)
	}
	return l, base
}

// liRead is a read transaction for the caller to roll back; on
// PostgreSQL the settings (SET LOCAL ...) apply to it.
func liRead(t *testing.T, ts *testServer, settings ...string) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := ts.store.read.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ts.store.dialect == postgresDialect {
		for _, s := range settings {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				tx.Rollback()
				t.Fatal(err)
			}
		}
	}
	return tx
}

// liExplain is the plan of a query (with ? placeholders) on tx, one line
// per step.
func liExplain(t *testing.T, tx *sql.Tx, d *dialect, query string, args []any) string {
	t.Helper()
	explain := "EXPLAIN QUERY PLAN "
	if d == postgresDialect {
		explain = "EXPLAIN "
	}
	rows, err := tx.QueryContext(context.Background(), explain+d.rebind(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	columns, _ := rows.Columns()
	for rows.Next() {
		values := make([]any, len(columns))
		for i := range values {
			values[i] = new(any)
		}
		if err := rows.Scan(values...); err != nil {
			t.Fatal(err)
		}
		detail := *(values[len(values)-1].(*any)) // SQLite's last column, PostgreSQL's only one
		switch v := detail.(type) {
		case string:
			plan = append(plan, v)
		case []byte:
			plan = append(plan, string(v))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

func TestListQueryPlans(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	ts.call("POST", "/employee/", token, validEmployee(1)).expect(200)
	newest := ts.call("POST", "/ticket/1", token, validTicket()).expect(200).obj()
	liSeed(t, ts, 3000)
	cursor := (&listQuery{order: []sortKey{{"created", byCreated, true}}}).encodeCursor(map[string]any{
		"created": newest["created"], "id": int64(newest["id"].(float64))})
	titleCursor := (&listQuery{order: []sortKey{{"title", ticketList.columns["title"], true}}}).encodeCursor(map[string]any{
		"title": "Ticket number 2000", "id": int64(2000)})

	tests := []struct {
		name, route, query string
		index              string // the index the plan uses (several: each, comma-separated)
		pgIndex            string // on PostgreSQL, when another than index
		ordered            bool   // the index gives the order: no sort of the rows
		entry              string // PostgreSQL's Index Cond on this key: the index is entered there, not read from its start
	}{
		{"newest first", "ticket", "sort=-created", "ix_tickets_sort_created", "", true, ""},
		{"newest first, the next page", "ticket", "sort=-created&cursor=" + cursor, "ix_tickets_sort_created", "", true, "COALESCE(created"},
		{"one status, newest first", "ticket", "status=New&sort=-created", "ix_tickets_sort_created", "", true, ""},
		{"oldest first", "ticket", "sort=created", "ix_tickets_sort_created", "", true, ""},
		{"created before, newest first", "ticket", "created_before=2024-06-01&sort=-created", "ix_tickets_sort_created", "", true, "COALESCE(created"},
		{"created after, oldest first", "ticket", "created_after=2024-06-01&sort=created", "ix_tickets_sort_created", "", true, "COALESCE(created"},
		{"by status", "ticket", "sort=status", "ix_tickets_sort_status", "", true, ""},
		{"by status, descending", "ticket", "sort=-status", "ix_tickets_sort_status", "", true, ""},
		{"by title", "ticket", "sort=title", "ix_tickets_sort_title", "", true, ""},
		{"by title, descending, the next page", "ticket", "sort=-title&cursor=" + titleCursor, "ix_tickets_sort_title", "", true, "COALESCE(title"},
		{"by employee", "ticket", "sort=employee_id", "ix_tickets_sort_employee_id", "", true, ""},
		{"by employee, descending", "ticket", "sort=-employee_id", "ix_tickets_sort_employee_id", "", true, ""},
		{"an employee's, by title", "ticket", "employee_id=1&sort=title", "ix_tickets_employee_id", "", false, "employee_id ="},
		{"employees by last name", "employee", "sort=last_name", "ix_employees_sort_last_name", "", true, ""},
		{"employees by first name, descending", "employee", "sort=-first_name", "ix_employees_sort_first_name", "", true, ""},
		{"employees by country", "employee", "sort=country", "ix_employees_sort_country", "", true, ""},
		{"employees by city, descending", "employee", "sort=-city", "ix_employees_sort_city", "", true, ""},
		{"employees, newest first", "employee", "sort=-created", "ix_employees_sort_created", "", true, ""},
		{"an employee's, by status, newest first", "ticket", "status=New&employee_id=1&sort=-created", "ix_tickets_employee_id", "", false, "employee_id ="},
		{"a creator's, newest first", "ticket", "creator_id=1&sort=-created", "ix_tickets_owner_id", "", false, "owner_id ="},
		{"an employee's, searched", "ticket", "employee_id=1&q=printer", "ix_tickets_employee_id", "", false, "employee_id ="},
		// q of 3 characters or more: the text indexes of search.go. On
		// SQLite, narrowSearch reads the index's candidates, which the
		// page's plan then reads by id from a list (json_each).
		{"searched", "ticket", "q=printer", "json_each", "ix_tickets_text_trgm", false, "~~"},
		{"searched, 3 characters", "ticket", "q=" + url.QueryEscape("prï"), "json_each", "ix_tickets_text_trgm", false, "~~"},
		{"searched, newest first", "ticket", "q=printer&sort=-created", "json_each", "ix_tickets_text_trgm", false, "~~"},
		{"searched, the next page", "ticket", "q=printer&sort=-created&cursor=" + cursor, "json_each", "ix_tickets_text_trgm", false, "~~"},
		{"employees searched", "employee", "q=mueller", "json_each",
			"ix_employees_text_trgm", false, "~~"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index := tt.index
			if ts.store.dialect == postgresDialect && tt.pgIndex != "" {
				index = tt.pgIndex
			}
			plan := liPlan(t, ts, tt.route, tt.query, tt.ordered)
			for _, index := range strings.Split(index, ",") {
				if !strings.Contains(plan, index) {
					t.Errorf("%s: the plan does not use %s:\n%s", tt.query, index, plan)
				}
			}
			sorted := strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort")
			if tt.ordered && sorted {
				t.Errorf("%s: the plan sorts the rows instead of reading them in order from %s:\n%s", tt.query, index, plan)
			}
			entered := strings.Contains(plan, "SEARCH "+tt.route+"s USING") // SQLite: the index is searched, not scanned
			if ts.store.dialect == postgresDialect {
				entered = regexp.MustCompile(`Index Cond: .*` + regexp.QuoteMeta(tt.entry)).MatchString(plan)
			}
			if tt.entry != "" && !entered {
				t.Errorf("%s: the plan reads %s from its start, not from the cursor or the filter:\n%s", tt.query, index, plan)
			}
		})
	}

	// SQLite's text index is not asked for q shorter than 3 characters,
	// which has no trigram, nor beside employee_id or creator_id, whose
	// index already keeps the rows few (PostgreSQL's planner sees both).
	for _, query := range []string{"q=pr", "employee_id=1&q=printer", "creator_id=1&q=printer"} {
		t.Run("not the text index: "+query, func(t *testing.T) {
			if plan := liPlan(t, ts, "ticket", query, false); strings.Contains(plan, "json_each") {
				t.Errorf("%s: the plan asks the text index:\n%s", query, plan)
			}
		})
	}
}
