package main

// cache_test.go: cache.go's SQLite caches keyed by data_version never
// outlive a change: a cached user or answer is fresh on the very next
// request after a commit by this server or another process, a request
// reads its caches again after its own write, and a shared data_version
// check is always taken after the request asked.

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestUserCacheNeverOutlivesAChange: the user a request authenticates as is
// cached, but a change committed by anyone — this server or another process
// on the same file — is seen on the very next request.
func TestUserCacheNeverOutlivesAChange(t *testing.T) {
	ts := newTestServer(t)
	u, token := ts.userWithToken("cached", "support")
	ts.addUser("keepadmin", "admin")
	for i := 0; i < 3; i++ { // warm the cache
		ts.call("GET", "/status", token, nil).expect(200)
	}
	other, err := openStore(context.Background(), ts.cfg.databasePath(), discardLogger()) // "another process"
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.UpdateUser(context.Background(), u.ID, func(u *User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	ts.call("GET", "/status", token, nil).expect(400, "User disabled")
	if _, err := other.UpdateUser(context.Background(), u.ID, func(u *User) error { u.Disabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	ts.call("GET", "/status", token, nil).expect(200)

	// GET /me's answer is cached too (encoded): the next /me after a
	// change, by this server or by the other process, shows it.
	me := func() map[string]any { return ts.call("GET", "/me", token, nil).expect(200).obj() }
	for range 3 {
		me()
	}
	if _, err := other.UpdateUser(context.Background(), u.ID, func(u *User) error { u.FirstName = "Elsewhere"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := me()["first_name"]; got != "Elsewhere" {
		t.Fatalf("/me after another process renamed the caller: first_name %v", got)
	}
	_, adminToken := ts.userWithToken("cacheadmin", "admin")
	ts.call("PATCH", fmt.Sprintf("/user/%d/disabled", u.ID), adminToken, map[string]any{"disabled": true}).expect(200)
	if got := me()["disabled"]; got != true {
		t.Fatalf("/me after this server disabled the caller: disabled %v", got)
	}

	if err := other.DeleteUser(context.Background(), u.ID, func(*User) error { return nil }); err != nil {
		t.Fatal(err)
	}
	ts.call("GET", "/status", token, nil).expect(400, "Incorrect User name or password")
	ts.call("GET", "/me", token, nil).expect(400, "Incorrect User name or password")
}

// TestAnswerCacheNeverOutlivesAChange: employee answers are cached (SQLite)
// until the next commit, by this server or another process on the same
// database: every read below must see the write just before it.
func TestAnswerCacheNeverOutlivesAChange(t *testing.T) {
	ts := newTestServer(t)
	admin, token := ts.userWithToken("answeradmin", "admin")
	e := ts.call("POST", "/employee/", token, validEmployee(8200)).expect(200).obj()
	id := int64(e["id"].(float64))
	path := fmt.Sprintf("/employee/%d", id)
	tickets := func(res *response) int { return len(res.obj()["tickets"].([]any)) }
	listed := func() []map[string]any { return ts.call("GET", "/employee/?limit=100", token, nil).expect(200).list() }
	for range 3 { // warm the cache
		ts.call("GET", path, token, nil).expect(200)
		listed()
	}

	// This server writes.
	ts.call("POST", "/ticket/"+fmt.Sprint(id), token, validTicket()).expect(200)
	if n := tickets(ts.call("GET", path, token, nil).expect(200)); n != 1 {
		t.Fatalf("tickets after filing one: %d, want 1", n)
	}
	if n := len(listed()[0]["tickets"].([]any)); n != 1 {
		t.Fatalf("listed tickets after filing one: %d, want 1", n)
	}
	changed := validEmployee(8200)
	changed["city"] = "Graz"
	ts.call("PUT", path, token, changed).expect(200)
	if city := ts.call("GET", path, token, nil).expect(200).obj()["city"]; city != "Graz" {
		t.Fatalf("city after the update: %v", city)
	}

	// Another process writes to the same database.
	other, err := openStore(context.Background(), ts.cfg.databasePath(), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.CreateTicket(context.Background(), id, admin.ID, &Ticket{Title: "From elsewhere", Description: "Another process.", Status: "New"}); err != nil {
		t.Fatal(err)
	}
	if n := tickets(ts.call("GET", path, token, nil).expect(200)); n != 2 {
		t.Fatalf("tickets after another process filed one: %d, want 2", n)
	}
	e2, err := other.CreateEmployee(context.Background(), &Employee{FirstName: "Other", LastName: "Process", NickName: "Op",
		Phone: "+380504438201", Email: "op8201@example.com", Birthday: "1990-01-01", Country: "Austria", City: "Wien", Address: "Ring 1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(listed()); n != 2 {
		t.Fatalf("employees listed after another process added one: %d, want 2", n)
	}
	for _, tk := range ts.call("GET", path, token, nil).expect(200).obj()["tickets"].([]any) {
		ts.call("DELETE", fmt.Sprintf("/ticket/%v", tk.(map[string]any)["id"]), token, nil).expect(200)
	}
	ts.call("DELETE", path, token, nil).expect(200)
	ts.call("GET", path, token, nil).expect(404, "Employee not found")
	if l := listed(); len(l) != 1 || int64(l[0]["id"].(float64)) != e2.ID {
		t.Fatalf("employees listed after the delete: %v", l)
	}
}

// TestChangeWatchSeesEveryCommit: with many requests asking at once, each
// gets a reading taken after it asked, so a commit that ended before a
// request asked is always seen.
func TestChangeWatchSeesEveryCommit(t *testing.T) {
	ts := newTestServer(t)
	if ts.store.watch == nil {
		t.Skip("the change watch is SQLite's; PostgreSQL has no cache to empty")
	}
	ctx := context.Background()
	// Readers keep the watch busy, so a check is nearly always under way
	// when a writer asks: the writer must wait for the next one.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		repeatUntil(stop, &readers, func() bool { ts.store.watch.version(); return true })
	}
	defer func() { close(stop); readers.Wait() }()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				before, err := ts.store.watch.version()
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := ts.store.CreateEmployee(ctx, &Employee{FirstName: "Watch", LastName: "Test", NickName: "W",
					Phone: fmt.Sprintf("+1777%03d%04d", g, i), Email: fmt.Sprintf("watch%d_%d@example.com", g, i),
					Birthday: "1990-01-01", Country: "Austria", City: "Wien", Address: "Ring 1"}); err != nil {
					t.Error(err)
					return
				}
				// Other goroutines keep asking meanwhile; this reading must
				// still see this goroutine's commit.
				after, err := ts.store.watch.version()
				if err != nil {
					t.Error(err)
					return
				}
				if after == before {
					t.Errorf("data_version %d both before and after a commit", after)
					return
				}
			}
		}()
	}
	wg.Wait()
}
