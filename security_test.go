package main

// security_test.go: the defences of contract's (beyond) items that are not
// about roles: login throttling, client addresses behind a proxy, content
// types, CORS and response headers.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
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
	th := newLoginThrottle(ThrottleConfig{MaxFailuresPerUser: 3, MaxFailuresPerClient: 1000, WindowSeconds: 60, MaxEntries: 100})
	th.now = func() time.Time { return clock }

	t.Run("blocked for the window after the limit, then free again", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			if th.blocked("u", "1.2.3.4") != 0 {
				t.Fatalf("blocked after %d failures", i)
			}
			th.failed("u", "1.2.3.4")
		}
		if wait := th.blocked("u", "1.2.3.4"); wait != time.Minute {
			t.Fatalf("wait %v, want 1m", wait)
		}
		if th.blocked("u", "5.6.7.8") != 0 {
			t.Fatal("another client is blocked for the same user")
		}
		clock = clock.Add(61 * time.Second)
		if th.blocked("u", "1.2.3.4") != 0 {
			t.Fatal("still blocked after the window")
		}
	})

	t.Run("failures spread wider than the window do not add up", func(t *testing.T) {
		for i := 0; i < 6; i++ {
			th.failed("slow", "9.9.9.9")
			clock = clock.Add(40 * time.Second)
			if th.blocked("slow", "9.9.9.9") != 0 {
				t.Fatalf("blocked after %d failures 40 s apart", i+1)
			}
		}
	})

	t.Run("answers are slowed in the second half of the allowed failures", func(t *testing.T) {
		slow := newLoginThrottle(ThrottleConfig{MaxFailuresPerUser: 10, MaxFailuresPerClient: 1000, WindowSeconds: 60, MaxEntries: 100})
		for i := 1; i <= 9; i++ {
			if d := slow.failed("u", "1.1.1.1"); (i <= 5) != (d == 0) || d > 2*time.Second {
				t.Fatalf("delay after %d failures: %v", i, d)
			}
		}
		if d := slow.failed("u", "2.2.2.2"); d != 0 {
			t.Fatalf("another client is slowed: %v after its first failure", d)
		}
	})

	t.Run("the table never grows past its cap", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			th.failed(fmt.Sprintf("user%d", i), "6.6.6.6")
			if n := th.size(); n > 100 {
				t.Fatalf("%d entries after %d usernames, cap 100", n, i+1)
			}
		}
	})
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

