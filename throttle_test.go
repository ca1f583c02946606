package main

// throttle_test.go: throttle.go: failed logins are throttled per user and
// client pair and per client, with 429 and Retry-After; the client address
// is taken from X-Forwarded-For only behind a trusted proxy, and a
// forwarded client is throttled and logged as itself.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
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
