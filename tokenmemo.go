package main

// tokenmemo.go: every request checks its token's signature and claims and
// compares its password fingerprint, both HMACs and a JSON decoding. A
// client sends the same token for up to an hour, so the answers are
// remembered: without them a GET /me takes 43 µs of CPU instead of 30, and
// falls below half the bare net/http ceiling (docs/performance.md).

import "sync"

// maxRemembered bounds a memo: when full, it starts over.
const maxRemembered = 10000

// memo remembers answers by key, at most maxRemembered of them.
type memo[K comparable, V any] struct {
	mu      sync.Mutex
	answers map[K]V
}

func newMemo[K comparable, V any]() *memo[K, V] {
	return &memo[K, V]{answers: map[K]V{}}
}

func (m *memo[K, V]) get(key K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.answers[key]
	return v, ok
}

func (m *memo[K, V]) put(key K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.answers) >= maxRemembered {
		clear(m.answers)
	}
	m.answers[key] = v
}
