package main

// ratelimit_test.go: each caller's rate (429 with Retry-After, per user and
// per address before login), the bounded caller table, the cap on each
// caller's writes, and abandoned requests: a write whose client has gone is
// not started, a started one runs to its end without breaking the writes
// sharing its commit, and the access line says 499. BenchmarkFlood is the
// load test: one caller's flood against other callers' p99.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFlood is the load test of docs/security.md: eight normal users
// file a ticket every 20 ms each, first alone, then while one more user
// floods POST /ticket from four connections, resetting each connection 2 ms
// after its request (it abandons every request, as a client that gives up
// does). It reports the normal users' p99 in both phases and fails when the
// flood more than doubles it. Run it alone, on an idle machine:
//
//	go test -run '^$' -bench Flood -benchtime 1x .
func BenchmarkFlood(b *testing.B) {
	var builtin Config
	if err := json.Unmarshal(defaultConfigJSON, &builtin); err != nil {
		b.Fatal(err)
	}
	ts := newTestServer(b, func(c *Config) { c.RateLimit = builtin.RateLimit }) // the limits a server has by default
	_, admin := ts.userWithToken("floodadmin", "admin")
	employee := itoaID(ts.call("POST", "/employee/", admin, validEmployee(1)).expect(200).obj()["id"])
	var victims []string
	for i := range 8 {
		_, token := ts.userWithToken(fmt.Sprintf("normal%d", i), "support")
		victims = append(victims, token)
	}
	attacker, attackerToken := ts.userWithToken("flooder", "support")

	quiet := floodMeasure(ts, victims, employee, 3*time.Second)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	for range 4 {
		repeatUntil(stop, &wg, func() bool {
			if floodAbandon(ts, attackerToken, employee) {
				sent.Add(1)
			}
			return true
		})
	}
	time.Sleep(500 * time.Millisecond) // let the abandoned requests pile up
	flood := floodMeasure(ts, victims, employee, 3*time.Second)
	close(stop)
	wg.Wait()

	stored := floodTicketsOf(b, ts, attacker.ID)
	b.Logf("normal users quiet: %s", quiet)
	b.Logf("normal users under the flood: %s", flood)
	b.Logf("the flooder sent %d requests and abandoned each; %d of its tickets were stored", sent.Load(), stored)
	b.ReportMetric(float64(quiet.p99.Microseconds())/1000, "quiet-p99-ms")
	b.ReportMetric(float64(flood.p99.Microseconds())/1000, "flood-p99-ms")
	if flood.p99 > 2*quiet.p99 {
		b.Errorf("under one caller's flood the others' p99 is %v, more than twice its quiet %v", flood.p99, quiet.p99)
	}
	if flood.failed > 0 {
		b.Errorf("%d of the normal users' writes failed under the flood", flood.failed)
	}
	if strings.Contains(ts.log.String(), "level=ERROR") {
		b.Errorf("the flood was logged as errors")
	}
}

// floodStats is what the normal users saw.
type floodStats struct {
	writes   int
	failed   int
	p50, p99 time.Duration
	perSec   float64
}

func (s floodStats) String() string {
	return fmt.Sprintf("%d writes (%.0f/s, %d failed), p50 %v, p99 %v", s.writes, s.perSec, s.failed,
		s.p50.Round(10*time.Microsecond), s.p99.Round(10*time.Microsecond))
}

// floodMeasure has each normal user file a ticket every 20 ms (or as soon
// as the previous one is answered, when that takes longer) for d.
func floodMeasure(ts *testServer, tokens []string, employee string, d time.Duration) floodStats {
	var mu sync.Mutex
	var latencies []time.Duration
	failed := 0
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, token := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				start := time.Now()
				status, _, err := stDo(ts, "POST", "/ticket/"+employee, token, validTicket())
				took := time.Since(start)
				mu.Lock()
				latencies = append(latencies, took)
				if err != nil || status != 200 {
					failed++
				}
				mu.Unlock()
				time.Sleep(20*time.Millisecond - took)
			}
		}()
	}
	wg.Wait()
	slices.Sort(latencies)
	at := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
	return floodStats{writes: len(latencies), failed: failed, p50: at(0.50), p99: at(0.99),
		perSec: float64(len(latencies)) / d.Seconds()}
}

