package main

// config_test.go: config.go (docs/api.md §8): the original's config.json
// loads, a partial file keeps the built-in defaults, ./config.json is the
// default file, values out of bounds are refused and the first ones
// within taken, and the secret key: the original's published key refused,
// TICKETAPI_SECRET_KEY, a generated key kept for SQLite and none generated
// for PostgreSQL.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
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
			{"require_current_password", cfg.RequireCurrentPassword, false},
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
		{"require_current_password as a string is refused", mtWriteFile(t, "c.json", `{"require_current_password": "yes"}`), []string{"require_current_password"}},
		{"log_format xml is refused", mtWriteFile(t, "c.json", `{"log_format": "xml"}`), []string{"log_format", "xml"}},
		{"a negative audit retention is refused", mtWriteFile(t, "c.json", `{"audit_retention_days": -1}`), []string{"audit_retention_days"}},
		{"login_throttle with 0 failures per user is refused", mtWriteFile(t, "c.json", `{"login_throttle": {"max_failures_per_user": 0}}`), []string{"login_throttle"}},
		{"login_throttle with 0 failures per client is refused", mtWriteFile(t, "c.json", `{"login_throttle": {"max_failures_per_client": 0}}`), []string{"login_throttle"}},
		{"login_throttle with a window of 0 s is refused", mtWriteFile(t, "c.json", `{"login_throttle": {"window_seconds": 0}}`), []string{"login_throttle"}},
		{"login_throttle with 99 entries is refused", mtWriteFile(t, "c.json", `{"login_throttle": {"max_entries": 99}}`), []string{"login_throttle", "max_entries"}},
		{"rate_limit with a negative rate is refused", mtWriteFile(t, "c.json", `{"rate_limit": {"requests_per_second": -1}}`), []string{"rate_limit", "requests_per_second"}},
		{"rate_limit with a burst of 0 is refused", mtWriteFile(t, "c.json", `{"rate_limit": {"burst": 0}}`), []string{"rate_limit", "burst"}},
		{"rate_limit with negative concurrent writes is refused", mtWriteFile(t, "c.json", `{"rate_limit": {"concurrent_writes": -1}}`), []string{"rate_limit", "concurrent_writes"}},
		{"rate_limit with 99 entries is refused", mtWriteFile(t, "c.json", `{"rate_limit": {"max_entries": 99}}`), []string{"rate_limit", "max_entries"}},
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
		`{"require_current_password": true}`,
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
