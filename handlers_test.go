package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestOriginalHappyPath is the original project's own walk through the API:
// admin creates a manager, the manager works with employees and tickets,
// and once deleted the manager's token stops working.
func TestOriginalHappyPath(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser("admin", "admin")
	admin := ts.token("admin", testPassword)

	manager := ts.call("POST", "/user/", admin, map[string]any{
		"username": "manager", "first_name": "Anna", "last_name": "Nielsen", "phone": "+491298763523",
		"email": "manager@fastapi.com", "role": []string{"manager"}, "password": "passWord@2",
	}).expect(200).obj()
	if manager["username"] != "manager" || manager["updated"] != nil || manager["disabled"] != false {
		t.Fatalf("created manager: %v", manager)
	}
	if _, leaked := manager["hashed_password"]; leaked {
		t.Fatal("the user object shows its password hash")
	}
	managerID := int(manager["id"].(float64))

	token := ts.token("manager", "passWord@2")
	me := ts.call("GET", "/me", token, nil).expect(200).obj()
	if me["username"] != "manager" || me["role"].([]any)[0] != "manager" {
		t.Fatalf("/me: %v", me)
	}
	if got := ts.call("GET", "/status", token, nil).expect(200).obj(); got["status"] != "ok" {
		t.Fatalf("/status: %v", got)
	}

	employee := ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()
	employeeID := itoaID(employee["id"])
	if len(employee["tickets"].([]any)) != 0 || employee["first_name"] != "Jürgen" {
		t.Fatalf("created employee: %v", employee)
	}
	read := ts.call("GET", "/employee/"+employeeID, token, nil).expect(200).obj()
	if read["email"] != "emp0001@example.com" {
		t.Fatalf("read employee: %v", read)
	}
	changed := validEmployee(1)
	changed["city"] = "Kyiv"
	updated := ts.call("PUT", "/employee/"+employeeID, token, changed).expect(200).obj()
	if updated["city"] != "Kyiv" || !isTimestamp(updated["updated"]) || updated["created"] != employee["created"] {
		t.Fatalf("updated employee: %v", updated)
	}

	ticket := ts.call("POST", "/ticket/"+employeeID, token, validTicket()).expect(200).obj()
	if itoaID(ticket["owner_id"]) != itoaID(float64(managerID)) || itoaID(ticket["employee_id"]) != employeeID {
		t.Fatalf("created ticket: %v", ticket)
	}
	mine := ts.call("GET", "/ticket/my/", token, nil).expect(200).list()
	if len(mine) != 1 || mine[0]["id"] != ticket["id"] {
		t.Fatalf("/ticket/my/: %v", mine)
	}
	withTicket := ts.call("GET", "/employee/"+employeeID, token, nil).expect(200).obj()
	if tickets := withTicket["tickets"].([]any); len(tickets) != 1 || tickets[0].(map[string]any)["title"] != "Network problem" {
		t.Fatalf("employee's tickets: %v", withTicket["tickets"])
	}

	ticketID := itoaID(ticket["id"])
	if got := ts.call("DELETE", "/ticket/"+ticketID, token, nil).expect(200).obj(); got["message"] != "Ticket deleted successfully" {
		t.Fatalf("delete ticket: %v", got)
	}
	if got := ts.call("DELETE", "/employee/"+employeeID, token, nil).expect(200).obj(); got["message"] != "Employee deleted successfully" {
		t.Fatalf("delete employee: %v", got)
	}
	ts.call("GET", "/employee/"+employeeID, token, nil).expect(404, "Employee not found")

	if got := ts.call("DELETE", "/user/"+itoaID(float64(managerID)), admin, nil).expect(200).obj(); got["message"] != "User deleted successfully" {
		t.Fatalf("delete user: %v", got)
	}
	ts.call("GET", "/me", token, nil).expect(400, "Incorrect User name or password")
}

var timestampPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)

func isTimestamp(v any) bool {
	s, ok := v.(string)
	return ok && timestampPattern.MatchString(s)
}

// itoaID prints a JSON number id as a path segment.
func itoaID(v any) string {
	f, _ := v.(float64)
	return fmt.Sprint(int64(f))
}

// TestPanicBecomes500: a handler that panics answers the spec's 500 body,
// with no stack trace or internals, and the log has both, with the request id.
func TestPanicBecomes500(t *testing.T) {
	ts := newTestServer(t)
	ts.app.mux.HandleFunc("GET /api/v1/boom", func(w http.ResponseWriter, r *http.Request) {
		panic("secret internal state")
	})
	res := ts.call("GET", "/boom", "", nil, "X-Request-ID", "boom-1").expect(500, "Internal Server Error")
	if strings.Contains(string(res.body), "secret") || strings.Contains(string(res.body), "goroutine") {
		t.Fatalf("500 body leaks internals: %s", res.body)
	}
	ts.srv.Close()
	log := ts.log.String()
	if !strings.Contains(log, "request_id=boom-1") || !strings.Contains(log, "secret internal state") || !strings.Contains(log, "goroutine") {
		t.Fatalf("the log lacks the panic, its stack or the request id:\n%s", log)
	}
}

// TestKeysetPaging: after_id reads the page after a given id on every list
// route, the way a client walks a long list without deep skips.
func TestKeysetPaging(t *testing.T) {
	ts := newTestServer(t)
	_, token := ts.userWithToken("pager", "admin", "manager")
	ids := []any{}
	employee := itoaID(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"])
	for i := 0; i < 5; i++ {
		ids = append(ids, ts.call("POST", "/ticket/"+employee, token, validTicket()).expect(200).obj()["id"])
	}
	for _, route := range []string{"/ticket/", "/ticket/my/"} {
		t.Run(route, func(t *testing.T) {
			got := ts.call("GET", route+"?after_id="+itoaID(ids[1])+"&limit=2", token, nil).expect(200).list()
			if len(got) != 2 || got[0]["id"] != ids[2] || got[1]["id"] != ids[3] {
				t.Fatalf("page after %v: %v", ids[1], got)
			}
			if rest := ts.call("GET", route+"?after_id="+itoaID(ids[4]), token, nil).expect(200).list(); len(rest) != 0 {
				t.Fatalf("page after the last id: %v", rest)
			}
			p := ts.call("GET", route+"?after_id=-1", token, nil).expect(422).problems()
			if len(p) != 1 || p[0].Type != "greater_than_equal" || p[0].Loc[1] != "after_id" {
				t.Fatalf("negative after_id: %v", p)
			}
		})
	}
	t.Run("/employee/ and /user/", func(t *testing.T) {
		if got := ts.call("GET", "/employee/?after_id="+employee, token, nil).expect(200).list(); len(got) != 0 {
			t.Fatalf("employees after the only one: %v", got)
		}
		if got := ts.call("GET", "/user/?after_id=0", token, nil).expect(200).list(); len(got) != 1 || got[0]["username"] != "pager" {
			t.Fatalf("users after 0: %v", got)
		}
	})
}