// floodAbandon sends one ticket creation on a new connection, waits 2 ms
// for its answer and then resets the connection, as a client that gives up
// does.
func floodAbandon(ts *testServer, token, employee string) bool {
	u, _ := url.Parse(ts.srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return false
	}
	body, _ := json.Marshal(validTicket())
	fmt.Fprintf(conn, "POST %s/ticket/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		ts.cfg.RootPath, employee, u.Host, token, len(body), body)
	conn.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
	conn.Read(make([]byte, 1))
	conn.(*net.TCPConn).SetLinger(0) // close with a reset, not a FIN
	conn.Close()
	return true
}

// floodTicketsOf counts the tickets a user owns, straight from the database.
func floodTicketsOf(t testing.TB, ts *testServer, owner int64) int {
	t.Helper()
	var n int
	if err := ts.store.read.QueryRowContext(context.Background(), "SELECT count(*) FROM tickets WHERE owner_id = ?", owner).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// limiterClock stops the limiter's clock; the returned function moves it on.
func limiterClock(l *rateLimiter) (advance func(time.Duration)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.start
	l.now = func() time.Time { return at } // read under l.mu, like every use of now
	return func(d time.Duration) {
		l.mu.Lock()
		defer l.mu.Unlock()
		at = at.Add(d)
	}
}

func TestRateLimit(t *testing.T) {
	t.Run("on by default, far above what a person does", func(t *testing.T) {
		def := mtDefaults(t).RateLimit
		if def != (RateLimitConfig{RequestsPerSecond: 100, Burst: 200, ConcurrentWrites: 8, MaxEntries: 100000}) {
			t.Fatalf("default rate_limit %+v, want the documented one", def)
		}
	})

	ts := newTestServer(t, func(c *Config) { c.RateLimit.RequestsPerSecond, c.RateLimit.Burst = 1, 5 })
	advance := limiterClock(ts.app.limits)
	_, alice := ts.userWithToken("alice", "support") // the address's first login of 5
	_, bob := ts.userWithToken("bob", "support")     // its second

	t.Run("a user gets burst requests at once, then 429 with Retry-After", func(t *testing.T) {
		for range 5 {
			ts.call("GET", "/me", alice, nil).expect(200)
		}
		res := ts.call("GET", "/ticket/my/", alice, nil).expect(429, "Too many requests")
		if got := res.header.Get("Retry-After"); got != "1" {
			t.Fatalf("Retry-After %q, want 1 (one request a second)", got)
		}
	})

	t.Run("other users keep their own bucket", func(t *testing.T) {
		ts.call("GET", "/me", bob, nil).expect(200)
	})

	t.Run("the bucket refills at the configured rate", func(t *testing.T) {
		advance(time.Second)
		ts.call("GET", "/me", alice, nil).expect(200)
		ts.call("GET", "/me", alice, nil).expect(429, "Too many requests")
	})

	t.Run("before login the client address is the caller", func(t *testing.T) {
		for range 4 { // the two logins above took two of its five, and a second has passed
			ts.form("/token", url.Values{"username": {"alice"}, "password": {"wrong"}}).expect(400)
		}
		res := ts.form("/token", url.Values{"username": {"alice"}, "password": {testPassword}}).expect(429, "Too many requests")
		if res.header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		ts.call("GET", "/me", bob, nil).expect(200) // a user's bucket is not the address's
	})

	t.Run("requests_per_second 0 turns the rate limit off", func(t *testing.T) {
		off := newTestServer(t, func(c *Config) { c.RateLimit.RequestsPerSecond, c.RateLimit.Burst = 0, 0 })
		limiterClock(off.app.limits)
		_, token := off.userWithToken("carol", "support")
		for range 300 {
			off.call("GET", "/me", token, nil).expect(200)
		}
	})
}

// TestRateLimitCallerTable: the table of buckets stays within max_entries
// whatever addresses arrive, and one host cannot pose as many callers.
func TestRateLimitCallerTable(t *testing.T) {
	t.Run("an IPv6 host counts by its /64, IPv4 by its address", func(t *testing.T) {
		same := [][2]string{{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"}, {"fe80::1%eth0", "fe80::2"},
			{"192.0.2.1", "::ffff:192.0.2.1"}}
		for _, pair := range same {
			if addressKey(pair[0]) != addressKey(pair[1]) {
				t.Errorf("%s and %s are two callers, want one", pair[0], pair[1])
			}
		}
		apart := [][2]string{{"2001:db8:1:2::1", "2001:db8:1:3::1"}, {"192.0.2.1", "192.0.2.2"}, {"0.0.0.0", "::"}}
		for _, pair := range apart {
			if addressKey(pair[0]) == addressKey(pair[1]) {
				t.Errorf("%s and %s are one caller, want two", pair[0], pair[1])
			}
		}
	})

	t.Run("a full table forgets refilled buckets first, then any, and says so", func(t *testing.T) {
		var logged lockedBuffer
		logged.buf = &bytes.Buffer{}
		l := newRateLimiter(RateLimitConfig{RequestsPerSecond: 1, Burst: 2, MaxEntries: 100}, slog.New(slog.NewTextHandler(&logged, nil)))
		advance := limiterClock(l)
		caller := func(i int) callerKey { return addressKey(fmt.Sprintf("10.0.%d.%d", i/256, i%256)) }
		for i := range 100 {
			l.take(caller(i))
		}
		advance(2 * time.Second) // every bucket is full again: nothing worth keeping
		l.take(caller(100))
		if len(l.buckets) != 1 || logged.String() != "" {
			t.Fatalf("%d buckets after a sweep of refilled ones (want 1); log %q", len(l.buckets), logged.String())
		}
		for i := range 10000 {
			l.take(caller(1000 + i))
			if len(l.buckets) > 100 {
				t.Fatalf("%d buckets, over max_entries 100", len(l.buckets))
			}
		}
		if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "caller table is full") {
			t.Fatalf("forgetting callers still counted was not logged: %q", logged.String())
		}
	})
}

// holdWriter keeps the writer busy with a write that waits for release, so
// that writes sent meanwhile queue behind it.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	running, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.inTx(context.Background(), func(*txn) error { close(running); <-hold; return nil })
	}()
	<-running
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(hold)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitQueued waits until n writes wait for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(s.jobs) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(s.jobs), n)
		}
	}
}

