package main

// audittime_test.go: since, until and the retention go by id (auditIDAt)
// instead of an index on time, and GET /audit/'s queries are served by
// the primary key or an index, never a scan of the whole trail or a sort.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeAuditAt writes entries at the given times, in that order, as the
// writer would; it returns their ids.
func writeAuditAt(t *testing.T, ts *testServer, times ...string) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	err := ts.store.inTx(ctx, func(tx *txn) error {
		for _, at := range times {
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO audit (time, action, target_type, changes, client, request_id)
				VALUES (?, 'login.unknown_user', 'user', '{}', '', '') RETURNING id`, at).Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestAuditIDAt: the binary search finds where each time starts (no entry
// before the id written at that time or later, none from it on written
// before), over ids with gaps (deleted entries), several entries a second,
// and times before the first entry and after the last.
func TestAuditIDAt(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	if id, err := ts.store.auditIDAt(ctx, "2000-01-01 00:00:00"); err != nil || id != 1 {
		t.Fatalf("an empty trail: %d, %v; want 1", id, err)
	}
	start := time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC)
	var times []string
	for i := range 300 {
		times = append(times, start.Add(time.Duration(i/3)*time.Second).Format(time.DateTime)) // 3 a second
	}
	ids := writeAuditAt(t, ts, times...)
	for i := 10; i < 200; i += 7 {
		if _, err := ts.store.write.ExecContext(ctx, "DELETE FROM audit WHERE id = ?", ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	var probes []string
	for s := -2; s <= 102; s++ {
		probes = append(probes, start.Add(time.Duration(s)*time.Second).Format(time.DateTime))
	}
	for _, at := range probes {
		id, err := ts.store.auditIDAt(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		var wrongSide int
		if err := ts.store.read.QueryRowContext(ctx, "SELECT count(*) FROM audit WHERE id < ? AND time >= ? OR id >= ? AND time < ?",
			id, at, id, at).Scan(&wrongSide); err != nil {
			t.Fatal(err)
		}
		if wrongSide != 0 || id < ids[0] || id > ids[len(ids)-1]+1 {
			t.Errorf("%s starts at id %d, with %d entries on the wrong side of it (ids %d to %d)", at, id, wrongSide, ids[0], ids[len(ids)-1])
		}
	}
}

// TestAuditWindow: since and until answer exactly the entries of their
// window, edges included (since) and excluded (until), page after page.
func TestAuditWindow(t *testing.T) {
	ts := newTestServer(t)
	_, adminToken := ts.userWithToken("windowadmin", "admin")
	start := time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC)
	var times []string
	for i := range 40 {
		times = append(times, start.Add(time.Duration(i/2)*time.Minute).Format(time.DateTime))
	}
	writeAuditAt(t, ts, times...)
	at := func(minutes int) string { return start.Add(time.Duration(minutes) * time.Minute).Format(time.RFC3339) }
	cases := []struct {
		query      string
		from, upTo int // the window in minutes: from ≤ minute < upTo
	}{
		{"since=" + at(5), 5, 1000},
		{"until=" + at(5), -1000, 5},
		{"since=" + at(3) + "&until=" + at(11), 3, 11},
		{"since=" + at(7) + "&until=" + at(8), 7, 8},
		{"since=" + at(7) + "&until=" + at(7), 7, 7},
		{"since=" + at(30), 30, 1000},
		{"since=2089-12-31&until=2090-01-01", -1, 0},
	}
	for _, c := range cases {
		var want []string
		for _, tm := range times {
			if tm >= start.Add(time.Duration(c.from)*time.Minute).Format(time.DateTime) &&
				tm < start.Add(time.Duration(c.upTo)*time.Minute).Format(time.DateTime) {
				want = append(want, tm)
			}
		}
		var got []string
		next := "/audit/?action=login.unknown_user&limit=3&" + c.query
		for pages := 0; next != ""; pages++ {
			if pages > 30 {
				t.Fatalf("%s: the Link never ends", c.query)
			}
			res := ts.call("GET", next, adminToken, nil).expect(http.StatusOK)
			for _, e := range res.list() {
				got = append(got, e["time"].(string))
			}
			next = ""
			if link := res.header.Get("Link"); link != "" {
				next = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`), ts.cfg.RootPath)
			}
		}
		slices.Reverse(got) // newest first
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", c.query, got, want)
		}
	}
}

// TestAuditRetentionInBatches: pruning goes on batch after batch through a
// trail longer than one batch, keeps every entry of the retention, and one
// written out of step (a clock set back) neither goes early nor stops the
// older ones behind it from going.
func TestAuditRetentionInBatches(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -40).Format(time.DateTime)
	recent := now.AddDate(0, 0, -2).Format(time.DateTime)
	times := []string{recent} // out of step: before the old ones
	for range 6003 {
		times = append(times, old)
	}
	kept := writeAuditAt(t, ts, append(times, recent, recent)...)
	kept = append(kept[:1], kept[len(kept)-2:]...)
	n, err := ts.store.pruneAudit(ctx, 30)
	if err != nil || n != 6003 {
		t.Fatalf("pruned %d (%v), want 6003", n, err)
	}
	if left := valIDs(ts, "audit", ""); !slices.Equal(left, kept) {
		t.Fatalf("entries left %v, want %v", left, kept)
	}
}

