package main

// auth.go: password hashes (argon2id and bcrypt, in the formats passlib
// writes, so the original's users keep their passwords), with a bound on how
// many run at once, and JWT access tokens. Who may call a route is rbac.go;
// counting failed logins is throttle.go.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// hashSlots bounds how many password hashes run at once: one argon2id hash
// with the default parameters takes 64 MiB, so a burst of logins queues for
// a slot instead of exhausting memory.
var hashSlots = make(chan struct{}, runtime.NumCPU())

// hashesWaiting counts the hashes waiting for a slot: the login queue.
var hashesWaiting atomic.Int64

// errStopping is why a login got no hashing slot: the server is stopping.
var errStopping = errors.New("the server is stopping")

// withHashSlot runs f once a slot is free, and observes in waited how long
// that took. A caller that goes away while it waits (ctx done) gives up its
// turn: nobody hashes for a gone client. When stopping closes, a caller
// that would have to wait gives up too (errStopping), so a stop is not held
// up by a queue; a free slot is still taken.
func withHashSlot(ctx context.Context, stopping <-chan struct{}, waited prometheus.Observer, f func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	asked := time.Now()
	select {
	case hashSlots <- struct{}{}:
	default: // every slot is taken: wait for one
		if err := waitForHashSlot(ctx, stopping); err != nil {
			return err
		}
	}
	defer func() { <-hashSlots }()
	waited.Observe(time.Since(asked).Seconds())
	f()
	return nil
}

// waitForHashSlot takes a slot once one is free, counted in hashesWaiting
// meanwhile.
func waitForHashSlot(ctx context.Context, stopping <-chan struct{}) error {
	hashesWaiting.Add(1)
	defer hashesWaiting.Add(-1)
	select {
	case hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stopping:
		return errStopping
	}
}

// hashMemoryLimit is a soft limit for the Go heap: the memory of one
// argon2id hash per slot plus 32 MiB for everything else. Near it the
// garbage collector frees the last hashes' memory before a new one is
// taken, instead of letting the heap double first. Since argon2id collects
// after each hash of 16 MiB or more, the limit is the backstop, not the
// usual way.
func hashMemoryLimit(memoryKiB uint32) int64 {
	return int64(cap(hashSlots))*int64(memoryKiB)*1024 + 32<<20
}

// argon2id is argon2.IDKey (its callers run it in a hashing slot),
// followed by a garbage collection when the hash took much memory (64 MiB
// by default): that memory is garbage once the key is made, and collecting
// it before the slot is handed on lets the next hash reuse the same pages,
// so the heap holds one hash's memory per slot instead of growing to the
// memory limit first. With little else on the heap a collection takes about a
// millisecond; the hash, some 150.
func argon2id(password string, salt []byte, iterations, memoryKiB uint32, threads uint8, keyLen uint32) []byte {
	key := argon2.IDKey([]byte(password), salt, iterations, memoryKiB, threads, keyLen)
	if memoryKiB >= 16<<10 {
		runtime.GC()
	}
	return key
}

// bcryptInput is what bcrypt reads of a password: its first 72 bytes (the
// algorithm ignores the rest; passlib truncates the same way).
func bcryptInput(password string) []byte {
	b := []byte(password)
	return b[:min(len(b), 72)]
}

// hasher makes and checks password hashes with the configured scheme.
type hasher struct {
	scheme     string // "argon2" or "bcrypt"
	memory     uint32 // argon2id memory in KiB
	iterations uint32
	threads    uint8
	bcryptCost int
	dummy      string // a hash to check unknown users against, so they take as long as known ones
	stopping   chan struct{}
	stopOnce   sync.Once
	slotWait   prometheus.Histogram // each hash's wait for a slot (metrics.go)
}

func newHasher(cfg *Config) *hasher {
	a := cfg.Auth.Argon2
	return &hasher{scheme: cfg.Auth.PwdContext.Schemes[0], memory: a.MemoryKiB, iterations: a.Iterations,
		threads: a.Parallelism, bcryptCost: cfg.Auth.BcryptCost, stopping: make(chan struct{}),
		slotWait: newHashSlotWait()}
}

