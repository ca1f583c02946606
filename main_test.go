package main

// main_test.go: configuration (docs/api.md §8), the command line and the first
// start, start-up errors and the graceful stop (docs/api.md §10).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const originalConfigPath = "testdata/original-config.json"

// mtDefaults is the built-in config, as loadConfig starts from it.
func mtDefaults(t *testing.T) *Config {
	t.Helper()
	cfg := &Config{}
	if err := json.Unmarshal(defaultConfigJSON, cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// mtWriteFile writes a file into a fresh temp dir and returns its path.
func mtWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadOriginalConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(originalConfigPath)
	if err != nil {
		t.Fatalf("the original's config template does not load: %v", err)
	}
	data, err := os.ReadFile(originalConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		RaiseError map[string]APIError `json:"raise_error"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}

	t.Run("every raise_error entry of the file is loaded", func(t *testing.T) {
		if len(file.RaiseError) != 14 {
			t.Fatalf("fixture has %d raise_error entries, want 14", len(file.RaiseError))
		}
		for name, want := range file.RaiseError {
			if got, ok := cfg.RaiseError[name]; !ok || got != want {
				t.Errorf("raise_error.%s = %+v (present %v), want %+v", name, got, ok, want)
			}
		}
	})

	t.Run("the original's keys are read", func(t *testing.T) {
		wantScopes := map[string]string{"scope_example": "Read information based on [scopes] usage (example)."}
		checks := []struct {
			what      string
			got, want any
		}{
			{"root_path", cfg.RootPath, "/api/v1"},
			{"BODY_RESPONSE_ITEMS_LIMIT", cfg.ItemsLimit, 100},
			{"auth.SECRET_KEY", cfg.Auth.SecretKey, publishedSecretKey},
			{"auth.ALGORITHM", cfg.Auth.Algorithm, "HS256"},
			{"auth.ACCESS_TOKEN_EXPIRE_MINUTES", cfg.Auth.ExpireMinutes, 60},
			{"auth.PWD_CONTEXT.schemes", cfg.Auth.PwdContext.Schemes, []string{"argon2"}},
			{"auth.OAUTH2_SCHEME.tokenUrl", cfg.Auth.OAuth2Scheme.TokenURL, "token"},
			{"auth.OAUTH2_SCHEME.scopes", cfg.Auth.OAuth2Scheme.Scopes, wantScopes},
			{"cors.allow_origins", cfg.CORS.AllowOrigins, []string{"http://127.0.0.1:8000", "http://localhost:8000"}},
			{"cors.allow_credentials", cfg.CORS.AllowCredentials, true},
			{"sqlite_db_path", cfg.SQLiteDBPath, "/sql_app/sql_app.db"},
			{"message.user_deleted_successfully", cfg.Message["user_deleted_successfully"], "User deleted successfully"},
		}
		for _, c := range checks {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
			}
		}
		if !strings.Contains(string(cfg.APIDocs), "REST API server solution based on FastAPI framework with RBAC model") {
			t.Errorf("api_docs is not the file's: %s", cfg.APIDocs)
		}
	})

	t.Run("sqlite_db_path is read relative to the working directory", func(t *testing.T) {
		if got := cfg.databasePath(); got != "sql_app/sql_app.db" {
			t.Errorf("databasePath() = %q, want %q (docs/api.md §8: the original's sqlite_db_path, relative)", got, "sql_app/sql_app.db")
		}
	})

	t.Run("keys the file lacks keep the built-in defaults", func(t *testing.T) {
		def := mtDefaults(t)
		checks := []struct {
			what      string
			got, want any
		}{
			{"listen_addr", cfg.ListenAddr, def.ListenAddr},
			{"shutdown_timeout_seconds", cfg.ShutdownTimeoutSeconds, def.ShutdownTimeoutSeconds},
			{"log_format", cfg.LogFormat, def.LogFormat},
			{"auth.ARGON2", cfg.Auth.Argon2, def.Auth.Argon2},
			{"auth.BCRYPT_COST", cfg.Auth.BcryptCost, def.Auth.BcryptCost},
			{"rbac", cfg.RBAC, def.RBAC},
		}
		for _, c := range checks {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s = %#v, want the default %#v", c.what, c.got, c.want)
			}
		}
		for name, want := range def.RaiseError {
			if _, inFile := file.RaiseError[name]; inFile {
				continue
			}
			if got := cfg.RaiseError[name]; got != want {
				t.Errorf("raise_error.%s (not in the file) = %+v, want the default %+v", name, got, want)
			}
		}
	})
}

func TestSecretKey(t *testing.T) {
	// t.Setenv: not parallel.
	t.Run("the published key of the original is refused", func(t *testing.T) {
		t.Setenv("TICKETAPI_SECRET_KEY", "")
		cfg, err := loadConfig(originalConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.resolveSecret()
		if err == nil || !strings.Contains(err.Error(), "SECRET_KEY") {
			t.Fatalf("resolveSecret with the published key: %v, want an error naming SECRET_KEY", err)
		}
	})

	t.Run("a key shorter than 32 characters is refused, from anywhere", func(t *testing.T) {
		short := strings.Repeat("k", 31)
		t.Setenv("TICKETAPI_SECRET_KEY", short)
		if err := testConfig(t).resolveSecret(); err == nil || !strings.Contains(err.Error(), "32") {
			t.Fatalf("resolveSecret with a 31-character TICKETAPI_SECRET_KEY: %v, want a refusal", err)
		}
		t.Setenv("TICKETAPI_SECRET_KEY", "")
		cfg := testConfig(t)
		cfg.Auth.SecretKey, cfg.Auth.SecretKeyFile = "", mtWriteFile(t, "empty.key", "") // a crash between create and write
		if err := cfg.resolveSecret(); err == nil || !strings.Contains(err.Error(), "32") {
			t.Fatalf("resolveSecret with an empty secret.key: %v, want a refusal", err)
		}
	})

	t.Run("TICKETAPI_SECRET_KEY overrides the published key", func(t *testing.T) {
		const key = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
		t.Setenv("TICKETAPI_SECRET_KEY", key)
		cfg, err := loadConfig(originalConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.resolveSecret(); err != nil {
			t.Fatalf("resolveSecret: %v", err)
		}
		if cfg.Auth.SecretKey != key {
			t.Fatalf("secret key %q, want the one from TICKETAPI_SECRET_KEY", cfg.Auth.SecretKey)
		}
	})

	t.Run("serve refuses to start with the published key", func(t *testing.T) {
		t.Setenv("TICKETAPI_SECRET_KEY", "")
		cfg := mtServeConfig(t)
		cfg.Auth.SecretKey = publishedSecretKey
		_, err := mtStart(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "SECRET_KEY") {
			t.Fatalf("serve with the published key: %v, want an error naming SECRET_KEY", err)
		}
	})

	t.Run("with PostgreSQL no key is generated: every instance needs the same one", func(t *testing.T) {
		t.Setenv("TICKETAPI_SECRET_KEY", "")
		cfg := testConfig(t)
		cfg.Auth.SecretKey = ""
		cfg.DatabaseURL = "postgres://ticketapi@db.internal/ticketapi"
		err := cfg.resolveSecret()
		if err == nil || !strings.Contains(err.Error(), "TICKETAPI_SECRET_KEY") {
			t.Fatalf("resolveSecret with PostgreSQL and no key: %v, want an error naming TICKETAPI_SECRET_KEY", err)
		}
		cfg.Auth.SecretKeyFile = filepath.Join(t.TempDir(), "shared.key") // an explicit file is fine
		if err := cfg.resolveSecret(); err != nil || len(cfg.Auth.SecretKey) != 64 {
			t.Fatalf("resolveSecret with PostgreSQL and SECRET_KEY_FILE: %v (key %q)", err, cfg.Auth.SecretKey)
		}
	})

	t.Run("with no key configured a random key is generated and kept", func(t *testing.T) {
		t.Setenv("TICKETAPI_SECRET_KEY", "")
		dir := t.TempDir()
		fresh := func() *Config {
			cfg := testConfig(t)
			cfg.Auth.SecretKey = ""
			cfg.DatabaseURL = filepath.Join(dir, "app.db")
			return cfg
		}
		first := fresh()
		if err := first.resolveSecret(); err != nil {
			t.Fatalf("resolveSecret: %v", err)
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(first.Auth.SecretKey) {
			t.Fatalf("generated key %q, want 64 hex digits", first.Auth.SecretKey)
		}
		file := filepath.Join(dir, "secret.key")
		info, err := os.Stat(file)
		if err != nil {
			t.Fatalf("secret.key beside the database: %v", err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("secret.key permissions %o, want 600", perm)
		}
		data, _ := os.ReadFile(file)
		if strings.TrimSpace(string(data)) != first.Auth.SecretKey {
			t.Errorf("secret.key holds %q, the server uses %q", data, first.Auth.SecretKey)
		}

		second := fresh()
		if err := second.resolveSecret(); err != nil {
			t.Fatalf("resolveSecret on the next start: %v", err)
		}
		if second.Auth.SecretKey != first.Auth.SecretKey {
			t.Fatalf("the next start uses key %q, want the kept %q", second.Auth.SecretKey, first.Auth.SecretKey)
		}

		other := testConfig(t)
		other.Auth.SecretKey = ""
		other.DatabaseURL = filepath.Join(t.TempDir(), "other.db") // a key file is a SQLite install's
		if err := other.resolveSecret(); err != nil {
			t.Fatal(err)
		}
		if other.Auth.SecretKey == first.Auth.SecretKey {
			t.Fatal("two fresh installs generated the same key")
		}
	})
}

func TestConfigRefused(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.json")
	cases := []struct {
		name    string
		path    string
		mention []string
	}{
		{"auth.ALGORITHM HS512 is refused", mtWriteFile(t, "c.json", `{"auth": {"ALGORITHM": "HS512"}}`), []string{"ALGORITHM", "HS512"}},
		{"PWD_CONTEXT scheme md5 is refused", mtWriteFile(t, "c.json", `{"auth": {"PWD_CONTEXT": {"schemes": ["md5"]}}}`), []string{"md5"}},
		{"an unknown rbac route is refused", mtWriteFile(t, "c.json", `{"rbac": {"GET /nowhere/": ["admin"]}}`), []string{"GET /nowhere/"}},
		{"an unknown rbac role is refused", mtWriteFile(t, "c.json", `{"rbac": {"GET /user/": ["admin", "superuser"]}}`), []string{"superuser"}},
		{"an rbac route without a list (null) is refused", mtWriteFile(t, "c.json", `{"rbac": {"DELETE /user/{user_id}": null}}`), []string{"DELETE /user/{user_id}", "list of roles"}},
		{"a token lifetime of 0 minutes is refused", mtWriteFile(t, "c.json", `{"auth": {"ACCESS_TOKEN_EXPIRE_MINUTES": 0}}`), []string{"ACCESS_TOKEN_EXPIRE_MINUTES"}},
		{"a negative token lifetime is refused", mtWriteFile(t, "c.json", `{"auth": {"ACCESS_TOKEN_EXPIRE_MINUTES": -5}}`), []string{"ACCESS_TOKEN_EXPIRE_MINUTES"}},
		{"no password scheme is refused", mtWriteFile(t, "c.json", `{"auth": {"PWD_CONTEXT": {"schemes": []}}}`), []string{"schemes"}},
		{"argon2 memory under 8 KiB is refused", mtWriteFile(t, "c.json", `{"auth": {"ARGON2": {"memory_kib": 7}}}`), []string{"ARGON2", "memory_kib"}},
		{"argon2 with 0 iterations is refused", mtWriteFile(t, "c.json", `{"auth": {"ARGON2": {"iterations": 0}}}`), []string{"ARGON2", "iterations"}},
		{"argon2 with parallelism 0 is refused", mtWriteFile(t, "c.json", `{"auth": {"ARGON2": {"parallelism": 0}}}`), []string{"ARGON2", "parallelism"}},
		{"bcrypt cost 3 is refused", mtWriteFile(t, "c.json", `{"auth": {"BCRYPT_COST": 3}}`), []string{"BCRYPT_COST"}},
		{"bcrypt cost 32 is refused", mtWriteFile(t, "c.json", `{"auth": {"BCRYPT_COST": 32}}`), []string{"BCRYPT_COST"}},
		{"a root_path without a leading / is refused", mtWriteFile(t, "c.json", `{"root_path": "api/v1"}`), []string{"root_path", "api/v1"}},
		{"a root_path ending in / is refused", mtWriteFile(t, "c.json", `{"root_path": "/api/v1/"}`), []string{"root_path", "/api/v1/"}},
		{"an empty root_path is refused", mtWriteFile(t, "c.json", `{"root_path": ""}`), []string{"root_path"}},
		{"an items limit of 0 is refused", mtWriteFile(t, "c.json", `{"BODY_RESPONSE_ITEMS_LIMIT": 0}`), []string{"BODY_RESPONSE_ITEMS_LIMIT"}},
		{"a shutdown timeout of 0 s is refused", mtWriteFile(t, "c.json", `{"shutdown_timeout_seconds": 0}`), []string{"shutdown_timeout_seconds"}},
		{"log_format xml is refused", mtWriteFile(t, "c.json", `{"log_format": "xml"}`), []string{"log_format", "xml"}},
		{"login_throttle with 0 failures per user is refused", mtWriteFile(t, "c.json", `{"login_throttle": {"max_failures_per_user": 0}}`), []string{"login_throttle"}},
		{"login_throttle with 0 failures per client is refused", mtWriteFile(t, "c.json", `{"login_throttle": {"max_failures_per_client": 0}}`), []string{"login_throttle"}},
		{"login_throttle with a window of 0 s is refused", mtWriteFile(t, "c.json", `{"login_throttle": {"window_seconds": 0}}`), []string{"login_throttle"}},
		{"login_throttle with 99 entries is refused", mtWriteFile(t, "c.json", `{"login_throttle": {"max_entries": 99}}`), []string{"login_throttle", "max_entries"}},
		{"a trusted proxy that is no address is refused", mtWriteFile(t, "c.json", `{"trusted_proxies": ["proxy.example.com"]}`), []string{"proxy.example.com"}},
		{"CORS * with credentials is refused", mtWriteFile(t, "c.json", `{"cors": {"allow_origins": ["*"], "allow_credentials": true}}`), []string{"cors", "allow_credentials"}},
		{"a raise_error status under 400 is refused", mtWriteFile(t, "c.json", `{"raise_error": {"user_disabled": {"status_code": 200, "detail": "Disabled"}}}`), []string{"raise_error.user_disabled"}},
		{"a raise_error status over 599 is refused", mtWriteFile(t, "c.json", `{"raise_error": {"user_disabled": {"status_code": 600, "detail": "Disabled"}}}`), []string{"raise_error.user_disabled"}},
		{"a raise_error without a detail is refused", mtWriteFile(t, "c.json", `{"raise_error": {"user_disabled": {"status_code": 403, "detail": ""}}}`), []string{"raise_error.user_disabled"}},
		{"malformed JSON names the file", mtWriteFile(t, "broken.json", `{"root_path": "/api/v1",`), nil},
		{"a missing file names the file", missing, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(c.path)
			if err == nil {
				t.Fatalf("loadConfig accepted it: %+v", cfg)
			}
			if c.mention == nil {
				c.mention = []string{c.path}
			}
			for _, m := range c.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

// The bounds check() draws are the last values it refuses: the first ones
// past them are taken.
func TestConfigBoundsAccepted(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"auth": {"ACCESS_TOKEN_EXPIRE_MINUTES": 1}}`,
		`{"auth": {"ARGON2": {"memory_kib": 8, "iterations": 1, "parallelism": 1}}}`,
		`{"auth": {"BCRYPT_COST": 4, "PWD_CONTEXT": {"schemes": ["bcrypt"]}}}`,
		`{"auth": {"BCRYPT_COST": 31}}`,
		`{"root_path": "/x"}`,
		`{"BODY_RESPONSE_ITEMS_LIMIT": 1, "shutdown_timeout_seconds": 1, "log_format": "json"}`,
		`{"login_throttle": {"max_failures_per_user": 1, "max_failures_per_client": 1, "window_seconds": 1, "max_entries": 100}}`,
		`{"raise_error": {"user_disabled": {"status_code": 400, "detail": "x"}, "user_login_denied": {"status_code": 599, "detail": "y"}}}`,
		`{"cors": {"allow_origins": ["*"], "allow_credentials": false}}`,
	} {
		if _, err := loadConfig(mtWriteFile(t, "c.json", body)); err != nil {
			t.Errorf("loadConfig(%s): %v, want it taken", body, err)
		}
	}
}

func TestPartialConfigKeepsDefaults(t *testing.T) {
	t.Parallel()
	path := mtWriteFile(t, "partial.json", `{
		"BODY_RESPONSE_ITEMS_LIMIT": 50,
		"auth": {"ACCESS_TOKEN_EXPIRE_MINUTES": 5, "ARGON2": {"iterations": 2}},
		"raise_error": {"not_enough_permissions": {"status_code": 403, "detail": "Forbidden"}},
		"rbac": {"DELETE /ticket/{ticket_id}": ["admin"]}
	}`)
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := mtDefaults(t)
	want.ItemsLimit = 50
	want.Auth.ExpireMinutes = 5
	want.Auth.Argon2.Iterations = 2
	want.RaiseError["not_enough_permissions"] = APIError{StatusCode: 403, Detail: "Forbidden"}
	want.RBAC["DELETE /ticket/{ticket_id}"] = []string{"admin"}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("partial config:\n got  %+v\n want %+v", cfg, want)
	}
}

func TestConfigFileDefault(t *testing.T) {
	// t.Chdir: not parallel.
	t.Chdir(t.TempDir())
	t.Run("without ./config.json the built-in defaults are used", func(t *testing.T) {
		cfg, err := loadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		if want := mtDefaults(t); !reflect.DeepEqual(cfg, want) {
			t.Fatalf("got %+v, want the built-in defaults %+v", cfg, want)
		}
	})
	t.Run("./config.json is used when present", func(t *testing.T) {
		if err := os.WriteFile("config.json", []byte(`{"BODY_RESPONSE_ITEMS_LIMIT": 7}`), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ItemsLimit != 7 {
			t.Fatalf("BODY_RESPONSE_ITEMS_LIMIT = %d, want 7 from ./config.json", cfg.ItemsLimit)
		}
	})
}

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

func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	db := copyFixture(t, "original.db")
	var out, errOut bytes.Buffer
	dest := filepath.Join(dir, "copy.db")
	if err := run([]string{"backup", "-db", db, dest}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("backup: %v (%s)", err, errOut.String())
	}
	t.Run("a PostgreSQL database is pointed to pg_dump, its password not shown", func(t *testing.T) {
		var out, errOut bytes.Buffer
		pgDest := filepath.Join(dir, "pg.db")
		err := run([]string{"backup", "-db", "postgres://ticketapi:s3cret-pw@db.internal/ticketapi", pgDest},
			strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error()+errOut.String(), "s3cret-pw") {
			t.Fatalf("backup of a PostgreSQL URL: %v (%s), want a pointer to pg_dump without the password", err, errOut.String())
		}
		if _, err := os.Stat(pgDest); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("backup of a PostgreSQL URL left %s behind: %v", pgDest, err)
		}
	})
	t.Run("the copy is private and holds every row", func(t *testing.T) {
		info, err := os.Stat(dest)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("copy mode: %v %v", info, err)
		}
		copyDB, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer copyDB.Close()
		var users, tickets int
		copyDB.QueryRow("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tickets)").Scan(&users, &tickets)
		if users != 5 || tickets != 3 {
			t.Fatalf("copy has %d users and %d tickets, want 5 and 3", users, tickets)
		}
	})
	t.Run("an existing destination is not overwritten", func(t *testing.T) {
		if err := run([]string{"backup", "-db", db, dest}, strings.NewReader(""), &out, &errOut); err == nil {
			t.Fatal("backup overwrote an existing file")
		}
	})
	t.Run("a missing database is an error, not a new empty backup", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.db")
		err := run([]string{"backup", "-db", missing, filepath.Join(dir, "x.db")}, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatal("backup created the database it was asked to copy")
		}
	})
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

