package main

// throttle.go: login throttling (login attempts counted per username and
// client address, then refused with 429), and the client address of a
// request, which the throttle and the access log both use. See
// docs/security.md.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// throttle slows and then refuses password guessing. It counts failed
// logins per (username, client address) pair and per client address: a pair
// is refused after max_failures_per_user failures within the window, a
// client after max_failures_per_client. Keying on the pair means an
// attacker elsewhere cannot lock a real user out.
//
// An attempt is counted as a failure when it is admitted, before its
// password is checked, and taken back if the password was right: so a burst
// sent at once gets no more guesses than one sent a login at a time.
//
// A SQLite server is one process and keeps the counts in memory
// (loginThrottle); instances sharing a PostgreSQL database keep them in it
// (sharedThrottle), so a guesser gains nothing by spreading over instances.
type throttle interface {
	// admit counts an attempt as a failure and tells how long to hold back
	// its answer should it fail; or, when the pair or the client is blocked,
	// counts nothing and tells how long they must still wait (wait > 0).
	admit(username, client string) (wait, holdBack time.Duration)
	// release takes back an admitted attempt whose password was never checked.
	release(username, client string)
	// succeeded clears the pair's failures and takes back the client's.
	succeeded(username, client string)
}

// failures is the count of one key within its window.
type failures struct {
	count        int
	since        time.Time // the first failure of the current window
	blockedUntil time.Time
}

// next is f after one more failure at now: a window that is over (and not
// blocked) starts again; reaching limit blocks the key for one window.
func (f failures) next(now time.Time, window time.Duration, limit int) failures {
	if f.count == 0 || f.expired(now, window) {
		f = failures{since: now}
	}
	f.count++
	if f.count >= limit {
		f.blockedUntil = now.Add(window)
	}
	return f
}

// undo is f with one counted failure taken back; a block that failure
// completed is lifted.
func (f failures) undo(limit int) failures {
	f.count = max(f.count-1, 0)
	if f.count < limit {
		f.blockedUntil = time.Time{}
	}
	return f
}

// expired tells whether f no longer counts at now.
func (f failures) expired(now time.Time, window time.Duration) bool {
	return now.Sub(f.since) > window && !f.blockedUntil.After(now)
}

// longestWait is how long the most blocked of fs is still blocked at now.
func longestWait(now time.Time, fs ...failures) time.Duration {
	var wait time.Duration
	for _, f := range fs {
		if f.blockedUntil.After(now) {
			wait = max(wait, f.blockedUntil.Sub(now))
		}
	}
	return wait
}

// holdBack is how long to delay the answer to a pair's failed login:
// nothing for the first half of the allowed failures, then a little more
// each time.
func holdBack(count, maxPerPair int) time.Duration {
	if count <= maxPerPair/2 {
		return 0
	}
	return min(time.Duration(count-maxPerPair/2)*250*time.Millisecond, 2*time.Second)
}

// throttleKey names what a count is kept for: a keyed hash (HMAC-SHA256)
// of the username and client address, or of the address alone. Every key
// has the same small size whatever username a client sends, and neither the
// memory nor the PostgreSQL table holds a username or an address.
type throttleKey [sha256.Size]byte

// throttleKeys makes the keys. The hash key is derived from the token
// signing key, which every instance on one database shares.
type throttleKeys struct{ secret []byte }

func newThrottleKeys(signingKey string) throttleKeys {
	m := hmac.New(sha256.New, []byte(signingKey))
	m.Write([]byte("login throttle keys"))
	return throttleKeys{secret: m.Sum(nil)}
}

// pair is the key of a (username, client address) pair.
func (k throttleKeys) pair(username, client string) throttleKey {
	return k.sum('u', username, client)
}

// client is the key of a client address.
func (k throttleKeys) client(client string) throttleKey { return k.sum('c', "", client) }

func (k throttleKeys) sum(kind byte, username, client string) throttleKey {
	m := hmac.New(sha256.New, k.secret)
	// The username's length goes first, so no username and address can be
	// read as another username and address.
	m.Write(binary.BigEndian.AppendUint64([]byte{kind}, uint64(len(username))))
	m.Write([]byte(username))
	m.Write([]byte(client))
	var key throttleKey
	m.Sum(key[:0])
	return key
}

// newThrottle picks the throttle for the store's database.
func newThrottle(cfg *Config, store *Store) throttle {
	c, keys := cfg.LoginThrottle, newThrottleKeys(cfg.Auth.SecretKey)
	if store.dialect == postgresDialect {
		return &sharedThrottle{store: store, keys: keys, maxPerPair: c.MaxFailuresPerUser, maxPerClient: c.MaxFailuresPerClient,
			window: time.Duration(c.WindowSeconds) * time.Second, now: time.Now}
	}
	return newLoginThrottle(c, keys, store.log)
}

