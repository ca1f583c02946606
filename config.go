package main

// config.go: config.json, read over the defaults built into the binary,
// checked at start (a bad value stops the start with one line naming the
// key), and the token signing key: from the environment, the config, or a
// file created on the first start.

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed config.json
var defaultConfigJSON []byte

// publishedSecretKey is the SECRET_KEY of the original project's config
// template. Everyone can read it, so a server signing tokens with it would
// let anyone forge them: ticketapi refuses to start with it.
const publishedSecretKey = "c785b10c875f96aed62f57ed79add66f2b7650039cf92caea24da0bbbed0b697"

// Config is config.json: the original project's keys keep their names (the
// upper-case ones among them), new features add snake_case keys.
type Config struct {
	ListenAddr             string              `json:"listen_addr"`
	MetricsAddr            string              `json:"metrics_addr"`
	DatabaseURL            string              `json:"database_url"`
	SQLiteDBPath           string              `json:"sqlite_db_path"`
	RootPath               string              `json:"root_path"`
	ItemsLimit             int                 `json:"BODY_RESPONSE_ITEMS_LIMIT"`
	Auth                   AuthConfig          `json:"auth"`
	CORS                   CORSConfig          `json:"cors"`
	RBAC                   map[string][]string `json:"rbac"`
	LoginThrottle          ThrottleConfig      `json:"login_throttle"`
	RateLimit              RateLimitConfig     `json:"rate_limit"`
	TrustedProxies         []string            `json:"trusted_proxies"`
	LogFormat              string              `json:"log_format"`
	ShutdownTimeoutSeconds int                 `json:"shutdown_timeout_seconds"`
	RequireCurrentPassword bool                `json:"require_current_password"`
	AuditRetentionDays     int                 `json:"audit_retention_days"`
	RaiseError             map[string]APIError `json:"raise_error"`
	Message                map[string]string   `json:"message"`
	APIDocs                json.RawMessage     `json:"api_docs"`
}

type AuthConfig struct {
	SecretKey     string `json:"SECRET_KEY"`
	SecretKeyFile string `json:"SECRET_KEY_FILE"`
	Algorithm     string `json:"ALGORITHM"`
	ExpireMinutes int    `json:"ACCESS_TOKEN_EXPIRE_MINUTES"`
	PwdContext    struct {
		Schemes []string `json:"schemes"`
	} `json:"PWD_CONTEXT"`
	Argon2 struct {
		MemoryKiB   uint32 `json:"memory_kib"`
		Iterations  uint32 `json:"iterations"`
		Parallelism uint8  `json:"parallelism"`
	} `json:"ARGON2"`
	BcryptCost   int `json:"BCRYPT_COST"`
	OAuth2Scheme struct {
		TokenURL string            `json:"tokenUrl"`
		Scopes   map[string]string `json:"scopes"`
	} `json:"OAUTH2_SCHEME"`
}

type CORSConfig struct {
	AllowOrigins     []string `json:"allow_origins"`
	AllowCredentials bool     `json:"allow_credentials"`
	AllowMethods     []string `json:"allow_methods"`
	AllowHeaders     []string `json:"allow_headers"`
}

// ThrottleConfig limits failed logins (see loginThrottle in auth.go).
type ThrottleConfig struct {
	MaxFailuresPerUser   int `json:"max_failures_per_user"`
	MaxFailuresPerClient int `json:"max_failures_per_client"`
	WindowSeconds        int `json:"window_seconds"`
	MaxEntries           int `json:"max_entries"`
}

// RateLimitConfig bounds what one caller may ask (see rateLimiter in
// ratelimit.go); 0 turns a limit off.
type RateLimitConfig struct {
	RequestsPerSecond float64 `json:"requests_per_second"`
	Burst             int     `json:"burst"`
	ConcurrentWrites  int     `json:"concurrent_writes"`
	MaxEntries        int     `json:"max_entries"`
}

// APIError is one entry of raise_error: the status and message of a failure.
type APIError struct {
	StatusCode int    `json:"status_code"`
	Detail     string `json:"detail"`
}

// loadConfig reads the built-in defaults, then the file over them: keys the
// file leaves out keep their defaults, so an old config still loads.
func loadConfig(path string) (*Config, error) {
	cfg := &Config{}
	if err := json.Unmarshal(defaultConfigJSON, cfg); err != nil {
		return nil, fmt.Errorf("built-in config: %w", err)
	}
	if path == "" {
		if _, err := os.Stat("config.json"); err == nil {
			path = "config.json"
		}
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := json.Unmarshal(data, cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}

	}
	return cfg, cfg.check()
}