// The server's log lines are written in batches (batchWriter): never lost
// by a clean stop, never torn, warnings and errors written at once.
func TestBatchWriter(t *testing.T) {
	t.Parallel()
	t.Run("info waits, a warning writes it and itself at once, Close writes the rest", func(t *testing.T) {
		t.Parallel()
		out := &lockedBuffer{buf: &bytes.Buffer{}}
		w := newBatchWriter(out, time.Hour)
		log := newLogger(&Config{LogFormat: "text"}, w)
		log.Info("first")
		if got := out.String(); got != "" {
			t.Fatalf("an info line was written before its batch: %q", got)
		}
		log.With("part", 2).Error("second") // With: the flushing survives WithAttrs
		got := out.String()
		if !strings.Contains(got, "msg=first") || !strings.Contains(got, "msg=second part=2") || strings.Index(got, "first") > strings.Index(got, "second") {
			t.Fatalf("after an error: %q, want the info line, then the error line", got)
		}
		log.WithGroup("g").Info("third")
		if strings.Contains(out.String(), "third") {
			t.Fatal("an info line after the error was written before its batch")
		}
		w.Close()
		if !strings.Contains(out.String(), "msg=third") {
			t.Fatalf("Close did not write the last line: %q", out.String())
		}
		log.Info("fourth")
		if !strings.Contains(out.String(), "msg=fourth") {
			t.Fatal("a line after Close was not written at once")
		}
	})
	t.Run("a batch is written after the delay", func(t *testing.T) {
		t.Parallel()
		out := &lockedBuffer{buf: &bytes.Buffer{}}
		w := newBatchWriter(out, 5*time.Millisecond)
		defer w.Close()
		fmt.Fprintln(w, "line one")
		deadline := time.Now().Add(5 * time.Second)
		for out.String() != "line one\n" {
			if time.Now().After(deadline) {
				t.Fatalf("the line was not written within 5 s: %q", out.String())
			}
			time.Sleep(time.Millisecond)
		}
		fmt.Fprintln(w, "line two") // a second batch arms the timer again
		for out.String() != "line one\nline two\n" {
			if time.Now().After(deadline) {
				t.Fatalf("the second batch was not written: %q", out.String())
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Run("a full batch is written at once", func(t *testing.T) {
		t.Parallel()
		out := &lockedBuffer{buf: &bytes.Buffer{}}
		w := newBatchWriter(out, time.Hour)
		line := strings.Repeat("x", 1023) + "\n"
		for range maxLogBatch / len(line) {
			io.WriteString(w, line)
		}
		if n := len(out.String()); n != maxLogBatch {
			t.Fatalf("%d bytes written after %d bytes of lines, want all of them", n, maxLogBatch)
		}
	})
	t.Run("lines from many goroutines arrive whole, none lost", func(t *testing.T) {
		t.Parallel()
		out := &lockedBuffer{buf: &bytes.Buffer{}}
		w := newBatchWriter(out, time.Millisecond)
		log := newLogger(&Config{LogFormat: "json"}, w)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 500 {
					log.Info("request", "g", g, "i", i, "pad", strings.Repeat("p", i%200))
				}
			})
		}
		wg.Wait()
		w.Close()
		seen := map[[2]int]bool{}
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			var rec struct{ G, I int }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("a torn line: %v: %q", err, line)
			}
			seen[[2]int{rec.G, rec.I}] = true
		}
		if len(seen) != 8*500 {
			t.Fatalf("%d distinct lines, want %d", len(seen), 8*500)
		}
	})
}
