package main

// main_test.go: main.go's command line (version, serve as the default,
// set-password) and serve: the first admin from TICKETAPI_ADMIN_PASSWORD or
// a generated password, start-up errors, the graceful stop (docs/api.md
// §10), the read-header timeout that cuts a slow client, and the profiler
// on loopback only.
//
// TestMain runs every test, then holds each answer the end-to-end tests
// observed (observe, called from helpers_test.go's send) to openapi.json
// (docs/api.md §7): its status must be documented for its operation and
// its body must validate against the documented schema (JSON Schema
// 2020-12, github.com/santhosh-tekuri/jsonschema), as must the paging
// headers it sends (X-Total-Count, Link) and its ETag.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestMain runs the tests, then holds every answer they observed to the
// document: an undocumented status or a body that does not match its
// schema fails the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(code) // a fuzzing worker process: the coordinator reports
	}
	observed.Lock()
	answers := slices.Clone(observed.answers)
	observed.Unlock()
	mismatches, checked, err := oaCheckObserved(answers)
	switch {
	case err != nil:
		fmt.Printf("--- FAIL: TestMain: checking observed answers against openapi.json: %v\n", err)
		code = 1
	case len(mismatches) > 0:
		fmt.Printf("--- FAIL: TestMain: %d kinds of observed answers do not match openapi.json:\n", len(mismatches))
		for _, m := range mismatches {
			fmt.Printf("    %s\n", m)
		}
		code = 1
	case testing.Verbose():
		fmt.Printf("openapi: %d observed answers of API operations match openapi.json (%d answers in all)\n", checked, len(answers))
	}
	os.Exit(code)
}

// observed keeps every answer the end-to-end tests saw, so a test can check
// them all against the OpenAPI document.
var observed struct {
	sync.Mutex
	answers []observedAnswer
}

type observedAnswer struct {
	method, path string
	status       int
	contentType  string
	body         []byte
	header       http.Header
}

func observe(req *http.Request, res *http.Response, body []byte) {
	observed.Lock()
	defer observed.Unlock()
	if len(observed.answers) < 20000 {
		observed.answers = append(observed.answers, observedAnswer{req.Method, req.URL.Path, res.StatusCode,
			res.Header.Get("Content-Type"), body, res.Header})
	}
}

// oaUndocumentedStatus are statuses an observed answer may have although its
// operation does not list them; their bodies must still be HTTPError.
var oaUndocumentedStatus = map[int]string{
	403: "the config's raise_error can map a failure to 403 (docs/api.md §2, §8; TestRBACConfigOverrides does); the document lists the defaults",
	500: "Internal Server Error can answer any route (docs/api.md §1); it is not listed per operation",
}

