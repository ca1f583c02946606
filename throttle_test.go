package main

// throttle_test.go: throttle.go: failed logins are throttled per user and
// client pair and per client, with 429 and Retry-After; the client address
// is taken from X-Forwarded-For only behind a trusted proxy, and a
// forwarded client is throttled and logged as itself.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fastThrottle makes throttling quick to reach and to observe in tests.
func fastThrottle(perUser, perClient int) func(*Config) {
	return func(c *Config) {
		c.LoginThrottle.MaxFailuresPerUser = perUser
		c.LoginThrottle.MaxFailuresPerClient = perClient
	}
}

func TestLoginThrottle(t *testing.T) {
	t.Run("a pair is refused with 429 and Retry-After after too many failures", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, fastThrottle(4, 100))
		ts.addUser("victim", "support")
		ts.addUser("bystander", "support")
		bad := url.Values{"username": {"victim"}, "password": {"Wrong!pass1"}}
		for i := 0; i < 4; i++ {
			ts.form("/token", bad).expect(400, "Incorrect User name or password")
		}
		res := ts.form("/token", bad).expect(429, "Too many failed login attempts")
		retry, err := strconv.Atoi(res.header.Get("Retry-After"))
		if err != nil || retry < 1 || retry > 901 {
			t.Fatalf("Retry-After %q", res.header.Get("Retry-After"))
		}
		// The right password is refused too while the pair is blocked.
		ts.form("/token", url.Values{"username": {"victim"}, "password": {testPassword}}).expect(429)
		// Other users from the same address are not affected.
		ts.token("bystander", testPassword)
	})

	t.Run("a successful login clears the pair's count", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, fastThrottle(3, 100))
		ts.addUser("forgetful", "support")
		bad := url.Values{"username": {"forgetful"}, "password": {"Wrong!pass1"}}
		for round := 0; round < 3; round++ {
			ts.form("/token", bad).expect(400)
			ts.form("/token", bad).expect(400)
			ts.token("forgetful", testPassword)
		}
	})

	t.Run("a client address is refused after too many failures over many usernames", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, fastThrottle(100, 5))
		ts.addUser("realuser", "support")
		for i := 0; i < 5; i++ {
			ts.form("/token", url.Values{"username": {fmt.Sprintf("guess%d", i)}, "password": {"x"}}).expect(400)
		}
		ts.form("/token", url.Values{"username": {"realuser"}, "password": {testPassword}}).
			expect(429, "Too many failed login attempts")
	})

	t.Run("unknown users are throttled like known ones", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, fastThrottle(2, 100))
		bad := url.Values{"username": {"nobody"}, "password": {"x"}}
		ts.form("/token", bad).expect(400)
		ts.form("/token", bad).expect(400)
		ts.form("/token", bad).expect(429)
	})
}

