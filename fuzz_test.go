package main

// fuzz_test.go: whatever bytes arrive as a JSON body, a login form or a
// bearer token, the server answers a documented 4xx (or 200): never a 500,
// a panic or a hang. The f.Add lines are the committed seed corpus; .ci/run
// fuzzes each target for a bounded time.

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fuzzServer is a server to call in-process, with a manager's token.
func fuzzServer(f *testing.F) (*testServer, string) {
	ts := newTestServer(f)
	_, token := ts.userWithToken("fuzzer", "admin", "manager")
	return ts, token
}

// serve runs one request in-process and returns the status.
func (ts *testServer) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	ts.app.ServeHTTP(rec, r)
	return rec
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

func FuzzTokenForm(f *testing.F) {
	ts, _ := fuzzServer(f)
	f.Add("application/x-www-form-urlencoded", "username=fuzzer&password=Passw0rd!")
	f.Add("application/x-www-form-urlencoded", "username=fuzzer&password=x&grant_type=client_credentials")
	f.Add("application/x-www-form-urlencoded", "username=%ff%fe&password=%00&scope=scope_example+x")
	f.Add("multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nfuzzer\r\n--X--\r\n")
	f.Add("multipart/form-data", "garbage")
	f.Add("text/plain", "username=fuzzer")
	f.Add("", "&&&===;;")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest("POST", "/api/v1/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.RemoteAddr = "192.0.2.1:1234" // a throttled answer is fine: it is a 429, not a 5xx
		rec := ts.serve(r)
		if rec.Code >= 500 {
			t.Fatalf("content type %q body %q: %d %s", contentType, body, rec.Code, rec.Body)
		}
	})
}

func FuzzBearerToken(f *testing.F) {
	ts, token := fuzzServer(f)
	f.Add("Bearer " + token)
	f.Add("bearer " + token + "x")
	f.Add("Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJmdXp6ZXIifQ.")
	f.Add("Bearer a.b.c")
	f.Add("Basic Zm9vOmJhcg==")
	f.Add("Bearer " + strings.Repeat("A", 5000))
	f.Add("Bearer")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/api/v1/me", nil)
		r.Header["Authorization"] = []string{header}
		rec := ts.serve(r)
		switch rec.Code {
		case 200, 400, 401:
		default:
			t.Fatalf("Authorization %q: %d %s", header, rec.Code, rec.Body)
		}
		signed := token[:strings.LastIndex(token, ".")] // header and claims: the part the signature covers
		if rec.Code == 200 && !strings.Contains(header, signed) {
			t.Fatalf("Authorization %q was accepted", header)
		}
	})
}

// The server's log lines in the text format are written by
// quickTextHandler; whatever a record holds, they must equal what slog's
// own TextHandler writes (or be left to it).
func FuzzQuickTextMatchesSlog(f *testing.F) {
	f.Add("request", "path", "/api/v1/me", int64(200), 0.123, int64(1764372000123456789), true)
	f.Add("", "", "", int64(0), 0.0, int64(0), false)
	f.Add("a b", "k=v", "say \"hi\"\n", int64(-1), 1e21, int64(-62135596800000000), true)
	f.Add("tab\there", "ключ", "\xff\xfe", int64(1<<62), 1e-7, int64(253402300799999999), false)
	f.Add("\u2028", "back\\slash", "\u00a0nbsp", int64(42), 60000.5, int64(1), true)
	f.Add("del\x7f", "é", "emoji 🙂", int64(7), -0.0, int64(999), false)
	f.Fuzz(func(t *testing.T, msg, key, value string, n int64, x float64, nanos int64, yes bool) {
		quickTextMatchesSlog(t, msg, key, value, n, x, nanos, yes)
	})
}

func quickTextMatchesSlog(t *testing.T, msg, key, value string, n int64, x float64, nanos int64, yes bool) {
	t.Helper()
	// Each line's time is formatted from the text kept for its second
	// (appendStamp): a second time in (often) the same second, and a zone
	// other than UTC, go through that too.
	at := time.Unix(0, nanos).UTC()
	zone := time.FixedZone("", int(n%(18*3600)))
	for _, when := range []time.Time{at, at.Add(time.Duration(n % int64(time.Second))), at.In(zone), at.In(zone)} {
		quickTextLineMatchesSlog(t, when, msg, key, value, n, x, yes)
	}
}

func quickTextLineMatchesSlog(t *testing.T, when time.Time, msg, key, value string, n int64, x float64, yes bool) {
	t.Helper()
	r := slog.NewRecord(when, slog.LevelWarn, msg, 0)
	r.AddAttrs(slog.String(key, value), slog.Int64("n", n), slog.Float64("x", x), slog.Bool("yes", yes),
		slog.String("user", value+key))
	var want, got bytes.Buffer
	if err := slog.NewTextHandler(&want, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	line, ok := appendTextLine(nil, r)
	if !ok {
		if key != "" {
			t.Fatalf("appendTextLine left a record of strings and numbers to slog: %q", want.String())
		}
		return // an empty key: slog's business
	}
	got.Write(line)
	if got.String() != want.String() {
		t.Fatalf("quick text line differs from slog's:\n got %q\nwant %q", got.String(), want.String())
	}
}