// oaRouteApp builds an app (the built-in config, a throwaway database) only
// to ask its mux which route a request reaches.
func oaRouteApp() (*app, func(), error) {
	cfg := &Config{}
	if err := json.Unmarshal(defaultConfigJSON, cfg); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "ticketapi-openapi-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	cfg.DatabaseURL = filepath.Join(dir, "routes.db")
	cfg.Auth.SecretKey = testSecret
	if err := cfg.check(); err != nil {
		cleanup()
		return nil, nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	store, err := openStore(context.Background(), cfg.databasePath(), logger)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	a, err := newApp(cfg, store, logger)
	if err != nil {
		store.Close()
		cleanup()
		return nil, nil, err
	}
	return a, func() { store.Close(); cleanup() }, nil
}

// oaCheckObserved checks every observed answer of an API operation against
// the document. It returns one line per kind of mismatch (with one example
// and a count) and how many answers it checked.
func oaCheckObserved(answers []observedAnswer) (mismatches []string, checked int, err error) {
	doc, err := oaParse()
	if err != nil {
		return nil, 0, err
	}
	v, err := oaNewValidator(false)
	if err != nil {
		return nil, 0, err
	}
	a, cleanup, err := oaRouteApp()
	if err != nil {
		return nil, 0, err
	}
	defer cleanup()
	ix := oaNewIndex(doc, a.cfg.RootPath)

	type group struct {
		example string
		count   int
	}
	groups := map[string]*group{}
	report := func(kind, example string) {
		g, ok := groups[kind]
		if !ok {
			g = &group{example: example}
			groups[kind] = g
		}
		g.count++
	}
	for _, ans := range answers {
		req := &http.Request{Method: ans.method, URL: &url.URL{Path: ans.path}, Host: "127.0.0.1", Header: http.Header{}}
		_, pattern := a.mux.Handler(req)
		op, ok := ix.forPattern(pattern)
		if !ok {
			continue // no API operation: 404, 405, a redirect, the docs, the health checks
		}
		checked++
		kind, example, err := oaCheckAnswer(doc, v, op, ans)
		if err != nil {
			return nil, checked, err
		}
		if kind != "" {
			report(kind, example)
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(groups)) {
		g := groups[kind]
		mismatches = append(mismatches, fmt.Sprintf("%s (%d answers), e.g.\n      %s", kind, g.count, g.example))
	}
	return mismatches, checked, nil
}

// oaCheckAnswer holds one answer of op to the document. kind names the
// mismatch ("" when the answer is as documented), example shows it.
func oaCheckAnswer(doc map[string]any, v *oaValidator, op oaOperation, ans observedAnswer) (kind, example string, err error) {
	body := string(ans.body)
	if len(body) > 400 {
		body = body[:400] + "..."
	}
	where := fmt.Sprintf("%s %s answered %d: %s", ans.method, ans.path, ans.status, strings.TrimSpace(body))
	schemaPtr := "/components/schemas/HTTPError"
	resp, ptr, documented := oaResponse(doc, op, ans.status)
	if !documented {
		if _, allowed := oaUndocumentedStatus[ans.status]; !allowed {
			return fmt.Sprintf("%s: status %d is not documented", op, ans.status), where, nil
		}
	} else {
		content, _ := resp["content"].(map[string]any)
		if _, ok := content["application/json"]; !ok {
			if len(content) == 0 && len(ans.body) == 0 {
				return "", "", nil
			}
			return fmt.Sprintf("%s: status %d documents no application/json body", op, ans.status), where, nil
		}
		schemaPtr = ptr + "/content/application~1json/schema"
	}
	if kind := oaCheckHeaders(doc, v, op, ans, resp, ptr); kind != "" {
		return kind, where, nil
	}
	if ans.method == http.MethodHead {
		return "", "", nil // no body to check
	}
	if mt, _, _ := mime.ParseMediaType(ans.contentType); mt != "application/json" {
		return fmt.Sprintf("%s: status %d has Content-Type %q", op, ans.status, ans.contentType), where, nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(ans.body))
	if err != nil {
		return fmt.Sprintf("%s: status %d body is not JSON", op, ans.status), where, nil
	}
	verr, err := v.validate(schemaPtr, inst)
	if err != nil {
		return "", "", err
	}
	if verr != nil {
		msg := strings.ReplaceAll(verr.Error(), "\n", " ")
		return fmt.Sprintf("%s: status %d body does not match #%s", op, ans.status, schemaPtr), where + "\n      " + msg, nil
	}
	return "", "", nil
}

// oaPagingHeaders are the headers the API itself adds to answers (paging.go, etag.go).
var oaPagingHeaders = []string{"X-Total-Count", "Link", "ETag"}

// oaCheckHeaders holds the paging headers of an answer to its documented
// response (resp at ptr, nil when the status is not documented): each one
// sent must be documented there, and its value must match the schema.
func oaCheckHeaders(doc map[string]any, v *oaValidator, op oaOperation, ans observedAnswer, resp map[string]any, ptr string) string {
	for _, name := range oaPagingHeaders {
		value := ans.header.Get(name)
		if value == "" {
			continue
		}
		headers, _ := resp["headers"].(map[string]any)
		h, hptr := oaDeref(doc, headers[name], ptr+"/headers/"+oaEscape(name))
		if h == nil {
			return fmt.Sprintf("%s: status %d sends %s, which it does not document", op, ans.status, name)
		}
		var inst any = value
		if regexp.MustCompile(`^-?[0-9]+$`).MatchString(value) {
			inst = json.Number(value)
		}
		verr, err := v.validate(hptr+"/schema", inst)
		if err != nil || verr != nil {
			return fmt.Sprintf("%s: status %d header %s %q does not match #%s/schema", op, ans.status, name, value, hptr)
		}
	}
	return ""
}

// ---- the command line ----

func TestCommandLine(t *testing.T) {
	t.Parallel()

	t.Run("version prints the version", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if err := run([]string{"version"}, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatal(err)
		}
		if out.String() != "ticketapi dev\n" {
			t.Fatalf("version printed %q", out.String())
		}
	})

	t.Run("serve is the default command and listens on 127.0.0.1:8000 by default", func(t *testing.T) {
		if def := mtDefaults(t); def.ListenAddr != "127.0.0.1:8000" {
			t.Fatalf("default listen address %q, want 127.0.0.1:8000 (docs/api.md §10)", def.ListenAddr)
		}
		var out, errOut bytes.Buffer
		missing := filepath.Join(t.TempDir(), "missing.json")
		err := run([]string{"-config", missing}, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("run with only serve's flags: %v, want serve's error naming %s", err, missing)
		}
	})

	t.Run("an unknown command is an error", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run([]string{"frobnicate"}, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "frobnicate") {
			t.Fatalf("unknown command: %v, want an error naming it", err)
		}
	})

	ts := newTestServer(t)
	_, token := ts.userWithToken("alice", "support")
	db := ts.cfg.databasePath()
	// A config with fast hashing, so set-password does not take long.
	cfgPath := mtWriteFile(t, "fast.json", `{"auth": {"ARGON2": {"memory_kib": 1024, "iterations": 1, "parallelism": 1}}}`)
	setPassword := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(append([]string{"set-password", "-config", cfgPath, "-db", db}, args...), strings.NewReader(stdin), &out, &errOut)
		return out.String(), err
	}
	hashOf := func() string {
		var h string
		if err := ts.store.read.QueryRow("SELECT hashed_password FROM users WHERE username = 'alice'").Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	original := hashOf()

	t.Run("set-password refuses a weak password", func(t *testing.T) {
		for _, weak := range []string{"weak\n", "alllowercase1!\n", "NoDigitsHere!\n", "Short1!\n", "\n", ""} {
			if _, err := setPassword(weak, "alice"); err == nil {
				t.Errorf("set-password accepted %q", weak)
			}
		}
		if hashOf() != original {
			t.Fatal("a refused set-password changed the hash")
		}
		ts.call("GET", "/me", token, nil).expect(200)
	})

	t.Run("set-password names an unknown user", func(t *testing.T) {
		_, err := setPassword("N3wPassword!\n", "nobody")
		if err == nil || !strings.Contains(err.Error(), "nobody") {
			t.Fatalf("unknown user: %v, want an error naming nobody", err)
		}
	})

	t.Run("set-password needs exactly one user name", func(t *testing.T) {
		if _, err := setPassword("N3wPassword!\n"); err == nil {
			t.Fatal("set-password without a user name succeeded")
		}
		if _, err := setPassword("N3wPassword!\n", "alice", "bob"); err == nil {
			t.Fatal("set-password with two user names succeeded")
		}
		if hashOf() != original {
			t.Fatal("a refused set-password changed the hash")
		}
	})

	t.Run("set-password changes the password and ends older tokens", func(t *testing.T) {
		if _, err := setPassword("N3wPassword!\n", "alice"); err != nil {
			t.Fatalf("set-password: %v", err)
		}
		if h := hashOf(); h == original || !strings.HasPrefix(h, testHashPrefix) {
			t.Fatalf("hash after set-password: %s", h)
		}
		ts.call("GET", "/me", token, nil).expect(401, "Could not validate credentials")
		ts.form("/token", url.Values{"username": {"alice"}, "password": {testPassword}}).expect(400, "Incorrect User name or password")
		fresh := ts.token("alice", "N3wPassword!")
		ts.call("GET", "/status", fresh, nil).expect(200)
	})
}

