package main

// paging_test.go: X-Total-Count and the Link to the next page of a
// filtered or sorted list (docs/api.md §5, "Paging headers").

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ptLinkRE is a Link header to the next page; its target is under the root path.
var ptLinkRE = regexp.MustCompile(`^<(/api/v1/[^>]+)>; rel="next"$`)

// ptFollow reads path and every page its Link headers lead to, and returns
// the ids in the order read, the Links followed and the X-Total-Count of each page.
func ptFollow(t *testing.T, ts *testServer, token, path string) (ids []int64, links []string, totals []int) {
	t.Helper()
	for page := 0; path != ""; page++ {
		if page > 50 {
			t.Fatalf("the Links did not end: %v", links)
		}
		res := ts.call("GET", path, token, nil).expect(200)
		ids = append(ids, ltIDs(res)...)
		total, err := strconv.Atoi(res.header.Get("X-Total-Count"))
		if err != nil {
			t.Fatalf("%s: X-Total-Count %q", path, res.header.Get("X-Total-Count"))
		}
		totals = append(totals, total)
		path = ""
		if link := res.header.Get("Link"); link != "" {
			m := ptLinkRE.FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("%s: Link %q is no link to a next page", path, link)
			}
			links = append(links, m[1])
			path = strings.TrimPrefix(m[1], ts.cfg.RootPath)
		}
	}
	return ids, links, totals
}

func TestListPagingHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	e1 := int64(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"].(float64))
	e2 := int64(ts.call("POST", "/employee/", token, validEmployee(2)).expect(200).obj()["id"].(float64))
	statuses := []string{"New", "Open", "New", "Closed", "New", "New", "Open", "New", "New"}
	created := []string{"2025-01-01 10:00:00", "2025-01-03 10:00:00", "2025-01-02 10:00:00", "2025-01-02 10:00:00",
		"2025-01-02 10:00:00", "2025-01-05 10:00:00", "2025-01-01 10:00:00", "2025-01-04 10:00:00", "2025-01-02 10:00:00"}
	var ticketIDs []int64
	for i, status := range statuses {
		body := map[string]any{"title": fmt.Sprintf("Problem number %d", i%4), "description": "Cannot reach the share", "status": status}
		employee := []int64{e1, e2}[i%2]
		id := int64(ts.call("POST", fmt.Sprintf("/ticket/%d", employee), token, body).expect(200).obj()["id"].(float64))
		ltSetCreated(t, ts, "tickets", id, created[i])
		ticketIDs = append(ticketIDs, id)
	}
	// A row carried over from the original may hold NULLs: it sorts as the empty text it shows.
	err := ts.store.inTx(context.Background(), func(tx *txn) error {
		_, err := tx.ExecContext(context.Background(), "UPDATE tickets SET title = NULL WHERE id = ?", ticketIDs[4])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, query := range []string{
		"sort=id", "sort=-id", "sort=-created", "sort=created", "sort=title", "sort=-title,-created",
		"sort=status,-created", "sort=employee_id,title", "status=New", "status=New&sort=-created",
		fmt.Sprintf("employee_id=%d&sort=-created", e2), "q=number&sort=title", "status=Open&status=Closed&sort=-id",
		fmt.Sprintf("after_id=%d&sort=-created", ticketIDs[2]), "status=Nowhere",
	} {
		for _, limit := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s&limit=%d", query, limit), func(t *testing.T) {
				want := ltIDs(ts.call("GET", "/ticket/?"+query, token, nil).expect(200))
				got, links, totals := ptFollow(t, ts, token, fmt.Sprintf("/ticket/?%s&limit=%d", query, limit))
				if !slices.Equal(got, want) && len(want)+len(got) > 0 {
					t.Fatalf("followed the Links through %v, want %v (links %v)", got, want, links)
				}
				if pages := max(1, (len(want)+limit-1)/limit); len(links) != pages-1 {
					t.Errorf("%d Links for %d items, %d a page: %v", len(links), len(want), limit, links)
				}
				count := len(want)
				if strings.Contains(query, "after_id") { // after_id is paging: the count is the filters'
					count = len(statuses)
				}
				for _, total := range totals {
					if total != count {
						t.Errorf("X-Total-Count %v, want %d on every page", totals, count)
						break
					}
				}
				for _, link := range links {
					byID := strings.HasPrefix(query, "sort=id") || !strings.Contains(query, "sort=")
					if byID && !strings.Contains(link, "after_id=") || byID == strings.Contains(link, "cursor=") {
						t.Errorf("Link %s: want after_id when sorted by id, else a cursor", link)
					}
				}
			})
		}
	}

	t.Run("the Link keeps the query, keyset replacing skip", func(t *testing.T) {
		res := ts.call("GET", "/ticket/?status=New&sort=-created&skip=1&limit=2", token, nil).expect(200)
		m := ptLinkRE.FindStringSubmatch(res.header.Get("Link"))
		if m == nil {
			t.Fatalf("Link %q", res.header.Get("Link"))
		}
		u, err := url.Parse(m[1])
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Path != "/api/v1/ticket/" || q.Get("status") != "New" || q.Get("sort") != "-created" || q.Get("limit") != "2" ||
			q.Has("skip") || !q.Has("cursor") {
			t.Fatalf("Link %s", m[1])
		}
	})

	t.Run("lists asked for without the new parameters send no paging headers", func(t *testing.T) {
		for _, path := range []string{"/ticket/?limit=1", "/ticket/my/?limit=1", "/employee/?limit=1", "/user/?limit=1&skip=0&after_id=0"} {
			res := ts.call("GET", path, token, nil).expect(200)
			if res.header.Get("X-Total-Count") != "" || res.header.Get("Link") != "" {
				t.Errorf("%s: X-Total-Count %q, Link %q", path, res.header.Get("X-Total-Count"), res.header.Get("Link"))
			}
		}
	})

	// A page that holds every match counts them itself (pagecount.go); one
	// that starts further on must still count the rows before it.
	t.Run("a short page counts from the page only when it is the first", func(t *testing.T) {
		cursor := ptLinkRE.FindStringSubmatch(ts.call("GET", "/ticket/?status=New&sort=-created&limit=4", token, nil).
			expect(200).header.Get("Link"))
		if cursor == nil {
			t.Fatal("no Link after the first 4 of 6")
		}
		for _, tt := range []struct {
			path  string
			items int
			total string
		}{
			{"/ticket/?status=New&limit=10", 6, "6"},
			{"/ticket/?status=New&skip=4&limit=10", 2, "6"},
			{fmt.Sprintf("/ticket/?status=New&after_id=%d&limit=10", ticketIDs[4]), 3, "6"},
			{strings.TrimPrefix(cursor[1], ts.cfg.RootPath), 2, "6"},
			{"/ticket/?status=Nowhere&limit=10", 0, "0"},
		} {
			res := ts.call("GET", tt.path, token, nil).expect(200)
			if len(res.list()) != tt.items || res.header.Get("X-Total-Count") != tt.total {
				t.Errorf("%s: %d items, X-Total-Count %q; want %d items, %s", tt.path, len(res.list()),
					res.header.Get("X-Total-Count"), tt.items, tt.total)
			}
		}
	})

	t.Run("limit=0 counts and links nowhere", func(t *testing.T) {
		res := ts.call("GET", "/ticket/?status=New&limit=0", token, nil).expect(200)
		if res.header.Get("X-Total-Count") != "6" || res.header.Get("Link") != "" || len(res.list()) != 0 {
			t.Fatalf("X-Total-Count %q, Link %q, body %s", res.header.Get("X-Total-Count"), res.header.Get("Link"), res.body)
		}
	})

	t.Run("a cursor is only good for its own sort", func(t *testing.T) {
		res := ts.call("GET", "/ticket/?sort=-created&limit=2", token, nil).expect(200)
		m := ptLinkRE.FindStringSubmatch(res.header.Get("Link"))
		u, _ := url.Parse(m[1])
		cursor := u.Query().Get("cursor")
		for _, query := range []string{
			"sort=created&cursor=" + cursor,
			"cursor=" + cursor,
			"sort=-created&cursor=x",
			"sort=-created&cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"sort":"-created,id","after":["x"]}`)),
			"sort=-created&cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"sort":"-created,id","after":["x","y"]}`)),
			"sort=-created&cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"sort":"-created,id","after":[1,2]}`)),
			"sort=-created&cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"sort":"-created,id","after":["x",1.5]}`)),
		} {
			ltExpectProblems(t, query, ts.call("GET", "/ticket/?"+query, token, nil), ltProblem{"cursor", "value_error"})
		}
		ltExpectProblems(t, "sort=bogus&cursor="+cursor, ts.call("GET", "/ticket/?sort=bogus&cursor="+cursor, token, nil),
			ltProblem{"sort", "enum"})
	})

	t.Run("New tickets of an employee, newest first, while tickets are added", func(t *testing.T) {
		query := fmt.Sprintf("/ticket/?employee_id=%d&status=New&sort=-created&limit=2", e1)
		want := ltIDs(ts.call("GET", query+"0", token, nil).expect(200)) // limit=20: one page
		var seen []int64
		path := query
		for path != "" {
			res := ts.call("GET", path, token, nil).expect(200)
			seen = append(seen, ltIDs(res)...)
			// Newer tickets arrive between pages: they sort before the
			// page read, so the walk neither repeats nor skips a ticket.
			ts.call("POST", fmt.Sprintf("/ticket/%d", e1), token, validTicket()).expect(200)
			path = ""
			if m := ptLinkRE.FindStringSubmatch(res.header.Get("Link")); m != nil {
				path = strings.TrimPrefix(m[1], ts.cfg.RootPath)
			}
		}
		if !slices.Equal(seen, want) {
			t.Fatalf("walked %v, want %v", seen, want)
		}
	})

	t.Run("employees and users", func(t *testing.T) {
		for i := 3; i <= 7; i++ {
			ts.call("POST", "/employee/", token, validEmployee(i)).expect(200)
			ts.addUser(fmt.Sprintf("user%c", 'a'+i))
		}
		for _, path := range []string{"/employee/?sort=-id", "/employee/?q=emp", "/user/?sort=-username", "/user/?role=admin&sort=created"} {
			want := ltIDs(ts.call("GET", path, token, nil).expect(200))
			got, _, totals := ptFollow(t, ts, token, path+"&limit=2")
			if !slices.Equal(got, want) || totals[0] != len(want) {
				t.Errorf("%s: followed %v (X-Total-Count %v), want %v", path, got, totals, want)
			}
		}
	})
}

