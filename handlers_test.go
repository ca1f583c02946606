package main

// handlers_test.go: handlers.go's routes and their answers (docs/api.md §5):
// the original project's happy path, every route with its exact success
// body, not-found answers, a manager who cannot lock out an admin, a
// failing database as a bare 500. FuzzTokenForm: whatever bytes arrive as a
// login form, the answer is never a 5xx. The f.Add lines are the committed
// seed corpus; .ci/run fuzzes each target for a bounded time.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
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

// valIDs are the ids of a table's rows matching where, ascending.
func valIDs(ts *testServer, table, where string, args ...any) []int64 {
	ts.t.Helper()
	return queryIDs(ts, "SELECT id FROM "+table+" "+where+" ORDER BY id", args...)
}

// queryIDs are the ids a query of one integer column returns, in its order.
func queryIDs(ts *testServer, query string, args ...any) []int64 {
	ts.t.Helper()
	rows, err := ts.store.read.QueryContext(context.Background(), query, args...)
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

func TestRBACManagerCannotLockOutAdmin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.addUser("firstadmin", "admin")
	admin := ts.addUser("bossman", "admin")
	mixed := ts.addUser("hybrid", "admin", "support")
	plain := ts.addUser("plain", "support")
	_, managerToken := ts.userWithToken("chief", "manager")

	for _, target := range []*User{admin, mixed} {
		for _, field := range []string{"disabled", "login_denied"} {
			t.Run(fmt.Sprintf("manager cannot set %s on %s", field, target.Username), func(t *testing.T) {
				before := rbacSnapshot(t, ts.store)
				rbacRefused(t, rbacOn(ts, t).call("PATCH", fmt.Sprintf("/user/%d/%s", target.ID, field), managerToken,
					map[string]any{field: true}))
				rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
			})
		}
	}
	t.Run("manager may still disable a user without admin", func(t *testing.T) {
		u := rbacOn(ts, t).call("PATCH", fmt.Sprintf("/user/%d/disabled", plain.ID), managerToken,
			map[string]any{"disabled": true}).expect(http.StatusOK).obj()
		if u["disabled"] != true {
			t.Fatalf("user %v", u)
		}
	})
}

// TestOwnPasswordChangeCurrentPassword: PATCH /user/password takes the
// current password. Without require_current_password a client of the
// original, which sends none, still works; a current password that is
// given must be right, or the answer is a wrong login's and nothing
// changes, and each wrong one counts against the login throttle. With
// require_current_password it must be given.
func TestOwnPasswordChangeCurrentPassword(t *testing.T) {
	t.Parallel()
	const newPassword = "N3wPassw0rd#"
	t.Run("optional by default", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(c *Config) { c.LoginThrottle.MaxFailuresPerUser = 3 })
		_, token := ts.userWithToken("oldclient", "support")
		ts.call("PATCH", "/user/password", token, map[string]any{"password": newPassword}).expect(200)
		token = ts.token("oldclient", newPassword)

		p := ts.call("PATCH", "/user/password", token, map[string]any{"password": testPassword, "current_password": 12345678}).
			expect(422).problems()
		if len(p) != 1 || p[0].Type != "string_type" || !reflect.DeepEqual(p[0].Loc, []any{"body", "current_password"}) {
			t.Fatalf("a current_password that is no string: %+v", p)
		}
		for i := 0; i < 3; i++ {
			before := rbacSnapshot(t, ts.store)
			rbacError(t, ts.call("PATCH", "/user/password", token, map[string]any{"password": testPassword, "current_password": "Wr0ng!pass"}),
				http.StatusBadRequest, "Incorrect User name or password", "")
			rbacUnchanged(t, before, rbacSnapshot(t, ts.store))
		}
		// The third wrong one blocked the pair, for a right current password and a login alike.
		res := ts.call("PATCH", "/user/password", token, map[string]any{"password": testPassword, "current_password": newPassword})
		rbacError(t, res, http.StatusTooManyRequests, "Too many failed login attempts", "")
		if res.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		ts.form("/token", url.Values{"username": {"oldclient"}, "password": {newPassword}}).expect(http.StatusTooManyRequests)
		ts.call("GET", "/me", token, nil).expect(200) // the token itself still works

		_, other := ts.userWithToken("newclient", "support")
		rbacJSONBody(t, ts.call("PATCH", "/user/password", other, map[string]any{"password": newPassword, "current_password": testPassword}).
			expect(200), map[string]string{"message": "Password changed successfully"})
		ts.token("newclient", newPassword)
	})
	t.Run("required with require_current_password", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(c *Config) { c.RequireCurrentPassword = true })
		_, token := ts.userWithToken("careful", "support")
		p := ts.call("PATCH", "/user/password", token, map[string]any{"password": newPassword}).expect(422).problems()
		if len(p) != 1 || p[0].Type != "missing" || !reflect.DeepEqual(p[0].Loc, []any{"body", "current_password"}) {
			t.Fatalf("no current_password: %+v", p)
		}
		rbacError(t, ts.call("PATCH", "/user/password", token, map[string]any{"password": newPassword, "current_password": "Wr0ng!pass"}),
			http.StatusBadRequest, "Incorrect User name or password", "")
		ts.call("PATCH", "/user/password", token, map[string]any{"password": newPassword, "current_password": testPassword}).expect(200)
		ts.token("careful", newPassword)
	})
}