// check refuses a config the server could not honour, naming the key.
func (c *Config) check() error {
	switch {
	case c.Auth.Algorithm != "HS256":
		return fmt.Errorf("config auth.ALGORITHM: only HS256 is supported, not %q", c.Auth.Algorithm)
	case c.Auth.ExpireMinutes <= 0:
		return errors.New("config auth.ACCESS_TOKEN_EXPIRE_MINUTES must be a positive number of minutes")
	case len(c.Auth.PwdContext.Schemes) == 0:
		return errors.New("config auth.PWD_CONTEXT.schemes must name argon2 or bcrypt")
	case c.Auth.PwdContext.Schemes[0] != "argon2" && c.Auth.PwdContext.Schemes[0] != "bcrypt":
		return fmt.Errorf("config auth.PWD_CONTEXT.schemes: %q is not supported (argon2 or bcrypt)", c.Auth.PwdContext.Schemes[0])
	case c.Auth.Argon2.MemoryKiB < 8 || c.Auth.Argon2.Iterations < 1 || c.Auth.Argon2.Parallelism < 1:
		return errors.New("config auth.ARGON2: memory_kib ≥ 8, iterations ≥ 1 and parallelism ≥ 1 are needed")
	case c.Auth.BcryptCost < 4 || c.Auth.BcryptCost > 31:
		return errors.New("config auth.BCRYPT_COST must be between 4 and 31")
	case !strings.HasPrefix(c.RootPath, "/") || strings.HasSuffix(c.RootPath, "/"):
		return fmt.Errorf("config root_path %q must start with / and not end with it", c.RootPath)
	case c.ItemsLimit < 1:
		return errors.New("config BODY_RESPONSE_ITEMS_LIMIT must be at least 1")
	case c.ShutdownTimeoutSeconds < 1:
		return errors.New("config shutdown_timeout_seconds must be at least 1")
	case c.AuditRetentionDays < 0:
		return errors.New("config audit_retention_days must be 0 (keep every entry) or a positive number of days")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("config log_format %q: text or json", c.LogFormat)
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		return fmt.Errorf("config metrics_addr %q: HOST:PORT, or empty for no metrics listener", c.MetricsAddr)
	}
	if t := c.LoginThrottle; t.MaxFailuresPerUser < 1 || t.MaxFailuresPerClient < 1 || t.WindowSeconds < 1 || t.MaxEntries < 100 {
		return errors.New("config login_throttle: max_failures_per_user, max_failures_per_client and window_seconds must be positive, max_entries at least 100")
	}
	if l := c.RateLimit; l.RequestsPerSecond < 0 || l.RequestsPerSecond > 0 && l.Burst < 1 || l.ConcurrentWrites < 0 || l.MaxEntries < 100 {
		return errors.New("config rate_limit: requests_per_second and concurrent_writes must be 0 (off) or positive, burst at least 1, max_entries at least 100")
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	if slices.Contains(c.CORS.AllowOrigins, "*") && c.CORS.AllowCredentials {
		return errors.New(`config cors: allow_origins "*" together with allow_credentials would let any site act with a user's credentials; list the origins`)
	}
	for name, e := range c.RaiseError {
		if e.StatusCode < 400 || e.StatusCode > 599 || e.Detail == "" {
			return fmt.Errorf("config raise_error.%s needs a status_code from 400 to 599 and a detail", name)
		}
	}
	roleTable := routeRoles(nil)
	for route, roles := range c.RBAC {
		if _, ok := roleTable[route]; !ok {
			return fmt.Errorf("config rbac: unknown route %q (routes are written as in handlers.go's routeTable, e.g. \"GET /user/\")", route)
		}
		if roles == nil { // JSON null: no list at all, which would mean no role check
			return fmt.Errorf("config rbac %q: give a list of roles ([] lets nobody call the route)", route)
		}
		if r, bad := unknownRole(roles); bad {
			return fmt.Errorf("config rbac %q: unknown role %q", route, r)
		}
	}
	return nil
}

// trustedProxies parses trusted_proxies: addresses or CIDR prefixes.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			addr, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("config trusted_proxies: %q is neither an address nor a CIDR prefix", s)
			}
			p = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, nil
}

// databasePath is the database: a postgres:// URL or where the SQLite file
// lives. database_url wins; the original's sqlite_db_path
// ("/sql_app/sql_app.db") was relative to the folder the original ran from,
// so it is read relative to the working directory even with its leading
// slash.
func (c *Config) databasePath() string {
	if c.DatabaseURL != "" {
		return strings.TrimPrefix(c.DatabaseURL, "sqlite://")
	}
	if c.SQLiteDBPath != "" {
		return strings.TrimLeft(c.SQLiteDBPath, "/")
	}
	return "ticketapi.db"
}

// resolveSecret picks the token signing key: TICKETAPI_SECRET_KEY, then the
// config's SECRET_KEY, then SECRET_KEY_FILE (default: secret.key beside the
// database), which is created with a random key on a fresh install.
func (c *Config) resolveSecret() error {
	if env := os.Getenv("TICKETAPI_SECRET_KEY"); env != "" {
		c.Auth.SecretKey = env
	}
	if c.Auth.SecretKey == "" {
		file := c.Auth.SecretKeyFile
		if file == "" && isPostgresURL(c.databasePath()) {
			// Every instance must sign with the same key, and a file
			// made here would be this host's alone.
			return errors.New("with a PostgreSQL database_url, give every instance the same secret key: " +
				"set TICKETAPI_SECRET_KEY or auth.SECRET_KEY_FILE")
		}
		if file == "" {
			file = filepath.Join(filepath.Dir(c.databasePath()), "secret.key")
		}
		key, err := readOrCreateSecret(file)
		if err != nil {
			return err
		}
		c.Auth.SecretKey = key
	}
	switch {
	case c.Auth.SecretKey == publishedSecretKey:
		return errors.New("config auth.SECRET_KEY is the original project's published default, so anyone could forge tokens: " +
			"set TICKETAPI_SECRET_KEY, or remove SECRET_KEY from the config to have a random key generated and kept")
	case len(c.Auth.SecretKey) < 32:
		return errors.New("the secret key is shorter than 32 characters: use a long random value (openssl rand -hex 32)")
	}
	return nil
}

func readOrCreateSecret(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read secret key file: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	key := hex.EncodeToString(b)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create secret key file: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write secret key file: %w", err)
	}
	return key, f.Close()
}