func TestListTotalCountOptional(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("admin", "admin")
	ts.call("POST", "/employee/", token, validEmployee(1)).expect(200)
	for range 3 {
		ts.call("POST", "/ticket/1", token, validTicket()).expect(200)
	}
	for _, tt := range []struct {
		path      string
		total     string // X-Total-Count, "" for none
		linkTotal string // total_count in the Link, "" for none
	}{
		{"/ticket/?sort=-created&limit=2&total_count=false", "", "false"},
		{"/ticket/?sort=-created&limit=2&total_count=true", "3", "true"},
		{"/ticket/?limit=2&total_count=true", "3", "true"},     // naming it asks for the paging headers
		{"/ticket/my/?limit=2&total_count=false", "", "false"}, // and the Link alone
		{"/employee/?sort=-id&limit=0&total_count=false", "", ""},
		{"/user/?role=admin&total_count=false", "", ""},
	} {
		t.Run(tt.path, func(t *testing.T) {
			res := ts.call("GET", tt.path, token, nil).expect(200)
			if got := res.header.Get("X-Total-Count"); got != tt.total {
				t.Errorf("X-Total-Count %q, want %q", got, tt.total)
			}
			link := res.header.Get("Link")
			m := ptLinkRE.FindStringSubmatch(link)
			if tt.linkTotal == "" {
				if link != "" {
					t.Errorf("Link %q, want none", link)
				}
				return
			}
			if m == nil {
				t.Fatalf("Link %q, want one to the next page", link)
			}
			u, err := url.Parse(m[1])
			if err != nil || u.Query().Get("total_count") != tt.linkTotal {
				t.Errorf("Link %q: want it to keep total_count=%s", link, tt.linkTotal)
			}
		})
	}
	for _, value := range []string{"no", "", "TRUE", "0"} {
		query := "total_count=" + value
		ltExpectProblems(t, query, ts.call("GET", "/ticket/?"+query, token, nil), ltProblem{"total_count", "bool_parsing"})
	}
}