// ---- serve ----

// mtServer is serve running in a goroutine.
type mtServer struct {
	t      *testing.T
	cfg    *Config
	addr   string
	log    *lockedBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
	client *http.Client
}

// mtServeConfig is the test config listening on a free port.
func mtServeConfig(t *testing.T) *Config {
	cfg := testConfig(t)
	cfg.ListenAddr = "127.0.0.1:0"
	return cfg
}

// mtStart runs serve and waits until it listens. When serve ends before
// that, its error is returned (with the server, for its log).
func mtStart(t *testing.T, cfg *Config) (*mtServer, error) {
	t.Helper()
	s := &mtServer{t: t, cfg: cfg, log: &lockedBuffer{buf: &bytes.Buffer{}}, done: make(chan error, 1),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}}
	logger := slog.New(slog.NewTextHandler(s.log, nil))
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ready := make(chan string, 1)
	go func() { s.done <- serve(ctx, cfg, logger, ready) }()
	select {
	case s.addr = <-ready:
		t.Cleanup(func() { s.stop() })
		return s, nil
	case err := <-s.done:
		cancel()
		if err == nil {
			t.Fatal("serve returned nil before it listened")
		}
		return s, err
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start within 30 s")
		return nil, nil
	}
}

// stop cancels serve's context and returns what serve returned.
func (s *mtServer) stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(30 * time.Second):
			s.err = errors.New("serve did not return within 30 s of the cancel")
		}
		s.client.CloseIdleConnections()
	})
	return s.err
}