func TestLoginThrottleTable(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newTable := func(perPair, perClient, maxEntries int, log io.Writer) *loginThrottle {
		th := newLoginThrottle(ThrottleConfig{MaxFailuresPerUser: perPair, MaxFailuresPerClient: perClient, WindowSeconds: 60,
			MaxEntries: maxEntries}, newThrottleKeys(testSecret), slog.New(slog.NewTextHandler(log, nil)))
		th.now = func() time.Time { return clock }
		return th
	}
	admitted := func(th *loginThrottle, username, client string) bool {
		wait, _ := th.admit(username, client)
		return wait == 0
	}
	th := newTable(3, 1000, 100, io.Discard)

	t.Run("blocked for the window after the limit, then free again", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			if !admitted(th, "u", "1.2.3.4") {
				t.Fatalf("refused after %d failures", i)
			}
		}
		if wait, _ := th.admit("u", "1.2.3.4"); wait != time.Minute {
			t.Fatalf("wait %v, want 1m", wait)
		}
		if !admitted(th, "u", "5.6.7.8") {
			t.Fatal("another client is blocked for the same user")
		}
		clock = clock.Add(61 * time.Second)
		if !admitted(th, "u", "1.2.3.4") {
			t.Fatal("still blocked after the window")
		}
	})

	t.Run("failures spread wider than the window do not add up", func(t *testing.T) {
		for i := 0; i < 6; i++ {
			if !admitted(th, "slow", "9.9.9.9") {
				t.Fatalf("blocked after %d failures 40 s apart", i)
			}
			clock = clock.Add(40 * time.Second)
		}
	})

	t.Run("answers are slowed in the second half of the allowed failures", func(t *testing.T) {
		slow := newTable(10, 1000, 100, io.Discard)
		for i := 1; i <= 9; i++ {
			if _, d := slow.admit("u", "1.1.1.1"); (i <= 5) != (d == 0) || d > 2*time.Second {
				t.Fatalf("delay after %d failures: %v", i, d)
			}
		}
		if _, d := slow.admit("u", "2.2.2.2"); d != 0 {
			t.Fatalf("another client is slowed: %v after its first failure", d)
		}
	})

	t.Run("a right password clears the pair; an unchecked attempt is taken back", func(t *testing.T) {
		th := newTable(3, 5, 100, io.Discard)
		for range 2 {
			admitted(th, "typo", "1.1.1.1")
		}
		admitted(th, "typo", "1.1.1.1") // the third attempt, reserved as a failure, blocks the pair...
		th.succeeded("typo", "1.1.1.1") // ...until it proves right
		for range 2 {
			if !admitted(th, "typo", "1.1.1.1") {
				t.Fatal("the pair is still blocked after a right password")
			}
		}
		admitted(th, "typo", "1.1.1.1") // the client's fifth counted attempt
		if admitted(th, "other", "1.1.1.1") {
			t.Fatal("the client is not blocked after 5 counted attempts (a success takes back only its own)")
		}
		th.release("typo", "1.1.1.1") // never checked (the server stopped, the client left)
		if !admitted(th, "other", "1.1.1.1") {
			t.Fatal("a released attempt still counts against the client")
		}
	})

	t.Run("the table never grows past its cap", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			th.admit(fmt.Sprintf("user%d", i), "6.6.6.6")
			if n := th.size(); n > 100 {
				t.Fatalf("%d entries after %d usernames, cap 100", n, i+1)
			}
		}
	})

	t.Run("a full table drops the oldest entries that block nobody, never a blocking one, and logs it", func(t *testing.T) {
		log := &lockedBuffer{buf: &bytes.Buffer{}}
		th := newTable(3, 1_000_000, 100, log)
		for range 3 {
			admitted(th, "victim", "9.9.9.9")
		}
		for i := range 1000 {
			clock = clock.Add(time.Millisecond)
			admitted(th, fmt.Sprintf("flood%d", i), "6.6.6.6")
		}
		if admitted(th, "victim", "9.9.9.9") {
			t.Fatal("a flood of new usernames unblocked a blocked pair")
		}
		if n := th.size(); n > 100 {
			t.Fatalf("%d entries, cap 100", n)
		}
		if _, kept := th.entries[th.keys.pair("flood999", "6.6.6.6")]; !kept {
			t.Fatal("the newest entry was dropped")
		}
		if _, kept := th.entries[th.keys.pair("flood0", "6.6.6.6")]; kept {
			t.Fatal("the oldest entry that blocks nobody was kept")
		}
		if !strings.Contains(log.String(), "level=WARN msg=\"login throttle: table full") {
			t.Fatalf("nothing logged about the full table: %q", log)
		}
	})

	t.Run("when every entry blocks, the table grows instead of unblocking, and says so once a minute", func(t *testing.T) {
		log := &lockedBuffer{buf: &bytes.Buffer{}}
		th := newTable(1, 1_000_000, 100, log)
		for i := range 300 {
			admitted(th, fmt.Sprintf("guess%d", i), "6.6.6.6")
		}
		for i := range 300 {
			if admitted(th, fmt.Sprintf("guess%d", i), "6.6.6.6") {
				t.Fatalf("blocked pair %d was dropped", i)
			}
		}
		if n := strings.Count(log.String(), "table full"); n != 1 || th.size() < 300 {
			t.Fatalf("%d entries; logged %d times that the table is full, want once: %q", th.size(), n, log)
		}
	})

	t.Run("keys have one size, whatever the username", func(t *testing.T) {
		th := newTable(10, 1_000_000, 100_000, io.Discard)
		long := bytes.Repeat([]byte("x"), 1<<20)
		before := liveHeap()
		for i := range 1000 {
			copy(long, fmt.Sprint(i))
			th.admit(string(long), "6.6.6.6")
		}
		if grown := liveHeap() - before; grown > 4<<20 || th.size() != 1001 {
			t.Fatalf("after 1000 usernames of 1 MiB: %d entries, live heap grew by %.1f MiB", th.size(), float64(grown)/(1<<20))
		}
	})
}