// stopWaiting is called when the server stops: every Verify still waiting
// for a hashing slot, and every later one that would have to wait, returns
// errStopping at once; hashes already running finish.
func (h *hasher) stopWaiting() { h.stopOnce.Do(func() { close(h.stopping) }) }

// newLoginHasher is newHasher with the dummy hash that logins of unknown
// users are checked against (only the server verifies logins; the first
// start and set-password need not pay for it).
func newLoginHasher(cfg *Config) *hasher {
	h := newHasher(cfg)
	h.dummy, _ = h.Hash("dummy password, never valid")
	return h
}

const argon2KeyLen, argon2SaltLen = 32, 16

// b64 is the base64 of PHC strings as passlib writes them: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// Hash returns a new hash of password in the configured scheme:
// "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>" or "$2b$12$...".
func (h *hasher) Hash(password string) (string, error) {
	if h.scheme == "bcrypt" {
		var b []byte
		var err error
		withHashSlot(context.Background(), nil, h.slotWait, func() { b, err = bcrypt.GenerateFromPassword(bcryptInput(password), h.bcryptCost) })
		if err != nil {
			return "", err
		}
		return "$2b$" + strings.TrimPrefix(string(b), "$2a$"), nil
	}
	salt := make([]byte, argon2SaltLen)
	rand.Read(salt)
	var key []byte
	withHashSlot(context.Background(), nil, h.slotWait, func() { key = argon2id(password, salt, h.iterations, h.memory, h.threads, argon2KeyLen) })
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memory, h.iterations, h.threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify tells whether password matches hash, and whether the hash should be
// replaced because its scheme or parameters differ from the configured ones.
// An empty hash (unknown user) is checked against a dummy hash, so the answer
// takes the same time and is always false. When no hashing slot was had
// (ctx ended, or the server is stopping: errStopping), err says why and
// nothing was checked.
func (h *hasher) Verify(ctx context.Context, hash, password string) (ok, outdated bool, err error) {
	if hash == "" {
		_, err = h.verify(ctx, h.dummy, password)
		return false, false, err
	}
	ok, err = h.verify(ctx, hash, password)
	return ok, err == nil && h.outdated(hash), err
}

func (h *hasher) verify(ctx context.Context, hash, password string) (bool, error) {
	if strings.HasPrefix(hash, "$2") {
		// x/crypto/bcrypt reads "$2a$"; "$2b$" (passlib's) is the same algorithm.
		normalized := "$2a$" + strings.TrimPrefix(strings.TrimPrefix(hash, "$2b$"), "$2y$")
		var mismatch error
		err := withHashSlot(ctx, h.stopping, h.slotWait, func() {
			mismatch = bcrypt.CompareHashAndPassword([]byte(normalized), bcryptInput(password))
		})
		return err == nil && mismatch == nil, err
	}
	p, ok := parseArgon2(hash)
	if !ok {
		return false, nil
	}
	var key []byte
	err := withHashSlot(ctx, h.stopping, h.slotWait, func() {
		key = argon2id(password, p.salt, p.iterations, p.memory, p.threads, uint32(len(p.key)))
	})
	return err == nil && subtle.ConstantTimeCompare(key, p.key) == 1, err
}

func (h *hasher) outdated(hash string) bool {
	if h.scheme == "bcrypt" {
		cost, err := bcrypt.Cost([]byte("$2a$" + strings.TrimPrefix(hash, "$2b$")))
		return err != nil || cost != h.bcryptCost
	}
	p, ok := parseArgon2(hash)
	return !ok || p.memory != h.memory || p.iterations != h.iterations || p.threads != h.threads ||
		len(p.key) != argon2KeyLen
}

type argon2Params struct {
	memory, iterations uint32
	threads            uint8
	salt, key          []byte
}

// parseArgon2 reads "$argon2id$v=19$m=..,t=..,p=..$salt$key".
func parseArgon2(hash string) (argon2Params, bool) {
	var p argon2Params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, false
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.iterations, &threads); err != nil ||
		threads < 1 || threads > 255 || p.iterations < 1 || p.memory < 8*threads || p.memory > 4<<20 {
		return p, false
	}
	p.threads = uint8(threads)
	var err1, err2 error
	p.salt, err1 = b64.DecodeString(parts[4])
	p.key, err2 = b64.DecodeString(parts[5])
	return p, err1 == nil && err2 == nil && len(p.key) >= 16 && len(p.key) <= 64
}