// loginThrottle keeps the counts in memory. The table is bounded: entries
// expire after the window, and when it is full the oldest entries that
// block nobody are dropped to make room (see makeRoom).
type loginThrottle struct {
	mu           sync.Mutex
	entries      map[throttleKey]failures
	keys         throttleKeys
	maxPerPair   int
	maxPerClient int
	window       time.Duration
	maxEntries   int
	dropped      int       // entries dropped to make room since the last warning
	warned       time.Time // when the last warning about a full table was logged
	now          func() time.Time
	log          *slog.Logger
}

func newLoginThrottle(c ThrottleConfig, keys throttleKeys, log *slog.Logger) *loginThrottle {
	return &loginThrottle{entries: map[throttleKey]failures{}, keys: keys, maxPerPair: c.MaxFailuresPerUser,
		maxPerClient: c.MaxFailuresPerClient, window: time.Duration(c.WindowSeconds) * time.Second,
		maxEntries: c.MaxEntries, now: time.Now, log: log}
}

func (t *loginThrottle) admit(username, client string) (wait, holdBackFor time.Duration) {
	pair, byClient := t.keys.pair(username, client), t.keys.client(client) // hashed before taking the lock
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if wait := longestWait(now, t.entries[pair], t.entries[byClient]); wait > 0 {
		return wait, 0
	}
	counted := t.count(pair, now, t.maxPerPair)
	t.count(byClient, now, t.maxPerClient)
	return 0, holdBack(counted.count, t.maxPerPair)
}

func (t *loginThrottle) count(key throttleKey, now time.Time, limit int) failures {
	f, found := t.entries[key]
	if !found && len(t.entries) >= t.maxEntries {
		t.makeRoom(now)
	}
	f = f.next(now, t.window, limit)
	t.entries[key] = f
	return f
}

// uncount takes back one failure of key; an entry left with none is dropped.
func (t *loginThrottle) uncount(key throttleKey, limit int) {
	f, found := t.entries[key]
	if !found {
		return // dropped to make room meanwhile
	}
	if f = f.undo(limit); f.count == 0 {
		delete(t.entries, key)
	} else {
		t.entries[key] = f
	}
}

func (t *loginThrottle) release(username, client string) {
	pair, byClient := t.keys.pair(username, client), t.keys.client(client)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.uncount(pair, t.maxPerPair)
	t.uncount(byClient, t.maxPerClient)
}

func (t *loginThrottle) succeeded(username, client string) {
	pair, byClient := t.keys.pair(username, client), t.keys.client(client)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, pair)
	t.uncount(byClient, t.maxPerClient)
}

// makeRoom drops expired entries and, if the table is still full, the
// oldest tenth of those that block nobody (dropping a tenth at once keeps
// the sorting rare). A blocking entry is never dropped: a flood of new
// usernames must not unblock a guesser. When every entry blocks, the table
// grows past its cap instead; each blocking entry took a full set of hashed
// failures, so it grows no faster than passwords can be checked.
func (t *loginThrottle) makeRoom(now time.Time) {
	type aged struct {
		key   throttleKey
		since time.Time
	}
	var open []aged
	for key, f := range t.entries {
		switch {
		case f.expired(now, t.window):
			delete(t.entries, key)
		case !f.blockedUntil.After(now):
			open = append(open, aged{key, f.since})
		}
	}
	if len(t.entries) < t.maxEntries {
		return
	}
	slices.SortFunc(open, func(a, b aged) int { return a.since.Compare(b.since) })
	for _, e := range open[:min(len(open), max(1, t.maxEntries/10))] {
		delete(t.entries, e.key)
		t.dropped++
	}
	if now.Sub(t.warned) >= time.Minute { // a flood gets one line a minute, not one per login
		t.log.Warn("login throttle: table full; dropped the oldest entries that block nobody (blocking entries are kept)",
			"dropped", t.dropped, "entries", len(t.entries), "max_entries", t.maxEntries)
		t.warned, t.dropped = now, 0
	}
}

// size is how many entries the table holds.
func (t *loginThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// sharedThrottle keeps the counts in the database's login_failures table,
// updated inside write transactions, which are serialized across instances
// (see store.go), so concurrent attempts on two instances all count.
// Expired rows are deleted now and then. If the database cannot be reached
// the throttle lets the attempt through: the login itself then fails on the
// same database.
type sharedThrottle struct {
	store        *Store
	keys         throttleKeys
	maxPerPair   int
	maxPerClient int
	window       time.Duration
	now          func() time.Time
	calls        atomic.Int64
}

// throttleTimeout bounds each of the throttle's queries.
const throttleTimeout = 5 * time.Second

func (t *sharedThrottle) admit(username, client string) (wait, holdBackFor time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), throttleTimeout)
	defer cancel()
	now, pair, byClient := t.now(), t.keys.pair(username, client), t.keys.client(client)
	// A blocked guesser is refused on a read, without queueing for the write lock.
	counts, err := t.store.LoginFailures(ctx, pair, byClient)
	if err != nil {
		t.store.log.Error("login throttle: read failures", "err", err)
		return 0, 0
	}
	if wait := longestWait(now, counts[pair], counts[byClient]); wait > 0 {
		return wait, 0
	}
	var expireBefore time.Time
	if t.calls.Add(1)%100 == 1 {
		expireBefore = now.Add(-t.window)
	}
	err = t.store.UpdateLoginFailures(ctx, now, expireBefore, []throttleKey{pair, byClient}, func(counts map[throttleKey]failures) bool {
		if wait = longestWait(now, counts[pair], counts[byClient]); wait > 0 {
			return false // blocked since the read: count nothing
		}
		counts[pair] = counts[pair].next(now, t.window, t.maxPerPair)
		counts[byClient] = counts[byClient].next(now, t.window, t.maxPerClient)
		holdBackFor = holdBack(counts[pair].count, t.maxPerPair)
		return true
	})
	if err != nil {
		t.store.log.Error("login throttle: count an attempt", "err", err)
		return 0, 0
	}
	return wait, holdBackFor
}

