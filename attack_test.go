package main

// attack_test.go: a black-box attacker against the real binary on
// loopback, while a normal user works beside it. The attacker gets only
// the documented 4xx answers; the normal user never notices.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBlackBoxAttacker(t *testing.T) {
	bin := opsBuild(t)
	in := newOpsInstance(t, bin, map[string]any{"log_format": "text"})
	p := in.startListening()
	admin := p.login("admin", opsAdminPassword)
	for _, u := range []map[string]any{validNewUser("worker", 1), validNewUser("mallory", 2), validNewUser("victim", 3)} {
		u["role"] = []string{"manager"}
		p.must(200, "POST", "/api/v1/user/", admin, u)
	}
	worker, mallory, victim := p.login("worker", testPassword), p.login("mallory", testPassword), p.login("victim", testPassword)
	employee := p.employee(worker, 1)

	var mu sync.Mutex
	var problems []string
	expect := func(who string, a *opsAnswer, err error, allowed ...int) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", who, err))
			return
		}
		for _, s := range allowed {
			if a.status == s {
				return
			}
		}
		problems = append(problems, fmt.Sprintf("%s: %d %s, want one of %v", who, a.status, a.body, allowed))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	attack := func(f func()) { repeatUntil(stop, &wg, func() bool { f(); return true }) }
	flooding := http.StatusTooManyRequests // the attacker's pace is far over rate_limit

	// Password guessing: 400 until the pair is blocked, then 429.
	attack(func() {
		a, err := p.do("POST", "/api/v1/token", "", url.Values{"username": {"admin"}, "password": {"Guess!1234"}})
		expect("guessing admin's password", a, err, 400, 429)
		if err == nil && a.status == 429 && a.header.Get("Retry-After") == "" {
			expect("429 without Retry-After", a, nil)
		}
	})
	// A manager trying to lock out the admin, or to promote themselves.
	attack(func() {
		a, err := p.do("PATCH", "/api/v1/user/1/disabled", mallory, map[string]any{"disabled": true})
		expect("manager disables admin", a, err, 401, flooding)
		a, err = p.do("PATCH", "/api/v1/user/1/login_denied", mallory, map[string]any{"login_denied": true})
		expect("manager login-denies admin", a, err, 401, flooding)
		a, err = p.do("DELETE", "/api/v1/user/1", mallory, nil)
		expect("manager deletes admin", a, err, 401, flooding)
		a, err = p.do("PATCH", "/api/v1/user/3/role", mallory, map[string]any{"role": []string{"admin"}})
		expect("manager promotes self", a, err, 401, flooding)
	})
	// Oversized bodies and random bytes as JSON.
	big := bytes.Repeat([]byte("x"), 10<<20)
	attack(func() {
		a, err := p.do("POST", "/api/v1/employee/", mallory, rawJSON(big))
		expect("10 MB body", a, err, 413, flooding)
		junk := make([]byte, 512)
		rand.Read(junk)
		a, err = p.do("POST", "/api/v1/ticket/"+employee, mallory, rawJSON(junk))
		expect("random bytes as JSON", a, err, 422, flooding)
		time.Sleep(20 * time.Millisecond)
	})
	// Forged tokens: alg none, and a signature made with another key.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","scopes":[],"exp":4102444800}`)) + "."
	attack(func() {
		a, err := p.do("GET", "/api/v1/user/", none, nil)
		expect("alg none token", a, err, 401)
		parts := strings.Split(admin, ".")
		a, err = p.do("GET", "/api/v1/user/", parts[0]+"."+parts[1]+".AAAA"+parts[2][4:], nil)
		expect("token with a forged signature", a, err, 401)
	})

	// Meanwhile the victim changes their password: their old token is dead at
	// once, replays of it get 401, and the new login works.
	p.must(200, "PATCH", "/api/v1/user/password", victim, map[string]any{"password": "N3w!password"})
	for i := 0; i < 20; i++ {
		a, err := p.do("GET", "/api/v1/me", victim, nil)
		expect("replayed token after a password change", a, err, 401)
	}
	p.login("victim", "N3w!password")

	// The normal user keeps working through all of it.
	deadline := time.Now().Add(3 * time.Second)
	served := 0
	for time.Now().Before(deadline) {
		a, err := p.do("GET", "/api/v1/me", worker, nil)
		expect("normal user reads /me", a, err, 200)
		a, err = p.do("POST", "/api/v1/ticket/"+employee, worker, validTicket())
		expect("normal user files a ticket", a, err, 200)
		served += 2
		time.Sleep(20 * time.Millisecond) // a busy person's pace, well under rate_limit
	}
	close(stop)
	wg.Wait()

	for _, pr := range problems {
		t.Error(pr)
	}
	if served < 20 {
		t.Errorf("the normal user got only %d answers in 3 s", served)
	}
	log := p.log.String()
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "panic") || strings.Contains(log, "status=5") {
		t.Errorf("the server logged an error or a 5xx during the attack:\n%s", log)
	}
	// The admin is still active and can still log in from elsewhere: the
	// guesser's block is keyed on their address and this username only.
	p.must(200, "GET", "/api/v1/me", admin, nil)
}

// rawJSON is a body sent as is with a JSON content type.
type rawJSON []byte