func (s *mtServer) url(path string) string { return "http://" + s.addr + s.cfg.RootPath + path }

// login posts the login form and returns the status and access token.
func (s *mtServer) login(username, password string) (int, string) {
	s.t.Helper()
	res, err := s.client.PostForm(s.url("/token"), url.Values{"username": {username}, "password": {password}})
	if err != nil {
		s.t.Fatalf("login: %v", err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.AccessToken
}

func (s *mtServer) get(path, token string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url(path), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

// mtUserCount counts the users of a database file (the server stopped).
func mtUserCount(t *testing.T, path string) int {
	t.Helper()
	driver, dsn := "sqlite", "file:"+path+"?mode=ro"
	if isPostgresURL(path) {
		driver, dsn = "pgx", path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatalf("count users of %s: %v", path, err)
	}
	return n
}

var mtPasswordAttr = regexp.MustCompile(`\bpassword=("(?:[^"\\]|\\.)*"|\S+)`)

// mtLoggedPasswords are the values of every password= attribute in a log.
func mtLoggedPasswords(t *testing.T, log string) []string {
	t.Helper()
	var out []string
	for _, m := range mtPasswordAttr.FindAllStringSubmatch(log, -1) {
		v := m[1]
		if strings.HasPrefix(v, `"`) {
			var err error
			if v, err = strconv.Unquote(v); err != nil {
				t.Fatalf("password attribute %s: %v", m[1], err)
			}
		}
		out = append(out, v)
	}
	return out
}

func TestServeAdminPasswordFromEnv(t *testing.T) {
	const password = "Adm1n!Secret"
	t.Setenv("TICKETAPI_ADMIN_PASSWORD", password)
	s, err := mtStart(t, mtServeConfig(t))
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	status, token := s.login("admin", password)
	if status != 200 || token == "" {
		t.Fatalf("admin login with TICKETAPI_ADMIN_PASSWORD: %d", status)
	}
	status, me := s.get("/me", token)
	if status != 200 || me["username"] != "admin" || !reflect.DeepEqual(me["role"], []any{"admin"}) || me["disabled"] != false {
		t.Fatalf("/me of the first admin: %d %v", status, me)
	}
	if status, _ := s.get("/status", token); status != 200 {
		t.Fatalf("/status: %d", status)
	}
	if strings.Contains(s.log.String(), password) {
		t.Fatal("the password from TICKETAPI_ADMIN_PASSWORD appears in the log")
	}
	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v after the cancel, want nil", err)
	}
}

func TestServeWeakAdminPassword(t *testing.T) {
	t.Setenv("TICKETAPI_ADMIN_PASSWORD", "weak")
	cfg := mtServeConfig(t)
	_, err := mtStart(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "TICKETAPI_ADMIN_PASSWORD") {
		t.Fatalf("serve with a weak TICKETAPI_ADMIN_PASSWORD: %v, want an error naming it", err)
	}
	if n := mtUserCount(t, cfg.databasePath()); n != 0 {
		t.Fatalf("%d users were created with the refused password", n)
	}
}

func TestServeGeneratedAdminPassword(t *testing.T) {
	t.Setenv("TICKETAPI_ADMIN_PASSWORD", "")
	cfg := mtServeConfig(t)

	first, err := mtStart(t, cfg)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	logged := mtLoggedPasswords(t, first.log.String())
	if len(logged) != 1 {
		t.Fatalf("the first start logged %d password attributes, want exactly 1:\n%s", len(logged), first.log.String())
	}
	password := logged[0]
	if checkNewPassword(password) != "" {
		t.Errorf("generated password %q breaks the password rules: %s", password, checkNewPassword(password))
	}
	status, token := first.login("admin", password)
	if status != 200 {
		t.Fatalf("admin login with the generated password: %d", status)
	}
	if status, me := first.get("/me", token); status != 200 || !reflect.DeepEqual(me["role"], []any{"admin"}) {
		t.Fatalf("/me: %d %v", status, me)
	}
	if err := first.stop(); err != nil {
		t.Fatalf("serve returned %v, want nil", err)
	}

	second, err := mtStart(t, cfg)
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	if again := mtLoggedPasswords(t, second.log.String()); len(again) != 0 {
		t.Fatalf("the second start printed a password again: %v", again)
	}
	if status, _ := second.login("admin", password); status != 200 {
		t.Fatalf("the generated password no longer works after a restart: %d", status)
	}
	if err := second.stop(); err != nil {
		t.Fatalf("serve returned %v, want nil", err)
	}
	if n := mtUserCount(t, cfg.databasePath()); n != 1 {
		t.Fatalf("%d users after two starts, want the one admin", n)
	}

	other, err := mtStart(t, mtServeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := mtLoggedPasswords(t, other.log.String()); len(p) != 1 || p[0] == password {
		t.Fatalf("another fresh install logged %v; want one password different from the first install's", p)
	}
}

func TestServeStartErrors(t *testing.T) {
	t.Parallel()

	t.Run("port in use", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg := mtServeConfig(t)
		cfg.ListenAddr = ln.Addr().String()
		start := time.Now()
		_, err = mtStart(t, cfg)
		if err == nil || !strings.Contains(err.Error(), cfg.ListenAddr) {
			t.Fatalf("serve on a port in use: %v, want an error naming %s", err, cfg.ListenAddr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("serve took %v to give up on a port in use", d)
		}
	})

	t.Run("database path is a directory", func(t *testing.T) {
		t.Parallel()
		cfg := mtServeConfig(t)
		cfg.DatabaseURL = t.TempDir()
		_, err := mtStart(t, cfg)
		if err == nil || !strings.Contains(err.Error(), cfg.DatabaseURL) {
			t.Fatalf("serve on a directory: %v, want an error naming %s", err, cfg.DatabaseURL)
		}
	})

	t.Run("PostgreSQL does not answer", func(t *testing.T) {
		t.Parallel()
		cfg := mtServeConfig(t)
		cfg.DatabaseURL = "postgres://ticketapi:s3cret-pw@127.0.0.1:1/ticketapi?sslmode=disable&connect_timeout=5"
		_, err := mtStart(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1/ticketapi") || strings.Contains(err.Error(), "s3cret-pw") ||
			strings.Contains(err.Error(), "\n") {
			t.Fatalf("serve on an unreachable PostgreSQL: %v, want one line naming it without its password", err)
		}
	})

	t.Run("database file is not a database", func(t *testing.T) {
		t.Parallel()
		const garbage = "this is not a database"
		cfg := mtServeConfig(t)
		cfg.DatabaseURL = mtWriteFile(t, "garbage.db", garbage)
		_, err := mtStart(t, cfg)
		if err == nil || !strings.Contains(err.Error(), cfg.DatabaseURL) {
			t.Fatalf("serve on a garbage file: %v, want an error naming %s", err, cfg.DatabaseURL)
		}
		if data, _ := os.ReadFile(cfg.DatabaseURL); string(data) != garbage {
			t.Fatalf("the server changed the file it could not read: %q", data)
		}
	})
}

func TestServeGracefulStop(t *testing.T) {
	t.Parallel()
	cfg := mtServeConfig(t)
	cfg.DatabaseURL = filepath.Join(t.TempDir(), "stop.db") // checks SQLite's files after the stop
	path := cfg.databasePath()
	// A user made beforehand, so the first start creates no admin.
	store, err := openStore(context.Background(), path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := newHasher(cfg).Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateUser(context.Background(), &User{Username: "drainer", FirstName: "Dee", LastName: "Rainer",
		Phone: "+1777000000", Email: "drainer@example.com", Role: []string{"admin"}, hashedPassword: hash}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	s, err := mtStart(t, cfg)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}

	// A login whose body arrives in two halves. With "Expect: 100-continue"
	// the client sends the body only once the handler reads it, so when the
	// first half is taken the request is in flight.
	form := url.Values{"username": {"drainer"}, "password": {testPassword}}.Encode()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.url("/token"), pr)
	req.ContentLength = int64(len(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := client.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		answered <- answer{res.StatusCode, string(body), err}
	}()
	if _, err := pw.Write([]byte(form[:len(form)/2])); err != nil {
		t.Fatal(err)
	}

	s.cancel()
	// The server stops accepting new connections...
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections 10 s after the cancel")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...but waits for the request in flight.
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup's stop
		t.Fatalf("serve returned %v while a request was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := pw.Write([]byte(form[len(form)/2:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()

	select {
	case a := <-answered:
		if a.err != nil || a.status != 200 || !strings.Contains(a.body, `"access_token"`) {
			t.Fatalf("the in-flight login answered %d %q %v, want 200 with a token", a.status, a.body, a.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight request got no answer")
	}
	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v after a graceful stop, want nil", err)
	}

	if info, err := os.Stat(path + "-wal"); err == nil && info.Size() != 0 {
		t.Errorf("%s-wal left with %d bytes after a clean stop", path, info.Size())
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check after the stop: %q %v", check, err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM users WHERE username = 'drainer'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("user after the stop: %d %v", n, err)
	}
}

// The profiler (serve -pprof) listens only on loopback, apart from the API.
func TestProfiler(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "[::]:0", "example.com:6060", "no-port"} {
		if _, err := startProfiler(addr, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("startProfiler(%q) accepted an address that is not loopback", addr)
		}
	}
	var out, errOut bytes.Buffer
	err := run([]string{"serve", "-db", filepath.Join(t.TempDir(), "x.db"), "-pprof", "0.0.0.0:0"}, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("serve -pprof 0.0.0.0:0: %v, want a refusal naming loopback", err)
	}

	var logs bytes.Buffer
	stop, err := startProfiler("127.0.0.1:0", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no address in the profiler's log line: %q", logs.String())
	}
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/heap?debug=1": "heap profile", "/debug/pprof/cmdline": ""} {
		resp, err := http.Get("http://" + m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %.80q, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}
	stop()
	if _, err := http.Get("http://" + m[1] + "/debug/pprof/"); err == nil {
		t.Error("the profiler still answers after stop")
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

// TestServeStopWithQueuedLogins runs alone (not parallel): its 150 logins
// queue for the hashing slots, which the whole process shares. Stopped
// mid-way, the server answers every login (the queued ones 503 at once)
// and serve returns nil (exit status 0) well within its timeout.
func TestServeStopWithQueuedLogins(t *testing.T) {
	const logins = 150
	t.Setenv("TICKETAPI_ADMIN_PASSWORD", testPassword)
	cfg := mtServeConfig(t)
	cfg.Auth.Argon2.MemoryKiB, cfg.Auth.Argon2.Iterations = 8192, 2 // a hash takes a while, so logins queue
	cfg.LoginThrottle.MaxFailuresPerUser, cfg.LoginThrottle.MaxFailuresPerClient = 1000, 1000
	cfg.ShutdownTimeoutSeconds = 5
	s, err := mtStart(t, cfg)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}

	type answer struct {
		status      int
		retryAfter  string
		closes      bool
		body        string
		err         error
		afterCancel bool
	}
	answers := make([]answer, logins)
	var written, answered sync.WaitGroup
	written.Add(logins)
	answered.Add(logins)
	var mu sync.Mutex
	var cancelled bool
	for i := range answers {
		go func() {
			defer answered.Done()
			form := url.Values{"username": {"admin"}, "password": {testPassword}}.Encode()
			req, _ := http.NewRequest("POST", s.url("/token"), strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			var once sync.Once
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(written.Done) },
			}))
			// A client of its own: a new connection that the client would keep
			// alive, so res.Close tells that the server said Connection: close.
			client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()
			res, err := client.Do(req)
			once.Do(written.Done)
			a := answer{err: err}
			if err == nil {
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				observe(req, res, body)
				a = answer{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"),
					closes: res.Close, body: string(body)}
			}
			mu.Lock()
			a.afterCancel = cancelled
			answers[i] = a
			mu.Unlock()
		}()
	}
	written.Wait()
	metricsAt := "http://" + regexp.MustCompile(`msg="metrics listening" addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(s.log.String())[1] + "/metrics"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) { // mid-way: a few logins done
		mu.Lock()
		done := 0
		for _, a := range answers {
			if a.status != 0 || a.err != nil {
				done++
			}
		}
		mu.Unlock()
		// Every login has reached the server (a connection it has not
		// accepted yet would be reset by the stop, as for any server):
		// answered or in flight.
		inHand := done + int(scrapeMetrics(t, metricsAt).value(t, "ticketapi_http_requests_in_flight"))
		if done >= 3 && inHand >= logins || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	cancelled = true
	mu.Unlock()
	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v after a stop with queued logins, want nil (exit status 0)", err)
	}
	took := time.Since(start)
	answered.Wait()

	counts := map[int]int{}
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("login %d got no answer: %v", i, a.err)
		case a.status == 200:
		case a.status == 503 && a.afterCancel && a.retryAfter == "5" && a.closes &&
			strings.Contains(a.body, `"detail":"Server is shutting down, try again"`):
		default:
			t.Errorf("login %d: %d (Retry-After %q, closes the connection %v) %s, want 200, or 503 with Retry-After and Connection: close",
				i, a.status, a.retryAfter, a.closes, a.body)
		}
		counts[a.status]++
	}
	t.Logf("stopped in %v; answers by status: %v", took, counts)
	if counts[503] == 0 || counts[200] == 0 {
		t.Errorf("answers by status %v: want both logins that were checked (200) and queued ones turned away (503)", counts)
	}
	if took > 3*time.Second {
		t.Errorf("the stop took %v: the queued logins held it up", took)
	}
}

// TestStartGoesOnTellsSystemd: while the start goes on (a long migration),
// systemd hears every interval that it may wait three more, and nothing
// once the start is over.
func TestStartGoesOnTellsSystemd(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", socket)
	read := func(within time.Duration) (string, error) {
		buf := make([]byte, 256)
		ln.SetReadDeadline(time.Now().Add(within))
		n, err := ln.Read(buf)
		return string(buf[:n]), err
	}
	stop := startGoesOn(20*time.Millisecond, discardLogger())
	for i := range 2 {
		got, err := read(5 * time.Second)
		if err != nil || got != "EXTEND_TIMEOUT_USEC=60000" {
			t.Fatalf("message %d: %q, %v; want EXTEND_TIMEOUT_USEC=60000", i, got, err)
		}
	}
	stop()
	for { // a message sent before stop may still be queued
		got, err := read(100 * time.Millisecond)
		if err != nil {
			break
		}
		if got != "EXTEND_TIMEOUT_USEC=60000" {
			t.Fatalf("unexpected message %q", got)
		}
	}
	if got, err := read(100 * time.Millisecond); err == nil {
		t.Fatalf("a message after stop: %q", got)
	}
}