func TestAbandonedWriteIsNotStarted(t *testing.T) {
	ts := newTestServer(t)

	t.Run("gone before it reaches the write path", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		if err := ts.store.inTx(ctx, func(*txn) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("inTx for a gone client: %v, ran %v", err, ran)
		}
	})

	t.Run("gone while it waits in the writer's queue", func(t *testing.T) {
		release := holdWriter(t, ts.store)
		ctx, cancel := context.WithCancel(context.Background())
		var ran atomic.Bool
		done := make(chan error, 1)
		go func() { done <- ts.store.inTx(ctx, func(*txn) error { ran.Store(true); return nil }) }()
		waitQueued(t, ts.store, 1)
		cancel()
		release()
		if err := <-done; !errors.Is(err, context.Canceled) || ran.Load() {
			t.Fatalf("a write abandoned in the queue: %v, ran %v", err, ran.Load())
		}
	})

	t.Run("over HTTP: nothing stored, logged at INFO as 499", func(t *testing.T) {
		_, token := ts.userWithToken("leaver", "admin")
		employee := itoaID(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"])
		release := holdWriter(t, ts.store)
		ctx, cancel := context.WithCancel(context.Background())
		body, _ := json.Marshal(validTicket())
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.srv.URL+ts.cfg.RootPath+"/ticket/"+employee, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Request-ID", "leaver-1")
		go ts.srv.Client().Do(req)
		waitQueued(t, ts.store, 1)
		job := <-ts.store.jobs // taken out of the queue to see when the server notices
		cancel()
		select {
		case <-job.ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not notice the client going away")
		}
		ts.store.jobs <- job
		release()
		line := ""
		for deadline := time.Now().Add(10 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for _, l := range strings.Split(ts.log.String(), "\n") {
				if strings.Contains(l, "request_id=leaver-1") {
					line = l
				}
			}
		}
		if !strings.Contains(line, "level=INFO msg=request") || !strings.Contains(line, "status=499") {
			t.Fatalf("the abandoned request's log line is %q, want an INFO access line with status=499", line)
		}
		if log := ts.log.String(); strings.Contains(log, "level=ERROR") {
			t.Fatalf("an abandoned request was logged as an error:\n%s", log)
		}
		// The metric takes the access line's status; it is counted just
		// after the line is written.
		const gone = `method="POST",route="POST /ticket/{employee_id}",status="499"`
		metricsAt := ts.metricsURL()
		counted := 0.0
		for deadline := time.Now().Add(10 * time.Second); counted == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			counted = scrapeMetrics(t, metricsAt).series(t, "ticketapi_http_requests_total")[gone]
		}
		if counted != 1 {
			t.Fatalf("ticketapi_http_requests_total{%s} = %v, want 1", gone, counted)
		}
		if mine := ts.call("GET", "/ticket/my/", token, nil).expect(200).list(); len(mine) != 0 {
			t.Fatalf("%d tickets stored for a client that had gone, want 0", len(mine))
		}
	})
}