func (t *sharedThrottle) release(username, client string) {
	t.settle("take back an attempt", username, client, func(f failures) failures { return f.undo(t.maxPerPair) })
}

func (t *sharedThrottle) succeeded(username, client string) {
	t.settle("clear failures", username, client, func(failures) failures { return failures{} })
}

// settle writes what pairChange makes of the pair's count, and takes back
// the client's counted attempt.
func (t *sharedThrottle) settle(what, username, client string, pairChange func(failures) failures) {
	ctx, cancel := context.WithTimeout(context.Background(), throttleTimeout)
	defer cancel()
	pair, byClient := t.keys.pair(username, client), t.keys.client(client)
	err := t.store.UpdateLoginFailures(ctx, t.now(), time.Time{}, []throttleKey{pair, byClient}, func(counts map[throttleKey]failures) bool {
		counts[pair] = pairChange(counts[pair])
		counts[byClient] = counts[byClient].undo(t.maxPerClient)
		return true
	})
	if err != nil {
		t.store.log.Error("login throttle: "+what, "err", err)
	}
}

// clientAddress is the address a request came from: the TCP peer, or, when
// the peer is a trusted proxy, the last X-Forwarded-For entry not added by a
// trusted proxy.
func clientAddress(r *http.Request, trusted []netip.Prefix) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break
		}
		if !isTrusted(hop, trusted) {
			return hop
		}
		peer = hop
	}
	return peer
}

func isTrusted(addr string, trusted []netip.Prefix) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// LoginFailures reads the throttle's counts of keys (missing keys: none).
func (s *Store) LoginFailures(ctx context.Context, keys ...throttleKey) (map[throttleKey]failures, error) {
	counts := map[throttleKey]failures{}
	for _, key := range keys {
		f, err := loginFailures(ctx, s.read, key)
		if err != nil {
			return nil, err
		}
		counts[key] = f
	}
	return counts, nil
}

// failureKey is how a throttle key is stored: in hex, as PostgreSQL text.
func failureKey(key throttleKey) string { return hex.EncodeToString(key[:]) }

func loginFailures(ctx context.Context, q queryer, key throttleKey) (failures, error) {
	var f failures
	var since, until int64
	err := q.QueryRowContext(ctx, "SELECT count, since, blocked_until FROM login_failures WHERE key = ?", failureKey(key)).
		Scan(&f.count, &since, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return failures{}, nil
	}
	f.since, f.blockedUntil = time.UnixMilli(since), time.UnixMilli(until)
	return f, err
}

// UpdateLoginFailures reads the counts of keys, lets update change them and
// writes them back, all in one write; update returning false writes
// nothing, and a count of 0 deletes its row. First, when expireBefore is
// not zero, rows whose window ended before it and that are not blocked at
// now are deleted.
func (s *Store) UpdateLoginFailures(ctx context.Context, now, expireBefore time.Time, keys []throttleKey,
	update func(counts map[throttleKey]failures) bool) error {
	return s.inTx(ctx, func(tx *txn) error {
		if !expireBefore.IsZero() {
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_failures WHERE since < ? AND blocked_until <= ?",
				expireBefore.UnixMilli(), now.UnixMilli()); err != nil {
				return err
			}
		}
		counts := map[throttleKey]failures{}
		for _, key := range keys {
			f, err := loginFailures(ctx, tx, key)
			if err != nil {
				return err
			}
			counts[key] = f
		}
		if !update(counts) {
			return nil
		}
		for _, key := range keys {
			f := counts[key]
			var err error
			if f.count == 0 {
				_, err = tx.ExecContext(ctx, "DELETE FROM login_failures WHERE key = ?", failureKey(key))
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO login_failures (key, count, since, blocked_until)
					VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET count = excluded.count,
					since = excluded.since, blocked_until = excluded.blocked_until`,
					failureKey(key), f.count, f.since.UnixMilli(), f.blockedUntil.UnixMilli())
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// LongestUsername is the length in bytes of the longest username stored.
// The API's rules allow 16 letters, but a database upgraded from the
// original's may hold longer ones, whose users must still be able to log in.
func (s *Store) LongestUsername(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT COALESCE(MAX(octet_length(username)), 0) FROM users").Scan(&n)
	return n, err
}
