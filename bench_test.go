package main

// bench_test.go: the hot paths, measured. Run with
//   go test -run '^$' -bench . -benchmem
// The load harness (bench/run.sh) measures the running binary.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// benchServer is a server with 100 employees of 5 tickets each, and an
// admin's token.
func benchServer(b *testing.B) (*testServer, *User, string) {
	b.Helper()
	ts := newTestServer(b)
	admin, token := ts.userWithToken("benchadmin", "admin")
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		e := Employee{FirstName: "Anna", LastName: "Smith", NickName: "Anna", Phone: fmt.Sprintf("+1555%07d", i),
			Email: fmt.Sprintf("e%d@example.com", i), Birthday: "1990-01-01", Country: "Austria", City: "Vienna",
			Address: "Ringstrasse 1, 1010 Vienna"}
		if _, err := ts.store.CreateEmployee(ctx, &e); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 5; j++ {
			t := Ticket{Title: "Network problem", Description: "Cannot reach it.", Status: "New"}
			if _, err := ts.store.CreateTicket(ctx, e.ID, admin.ID, &t); err != nil {
				b.Fatal(err)
			}
		}
	}
	return ts, admin, token
}

func BenchmarkTokenVerify(b *testing.B) {
	ts, _, token := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ts.app.tokens.parse(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUserLoad(b *testing.B) {
	ts, admin, _ := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ts.store.UserByUsername(ctx, admin.Username); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEmployeeWithTickets(b *testing.B) {
	ts, _, _ := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e, err := ts.store.Employee(ctx, 50)
		if err != nil || len(e.Tickets) != 5 {
			b.Fatal(err)
		}
	}
}

func BenchmarkList100Employees(b *testing.B) {
	ts, _, _ := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		list, err := ts.store.ListEmployees(ctx, page{limit: 100})
		if err != nil || len(list) != 100 {
			b.Fatal(err)
		}
	}
}

func BenchmarkInsertTicket(b *testing.B) {
	ts, admin, _ := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		t := Ticket{Title: "Network problem", Description: "Cannot reach it.", Status: "New"}
		if _, err := ts.store.CreateTicket(ctx, 1, admin.ID, &t); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPasswordVerify uses the real default parameters (64 MiB, t=3, p=4).
func BenchmarkPasswordVerify(b *testing.B) {
	cfg := testConfig(b)
	cfg.Auth.Argon2.MemoryKiB, cfg.Auth.Argon2.Iterations, cfg.Auth.Argon2.Parallelism = 65536, 3, 4
	h := newHasher(cfg)
	hash, _ := h.Hash(testPassword)
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, _ := h.Verify(context.Background(), hash, testPassword); !ok {
			b.Fatal("no match")
		}
	}
}

// benchRequest measures one whole request through the handler chain,
// without the network.
func benchRequest(b *testing.B, method, path, token, body string) {
	benchRequestParallel(b, 1, method, path, token, body)
}

// benchRequestParallel runs parallelism × GOMAXPROCS clients at once.
func benchRequestParallel(b *testing.B, parallelism int, method, path, token, body string) {
	benchRequestOn(b, benchServer, parallelism, method, path, token, body)
}

// benchServerNoCache is benchServer without the SQLite caches (users and
// answers, kept per data_version): every request reads the database, as a
// request right after a write does, and as every request on PostgreSQL does.
func benchServerNoCache(b *testing.B) (*testServer, *User, string) {
	ts, admin, token := benchServer(b)
	if ts.store.watch != nil {
		watch := ts.store.watch
		b.Cleanup(func() { ts.store.watch = watch }) // Close still closes it
		ts.store.watch = nil
	}
	return ts, admin, token
}

func benchRequestOn(b *testing.B, server func(*testing.B) (*testServer, *User, string), parallelism int,
	method, path, token, body string) {
	ts, _, adminToken := server(b)
	if token == "" {
		token = adminToken
	}
	ts.app.log = discardLogger()
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(method, path, strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+token)
			if body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			ts.app.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

func BenchmarkRequestMe(b *testing.B) { benchRequest(b, "GET", "/api/v1/me", "", "") }
func BenchmarkRequestEmployee(b *testing.B) {
	benchRequest(b, "GET", "/api/v1/employee/50", "", "")
}
func BenchmarkRequestEmployeeList(b *testing.B) {
	benchRequest(b, "GET", "/api/v1/employee/?limit=100", "", "")
}

// The same three reads with every request reading the database.
func BenchmarkRequestMeNoCache(b *testing.B) {
	benchRequestOn(b, benchServerNoCache, 1, "GET", "/api/v1/me", "", "")
}
func BenchmarkRequestEmployeeNoCache(b *testing.B) {
	benchRequestOn(b, benchServerNoCache, 1, "GET", "/api/v1/employee/50", "", "")
}
func BenchmarkRequestEmployeeListNoCache(b *testing.B) {
	benchRequestOn(b, benchServerNoCache, 1, "GET", "/api/v1/employee/?limit=100", "", "")
}
func BenchmarkRequestCreateTicket(b *testing.B) {
	benchRequest(b, "POST", "/api/v1/ticket/1", "",
		`{"title":"Network problem","description":"Cannot reach it.","status":"New"}`)
}

// BenchmarkRequestCreateTicket64 has 64 clients writing at once (on two
// cores), as the load harness does: their writes share commits.
func BenchmarkRequestCreateTicket64(b *testing.B) {
	benchRequestParallel(b, 32, "POST", "/api/v1/ticket/1", "",
		`{"title":"Network problem","description":"Cannot reach it.","status":"New"}`)
}

// BenchmarkInsertTicketParallel: 64 writers at once, as with 64 clients
// creating tickets: the writer goroutine is the bottleneck, and the writes
// waiting together share a commit (groupcommit.go).
func BenchmarkInsertTicketParallel(b *testing.B) {
	ts, admin, _ := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(64 / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t := Ticket{Title: "Network problem", Description: "Cannot reach it.", Status: "New"}
			if _, err := ts.store.CreateTicket(ctx, 1, admin.ID, &t); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
