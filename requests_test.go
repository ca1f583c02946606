package main

import (
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// requests_test.go: requests.go: reading a request: paging parameters
// (skip, limit, after_id), path ids, body size limits, and FuzzJSONBody:
// whatever bytes arrive as a JSON body, the answer is a documented 4xx or
// 200, never a 500.

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

func FuzzJSONBody(f *testing.F) {
	ts, token := fuzzServer(f)
	seeds := []string{
		`{"first_name":"Jürgen","last_name":"Müller","nick_name":"Jue","phone":"+380504430000","email":"j@example.com","birthday":"1990-02-28","country":"Germany","city":"München","address":"Khreschatyk St, 14, UA 01001"}`,
		`{"title":"Network problem","description":"Cannot reach it.","status":"New"}`,
		`{"username":"abcde","role":["admin","admin"],"disabled":true,"password":"Passw0rd!"}`,
		`{"birthday":"1990-02-30","phone":12,"role":"admin","disabled":"yes"}`,
		`[]`, `"x"`, `3`, `null`, `{`, `{"a":1}{"b":2}`, "{\"first_name\":\"\xff\xfe\"}", `{"role":[1,null,{}]}`,
		`{"first_name":"` + strings.Repeat("é", 40) + `"}`, `{"id":1e400}`,
	}
	routes := []string{"POST /api/v1/employee/", "PUT /api/v1/employee/1", "POST /api/v1/ticket/1",
		"PUT /api/v1/ticket/1", "POST /api/v1/user/", "PUT /api/v1/user/1", "PATCH /api/v1/user/1/role",
		"PATCH /api/v1/user/1/contacts", "PATCH /api/v1/user/1/disabled", "PATCH /api/v1/user/password"}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		method, path, _ := strings.Cut(routes[int(route)%len(routes)], " ")
		if path == "/api/v1/user/password" || path == "/api/v1/user/1/disabled" || path == "/api/v1/user/1/role" {
			// Keep the fuzzing user able to log in: change someone else.
			path = strings.Replace(path, "/password", "/2/contacts", 1)
		}
		r := httptest.NewRequest(method, path, strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		rec := ts.serve(r)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
	})
}
