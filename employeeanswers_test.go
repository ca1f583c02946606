package main

import (
	"context"
	"fmt"
	"testing"
)

// TestEmployeeAnswerFollowsEveryChange: GET /employee/{id} is kept per
// employee until its version changes. Every change below is made in SQL on
// a connection of its own, as another program would, and the next GET (and
// its ETag) must show it; an employee that did not change keeps its answer.
func TestEmployeeAnswerFollowsEveryChange(t *testing.T) {
	ts := newTestServer(t)
	admin, token := ts.userWithToken("versionadmin", "admin")
	first := int64(ts.call("POST", "/employee/", token, validEmployee(8300)).expect(200).obj()["id"].(float64))
	second := int64(ts.call("POST", "/employee/", token, validEmployee(8301)).expect(200).obj()["id"].(float64))
	get := func(id int64) (map[string]any, string) {
		res := ts.call("GET", fmt.Sprintf("/employee/%d", id), token, nil).expect(200)
		return res.obj(), res.header.Get("ETag")
	}
	ticketsOf := func(e map[string]any) []any { return e["tickets"].([]any) }
	db := ts.store.write.DB
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(context.Background(), ts.store.dialect.rebind(query), args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}

	_, firstTag := get(first)
	_, secondTag := get(second)
	steps := []struct {
		name    string
		change  func()
		check   func(first, second map[string]any) string
		changed []int64 // the employees whose answer changes
	}{
		{"a ticket filed", func() {
			exec("INSERT INTO tickets (title, description, status, employee_id, owner_id, created) VALUES (?, ?, ?, ?, ?, ?)",
				"In SQL", "Filed by another program.", "New", first, admin.ID, "2026-12-05 10:00:00")
		}, func(f, _ map[string]any) string {
			if n := len(ticketsOf(f)); n != 1 {
				return fmt.Sprintf("%d tickets, want 1", n)
			}
			return ""
		}, []int64{first}},
		{"a ticket changed", func() { exec("UPDATE tickets SET status = ? WHERE employee_id = ?", "Closed", first) },
			func(f, _ map[string]any) string {
				if s := ticketsOf(f)[0].(map[string]any)["status"]; s != "Closed" {
					return fmt.Sprintf("status %v, want Closed", s)
				}
				return ""
			}, []int64{first}},
		{"a ticket moved to another employee", func() { exec("UPDATE tickets SET employee_id = ? WHERE employee_id = ?", second, first) },
			func(f, s map[string]any) string {
				if len(ticketsOf(f)) != 0 || len(ticketsOf(s)) != 1 {
					return fmt.Sprintf("%d and %d tickets, want 0 and 1", len(ticketsOf(f)), len(ticketsOf(s)))
				}
				return ""
			}, []int64{first, second}},
		{"the employee changed", func() { exec("UPDATE employees SET city = ? WHERE id = ?", "Linz", second) },
			func(_, s map[string]any) string {
				if s["city"] != "Linz" {
					return fmt.Sprintf("city %v, want Linz", s["city"])
				}
				return ""
			}, []int64{second}},
		{"a ticket deleted", func() { exec("DELETE FROM tickets WHERE employee_id = ?", second) },
			func(_, s map[string]any) string {
				if n := len(ticketsOf(s)); n != 0 {
					return fmt.Sprintf("%d tickets, want 0", n)
				}
				return ""
			}, []int64{second}},
	}
	for _, step := range steps {
		step.change()
		f, fTag := get(first)
		s, sTag := get(second)
		if problem := step.check(f, s); problem != "" {
			t.Fatalf("after %s: %s", step.name, problem)
		}
		changed := map[int64]bool{}
		for _, id := range step.changed {
			changed[id] = true
		}
		for _, c := range []struct {
			id       int64
			old, now string
		}{{first, firstTag, fTag}, {second, secondTag, sTag}} {
			if (c.old != c.now) != changed[c.id] {
				t.Fatalf("after %s: employee %d's ETag %s → %s; should change: %v", step.name, c.id, c.old, c.now, changed[c.id])
			}
		}
		firstTag, secondTag = fTag, sTag
	}

	exec("DELETE FROM employees WHERE id = ?", first)
	ts.call("GET", fmt.Sprintf("/employee/%d", first), token, nil).expect(404, "Employee not found")
}

// TestEmployeeAnswersStayBounded: past their size the kept answers start
// again empty, and answers are still right after it.
func TestEmployeeAnswersStayBounded(t *testing.T) {
	ts := newTestServer(t)
	_, token := ts.userWithToken("boundadmin", "admin")
	ts.store.employeeAnswers = newEmployeeAnswers(1000) // about three answers
	var ids []int64
	for i := range 10 {
		ids = append(ids, int64(ts.call("POST", "/employee/", token, validEmployee(8310+i)).expect(200).obj()["id"].(float64)))
	}
	for round := range 2 {
		for _, id := range ids {
			if got := int64(ts.call("GET", fmt.Sprintf("/employee/%d", id), token, nil).expect(200).obj()["id"].(float64)); got != id {
				t.Fatalf("round %d: GET /employee/%d answered employee %d", round, id, got)
			}
			c := ts.store.employeeAnswers
			c.mu.Lock()
			size, n := c.size, len(c.answers)
			c.mu.Unlock()
			if size > c.maxSize || n == 0 {
				t.Fatalf("round %d: %d answers of %d bytes kept, at most %d bytes", round, n, size, c.maxSize)
			}
		}
	}
}
