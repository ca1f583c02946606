package main

// etag_test.go: ETags, If-None-Match and If-Match on users, employees and
// tickets (docs/api.md §5, "Conditional requests"), including the lost
// update: two clients holding one ETag, one of them wins.

import (
	"fmt"
	"regexp"
	"sync"
	"testing"
)

var etStrongTag = regexp.MustCompile(`^"[0-9a-f]{32}"$`)

// etTag is the ETag of an answer, which must be a strong one.
func etTag(t *testing.T, res *response) string {
	t.Helper()
	tag := res.header.Get("ETag")
	if !etStrongTag.MatchString(tag) {
		t.Fatalf("ETag %q, want a strong tag: %d %s", tag, res.status, res.body)
	}
	return tag
}

func TestETagsAndConditionalRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	employee := ts.call("POST", "/employee/", token, validEmployee(1)).expect(200)
	etTag(t, employee)
	employeePath := fmt.Sprintf("/employee/%d", int64(employee.obj()["id"].(float64)))
	ticket := ts.call("POST", fmt.Sprintf("/ticket/%d", int64(employee.obj()["id"].(float64))), token, validTicket()).expect(200)
	ticketPath := fmt.Sprintf("/ticket/%d", int64(ticket.obj()["id"].(float64)))
	created := ts.call("POST", "/user/", token, validNewUser("support", 1)).expect(200)
	userPath := fmt.Sprintf("/user/%d", int64(created.obj()["id"].(float64)))
	if etTag(t, created) != etTag(t, ts.call("GET", userPath, token, nil).expect(200)) {
		t.Fatal("the ETag of POST /user/'s answer is not the new user's")
	}

	t.Run("GET: the same row, the same ETag; If-None-Match answers 304", func(t *testing.T) {
		for _, path := range []string{ticketPath, employeePath, userPath, "/user/username/support",
			"/user/email/support@example.com", "/user/phone/%2B491298760001"} {
			first := ts.call("GET", path, token, nil).expect(200)
			tag := etTag(t, first)
			if again := etTag(t, ts.call("GET", path, token, nil).expect(200)); again != tag {
				t.Fatalf("%s: ETag %s, then %s", path, tag, again)
			}
			for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
				res := ts.call("GET", path, token, nil, "If-None-Match", inm).expect(304)
				if len(res.body) != 0 || res.header.Get("ETag") != tag {
					t.Fatalf("%s If-None-Match %s: ETag %q, body %q", path, inm, res.header.Get("ETag"), res.body)
				}
			}
			if res := ts.call("GET", path, token, nil, "If-None-Match", `"other"`).expect(200); string(res.body) != string(first.body) {
				t.Fatalf("%s If-None-Match of another tag: %s", path, res.body)
			}
		}
	})

	t.Run("a write's answer carries the new ETag, which GET then gives", func(t *testing.T) {
		before := etTag(t, ts.call("GET", ticketPath, token, nil).expect(200))
		body := validTicket()
		body["status"] = "Open"
		after := etTag(t, ts.call("PUT", ticketPath, token, body, "If-Match", before).expect(200))
		if after == before || etTag(t, ts.call("GET", ticketPath, token, nil).expect(200)) != after {
			t.Fatalf("ETag before %s, after %s", before, after)
		}
		ts.call("GET", ticketPath, token, nil, "If-None-Match", before).expect(200)
	})

	t.Run("an employee's ETag changes with its tickets", func(t *testing.T) {
		tag := etTag(t, ts.call("GET", employeePath, token, nil).expect(200))
		body := validTicket()
		body["title"] = "Printer problem"
		ts.call("PUT", ticketPath, token, body).expect(200)
		changed := etTag(t, ts.call("GET", employeePath, token, nil).expect(200))
		if changed == tag {
			t.Fatal("a ticket changed, the employee's ETag did not")
		}
		ts.call("PUT", employeePath, token, validEmployee(1), "If-Match", tag).expect(412)
		added := ts.call("POST", "/ticket"+employeePath[len("/employee"):], token, validTicket()).expect(200)
		if etTag(t, ts.call("GET", employeePath, token, nil).expect(200)) == changed {
			t.Fatal("a ticket was added, the employee's ETag did not change")
		}
		ts.call("DELETE", fmt.Sprintf("/ticket/%d", int64(added.obj()["id"].(float64))), token, nil).expect(200)
		if etTag(t, ts.call("GET", employeePath, token, nil).expect(200)) != changed {
			t.Fatal("the added ticket is gone: the employee's answer, and ETag, should be as before")
		}
	})

	t.Run("If-Match: a stale or weak tag is 412 and changes nothing", func(t *testing.T) {
		writes := []struct {
			method, path string
			body         any
		}{
			{"PUT", ticketPath, validTicket()},
			{"PUT", employeePath, validEmployee(1)},
			{"PUT", userPath, validNewUser("support", 1)},
			{"PATCH", userPath + "/contacts", map[string]any{"first_name": "Berit", "last_name": "Nielsen", "phone": "+491298760001", "email": "support@example.com"}},
			{"PATCH", userPath + "/username", map[string]any{"username": "helper"}},
			{"PATCH", userPath + "/role", map[string]any{"role": []string{"manager"}}},
			{"PATCH", userPath + "/disabled", map[string]any{"disabled": true}},
			{"PATCH", userPath + "/login_denied", map[string]any{"login_denied": true}},
			{"PATCH", userPath + "/password", map[string]any{"password": "N3wPassword!"}},
			{"DELETE", ticketPath, nil},
		}
		for _, wr := range writes {
			readPath := wr.path
			if wr.method == "PATCH" {
				readPath = userPath
			}
			current := ts.call("GET", readPath, token, nil).expect(200)
			tag := etTag(t, current)
			for _, stale := range []string{`"00000000000000000000000000000000"`, "W/" + tag} {
				ts.call(wr.method, wr.path, token, wr.body, "If-Match", stale).
					expect(412, "Precondition Failed: the resource changed since the ETag given in If-Match")
				if now := ts.call("GET", readPath, token, nil).expect(200); string(now.body) != string(current.body) {
					t.Fatalf("%s %s with If-Match %s changed the record: %s, was %s", wr.method, wr.path, stale, now.body, current.body)
				}
			}
			ts.call(wr.method, wr.path, token, wr.body, "If-Match", `"stale", `+tag).expect(200)
		}
		ts.call("DELETE", ticketPath, token, nil, "If-Match", "*").expect(404, "Ticket not found")
		ts.call("PUT", ticketPath, token, validTicket(), "If-Match", `"00000000000000000000000000000000"`).expect(404, "Ticket not found")
	})

	t.Run("If-Match: * needs only the record", func(t *testing.T) {
		res := ts.call("POST", "/ticket"+employeePath[len("/employee"):], token, validTicket()).expect(200)
		path := fmt.Sprintf("/ticket/%d", int64(res.obj()["id"].(float64)))
		ts.call("PUT", path, token, validTicket(), "If-Match", "*").expect(200)
		ts.call("DELETE", path, token, nil, "If-Match", "*").expect(200)
	})
}

