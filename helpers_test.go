package main

// helpers_test.go: one way to start a real server on a real SQLite file for
// a test, and a small client for it. Every end-to-end test uses these.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// testPassword meets every password rule; test users all have it.
const testPassword = "Passw0rd!"

// testSecret signs the tokens of test servers.
const testSecret = "test-secret-key-0123456789abcdef0123456789abcdef"

// testConfig is the built-in config made fast for tests: argon2id with
// little memory and one pass (the real parameters are tested apart).
func testConfig(t testing.TB) *Config {
	t.Helper()
	cfg := &Config{}
	if err := json.Unmarshal(defaultConfigJSON, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = testDatabase(t)
	cfg.Auth.SecretKey = testSecret
	cfg.Auth.Argon2.MemoryKiB, cfg.Auth.Argon2.Iterations, cfg.Auth.Argon2.Parallelism = 1024, 1, 1
	cfg.Auth.BcryptCost = 4
	cfg.RateLimit.RequestsPerSecond = 1e6 // tests call far faster than people do; TestRateLimit tests the limit
	cfg.MetricsAddr = "127.0.0.1:0"       // serve's metrics port: a free one, as tests run many servers at once
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testHashPrefix is how a hash made with the test config's argon2id
// parameters starts.
const testHashPrefix = "$argon2id$v=19$m=1024,t=1,p=1$"

// testDatabaseURL, when set, runs the test servers on PostgreSQL instead of
// SQLite: .ci/run runs the whole suite a second time with it set.
var testDatabaseURL = os.Getenv("TICKETAPI_TEST_DATABASE_URL")

// testDatabase is a new, empty database for one test: a SQLite file in a
// temp dir, or, with TICKETAPI_TEST_DATABASE_URL, a PostgreSQL schema of
// its own (dropped when the test ends), named in the URL's search_path.
func testDatabase(t testing.TB) string {
	t.Helper()
	if testDatabaseURL == "" {
		return filepath.Join(t.TempDir(), "test.db")
	}
	return newPostgresSchema(t)
}

// schemaCounter names the test schemas of this process.
var schemaCounter atomic.Int64

// trigramOnce puts pg_trgm (search.go) in the public schema before the
// first test schema: created in a test's own schema instead, as a server
// would, it would go when that schema is dropped, and take every other
// test's text indexes with it.
var (
	trigramOnce sync.Once
	trigramErr  error
)

func newPostgresSchema(t testing.TB) string {
	t.Helper()
	if testDatabaseURL == "" {
		t.Skip("TICKETAPI_TEST_DATABASE_URL is not set: no PostgreSQL to test against")
	}
	db, err := sql.Open("pgx", testDatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	trigramOnce.Do(func() {
		_, trigramErr = db.Exec("CREATE EXTENSION IF NOT EXISTS " + trigramExtension + " SCHEMA public")
	})
	if trigramErr != nil {
		db.Close()
		t.Fatalf("the tests need %s in the public schema of TICKETAPI_TEST_DATABASE_URL's database "+
			"(e2e/postgres.sh creates it): %v", trigramExtension, trigramErr)
	}
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), schemaCounter.Add(1))
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		db.Close()
		t.Fatalf("create schema on TICKETAPI_TEST_DATABASE_URL: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
		db.Close()
	})
	u, err := url.Parse(testDatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// testServer is a running ticketapi on a temporary database.
type testServer struct {
	t     testing.TB
	cfg   *Config
	app   *app
	store *Store
	srv   *httptest.Server
	log   *lockedBuffer // everything the server logged
	sent  *sentSecrets  // the passwords and tokens it was sent or gave out (shared by copies)
}

// lockedBuffer lets the server log from many goroutines into one buffer.
type lockedBuffer struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

// String is what was logged so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// newTestServer starts a server on a fresh database. edit, when given,
// changes the config first (its DatabaseURL may point at a fixture copy).
func newTestServer(t testing.TB, edit ...func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t)
	for _, e := range edit {
		e(cfg)
	}
	logBuf := &lockedBuffer{buf: &bytes.Buffer{}}
	logger := newLogger(cfg, logBuf) // the server's own handler, as serve makes it
	store, err := openStore(context.Background(), cfg.databasePath(), logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(cfg, store, logger)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, cfg: cfg, app: a, store: store, srv: httptest.NewServer(a), log: logBuf, sent: &sentSecrets{}}
	t.Cleanup(func() {
		ts.srv.Close()
		ts.checkNoSecretKept()
		store.Close()
	})
	return ts
}

// userCounter gives each test user its own phone number.
var userCounter atomic.Int64

// addUser creates a user straight in the store (password testPassword) and
// returns it.
func (ts *testServer) addUser(username string, roles ...string) *User {
	ts.t.Helper()
	hash, err := ts.app.hasher.Hash(testPassword)
	if err != nil {
		ts.t.Fatal(err)
	}
	u := &User{Username: username, FirstName: "Test", LastName: "User",
		Phone: fmt.Sprintf("+1555%07d", userCounter.Add(1)), Email: strings.ToLower(username) + "@example.com",
		Role: append([]string{}, roles...), hashedPassword: hash}
	if _, err := ts.store.CreateUser(context.Background(), u); err != nil {
		ts.t.Fatalf("add user %s: %v", username, err)
	}
	return u
}

// token logs in through POST /token and returns the access token.
func (ts *testServer) token(username, password string, scopes ...string) string {
	ts.t.Helper()
	res := ts.form("/token", url.Values{"username": {username}, "password": {password}, "scope": {strings.Join(scopes, " ")}})
	if res.status != http.StatusOK {
		ts.t.Fatalf("login %s: %d %s", username, res.status, res.body)
	}
	return res.obj()["access_token"].(string)
}

// userWithToken adds a user and logs it in.
func (ts *testServer) userWithToken(username string, roles ...string) (*User, string) {
	ts.t.Helper()
	u := ts.addUser(username, roles...)
	return u, ts.token(username, testPassword)
}

// response is what the server answered.
type response struct {
	t      testing.TB
	status int
	header http.Header
	body   []byte
}

// obj decodes a JSON object body.
func (r *response) obj() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// list decodes a JSON array body.
func (r *response) list() []map[string]any {
	r.t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(r.body, &l); err != nil {
		r.t.Fatalf("body is not a JSON list: %v: %s", err, r.body)
	}
	return l
}

// detail is the "detail" of an error body when it is a string.
func (r *response) detail() string {
	var m map[string]any
	if json.Unmarshal(r.body, &m) != nil {
		return ""
	}
	s, _ := m["detail"].(string)
	return s
}

// problems are the entries of a 422 validation body.
func (r *response) problems() []fieldError {
	r.t.Helper()
	var v struct {
		Detail []fieldError `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		r.t.Fatalf("not a validation error body: %v: %s", err, r.body)
	}
	return v.Detail
}

// expect fails the test unless the answer has the status (and, when given,
// the detail message).
func (r *response) expect(status int, detail ...string) *response {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if len(detail) > 0 && r.detail() != detail[0] {
		r.t.Fatalf("detail %q, want %q (body %s)", r.detail(), detail[0], r.body)
	}
	return r
}

// call sends one request to path (under the root path). body is sent as is
// when it is a string, else encoded as JSON; nil sends no body.
func (ts *testServer) call(method, path, token string, body any, headers ...string) *response {
	ts.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, ts.srv.URL+ts.cfg.RootPath+path, reader)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return ts.send(req)
}

// form posts a form-encoded body.
func (ts *testServer) form(path string, values url.Values) *response {
	ts.t.Helper()
	req, err := http.NewRequest("POST", ts.srv.URL+ts.cfg.RootPath+path, strings.NewReader(values.Encode()))
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return ts.send(req)
}

func (ts *testServer) send(req *http.Request) *response {
	ts.t.Helper()
	ts.sent.fromRequest(req)
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	observe(req, res, data)
	ts.sent.fromAnswer(data)
	return &response{t: ts.t, status: res.StatusCode, header: res.Header, body: data}
}

// copyFixture copies one of the original project's files in testdata/ into a
// temp dir (tests never write to testdata/) and returns the copy's path.
func copyFixture(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// repeatUntil runs f over and over in a goroutine of wg until stop closes
// or f says to stop (returns false).
func repeatUntil(stop <-chan struct{}, wg *sync.WaitGroup, f func() (goOn bool)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if !f() {
					return
				}
			}
		}
	}()
}

// validEmployee and validTicket are bodies that pass every rule; tests
// change one field at a time.
func validEmployee(n int) map[string]any {
	return map[string]any{
		"first_name": "Jürgen", "last_name": "Müller", "nick_name": "Jue",
		"phone": "+38050443" + pad4(n), "email": "emp" + pad4(n) + "@example.com",
		"birthday": "1990-02-28", "country": "Germany", "city": "München",
		"address": "Khreschatyk St, 14, UA 01001",
	}
}

func validTicket() map[string]any {
	return map[string]any{"title": "Network problem", "description": "Cannot reach the share.", "status": "New"}
}

func validNewUser(username string, n int) map[string]any {
	return map[string]any{
		"username": username, "first_name": "Anna", "last_name": "Nielsen",
		"phone": "+49129876" + pad4(n), "email": strings.ToLower(username) + "@example.com",
		"role": []string{"support"}, "password": testPassword,
	}
}

func pad4(n int) string { return fmt.Sprintf("%04d", n) }

// discardLogger formats log lines as the server does, then drops them.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