// claims are what an access token says: the user (sub), the scopes granted,
// when it was issued and when it expires, and pwd: a fingerprint of the
// password hash in force when it was issued, so changing a password
// invalidates every token issued before.
type claims struct {
	Scopes []string `json:"scopes"`
	Pwd    string   `json:"pwd"`
	jwt.RegisteredClaims
}

// UnmarshalJSON refuses a token whose exp, iat or nbf is not a JSON number:
// the JWT library would read "exp": "9999999999" as a date.
func (c *claims) UnmarshalJSON(data []byte) error {
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Iat json.RawMessage `json:"iat"`
		Nbf json.RawMessage `json:"nbf"`
	}
	if err := json.Unmarshal(data, &times); err != nil {
		return err
	}
	for _, raw := range []json.RawMessage{times.Exp, times.Iat, times.Nbf} {
		if len(raw) > 0 && raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return errTokenInvalid
		}
	}
	type plainClaims claims // the same fields without this method
	return json.Unmarshal(data, (*plainClaims)(c))
}

// tokens issues and checks access tokens.
type tokens struct {
	key      []byte
	lifetime time.Duration
	parser   *jwt.Parser
	// Checking a token's signature and claims, and its password
	// fingerprint, on every request is work done again for the same token:
	// tokenmemo.go remembers both answers.
	verified     *memo[string, *claims] // token → its checked claims
	fingerprints *memo[string, string]  // password hash → passwordFingerprint
}

func newTokens(secret string, lifetime time.Duration) *tokens {
	return &tokens{key: []byte(secret), lifetime: lifetime, verified: newMemo[string, *claims](), fingerprints: newMemo[string, string](),
		// HS256 only: "none", other HMAC sizes and RSA/EC are all refused.
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())}
}

// passwordFingerprint ties a token to a password hash without revealing it.
func (t *tokens) passwordFingerprint(hashedPassword string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(hashedPassword))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

func (t *tokens) issue(u *User, scopes []string, now time.Time) (string, error) {
	c := claims{Scopes: scopes, Pwd: t.passwordFingerprint(u.hashedPassword), RegisteredClaims: jwt.RegisteredClaims{
		Subject:   u.Username,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.lifetime)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
}

var (
	errTokenInvalid = errors.New("could not validate credentials")
	errTokenExpired = errors.New("token has expired")
)

// parse checks a token's signature, algorithm and claims; a token checked
// before needs only its expiry checked again.
func (t *tokens) parse(raw string) (*claims, error) {
	c, seen := t.verified.get(raw)
	if !seen {
		var err error
		if c, err = t.verify(raw); err != nil {
			return nil, err
		}
		t.verified.put(raw, c)
	}
	if !time.Now().Before(c.ExpiresAt.Time) {
		return nil, errTokenExpired
	}
	return c, nil
}

func (t *tokens) verify(raw string) (*claims, error) {
	c := &claims{}
	_, err := t.parser.ParseWithClaims(raw, c, func(*jwt.Token) (any, error) { return t.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, errTokenExpired
	case err != nil || c.Subject == "":
		return nil, errTokenInvalid
	}
	return c, nil
}

// matches tells whether the token was issued under the user's current password.
func (t *tokens) matches(c *claims, u *User) bool {
	fp, ok := t.fingerprints.get(u.hashedPassword)
	if !ok {
		fp = t.passwordFingerprint(u.hashedPassword)
		t.fingerprints.put(u.hashedPassword, fp)
	}
	return hmac.Equal([]byte(c.Pwd), []byte(fp))
}

// grantedScopes keeps the requested scopes that the config declares.
func grantedScopes(requested string, declared map[string]string) []string {
	granted := []string{}
	for _, s := range strings.Fields(requested) {
		if _, ok := declared[s]; ok && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted
}
