package main

// middleware_test.go: middleware.go's ServeHTTP around every route: a
// panic becomes a bare 500 with the stack in the log, the response headers
// (nosniff, no-store, Content-Type), the request id and the access log
// line, CORS, 404 and 405. Also the 415 for a JSON route sent another
// content type.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPanicBecomes500: a handler that panics answers the spec's 500 body,
// with no stack trace or internals, and the log has both, with the request id.
func TestPanicBecomes500(t *testing.T) {
	ts := newTestServer(t)
	ts.app.mux.HandleFunc("GET /api/v1/boom", func(w http.ResponseWriter, r *http.Request) {
		panic("secret internal state")
	})
	res := ts.call("GET", "/boom", "", nil, "X-Request-ID", "boom-1").expect(500, "Internal Server Error")
	if strings.Contains(string(res.body), "secret") || strings.Contains(string(res.body), "goroutine") {
		t.Fatalf("500 body leaks internals: %s", res.body)
	}
	ts.srv.Close()
	log := ts.log.String()
	if !strings.Contains(log, "request_id=boom-1") || !strings.Contains(log, "secret internal state") || !strings.Contains(log, "goroutine") {
		t.Fatalf("the log lacks the panic, its stack or the request id:\n%s", log)
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

// rbacRaw sends a request to path (NOT under the root path) without
// following redirects.
func rbacRaw(t testing.TB, ts *testServer, method, path, token string) *response {
	t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := *ts.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{t: t, status: res.StatusCode, header: res.Header, body: data}
}

func TestRBACNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, token := ts.userWithToken("bossman", "admin")
	notFound := map[string]string{"detail": "Not Found"}

	for _, p := range []string{"/nothing", "/user/1/nothing", "/ticket/my/extra", "/employee/1/tickets"} {
		t.Run("unknown route "+p+" is 404 Not Found", func(t *testing.T) {
			res := rbacOn(ts, t).call("GET", p, token, nil).expect(http.StatusNotFound)
			rbacJSONBody(t, res, notFound)
		})
	}
	root := ts.cfg.RootPath
	for _, p := range []string{"//docs", root + "/./me", root + "/docs/../openapi.json", root + "//user/",
		root + "/docs/%2e%2e%2fopenapi.json", root + "/user/1/..", "/api//v1/me"} {
		t.Run("unclean path "+p+" is a JSON 404, not a redirect", func(t *testing.T) {
			res := rbacRaw(t, ts, "GET", p, token).expect(http.StatusNotFound)
			rbacJSONBody(t, res, notFound)
			if loc := res.header.Get("Location"); loc != "" {
				t.Errorf("Location %q", loc)
			}
		})
	}
	t.Run("a path outside the root path is 404 Not Found", func(t *testing.T) {
		res := rbacRaw(t, ts, "GET", "/user/", token).expect(http.StatusNotFound)
		rbacJSONBody(t, res, notFound)
	})

	wrong := []struct {
		method, path string
		allow        []string
	}{
		{"DELETE", "/me", []string{"GET"}},
		{"POST", "/status", []string{"GET"}},
		{"GET", "/token", []string{"POST"}},
		{"PATCH", "/employee/", []string{"GET", "POST"}},
		{"PATCH", "/employee", []string{"GET", "POST"}},
		{"DELETE", "/user/", []string{"GET", "POST"}},
		{"PATCH", "/user/1", []string{"GET", "PUT", "DELETE"}},
		{"POST", "/ticket/my/", []string{"GET"}},
	}
	for _, c := range wrong {
		t.Run(c.method+" "+c.path+" is 405 with Allow", func(t *testing.T) {
			res := rbacOn(ts, t).call(c.method, c.path, "", nil).expect(http.StatusMethodNotAllowed)
			rbacJSONBody(t, res, map[string]string{"detail": "Method Not Allowed"})
			allow := strings.Split(res.header.Get("Allow"), ", ")
			for _, m := range c.allow {
				if !slices.Contains(allow, m) {
					t.Errorf("Allow %q lacks %s", res.header.Get("Allow"), m)
				}
			}
			if slices.Contains(allow, c.method) {
				t.Errorf("Allow %q lists the refused method %s", res.header.Get("Allow"), c.method)
			}
		})
	}

	for _, p := range []string{"/user", "/user/", "/employee", "/employee/", "/ticket", "/ticket/", "/ticket/my", "/ticket/my/"} {
		t.Run("GET "+p+" answers 200 without a redirect", func(t *testing.T) {
			res := rbacRaw(t, ts, "GET", ts.cfg.RootPath+p, token)
			if res.status != http.StatusOK {
				t.Fatalf("status %d (Location %q): %s", res.status, res.header.Get("Location"), res.body)
			}
			res.list()
		})
	}
	t.Run("POST /employee without the slash creates", func(t *testing.T) {
		rbacOn(ts, t).call("POST", "/employee", token, validEmployee(7)).expect(http.StatusOK)
	})
}
