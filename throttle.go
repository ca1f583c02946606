package main

// throttle.go: login throttling (failed logins counted per username and
// client address, then refused with 429), and the client address of a
// request, which the throttle and the access log both use. See
// docs/security.md.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"maps"
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
// A SQLite server is one process and keeps the counts in memory
// (loginThrottle); instances sharing a PostgreSQL database keep them in it
// (sharedThrottle), so a guesser gains nothing by spreading over instances.
type throttle interface {
	// blocked tells how long the pair or the client must still wait (0: may try).
	blocked(username, client string) time.Duration
	// failed counts a failed login and tells how long to hold back its answer.
	failed(username, client string) time.Duration
	// succeeded clears the pair's failures (not the client's).
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

func pairKey(username, client string) string { return "u\x00" + username + "\x00" + client }

func clientKey(client string) string { return "c\x00" + client }

// newThrottle picks the throttle for the store's database.
func newThrottle(c ThrottleConfig, store *Store) throttle {
	if store.dialect == postgresDialect {
		return &sharedThrottle{store: store, maxPerPair: c.MaxFailuresPerUser, maxPerClient: c.MaxFailuresPerClient,
			window: time.Duration(c.WindowSeconds) * time.Second, now: time.Now}
	}
	return newLoginThrottle(c)
}

// loginThrottle keeps the counts in memory. The table is bounded: entries
// expire after the window, and when it is full an arbitrary entry is
// dropped to make room.
type loginThrottle struct {
	mu           sync.Mutex
	entries      map[string]*failures
	maxPerPair   int
	maxPerClient int
	window       time.Duration
	maxEntries   int
	now          func() time.Time
}

func newLoginThrottle(c ThrottleConfig) *loginThrottle {
	return &loginThrottle{entries: map[string]*failures{}, maxPerPair: c.MaxFailuresPerUser,
		maxPerClient: c.MaxFailuresPerClient, window: time.Duration(c.WindowSeconds) * time.Second,
		maxEntries: c.MaxEntries, now: time.Now}
}

func (t *loginThrottle) blocked(username, client string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var fs []failures
	for _, key := range []string{pairKey(username, client), clientKey(client)} {
		if f := t.entries[key]; f != nil {
			fs = append(fs, *f)
		}
	}
	return longestWait(t.now(), fs...)
}

func (t *loginThrottle) failed(username, client string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	pair := t.count(pairKey(username, client), t.maxPerPair)
	t.count(clientKey(client), t.maxPerClient)
	return holdBack(pair.count, t.maxPerPair)
}

func (t *loginThrottle) count(key string, limit int) failures {
	now := t.now()
	f := t.entries[key]
	if f == nil {
		if len(t.entries) >= t.maxEntries {
			t.makeRoom(now)
		}
		f = &failures{}
		t.entries[key] = f
	}
	*f = f.next(now, t.window, limit)
	return *f
}

// makeRoom drops expired entries, or, if none has expired, one entry.
func (t *loginThrottle) makeRoom(now time.Time) {
	for key, f := range t.entries {
		if f.expired(now, t.window) {
			delete(t.entries, key)
		}
	}
	for key := range t.entries {
		if len(t.entries) < t.maxEntries {
			return
		}
		delete(t.entries, key)
	}
}

func (t *loginThrottle) succeeded(username, client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, pairKey(username, client))
}

// size is how many entries the table holds.
func (t *loginThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// sharedThrottle keeps the counts in the database's login_failures table,
// updated inside write transactions, which are serialized across instances
// (see store.go), so concurrent failures on two instances both count.
// Expired rows are deleted now and then. If the database cannot be reached
// the throttle lets the attempt through: the login itself then fails on the
// same database.
type sharedThrottle struct {
	store        *Store
	maxPerPair   int
	maxPerClient int
	window       time.Duration
	now          func() time.Time
	calls        atomic.Int64
}

// throttleTimeout bounds each of the throttle's queries.
const throttleTimeout = 5 * time.Second

func (t *sharedThrottle) blocked(username, client string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), throttleTimeout)
	defer cancel()
	counts, err := t.store.LoginFailures(ctx, pairKey(username, client), clientKey(client))
	if err != nil {
		t.store.log.Error("login throttle: read failures", "err", err)
		return 0
	}
	return longestWait(t.now(), slices.Collect(maps.Values(counts))...)
}

func (t *sharedThrottle) failed(username, client string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), throttleTimeout)
	defer cancel()
	now, pair, byClient := t.now(), pairKey(username, client), clientKey(client)
	var expireBefore time.Time
	if t.calls.Add(1)%100 == 1 {
		expireBefore = now.Add(-t.window)
	}
	counts, err := t.store.AddLoginFailure(ctx, func(key string, f failures) failures {
		if key == pair {
			return f.next(now, t.window, t.maxPerPair)
		}
		return f.next(now, t.window, t.maxPerClient)
	}, now, expireBefore, pair, byClient)
	if err != nil {
		t.store.log.Error("login throttle: count a failure", "err", err)
		return 0
	}
	return holdBack(counts[pair].count, t.maxPerPair)
}

func (t *sharedThrottle) succeeded(username, client string) {
	ctx, cancel := context.WithTimeout(context.Background(), throttleTimeout)
	defer cancel()
	if err := t.store.ForgetLoginFailures(ctx, pairKey(username, client)); err != nil {
		t.store.log.Error("login throttle: clear failures", "err", err)
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
func (s *Store) LoginFailures(ctx context.Context, keys ...string) (map[string]failures, error) {
	counts := map[string]failures{}
	for _, key := range keys {
		f, err := loginFailures(ctx, s.read, key)
		if err != nil {
			return nil, err
		}
		counts[key] = f
	}
	return counts, nil
}

// failureKey is how a throttle key is stored: a hash, because the key holds
// whatever username a client sent, and PostgreSQL text takes neither NUL
// bytes nor invalid UTF-8.
func failureKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func loginFailures(ctx context.Context, q queryer, key string) (failures, error) {
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

// AddLoginFailure counts one failure for each key, update deciding each
// new count from the old, all in one write; rows whose window ended before
// expireBefore (when not zero) and are not blocked at now are deleted.
func (s *Store) AddLoginFailure(ctx context.Context, update func(key string, f failures) failures,
	now, expireBefore time.Time, keys ...string) (map[string]failures, error) {
	counts := map[string]failures{}
	err := s.inTx(ctx, func(tx *txn) error {
		if !expireBefore.IsZero() {
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_failures WHERE since < ? AND blocked_until <= ?",
				expireBefore.UnixMilli(), now.UnixMilli()); err != nil {
				return err
			}
		}
		for _, key := range keys {
			f, err := loginFailures(ctx, tx, key)
			if err != nil {
				return err
			}
			f = update(key, f)
			counts[key] = f
			if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, count, since, blocked_until)
				VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET count = excluded.count,
				since = excluded.since, blocked_until = excluded.blocked_until`,
				failureKey(key), f.count, f.since.UnixMilli(), f.blockedUntil.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	return counts, err
}

// ForgetLoginFailures deletes the counts of keys. Most logins have none to
// forget, so it reads first and takes the write lock only when there are.
func (s *Store) ForgetLoginFailures(ctx context.Context, keys ...string) error {
	counts, err := s.LoginFailures(ctx, keys...)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(keys, func(key string) bool { return counts[key].count > 0 }) {
		return nil
	}
	return s.inTx(ctx, func(tx *txn) error {
		for _, key := range keys {
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_failures WHERE key = ?", failureKey(key)); err != nil {
				return err
			}
		}
		return nil
	})
}