// A database that fails mid-request is a 500 {"detail":"Internal Server
// Error"} with nothing of the failure in it, on cached routes too; the log
// has the cause, with the request id (docs/api.md §1).
func TestDatabaseFailureIs500(t *testing.T) {
	ts := newTestServer(t)
	_, token := ts.userWithToken("dbfail", "admin")
	e := ts.call("POST", "/employee/", token, validEmployee(8300)).expect(200).obj()
	path := fmt.Sprintf("/employee/%v", e["id"])
	ts.call("GET", path, token, nil).expect(200) // warm the caches
	ts.call("GET", "/me", token, nil).expect(200)
	if err := ts.store.Close(); err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{"/me", path, "/employee/", "/ticket/"} {
		id := fmt.Sprintf("dbfail-%d", i)
		res := ts.call("GET", p, token, nil, "X-Request-ID", id).expect(500)
		if body := strings.TrimSpace(string(res.body)); body != `{"detail":"Internal Server Error"}` {
			t.Errorf("GET %s after the database closed: %s", p, body)
		}
		if log := ts.log.String(); !strings.Contains(log, `msg="internal error"`) || !strings.Contains(log, "request_id="+id) {
			t.Errorf("GET %s: no internal error with request_id=%s in the log:\n%s", p, id, log)
		}
	}
}

// fuzzServer is a server to call in-process, with a manager's token.
func fuzzServer(f *testing.F) (*testServer, string) {
	ts := newTestServer(f)
	_, token := ts.userWithToken("fuzzer", "admin", "manager")
	return ts, token
}

// serve runs one request in-process and returns the status.
func (ts *testServer) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	ts.app.ServeHTTP(rec, r)
	return rec
}

func FuzzTokenForm(f *testing.F) {
	ts, _ := fuzzServer(f)
	f.Add("application/x-www-form-urlencoded", "username=fuzzer&password=Passw0rd!")
	f.Add("application/x-www-form-urlencoded", "username=fuzzer&password=x&grant_type=client_credentials")
	f.Add("application/x-www-form-urlencoded", "username=%ff%fe&password=%00&scope=scope_example+x")
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nfuzzer\r\n--X--\r\n")
	f.Add("multipart/form-data", "garbage")
	f.Add("text/plain", "username=fuzzer")
	f.Add("", "&&&===;;")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest("POST", "/api/v1/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.RemoteAddr = "192.0.2.1:1234" // a throttled answer is fine: it is a 429, not a 5xx
		rec := ts.serve(r)
		if rec.Code >= 500 {
			t.Fatalf("content type %q body %q: %d %s", contentType, body, rec.Code, rec.Body)
		}
	})
}
