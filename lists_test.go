package main

// lists_test.go: the filters and sort orders of the list routes
// (docs/api.md §5, "Filters and sorting"), end to end, on whichever
// database the suite runs on.

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// ltIDs is the ids of a list answer, in order.
func ltIDs(res *response) []int64 {
	var ids []int64
	for _, item := range res.list() {
		ids = append(ids, int64(item["id"].(float64)))
	}
	return ids
}

// ltSetCreated sets a row's created time, which the API never lets a client choose
// (nil: none, as in a row copied from the original).
func ltSetCreated(t *testing.T, ts *testServer, table string, id int64, created any) {
	t.Helper()
	err := ts.store.inTx(context.Background(), func(tx *txn) error {
		_, err := tx.ExecContext(context.Background(), "UPDATE "+table+" SET created = ? WHERE id = ?", created, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ltProblem is one entry a 422 must hold: where and which type.
type ltProblem struct{ name, typ string }

// ltExpectProblems fails unless res is a 422 naming exactly these problems.
func ltExpectProblems(t *testing.T, query string, res *response, want ...ltProblem) {
	t.Helper()
	if res.status != 422 {
		t.Fatalf("?%s: status %d, want 422: %s", query, res.status, res.body)
	}
	var got []ltProblem
	for _, p := range res.problems() {
		if len(p.Loc) != 2 || p.Loc[0] != "query" {
			t.Fatalf("?%s: problem at %v, want a query parameter: %s", query, p.Loc, res.body)
		}
		got = append(got, ltProblem{p.Loc[1].(string), p.Type})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("?%s: problems %v, want %v: %s", query, got, want, res.body)
	}
}

func TestListTicketsFiltersAndSort(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin, adminToken := ts.userWithToken("admin", "admin")
	support, supportToken := ts.userWithToken("support", "support")
	e1 := int64(ts.call("POST", "/employee/", adminToken, validEmployee(1)).expect(200).obj()["id"].(float64))
	e2 := int64(ts.call("POST", "/employee/", adminToken, validEmployee(2)).expect(200).obj()["id"].(float64))
	rows := []struct {
		employee                   int64
		token                      string
		status, title, description string
		created                    string
	}{
		{e1, adminToken, "New", "Printer does not print", "Paper jam in tray two", "2025-01-01 10:00:00"},
		{e1, supportToken, "Open", "Laptop screen broken", "Screen flickers after login.", "2025-01-02 10:00:00"},
		{e2, adminToken, "New", "O'Brien cannot log in", "Password reset needed", "2025-01-03 10:00:00"},
		{e2, supportToken, "Closed", "printer toner empty", "Replace the toner please", "2025-01-03 10:00:00"},
		{e1, adminToken, "new", "VPN fails at home", "Timeout after 30 seconds", "2025-01-04 00:00:00"},
	}
	id := make([]int64, len(rows)+1) // id[n] is the n-th ticket's id, from 1
	for i, r := range rows {
		body := map[string]any{"title": r.title, "description": r.description, "status": r.status}
		id[i+1] = int64(ts.call("POST", fmt.Sprintf("/ticket/%d", r.employee), r.token, body).expect(200).obj()["id"].(float64))
		ltSetCreated(t, ts, "tickets", id[i+1], r.created)
	}
	ids := func(n ...int) []int64 {
		res := []int64{}
		for _, i := range n {
			res = append(res, id[i])
		}
		return res
	}

	cases := []struct {
		path, query string
		want        []int64
	}{
		{"/ticket/", "", ids(1, 2, 3, 4, 5)},
		{"/ticket/", "status=New", ids(1, 3)},
		{"/ticket/", "status=New&status=Closed", ids(1, 3, 4)},
		{"/ticket/", "status=Nowhere", ids()},
		{"/ticket/", fmt.Sprintf("employee_id=%d", e1), ids(1, 2, 5)},
		{"/ticket/", "employee_id=0", ids()},
		{"/ticket/", fmt.Sprintf("creator_id=%d", support.ID), ids(2, 4)},
		{"/ticket/", fmt.Sprintf("employee_id=%d&creator_id=%d", e2, admin.ID), ids(3)},
		{"/ticket/", "created_after=2025-01-03", ids(3, 4, 5)},
		{"/ticket/", "created_before=2025-01-03", ids(1, 2)},
		{"/ticket/", "created_after=2025-01-02T10:00:00Z&created_before=2025-01-03T10:00:01Z", ids(2, 3, 4)},
		{"/ticket/", "created_after=" + url.QueryEscape("2025-01-03T12:00:00+02:00"), ids(3, 4, 5)},
		{"/ticket/", "created_after=2025-01-03T10:00:00.5Z", ids(5)},
		{"/ticket/", "created_after=2026-01-01", ids()},
		{"/ticket/", "q=printer", ids(1, 4)},
		{"/ticket/", "q=PRINT", ids(1, 4)},
		{"/ticket/", "q=toner", ids(4)},
		{"/ticket/", "q=jam", ids(1)},
		{"/ticket/", "q=", ids(1, 2, 3, 4, 5)},
		// q is text: LIKE's and SQL's metacharacters match only themselves.
		{"/ticket/", "q=" + url.QueryEscape("'"), ids(3)},
		{"/ticket/", "q=" + url.QueryEscape("%"), ids()},
		{"/ticket/", "q=_", ids()},
		{"/ticket/", "q=" + url.QueryEscape(`\`), ids()},
		{"/ticket/", "q=" + url.QueryEscape("r%t"), ids()},
		{"/ticket/", "q=" + url.QueryEscape("' OR '1'='1"), ids()},
		{"/ticket/", "q=" + url.QueryEscape("'; DROP TABLE tickets; --"), ids()},
		{"/ticket/", "sort=created", ids(1, 2, 3, 4, 5)},
		{"/ticket/", "sort=-created", ids(5, 4, 3, 2, 1)}, // ties go the way of the last field
		{"/ticket/", "sort=-created,id", ids(5, 3, 4, 2, 1)},
		{"/ticket/", "sort=-created,-id", ids(5, 4, 3, 2, 1)},
		{"/ticket/", "sort=-id", ids(5, 4, 3, 2, 1)},
		{"/ticket/", "sort=id,-created", ids(1, 2, 3, 4, 5)},
		{"/ticket/", "sort=status", ids(4, 1, 3, 2, 5)}, // byte order: uppercase first
		{"/ticket/", "sort=-status", ids(5, 2, 3, 1, 4)},
		{"/ticket/", "sort=title", ids(2, 3, 1, 5, 4)},
		{"/ticket/", "sort=employee_id,-created", ids(5, 2, 1, 4, 3)},
		{"/ticket/", "status=New&sort=-id&limit=1", ids(3)},
		{"/ticket/", "status=New&skip=1", ids(3)},
		{"/ticket/", fmt.Sprintf("status=new&employee_id=%d&q=vpn", e1), ids(5)},
		{"/ticket/", fmt.Sprintf("status=New&after_id=%d", id[1]), ids(3)},
		{"/ticket/", "q=printer&sort=-created&limit=0", ids()},
		{"/ticket/my/", "", ids(2, 4)},
		{"/ticket/my/", "status=Open", ids(2)},
		{"/ticket/my/", "sort=-id", ids(4, 2)},
		{"/ticket/my/", fmt.Sprintf("creator_id=%d", admin.ID), ids()},
	}
	for _, c := range cases {
		t.Run(c.path+"?"+c.query, func(t *testing.T) {
			got := ltIDs(ts.call("GET", c.path+"?"+c.query, supportToken, nil).expect(200))
			if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Fatalf("ids %v, want %v", got, c.want)
			}
		})
	}

	t.Run("a descending sort is its ascending sort reversed", func(t *testing.T) {
		for _, field := range ticketList.sortFields {
			up := ltIDs(ts.call("GET", "/ticket/?sort="+field, supportToken, nil).expect(200))
			down := ltIDs(ts.call("GET", "/ticket/?sort=-"+field, supportToken, nil).expect(200))
			slices.Reverse(down)
			if len(up) != 5 || !slices.Equal(up, down) {
				t.Errorf("sort=%s: %v, and sort=-%s reversed: %v", field, up, field, down)
			}
		}
	})

	// A row copied from the original may have no created: the range
	// filters leave it out, as the plain comparison did.
	t.Run("a ticket without created is in no range of it", func(t *testing.T) {
		defer ltSetCreated(t, ts, "tickets", id[2], rows[1].created)
		ltSetCreated(t, ts, "tickets", id[2], nil)
		before := ltIDs(ts.call("GET", "/ticket/?created_before=2100-01-01", supportToken, nil).expect(200))
		after := ltIDs(ts.call("GET", "/ticket/?created_after=2000-01-01", supportToken, nil).expect(200))
		if want := ids(1, 3, 4, 5); !slices.Equal(before, want) || !slices.Equal(after, want) {
			t.Errorf("created_before finds %v, created_after %v; want %v for both", before, after, want)
		}
	})

	t.Run("no filter answers as without the parameters", func(t *testing.T) {
		for _, path := range []string{"/ticket/", "/ticket/my/"} {
			plain := ts.call("GET", path, supportToken, nil).expect(200).body
			for _, query := range []string{"sort=id", "q=", "sort=id,-created"} {
				if got := ts.call("GET", path+"?"+query, supportToken, nil).expect(200).body; string(got) != string(plain) {
					t.Errorf("%s?%s: %s, want %s", path, query, got, plain)
				}
			}
		}
	})

	bad := []struct {
		query string
		want  []ltProblem
	}{
		{"status=x", []ltProblem{{"status", "string_too_short"}}},
		{"status=New&status=" + url.QueryEscape("a%b"), []ltProblem{{"status", "string_pattern_mismatch"}}},
		{"status=%FF%FE%FD", []ltProblem{{"status", "string_unicode"}}},
		{"employee_id=abc", []ltProblem{{"employee_id", "int_parsing"}}},
		{"employee_id=-1", []ltProblem{{"employee_id", "greater_than_equal"}}},
		{"creator_id=1.5", []ltProblem{{"creator_id", "int_parsing"}}},
		{"created_after=2025-13-01", []ltProblem{{"created_after", "datetime_parsing"}}},
		{"created_before=yesterday", []ltProblem{{"created_before", "datetime_parsing"}}},
		{"created_after=2025-01-01T10:00:00", []ltProblem{{"created_after", "datetime_parsing"}}},
		{"created_after=", []ltProblem{{"created_after", "datetime_parsing"}}},
		{"sort=bogus", []ltProblem{{"sort", "enum"}}},
		{"sort=id,id", []ltProblem{{"sort", "enum"}}},
		{"sort=created,-created", []ltProblem{{"sort", "enum"}}},
		{"sort=", []ltProblem{{"sort", "enum"}}},
		{"sort=-created,,id", []ltProblem{{"sort", "enum"}}},
		{"sort=%2Bid", []ltProblem{{"sort", "enum"}}},
		{"sort=description", []ltProblem{{"sort", "enum"}}},
		{"q=" + strings.Repeat("a", 65), []ltProblem{{"q", "string_too_long"}}},
		{"q=%00", []ltProblem{{"q", "string_unicode"}}},
		{"status=x&employee_id=y&sort=nope&skip=-1", []ltProblem{{"skip", "greater_than_equal"},
			{"status", "string_too_short"}, {"employee_id", "int_parsing"}, {"sort", "enum"}}},
	}
	for _, c := range bad {
		for _, path := range []string{"/ticket/", "/ticket/my/"} {
			t.Run("422 "+path+"?"+c.query, func(t *testing.T) {
				ltExpectProblems(t, c.query, ts.call("GET", path+"?"+c.query, supportToken, nil), c.want...)
			})
		}
	}
}

// TestListTicketsPagingWhileAdding pages through a filtered list with
// after_id while tickets are added: every matching ticket is seen once, in
// order, those added during the walk included.
func TestListTicketsPagingWhileAdding(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	employee := int64(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"].(float64))
	var matching []int64
	add := func(status string) {
		body := map[string]any{"title": "Network problem", "description": "Cannot reach the share", "status": status}
		ticket := int64(ts.call("POST", fmt.Sprintf("/ticket/%d", employee), token, body).expect(200).obj()["id"].(float64))
		if status == "New" {
			matching = append(matching, ticket)
		}
	}
	for i := range 7 {
		add([]string{"New", "Open"}[i%2])
	}
	var seen []int64
	after := int64(0)
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatal("paging did not end")
		}
		got := ltIDs(ts.call("GET", fmt.Sprintf("/ticket/?status=New&q=network&limit=2&after_id=%d", after), token, nil).expect(200))
		seen = append(seen, got...)
		if len(got) < 2 {
			break
		}
		after = got[len(got)-1]
		if page < 3 { // rows arrive while the client is between pages
			add("Open")
			add("New")
		}
	}
	if !slices.Equal(seen, matching) {
		t.Fatalf("paged through %v, want every matching ticket once: %v", seen, matching)
	}
}

func TestListEmployeesFiltersAndSort(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	people := []struct {
		first, last, nick, email, country, city, created string
	}{
		{"Anna", "Schmidt", "Annie", "anna@example.com", "Germany", "Berlin", "2025-01-01 10:00:00"},
		{"Jürgen", "Müller", "Jue", "juergen@example.com", "Germany", "München", "2025-01-03 10:00:00"},
		{"Olena", "Shevchenko", "Olena", "o_lena@example.com", "Ukraine", "Lviv", "2025-01-03 10:00:00"},
		{"Bob", "O'Neil", "Bobby", "b%ob@example.com", "Ukraine", "Kyiv", "2025-01-02 10:00:00"},
	}
	id := make([]int64, len(people)+1) // id[n] is the n-th employee's id, from 1
	for i, p := range people {
		body := validEmployee(i + 1)
		body["first_name"], body["last_name"], body["nick_name"], body["email"] = p.first, p.last, p.nick, p.email
		body["country"], body["city"] = p.country, p.city
		id[i+1] = int64(ts.call("POST", "/employee/", token, body).expect(200).obj()["id"].(float64))
		ltSetCreated(t, ts, "employees", id[i+1], p.created)
	}
	for range 2 {
		ts.call("POST", fmt.Sprintf("/ticket/%d", id[2]), token, validTicket()).expect(200)
	}
	ids := func(n ...int) []int64 {
		res := []int64{}
		for _, i := range n {
			res = append(res, id[i])
		}
		return res
	}

	cases := []struct {
		query string
		want  []int64
	}{
		{"", ids(1, 2, 3, 4)},
		{"country=germany", ids(1, 2)},
		{"country=GERMANY&city=berlin", ids(1)},
		{"city=Lviv", ids(3)},
		{"country=France", ids()},
		{"q=schmidt", ids(1)},
		{"q=" + url.QueryEscape("müller"), ids(2)},
		{"q=annie", ids(1)},
		{"q=" + url.QueryEscape("+380504430003"), ids(3)},
		{"q=JUERGEN%40", ids(2)},
		{"q=_", ids(3)},
		{"q=" + url.QueryEscape("%"), ids(4)},
		{"q=" + url.QueryEscape("'"), ids(4)},
		{"q=" + url.QueryEscape("' OR 1=1 --"), ids()},
		{"q=o&country=Ukraine", ids(3, 4)},
		{"sort=last_name", ids(2, 4, 1, 3)},
		{"sort=-created", ids(3, 2, 4, 1)},
		{"sort=-created,id", ids(2, 3, 4, 1)},
		{"sort=country,city", ids(1, 2, 4, 3)},
		{"sort=-country,first_name", ids(4, 3, 1, 2)},
		{"sort=-id", ids(4, 3, 2, 1)},
		{"q=e&sort=-id&skip=1&limit=2", ids(3, 2)},
	}
	for _, c := range cases {
		t.Run("?"+c.query, func(t *testing.T) {
			got := ltIDs(ts.call("GET", "/employee/?"+c.query, token, nil).expect(200))
			if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Fatalf("ids %v, want %v", got, c.want)
			}
		})
	}

	t.Run("each employee comes with its tickets", func(t *testing.T) {
		list := ts.call("GET", "/employee/?country=Germany&sort=-id", token, nil).expect(200).list()
		if len(list) != 2 || len(list[0]["tickets"].([]any)) != 2 || len(list[1]["tickets"].([]any)) != 0 {
			t.Fatalf("Germany's employees, newest first: %v", list)
		}
	})

	t.Run("no filter answers as without the parameters", func(t *testing.T) {
		plain := ts.call("GET", "/employee/", token, nil).expect(200).body
		for _, query := range []string{"sort=id", "q=", "sort=id,-created"} {
			if got := ts.call("GET", "/employee/?"+query, token, nil).expect(200).body; string(got) != string(plain) {
				t.Errorf("?%s: %s, want %s", query, got, plain)
			}
		}
	})

	t.Run("a filtered list is not answered from another filter's cache", func(t *testing.T) {
		for range 2 {
			for query, want := range map[string][]int64{"": ids(1, 2, 3, 4), "city=Kyiv": ids(4), "city=Lviv": ids(3)} {
				if got := ltIDs(ts.call("GET", "/employee/?"+query, token, nil).expect(200)); !slices.Equal(got, want) {
					t.Fatalf("?%s: ids %v, want %v", query, got, want)
				}
			}
		}
	})

	bad := []struct {
		query string
		want  []ltProblem
	}{
		{"country=", []ltProblem{{"country", "string_too_short"}}},
		{"city=" + strings.Repeat("a", 65), []ltProblem{{"city", "string_too_long"}}},
		{"city=%FF", []ltProblem{{"city", "string_unicode"}}},
		{"q=%00", []ltProblem{{"q", "string_unicode"}}},
		{"sort=nick_name", []ltProblem{{"sort", "enum"}}},
		{"sort=tickets", []ltProblem{{"sort", "enum"}}},
		{"sort=city,-city", []ltProblem{{"sort", "enum"}}},
		{"country=&sort=x&limit=y", []ltProblem{{"limit", "int_parsing"}, {"country", "string_too_short"}, {"sort", "enum"}}},
	}
	for _, c := range bad {
		t.Run("422 ?"+c.query, func(t *testing.T) {
			ltExpectProblems(t, c.query, ts.call("GET", "/employee/?"+c.query, token, nil), c.want...)
		})
	}
}

func TestListUsersFiltersAndSort(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin, token := ts.userWithToken("admin", "admin")
	people := []struct {
		username           string
		roles              []string
		first, last, email string
		disabled, denied   bool
		created            string
	}{
		{"manager", []string{"manager"}, "Anna", "Nielsen", "manager@example.com", false, false, "2025-01-02 10:00:00"},
		{"supporta", []string{"support"}, "Bob", "O'Hara", "sup_a@example.com", true, false, "2025-01-03 10:00:00"},
		{"supportb", []string{"manager", "support"}, "Carl", "Zed", "s%b@example.com", false, true, "2025-01-03 10:00:00"},
	}
	id := []int64{0, admin.ID} // id[n] is the n-th user's id, from 1: the admin
	ltSetCreated(t, ts, "users", admin.ID, "2025-01-01 10:00:00")
	for _, p := range people {
		u := ts.addUser(p.username, p.roles...)
		_, err := ts.store.UpdateUser(context.Background(), u.ID, func(u *User) error {
			u.FirstName, u.LastName, u.Email, u.Disabled, u.LoginDenied = p.first, p.last, p.email, p.disabled, p.denied
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ltSetCreated(t, ts, "users", u.ID, p.created)
		id = append(id, u.ID)
	}
	ids := func(n ...int) []int64 {
		res := []int64{}
		for _, i := range n {
			res = append(res, id[i])
		}
		return res
	}

	cases := []struct {
		query string
		want  []int64
	}{
		{"", ids(1, 2, 3, 4)},
		{"role=admin", ids(1)},
		{"role=manager", ids(2, 4)},
		{"role=support", ids(3, 4)},
		{"disabled=true", ids(3)},
		{"disabled=false", ids(1, 2, 4)},
		{"login_denied=true", ids(4)},
		{"login_denied=false&role=support", ids(3)},
		{"disabled=false&login_denied=false", ids(1, 2)},
		{"q=nielsen", ids(2)},
		{"q=SUPPORT", ids(3, 4)},
		{"q=carl", ids(4)},
		{"q=" + url.QueryEscape("admin@"), ids(1)},
		{"q=_", ids(3)},
		{"q=" + url.QueryEscape("%"), ids(4)},
		{"q=" + url.QueryEscape("'"), ids(3)},
		{"q=" + url.QueryEscape(`" OR ""="`), ids()},
		{"sort=username", ids(1, 2, 3, 4)},
		{"sort=-username", ids(4, 3, 2, 1)},
		{"sort=last_name", ids(2, 3, 1, 4)},
		{"sort=-created", ids(4, 3, 2, 1)},
		{"sort=-created,id", ids(3, 4, 2, 1)},
		{"sort=first_name&role=support", ids(3, 4)},
		{"role=manager&sort=-id&limit=1", ids(4)},
	}
	for _, c := range cases {
		t.Run("?"+c.query, func(t *testing.T) {
			got := ltIDs(ts.call("GET", "/user/?"+c.query, token, nil).expect(200))
			if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Fatalf("ids %v, want %v", got, c.want)
			}
		})
	}

	t.Run("no filter answers as without the parameters", func(t *testing.T) {
		plain := ts.call("GET", "/user/", token, nil).expect(200).body
		for _, query := range []string{"sort=id", "q=", "sort=id,-created"} {
			if got := ts.call("GET", "/user/?"+query, token, nil).expect(200).body; string(got) != string(plain) {
				t.Errorf("?%s: %s, want %s", query, got, plain)
			}
		}
	})

	bad := []struct {
		query string
		want  []ltProblem
	}{
		{"role=boss", []ltProblem{{"role", "enum"}}},
		{"role=Admin", []ltProblem{{"role", "enum"}}},
		{"role=", []ltProblem{{"role", "enum"}}},
		{"disabled=yes", []ltProblem{{"disabled", "bool_parsing"}}},
		{"disabled=1", []ltProblem{{"disabled", "bool_parsing"}}},
		{"login_denied=", []ltProblem{{"login_denied", "bool_parsing"}}},
		{"sort=password", []ltProblem{{"sort", "enum"}}},
		{"sort=hashed_password", []ltProblem{{"sort", "enum"}}},
		{"sort=role", []ltProblem{{"sort", "enum"}}},
		{"q=%FF", []ltProblem{{"q", "string_unicode"}}},
		{"role=x&disabled=x&login_denied=x&sort=x", []ltProblem{{"role", "enum"}, {"disabled", "bool_parsing"},
			{"login_denied", "bool_parsing"}, {"sort", "enum"}}},
	}
	for _, c := range bad {
		t.Run("422 ?"+c.query, func(t *testing.T) {
			ltExpectProblems(t, c.query, ts.call("GET", "/user/?"+c.query, token, nil), c.want...)
		})
	}
}