// TestStartedWriteRunsToItsEnd: a write whose client goes away halfway
// through a statement finishes it; cancelling the statement would roll back
// the whole shared transaction and fail the other writes of its batch.
func TestStartedWriteRunsToItsEnd(t *testing.T) {
	ts := newTestServer(t)
	owner := ts.addUser("owner", "support")
	e := validEmployee(1)
	employee, err := ts.store.CreateEmployee(context.Background(), &Employee{FirstName: e["first_name"].(string),
		LastName: e["last_name"].(string), NickName: e["nick_name"].(string), Phone: e["phone"].(string),
		Email: e["email"].(string), Birthday: e["birthday"].(string), Country: e["country"].(string),
		City: e["city"].(string), Address: e["address"].(string)})
	if err != nil {
		t.Fatal(err)
	}

	release := holdWriter(t, ts.store)
	ctx, cancel := context.WithCancel(context.Background())
	started, slow := make(chan struct{}), make(chan error, 1)
	go func() {
		slow <- ts.store.inTx(ctx, func(tx *txn) error {
			close(started)
			// An update that takes a while: a count to two million.
			_, err := tx.ExecContext(ctx, `UPDATE users SET first_name = first_name WHERE id = (WITH RECURSIVE c(x) AS
				(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) FROM c)`)
			return err
		})
	}()
	waitQueued(t, ts.store, 1)
	other := make(chan error, 1)
	go func() {
		_, err := ts.store.CreateTicket(context.Background(), employee.ID, owner.ID, &Ticket{Title: "Beside it",
			Description: "Shares the commit.", Status: "New"})
		other <- err
	}()
	waitQueued(t, ts.store, 2) // both in the next batch
	release()
	<-started
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-slow; err != nil {
		t.Errorf("the started write: %v, want it run to its end", err)
	}
	if err := <-other; err != nil {
		t.Fatalf("the write sharing its commit failed: %v", err)
	}
	if n := floodTicketsOf(t, ts, owner.ID); n != 1 {
		t.Fatalf("%d tickets stored, want 1", n)
	}
}

// TestWriteCapPerCaller: a caller's writes beyond concurrent_writes wait
// for its own earlier ones, not in the writer's queue ahead of others.
func TestWriteCapPerCaller(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.RateLimit.ConcurrentWrites = 2 })
	_, flooder := ts.userWithToken("flooder", "support")
	_, other := ts.userWithToken("other", "support")
	_, admin := ts.userWithToken("boss", "admin")
	employee := itoaID(ts.call("POST", "/employee/", admin, validEmployee(1)).expect(200).obj()["id"])

	release := holdWriter(t, ts.store)
	answers := make(chan int, 7)
	send := func(token string) {
		go func() {
			status, _, _ := stDo(ts, "POST", "/ticket/"+employee, token, validTicket())
			answers <- status
		}()
	}
	for range 6 {
		send(flooder)
	}
	waitQueued(t, ts.store, 2)
	time.Sleep(200 * time.Millisecond) // time for the other four to queue, were they let in
	if n := len(ts.store.jobs); n != 2 {
		t.Fatalf("%d of one caller's writes wait for the writer, want 2 (concurrent_writes)", n)
	}
	send(other)
	waitQueued(t, ts.store, 3) // another caller gets in at once
	release()
	for range 7 {
		if status := <-answers; status != 200 {
			t.Fatalf("a write answered %d, want 200: over the cap it waits, it is not refused", status)
		}
	}
	if n := len(ts.app.limits.writing); n != 0 {
		t.Fatalf("%d callers still hold write slots after every write was answered", n)
	}
}
