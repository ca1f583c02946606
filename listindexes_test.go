package main

// listindexes_test.go: the query plans of the lists that must cost the
// same at a million tickets as at a thousand (docs/performance.md, "Data
// growth"), so that an index cannot silently stop being used.

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// liPlan is the query plan of the page query a GET /ticket/ with query
// would run, on the test server's database. PostgreSQL is told to avoid
// whole-table scans (and, when ordered, sorts): its planner rightly
// prefers them on a test's few rows, so the plan shows whether the index
// can serve the query, which is what holds it flat on many rows.
func liPlan(t *testing.T, ts *testServer, query string, ordered bool) string {
	t.Helper()
	q := ts.app.parse(nil, httptest.NewRequest("GET", "/api/v1/ticket/?"+query, nil))
	l := q.ticketFilters()
	if len(q.problems) > 0 {
		t.Fatalf("%s: %v", query, q.problems)
	}
	d := ts.store.dialect
	sqlText, args := l.selectSQL(d, "SELECT "+ticketColumns+" FROM tickets", page{limit: 101})
	ctx := context.Background()
	tx, err := ts.store.read.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	explain := "EXPLAIN QUERY PLAN "
	if d == postgresDialect {
		explain = "EXPLAIN "
		settings := []string{"SET LOCAL enable_seqscan = off"}
		if ordered {
			settings = append(settings, "SET LOCAL enable_sort = off")
		}
		for _, s := range settings {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows, err := tx.QueryContext(ctx, explain+d.rebind(sqlText), args...)
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
	cursor := (&listQuery{order: []sortKey{{"created", byCreated, true}}}).encodeCursor(map[string]any{
		"created": newest["created"], "id": int64(newest["id"].(float64))})

	tests := []struct {
		name, query, index string
		ordered            bool   // the index gives the order: no sort of the rows
		entry              string // PostgreSQL's Index Cond on this key: the index is entered there, not read from its start
	}{
		{"newest first", "sort=-created", "ix_tickets_created", true, ""},
		{"newest first, the next page", "sort=-created&cursor=" + cursor, "ix_tickets_created", true, "COALESCE(created"},
		{"one status, newest first", "status=New&sort=-created", "ix_tickets_created", true, ""},
		{"an employee's, by status, newest first", "status=New&employee_id=1&sort=-created", "ix_tickets_employee_id", false, "employee_id ="},
		{"a creator's, newest first", "creator_id=1&sort=-created", "ix_tickets_owner_id", false, "owner_id ="},
		{"an employee's, searched", "employee_id=1&q=printer", "ix_tickets_employee_id", false, "employee_id ="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := liPlan(t, ts, tt.query, tt.ordered)
			if !strings.Contains(plan, tt.index) {
				t.Errorf("%s: the plan does not use %s:\n%s", tt.query, tt.index, plan)
			}
			sorted := strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort")
			if tt.ordered && sorted {
				t.Errorf("%s: the plan sorts the rows instead of reading them in order from %s:\n%s", tt.query, tt.index, plan)
			}
			entered := strings.Contains(plan, "SEARCH tickets USING") // SQLite: the index is searched, not scanned
			if ts.store.dialect == postgresDialect {
				entered = regexp.MustCompile(`Index Cond: .*` + regexp.QuoteMeta(tt.entry)).MatchString(plan)
			}
			if tt.entry != "" && !entered {
				t.Errorf("%s: the plan reads %s from its start, not from the cursor or the filter:\n%s", tt.query, tt.index, plan)
			}
		})
	}
}