func TestContentTypeAndHeaders(t *testing.T) {
	ts := newTestServer(t)
	_, token := ts.userWithToken("writer", "manager")

	t.Run("a JSON route refuses another content type with 415", func(t *testing.T) {
		res := ts.call("POST", "/employee/", token, `{"first_name":"x"}`, "Content-Type", "text/plain")
		res.expect(415, "Content-Type must be application/json")
		ts.call("POST", "/employee/", token, validEmployee(5), "Content-Type", "application/x-www-form-urlencoded").expect(415)
	})
	t.Run("JSON with a charset parameter is accepted", func(t *testing.T) {
		ts.call("POST", "/employee/", token, validEmployee(6), "Content-Type", "application/json; charset=utf-8").expect(200)
	})
	t.Run("responses carry nosniff, no-store and a request id", func(t *testing.T) {
		res := ts.call("GET", "/me", token, nil, "X-Request-ID", "trace-42")
		if res.header.Get("X-Content-Type-Options") != "nosniff" || res.header.Get("Cache-Control") != "no-store" ||
			res.header.Get("X-Request-ID") != "trace-42" {
			t.Fatalf("headers: %v", res.header)
		}
		login := ts.form("/token", url.Values{"username": {"writer"}, "password": {testPassword}}).expect(200)
		if login.header.Get("Cache-Control") != "no-store" {
			t.Fatal("token answer is cacheable")
		}
		if ts.call("GET", "/me", token, nil).header.Get("X-Request-ID") == "" {
			t.Fatal("no request id generated")
		}
	})
	t.Run("every JSON answer says application/json; charset=utf-8, cached ones too", func(t *testing.T) {
		const want = "application/json; charset=utf-8"
		e := ts.call("POST", "/employee/", token, validEmployee(7)).expect(200).obj()
		path := fmt.Sprintf("/employee/%v", e["id"])
		answers := map[string]*response{}
		for i := range 2 { // the second answers come from the caches (SQLite)
			answers[fmt.Sprint("GET /me #", i)] = ts.call("GET", "/me", token, nil).expect(200)
			answers[fmt.Sprint("GET ", path, " #", i)] = ts.call("GET", path, token, nil).expect(200)
			answers[fmt.Sprint("GET /employee/ #", i)] = ts.call("GET", "/employee/", token, nil).expect(200)
		}
		answers["404"] = ts.call("GET", "/employee/999999", token, nil).expect(404, "Employee not found")
		answers["422"] = ts.call("POST", "/employee/", token, map[string]any{}).expect(422)
		answers["405"] = ts.call("PATCH", "/employee/", token, nil).expect(405)
		answers["401"] = ts.call("GET", "/me", "", nil).expect(401)
		answers["token"] = ts.form("/token", url.Values{"username": {"writer"}, "password": {testPassword}}).expect(200)
		for name, res := range answers {
			if got := res.header.Get("Content-Type"); got != want {
				t.Errorf("%s: Content-Type %q, want %q", name, got, want)
			}
			// Cached answers are written with a Content-Length of their own
			// making (writeEncoded), the others by net/http.
			if n, err := strconv.Atoi(res.header.Get("Content-Length")); err != nil || n != len(res.body) ||
				!bytes.HasSuffix(res.body, []byte("}\n")) && !bytes.HasSuffix(res.body, []byte("]\n")) {
				t.Errorf("%s: Content-Length %q for a body of %d bytes: %q", name, res.header.Get("Content-Length"), len(res.body), res.body)
			}
		}
	})
	t.Run("a request id sent empty or over 128 characters is replaced by a fresh one, which the log line has", func(t *testing.T) {
		fresh := regexp.MustCompile(`^[0-9a-f]{16}$`)
		seen := map[string]bool{}
		for _, sent := range []string{"", strings.Repeat("a", 129), "none"} {
			var res *response
			if sent == "none" {
				res = ts.call("GET", "/me", token, nil)
			} else {
				res = ts.call("GET", "/me", token, nil, "X-Request-ID", sent)
			}
			id := res.expect(200).header.Get("X-Request-ID")
			if !fresh.MatchString(id) || seen[id] {
				t.Errorf("sent %q (%d chars): got request id %q, want a fresh 16 hex digits", sent, len(sent), id)
			}
			seen[id] = true
			if !strings.Contains(ts.log.String(), " request_id="+id+" ") {
				t.Errorf("no log line has request_id=%s", id)
			}
		}
		longest := strings.Repeat("b", 128)
		if got := ts.call("GET", "/me", token, nil, "X-Request-ID", longest).header.Get("X-Request-ID"); got != longest {
			t.Errorf("a 128-character request id came back as %q", got)
		}
	})
	t.Run("the access log line names the request, its answer, the caller and the client", func(t *testing.T) {
		ts.call("GET", "/me", token, nil, "X-Request-ID", "line-check").expect(200)
		line := regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request method=GET path=/api/v1/me status=200 ` +
			`duration_ms=[0-9.e-]+ user=writer request_id=line-check client=127\.0\.0\.1$`)
		if !line.MatchString(ts.log.String()) {
			t.Errorf("no access line as expected for line-check in:\n%s", ts.log.String())
		}
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

func TestCORS(t *testing.T) {
	ts := newTestServer(t)
	preflight := func(origin string) *response {
		req, _ := http.NewRequest("OPTIONS", ts.srv.URL+"/api/v1/user/", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		return ts.send(req)
	}
	t.Run("preflight from a configured origin", func(t *testing.T) {
		res := preflight("http://localhost:8000").expect(204)
		h := res.header
		if h.Get("Access-Control-Allow-Origin") != "http://localhost:8000" || h.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Allow-Headers") != "authorization, content-type" {
			t.Fatalf("preflight headers: %v", h)
		}
	})
	t.Run("preflight from another origin is refused", func(t *testing.T) {
		res := preflight("https://evil.example").expect(400, "Disallowed CORS origin")
		if res.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("allow-origin given to a foreign origin")
		}
	})
	t.Run("simple request from another origin gets no CORS headers", func(t *testing.T) {
		res := ts.call("GET", "/status", "", nil, "Origin", "https://evil.example")
		if res.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("allow-origin given to a foreign origin")
		}
	})
	t.Run("a wildcard origin with credentials is refused at start", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.CORS.AllowOrigins = []string{"*"}
		if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "allow_credentials") {
			t.Fatalf("check: %v", err)
		}
	})
}

// TestLastAdminUnderConcurrency: two admins disable each other at the same
// moment. The check runs inside each write transaction, so exactly one wins.
func TestLastAdminUnderConcurrency(t *testing.T) {
	for round := 0; round < 5; round++ {
		ts := newTestServer(t)
		first, firstToken := ts.userWithToken("adminone", "admin")
		second, secondToken := ts.userWithToken("admintwo", "admin")
		results := make(chan int, 2)
		disable := func(token string, target *User) {
			results <- ts.call("PATCH", fmt.Sprintf("/user/%d/disabled", target.ID), token, map[string]any{"disabled": true}).status
		}
		go disable(firstToken, second)
		go disable(secondToken, first)
		a, b := <-results, <-results
		// One succeeds (200). The other is refused: 409 when its transaction
		// ran second, or 400 User disabled when its caller was already disabled.
		refused := func(status int) bool { return status == 409 || status == 400 }
		if !(a == 200 && refused(b) || b == 200 && refused(a)) {
			t.Fatalf("round %d: answers %d and %d, want one 200 and one refusal", round, a, b)
		}
		active := 0
		for _, u := range []*User{first, second} {
			got, err := ts.store.UserByID(context.Background(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.activeAdmin() {
				active++
			}
		}
		if active != 1 {
			t.Fatalf("round %d: %d active admins left, want 1", round, active)
		}
	}
}

// TestSlowClientIsCut: a client that sends half a request header and stops
// is disconnected after the read-header timeout, not kept forever.
func TestSlowClientIsCut(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.ListenAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, discardLogger(), ready) }()
	t.Cleanup(func() { cancel(); <-done })
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			break // closed by the server (or the 30 s guard, checked below)
		}
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("a half-sent header kept the connection for %v", took)
	}
}

// TestAbandonedLoginIsNotHashed: a login whose client went away while it
// waited for a hashing slot gives up its turn instead of hashing for nobody.
func TestAbandonedLoginIsNotHashed(t *testing.T) {
	for i := 0; i < cap(hashSlots); i++ { // every slot busy
		hashSlots <- struct{}{}
	}
	defer func() {
		for i := 0; i < cap(hashSlots); i++ {
			<-hashSlots
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ran := false
	start := time.Now()
	if err := withHashSlot(ctx, func() { ran = true }); err == nil || ran {
		t.Fatalf("withHashSlot ran for a gone caller (err %v)", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("the gone caller waited for a slot")
	}
	if hashMemoryLimit(65536) != int64(cap(hashSlots))*64<<20+32<<20 {
		t.Fatalf("memory limit %d", hashMemoryLimit(65536))
	}
}

// An unknown user's login costs what a known user's does (docs/api.md §2: no user
// enumeration by time): it is checked against a dummy hash made with the
// configured parameters, which waits for a hashing slot like any other.
func TestUnknownUserIsHashedToo(t *testing.T) {
	ts := newTestServer(t)
	a := ts.cfg.Auth.Argon2
	prefix := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", a.MemoryKiB, a.Iterations, a.Parallelism)
	if !strings.HasPrefix(ts.app.hasher.dummy, prefix) {
		t.Fatalf("dummy hash %q, want one made with the configured parameters (%s...)", ts.app.hasher.dummy, prefix)
	}
	for range cap(hashSlots) { // every slot busy: a check that hashes has to wait
		hashSlots <- struct{}{}
	}
	defer func() {
		for range cap(hashSlots) {
			<-hashSlots
		}
	}()
	for name, hash := range map[string]string{"unknown user": "", "known user": ts.app.hasher.dummy} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		if ok, _ := ts.app.hasher.Verify(ctx, hash, "wrong password"); ok {
			t.Fatalf("%s: a wrong password verified", name)
		}
		cancel()
		if waited := time.Since(start); waited < 40*time.Millisecond {
			t.Errorf("%s: answered in %v without waiting for a hashing slot: it did not hash", name, waited)
		}
	}
}

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

	if err := other.DeleteUser(context.Background(), u.ID); err != nil {
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