// liveHeap is the heap's live bytes after a garbage collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name, peer, forwarded, want string
	}{
		{"direct client", "203.0.113.9:5555", "", "203.0.113.9"},
		{"untrusted peer cannot claim an address", "203.0.113.9:5555", "1.1.1.1", "203.0.113.9"},
		{"trusted proxy: the entry it added", "127.0.0.1:5555", "1.1.1.1, 198.51.100.7", "198.51.100.7"},
		{"chain of trusted proxies", "127.0.0.1:5555", "198.51.100.7, 10.1.2.3", "198.51.100.7"},
		{"trusted proxy without header", "127.0.0.1:5555", "", "127.0.0.1"},
		{"garbage entry stops the walk", "127.0.0.1:5555", "not-an-ip", "127.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			if c.forwarded != "" {
				r.Header.Set("X-Forwarded-For", c.forwarded)
			}
			if got := clientAddress(r, trusted); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestForwardedClientIsThrottledAndLogged(t *testing.T) {
	ts := newTestServer(t, fastThrottle(2, 100), func(c *Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	ts.addUser("someone", "support")
	post := func(forwardedFor string) *response {
		req, _ := http.NewRequest("POST", ts.srv.URL+"/api/v1/token",
			strings.NewReader(url.Values{"username": {"someone"}, "password": {"Wrong!pass1"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", forwardedFor)
		return ts.send(req)
	}
	post("198.51.100.1").expect(400)
	post("198.51.100.1").expect(400)
	post("198.51.100.1").expect(429)
	post("198.51.100.2").expect(400) // another client behind the same proxy
	if !strings.Contains(ts.log.String(), "client=198.51.100.1") {
		t.Fatal("the access log does not name the forwarded client address")
	}
}

// TestLoginBurst runs alone (not parallel): it holds every hashing slot
// while a burst of logins arrives, so each login is admitted or refused
// before any password is checked, and then counts how many were checked.
func TestLoginBurst(t *testing.T) {
	const burst, limit = 50, 10
	wrong := func(int) string { return "Wrong!pass1" }
	cases := []struct {
		name               string
		perPair, perClient int
		username, password func(i int) string
	}{
		{"50 wrong passwords for one user", limit, 1000, func(int) string { return "victim" }, wrong},
		{"49 wrong passwords and the right one", limit, 1000, func(int) string { return "victim" }, func(i int) string {
			if i == burst-1 {
				return testPassword
			}
			return "Wrong!pass1"
		}},
		{"50 usernames from one address", 1000, limit, func(i int) string { return fmt.Sprintf("guess%d", i) }, wrong},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, fastThrottle(c.perPair, c.perClient))
			ts.addUser("victim", "support")
			for range cap(hashSlots) { // every slot busy: admitted logins wait to be checked
				hashSlots <- struct{}{}
			}
			held := true
			release := func() {
				if held {
					for range cap(hashSlots) {
						<-hashSlots
					}
					held = false
				}
			}
			defer release()

			var refused atomic.Int64
			done := make(chan []stAnswer)
			go func() {
				done <- stBurst(burst, func(i int) (int, []byte, error) {
					form := url.Values{"username": {c.username(i)}, "password": {c.password(i)}}
					req, _ := http.NewRequest("POST", ts.srv.URL+ts.cfg.RootPath+"/token", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					res, err := ts.srv.Client().Do(req)
					if err != nil {
						return 0, nil, err
					}
					defer res.Body.Close()
					body, err := io.ReadAll(res.Body)
					observe(req, res, body)
					if res.StatusCode == http.StatusTooManyRequests {
						refused.Add(1)
					}
					return res.StatusCode, body, err
				})
			}()
			for deadline := time.Now().Add(10 * time.Second); refused.Load() < burst-limit && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			release()
			statuses := map[int]int{}
			for _, a := range <-done {
				if a.err != nil {
					t.Fatal(a.err)
				}
				statuses[a.status]++
			}
			if checked := statuses[400] + statuses[200]; checked != limit || statuses[429] != burst-limit || statuses[200] > 1 {
				t.Fatalf("answers by status %v: %d passwords checked, want %d, and %d refused with 429", statuses, checked, limit, burst-limit)
			}
		})
	}
}

func TestLoginOverlongUsername(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.addUser("sixteenlettersok", "support")
	ts.token("sixteenlettersok", testPassword)
	for _, username := range []string{"seventeenletterss", strings.Repeat("a", maxBodyBytes-100)} {
		start := time.Now()
		ts.form("/token", url.Values{"username": {username}, "password": {testPassword}}).
			expect(400, "Incorrect User name or password")
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("a %d-byte username took %v to refuse", len(username), took)
		}
	}
	if th, ok := ts.app.throttle.(*loginThrottle); ok && th.size() != 0 { // the right login left nothing counted
		t.Fatalf("the throttle holds %d entries: overlong usernames were counted", th.size())
	}

	t.Run("a longer username an upgraded database holds still logs in", func(t *testing.T) {
		if _, err := ts.store.write.ExecContext(context.Background(),
			"UPDATE users SET username = ? WHERE username = ?", "twentyletterslongxyz", "sixteenlettersok"); err != nil {
			t.Fatal(err)
		}
		restarted, err := newApp(ts.cfg, ts.store, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(restarted)
		defer srv.Close()
		res, err := srv.Client().PostForm(srv.URL+ts.cfg.RootPath+"/token",
			url.Values{"username": {"twentyletterslongxyz"}, "password": {testPassword}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("login of a 20-letter username from an upgraded database: %d, want 200", res.StatusCode)
		}
	})
}

// TestLoginMemoryWithLongUsernames runs alone (not parallel), so the live
// heap it reads is its own server's.
func TestLoginMemoryWithLongUsernames(t *testing.T) {
	ts := newTestServer(t)
	const logins, senders = 1000, 2
	prefix := "password=Wrong!pass1&username="
	before := liveHeap()
	answers := stBurst(senders, func(sender int) (int, []byte, error) {
		// A form just under the 1 MiB body limit; each login's username differs in its first digits.
		form := append([]byte(prefix), bytes.Repeat([]byte("x"), 1<<20-100)...)
		for i := sender; i < logins; i += senders {
			copy(form[len(prefix):], fmt.Sprint(i))
			res, err := ts.srv.Client().Post(ts.srv.URL+ts.cfg.RootPath+"/token", "application/x-www-form-urlencoded",
				bytes.NewReader(form))
			if err != nil {
				return 0, nil, err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 400 {
				return res.StatusCode, nil, fmt.Errorf("login %d with a 1 MiB username: %d, want 400", i, res.StatusCode)
			}
		}
		return 400, nil, nil
	})
	for _, a := range answers {
		if a.err != nil {
			t.Fatal(a.err)
		}
	}
	grown := liveHeap() - before
	t.Logf("live heap grew by %.2f MiB over %d failed logins with 1 MiB usernames", float64(grown)/(1<<20), logins)
	if grown > 4<<20 {
		t.Fatalf("live heap grew by %.1f MiB, want at most 4", float64(grown)/(1<<20))
	}
}