// TestAuditQueryPlans: each shape of GET /audit/ reads its page from the
// primary key or an index ending in id, newest first, without a sort; a
// window (since, until) and before_id enter it as a range of ids.
// PostgreSQL is told to avoid whole-table scans and sorts, which it rightly
// prefers on a test's few rows, so the plan shows what the indexes allow.
func TestAuditQueryPlans(t *testing.T) {
	ts := newTestServer(t)
	writeAuditAt(t, ts, "2090-01-01 00:00:00", "2090-01-02 00:00:00")
	postgres := ts.store.dialect == postgresDialect
	const key = "" // the primary key: the table itself in id order
	cases := []struct {
		query, index string
		ranged       bool // the ids are bounded in the index's search, not filtered after it
	}{
		{"", key, false},
		{"before_id=2", key, true},
		{"action=login.ok", key, false},
		{"since=2090-01-02", key, true},
		{"until=2090-01-02", key, true},
		{"since=2090-01-01&until=2090-01-02&action=login.ok", key, true},
		{"actor_id=1", "ix_audit_actor", false},
		{"actor_id=1&since=2090-01-02&before_id=2", "ix_audit_actor", true},
		{"target=ticket:5", "ix_audit_target", false},
		{"target=ticket:5&until=2090-01-02", "ix_audit_target", true},
	}
	for _, c := range cases {
		plan, index := auditPlan(t, ts, c.query), c.index
		if index == key {
			index = map[bool]string{false: "audit", true: "audit_pkey"}[postgres]
		}
		if !strings.Contains(plan, index) || c.index == key && strings.Contains(plan, "INDEX ix_") {
			t.Errorf("%q: the plan does not use %s:\n%s", c.query, index, plan)
		}
		if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
			t.Errorf("%q: the plan sorts the entries:\n%s", c.query, plan)
		}
		ranged := regexp.MustCompile(`(rowid|id)[<>]`).MatchString(plan)
		if postgres {
			ranged = regexp.MustCompile(`Index Cond: .*\bid [<>]`).MatchString(plan)
		}
		if c.ranged && !ranged {
			t.Errorf("%q: the ids are not a range of the index's search:\n%s", c.query, plan)
		}
	}
}

// auditPlan is the query plan of the page GET /audit/?query reads.
func auditPlan(t *testing.T, ts *testServer, query string) string {
	t.Helper()
	ctx := context.Background()
	q := ts.app.parse(nil, httptest.NewRequest("GET", "/api/v1/audit/?"+query, nil))
	l, w := q.auditFilters()
	before := q.queryInt("before_id", 1, 0)
	if len(q.problems) > 0 {
		t.Fatalf("%s: %v", query, q.problems)
	}
	if err := ts.store.within(ctx, l, w); err != nil {
		t.Fatal(err)
	}
	if before > 0 {
		l.where("id < ?", before)
	}
	tx, err := ts.store.read.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	explain := "EXPLAIN QUERY PLAN "
	if ts.store.dialect == postgresDialect {
		explain = "EXPLAIN "
		for _, s := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_sort = off"} {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows, err := tx.QueryContext(ctx, explain+ts.store.dialect.rebind(auditPage(l)), append(l.args, 100)...)
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
		plan = append(plan, fmt.Sprint(*(values[len(values)-1].(*any)))) // SQLite's last column, PostgreSQL's only one
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// TestAuditTimeIndexDropped: a database of the version before, which had an
// index on the trail's time, loses it on its next start; a new one never
// has it.
func TestAuditTimeIndexDropped(t *testing.T) {
	ts := newTestServer(t)
	postgres := ts.store.dialect == postgresDialect
	db := ts.store.write.DB
	if def := muIndexDefinition(t, db, postgres, "ix_audit_time"); def != "" {
		t.Fatalf("a new database has %s", def)
	}
	before := versionBefore(t, ts.store.dialect, dropAuditTimeIndex)
	for _, stmt := range []string{"CREATE INDEX ix_audit_time ON audit (time)",
		map[bool]string{false: "PRAGMA user_version = %d", true: "UPDATE schema_version SET version = %d"}[postgres]} {
		if _, err := db.Exec(strings.ReplaceAll(stmt, "%d", fmt.Sprint(before))); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	ts.srv.Close()
	ts.store.Close()
	again := newTestServer(t, func(c *Config) { c.DatabaseURL = ts.cfg.DatabaseURL })
	if def := muIndexDefinition(t, again.store.write.DB, postgres, "ix_audit_time"); def != "" {
		t.Errorf("after the upgrade the database still has %s", def)
	}
}
