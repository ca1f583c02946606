package main

// ratelimit.go: how much one caller may ask of the server. Each caller (a
// user, or before login a client address) has a token bucket of requests,
// answered 429 when it is empty, and a cap on its writes waiting for the
// writer (groupcommit.go), so that one caller's flood leaves the others
// their share. See docs/security.md.

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// errTooManyRequests is a caller over its rate.
const errTooManyRequests failure = "too_many_requests"

// callerKey names a caller: a user id, or (user 0) a client address.
// Fixed size: an address an attacker chose costs no more than any other.
type callerKey struct {
	user int64
	addr [16]byte
}

// addressKey is the caller key of a client address. An IPv6 address counts
// by its /64, the block one subscriber gets, or a single host could take
// a fresh bucket for every request.
func addressKey(client string) callerKey {
	ip, err := netip.ParseAddr(client)
	if err != nil {
		return callerKey{} // not an address: all such callers share one bucket
	}
	ip = ip.Unmap()
	if ip.Is6() {
		ip = netip.PrefixFrom(ip.WithZone(""), 64).Masked().Addr()
	}
	return callerKey{addr: ip.As16()}
}

// bucket is one caller's token bucket: tokens requests may still be made
// at once, as of at (time since the limiter started).
type bucket struct {
	tokens float64
	at     time.Duration
}

// writeSlots are one caller's writes handed to the writer (the channel's
// length); inUse counts the requests holding or waiting for a slot, and the
// entry lives only while it is not zero.
type writeSlots struct {
	taken chan struct{}
	inUse int
}

// rateLimiter keeps the buckets and the write slots of every caller.
type rateLimiter struct {
	rate       float64 // tokens per second; 0: no rate limit
	burst      float64
	writeCap   int // writes per caller handed to the writer at once; 0: no cap
	maxEntries int
	log        *slog.Logger
	start      time.Time

	mu      sync.Mutex
	now     func() time.Time // time.Now; a test's clock
	buckets map[callerKey]bucket
	writing map[callerKey]*writeSlots
}

func newRateLimiter(c RateLimitConfig, log *slog.Logger) *rateLimiter {
	return &rateLimiter{rate: c.RequestsPerSecond, burst: float64(c.Burst), writeCap: c.ConcurrentWrites,
		maxEntries: c.MaxEntries, log: log, start: time.Now(), now: time.Now,
		buckets: map[callerKey]bucket{}, writing: map[callerKey]*writeSlots{}}
}

// admit counts one request against its caller (the user; nil: the client
// address) and answers 429 with Retry-After when the caller is over its
// rate. An admitted request carries its caller to the write path.
func (a *app) admit(w http.ResponseWriter, r *http.Request, caller *User) bool {
	info := requestInfoOf(r)
	key := callerKey{}
	if caller != nil {
		key.user = caller.ID
	} else {
		key = addressKey(info.client)
	}
	if wait := a.limits.take(key); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		a.fail(w, r, errTooManyRequests)
		return false
	}
	info.caller, info.limits = key, a.limits
	return true
}

// take spends one of key's tokens, or tells how long until there is one.
func (l *rateLimiter) take(key callerKey) time.Duration {
	if l.rate == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().Sub(l.start)
	b, known := l.buckets[key]
	if !known {
		if len(l.buckets) >= l.maxEntries {
			l.forget(now)
		}
		b = bucket{tokens: l.burst, at: now}
	}
	b.tokens = min(l.burst, b.tokens+(now-b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		l.buckets[key] = b
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	l.buckets[key] = b
	return 0
}

// forget makes room in a full table: first the buckets that have refilled
// (a full bucket is what a new caller gets anyway), then, if that freed
// less than an eighth, any others, which is logged: those callers start
// over with a full bucket. Freeing an eighth at a time keeps the cost of a
// sweep spread over many new callers.
func (l *rateLimiter) forget(now time.Duration) {
	refill := time.Duration(l.burst / l.rate * float64(time.Second))
	for key, b := range l.buckets {
		if now-b.at >= refill {
			delete(l.buckets, key)
		}
	}
	target := l.maxEntries - l.maxEntries/8
	if len(l.buckets) <= target {
		return
	}
	dropped := len(l.buckets) - target
	for key := range l.buckets { // map order: arbitrary callers
		if len(l.buckets) <= target {
			break
		}
		delete(l.buckets, key)
	}
	l.log.Warn("rate limit: the caller table is full; callers still counted were forgotten",
		"forgotten", dropped, "max_entries", l.maxEntries)
}

// takeWriteSlot waits until the request's caller has fewer than
// concurrent_writes writes with the writer, and returns the function that
// gives the slot back. A request without a caller (a write of the server's
// own) takes no slot; a caller that goes away stops waiting.
func takeWriteSlot(ctx context.Context) (release func(), err error) {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	if info == nil || info.limits == nil || info.limits.writeCap == 0 {
		return func() {}, nil
	}
	l, key := info.limits, info.caller
	l.mu.Lock()
	slots := l.writing[key]
	if slots == nil {
		slots = &writeSlots{taken: make(chan struct{}, l.writeCap)}
		l.writing[key] = slots
	}
	slots.inUse++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		if slots.inUse--; slots.inUse == 0 {
			delete(l.writing, key)
		}
		l.mu.Unlock()
	}
	select {
	case slots.taken <- struct{}{}:
		return func() { <-slots.taken; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