// TestLostUpdate: two clients read one ticket, then both write it with the
// ETag they read. Whichever comes second is refused, in either order and
// when both are sent at once.
func TestLostUpdate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, alice := ts.userWithToken("alice", "admin")
	_, bob := ts.userWithToken("bobby", "manager")
	employee := int64(ts.call("POST", "/employee/", alice, validEmployee(1)).expect(200).obj()["id"].(float64))
	path := fmt.Sprintf("/ticket/%d", int64(ts.call("POST", fmt.Sprintf("/ticket/%d", employee), alice, validTicket()).expect(200).obj()["id"].(float64)))
	edit := func(status string) map[string]any {
		body := validTicket()
		body["status"] = status
		return body
	}

	for i, order := range [][2]string{{alice, bob}, {bob, alice}} {
		tag := etTag(t, ts.call("GET", path, order[0], nil).expect(200))
		first := fmt.Sprintf("First %d", i) // a write that changes what GET shows, and so the ETag
		ts.call("PUT", path, order[0], edit(first), "If-Match", tag).expect(200)
		ts.call("PUT", path, order[1], edit("Second"), "If-Match", tag).expect(412)
		if got := ts.call("GET", path, alice, nil).expect(200).obj()["status"]; got != first {
			t.Fatalf("status %v: the refused write overwrote the first", got)
		}
	}

	for round := range 20 {
		tag := etTag(t, ts.call("GET", path, alice, nil).expect(200))
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, token := range []string{alice, bob} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := fmt.Sprintf("Writer %d %d", i, round)
				statuses[i] = ts.call("PUT", path, token, edit(req[:min(len(req), 16)]), "If-Match", tag).status
			}()
		}
		wg.Wait()
		if !(statuses[0] == 200 && statuses[1] == 412 || statuses[0] == 412 && statuses[1] == 200) {
			t.Fatalf("round %d: statuses %v, want one 200 and one 412", round, statuses)
		}
		// Without If-Match, a write behaves as before: the last one wins.
		ts.call("PUT", path, bob, edit("Reset"), "If-Match", "*").expect(200)
		ts.call("PUT", path, alice, edit("Reset")).expect(200)
	}
}
