package main

// auth_test.go: auth.go's password hashes and tokens: login (POST /token)
// gives a token with the declared scopes and the same answer for an
// unknown user and a wrong password; passlib bcrypt hashes log in and are
// upgraded to argon2id; hashing is bounded to one per CPU, an abandoned
// login gives up its turn and an unknown user costs a hash too.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// rbacSegment decodes one base64url segment of a JWT as a JSON object.
func rbacSegment(t testing.TB, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, want 3", token, len(parts))
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("token segment %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("token segment %d: %v: %s", i, err, data)
	}
	return m
}

// rbacLogin posts a login form.
func rbacLogin(ts *testServer, fields ...string) *response {
	v := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		v.Set(fields[i], fields[i+1])
	}
	return ts.form("/token", v)
}

func rbacHasProblem(problems []fieldError, typ string, loc ...any) bool {
	for _, p := range problems {
		if (typ == "" || p.Type == typ) && reflect.DeepEqual(p.Loc, loc) {
			return true
		}
	}
	return false
}

func TestRBACLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, adminToken := ts.userWithToken("bossman", "admin")
	ts.addUser("alice", "support")

	t.Run("right credentials give a bearer token, not cached", func(t *testing.T) {
		before := time.Now().Unix()
		res := rbacLogin(rbacOn(ts, t), "username", "alice", "password", testPassword).expect(http.StatusOK)
		after := time.Now().Unix()
		if got := res.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", got)
		}
		body := res.obj()
		if len(body) != 2 || body["token_type"] != "bearer" {
			t.Fatalf("body %s, want exactly access_token and token_type bearer", res.body)
		}
		tok, _ := body["access_token"].(string)
		header, payload := rbacSegment(t, tok, 0), rbacSegment(t, tok, 1)
		if header["alg"] != "HS256" {
			t.Errorf("alg %v, want HS256", header["alg"])
		}
		if payload["sub"] != "alice" {
			t.Errorf("sub %v, want alice", payload["sub"])
		}
		if scopes, ok := payload["scopes"].([]any); !ok || len(scopes) != 0 {
			t.Errorf("scopes %#v, want an empty array", payload["scopes"])
		}
		iat, ok1 := payload["iat"].(float64)
		exp, ok2 := payload["exp"].(float64)
		if !ok1 || !ok2 {
			t.Fatalf("iat %v, exp %v: want numbers", payload["iat"], payload["exp"])
		}
		if int64(iat) < before-1 || int64(iat) > after+1 {
			t.Errorf("iat %v is not now (%d..%d)", iat, before, after)
		}
		if want := float64(ts.cfg.Auth.ExpireMinutes * 60); exp-iat != want {
			t.Errorf("exp - iat = %v s, want %v s", exp-iat, want)
		}
		if ts.cfg.Auth.ExpireMinutes != 60 {
			t.Errorf("default ACCESS_TOKEN_EXPIRE_MINUTES %d, want 60", ts.cfg.Auth.ExpireMinutes)
		}
		// The signature is HS256 with the server's key.
		if _, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})).Parse(tok,
			func(*jwt.Token) (any, error) { return []byte(testSecret), nil }); err != nil {
			t.Errorf("token does not verify with the server key: %v", err)
		}
		rbacOn(ts, t).call("GET", "/employee/", tok, nil).expect(http.StatusOK)
	})

	t.Run("unknown user and wrong password get the same 400", func(t *testing.T) {
		tt := rbacOn(ts, t)
		unknown := rbacLogin(tt, "username", "nosuchuser", "password", testPassword)
		wrong := rbacLogin(tt, "username", "alice", "password", "Wr0ngPass!")
		rbacError(t, unknown, http.StatusBadRequest, "Incorrect User name or password", "")
		rbacError(t, wrong, http.StatusBadRequest, "Incorrect User name or password", "")
		if !bytes.Equal(unknown.body, wrong.body) {
			t.Fatalf("bodies differ: %s vs %s", unknown.body, wrong.body)
		}
	})

	t.Run("login_denied user: right password is User login denied, wrong password the usual answer", func(t *testing.T) {
		tt := rbacOn(ts, t)
		u, earlier := tt.userWithToken("deniedone", "support")
		tt.call("PATCH", fmt.Sprintf("/user/%d/login_denied", u.ID), adminToken,
			map[string]any{"login_denied": true}).expect(http.StatusOK)
		rbacError(t, rbacLogin(tt, "username", "deniedone", "password", testPassword),
			http.StatusBadRequest, "User login denied", "")
		rbacError(t, rbacLogin(tt, "username", "deniedone", "password", "Wr0ngPass!"),
			http.StatusBadRequest, "Incorrect User name or password", "")
		// A token issued before keeps working.
		tt.call("GET", "/employee/", earlier, nil).expect(http.StatusOK)
		tt.call("GET", "/status", earlier, nil).expect(http.StatusOK)
	})

	t.Run("disabled user can log in but is refused on /status", func(t *testing.T) {
		tt := rbacOn(ts, t)
		u := tt.addUser("disabledone", "support")
		rbacUpdate(t, ts, u.ID, func(u *User) { u.Disabled = true })
		tok := tt.token("disabledone", testPassword)
		rbacError(t, tt.call("GET", "/status", tok, nil), http.StatusBadRequest, "User disabled", "")
	})

	t.Run("missing username or password is 422 missing", func(t *testing.T) {
		tt := rbacOn(ts, t)
		p := rbacLogin(tt, "password", testPassword).expect(http.StatusUnprocessableEntity).problems()
		if !rbacHasProblem(p, "missing", "body", "username") {
			t.Errorf("no username: %+v", p)
		}
		p = rbacLogin(tt, "username", "alice").expect(http.StatusUnprocessableEntity).problems()
		if !rbacHasProblem(p, "missing", "body", "password") {
			t.Errorf("no password: %+v", p)
		}
		p = rbacLogin(tt).expect(http.StatusUnprocessableEntity).problems()
		if len(p) != 2 || !rbacHasProblem(p, "missing", "body", "username") || !rbacHasProblem(p, "missing", "body", "password") {
			t.Errorf("empty form: %+v", p)
		}
	})

	t.Run("grant_type password is accepted, client_id and client_secret ignored", func(t *testing.T) {
		rbacLogin(rbacOn(ts, t), "username", "alice", "password", testPassword, "grant_type", "password",
			"client_id", "someclient", "client_secret", "whatever").expect(http.StatusOK)
	})

	t.Run("grant_type client_credentials is 422", func(t *testing.T) {
		p := rbacLogin(rbacOn(ts, t), "username", "alice", "password", testPassword, "grant_type", "client_credentials").
			expect(http.StatusUnprocessableEntity).problems()
		if !rbacHasProblem(p, "", "body", "grant_type") {
			t.Errorf("problems %+v, want one at body.grant_type", p)
		}
	})

	t.Run("multipart form login works", func(t *testing.T) {
		tt := rbacOn(ts, t)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("username", "alice")
		mw.WriteField("password", testPassword)
		mw.Close()
		req, err := http.NewRequest("POST", ts.srv.URL+ts.cfg.RootPath+"/token", &buf)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res := tt.send(req).expect(http.StatusOK)
		if res.obj()["token_type"] != "bearer" {
			t.Fatalf("body %s", res.body)
		}
	})

	t.Run("only declared scopes are granted", func(t *testing.T) {
		tt := rbacOn(ts, t)
		res := rbacLogin(tt, "username", "alice", "password", testPassword, "scope", "scope_example other").expect(http.StatusOK)
		scopes := rbacSegment(t, res.obj()["access_token"].(string), 1)["scopes"]
		if !reflect.DeepEqual(scopes, []any{"scope_example"}) {
			t.Errorf("scopes %#v, want [scope_example]", scopes)
		}
		res = rbacLogin(tt, "username", "alice", "password", testPassword).expect(http.StatusOK)
		scopes = rbacSegment(t, res.obj()["access_token"].(string), 1)["scopes"]
		if !reflect.DeepEqual(scopes, []any{}) {
			t.Errorf("scopes %#v, want []", scopes)
		}
	})
}

// TestAbandonedLoginIsNotHashed: a login whose client went away while it
// waited for a hashing slot gives up its turn instead of hashing for nobody.
func TestAbandonedLoginIsNotHashed(t *testing.T) {
	for i := 0; i < cap(hashSlots); i++ { // every slot busy
		hashSlots <- struct{}{}
	}
	defer func() {
		for i := 0; i < cap(hashSlots); i++ {
			<-hashSlots
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ran := false
	start := time.Now()
	if err := withHashSlot(ctx, nil, newHashSlotWait(), func() { ran = true }); err == nil || ran {
		t.Fatalf("withHashSlot ran for a gone caller (err %v)", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("the gone caller waited for a slot")
	}
	if hashMemoryLimit(65536) != int64(cap(hashSlots))*64<<20+32<<20 {
		t.Fatalf("memory limit %d", hashMemoryLimit(65536))
	}
}

// An unknown user's login costs what a known user's does (docs/api.md §2: no user
// enumeration by time): it is checked against a dummy hash made with the
// configured parameters, which waits for a hashing slot like any other.
func TestUnknownUserIsHashedToo(t *testing.T) {
	ts := newTestServer(t)
	a := ts.cfg.Auth.Argon2
	prefix := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", a.MemoryKiB, a.Iterations, a.Parallelism)
	if !strings.HasPrefix(ts.app.hasher.dummy, prefix) {
		t.Fatalf("dummy hash %q, want one made with the configured parameters (%s...)", ts.app.hasher.dummy, prefix)
	}
	for range cap(hashSlots) { // every slot busy: a check that hashes has to wait
		hashSlots <- struct{}{}
	}
	defer func() {
		for range cap(hashSlots) {
			<-hashSlots
		}
	}()
	for name, hash := range map[string]string{"unknown user": "", "known user": ts.app.hasher.dummy} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		if ok, _, _ := ts.app.hasher.Verify(ctx, hash, "wrong password"); ok {
			t.Fatalf("%s: a wrong password verified", name)
		}
		cancel()
		if waited := time.Since(start); waited < 40*time.Millisecond {
			t.Errorf("%s: answered in %v without waiting for a hashing slot: it did not hash", name, waited)
		}
	}
}

func TestBcryptHashes(t *testing.T) {
	t.Parallel()

	t.Run("a passlib bcrypt hash logs in and is upgraded to argon2id", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t)
		ts.addUser("bcryptuser", "support")
		b, err := bcrypt.GenerateFromPassword([]byte(testPassword), 4)
		if err != nil {
			t.Fatal(err)
		}
		hash := "$2b$" + strings.TrimPrefix(string(b), "$2a$")
		if _, err := ts.store.write.ExecContext(context.Background(), "UPDATE users SET hashed_password = ? WHERE username = ?", hash, "bcryptuser"); err != nil {
			t.Fatal(err)
		}
		ts.form("/token", url.Values{"username": {"bcryptuser"}, "password": {"Wrong0pass!"}}).expect(400, "Incorrect User name or password")
		if h := stHash(t, ts, "bcryptuser"); h != hash {
			t.Fatalf("a failed login changed the hash to %s", h)
		}
		token := ts.token("bcryptuser", testPassword)
		ts.call("GET", "/status", token, nil).expect(200)
		if h := stHash(t, ts, "bcryptuser"); !strings.HasPrefix(h, testHashPrefix) {
			t.Fatalf("hash after login: %s, want %s...", h, testHashPrefix)
		}
		ts.token("bcryptuser", testPassword)
	})

	t.Run("a server configured for bcrypt writes $2b$ hashes", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, func(c *Config) { c.Auth.PwdContext.Schemes = []string{"bcrypt"} })
		_, admin := ts.userWithToken("bcryptadmin", "admin")
		ts.call("POST", "/user/", admin, validNewUser("newbcrypt", 7001)).expect(200)
		if h := stHash(t, ts, "newbcrypt"); !strings.HasPrefix(h, "$2b$04$") {
			t.Fatalf("hash of a new user: %s, want $2b$04$...", h)
		}
		token := ts.token("newbcrypt", testPassword)
		ts.call("GET", "/status", token, nil).expect(200)

		// An argon2id hash, or a bcrypt hash of another cost, is replaced on login.
		argon := newHasher(testConfig(t))
		argonHash, err := argon.Hash(testPassword)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bcrypt.GenerateFromPassword([]byte(testPassword), 5)
		if err != nil {
			t.Fatal(err)
		}
		for name, old := range map[string]string{"argonuser": argonHash, "costfive": "$2b$" + strings.TrimPrefix(string(b), "$2a$")} {
			ts.addUser(name, "support")
			if _, err := ts.store.write.ExecContext(context.Background(), "UPDATE users SET hashed_password = ? WHERE username = ?", old, name); err != nil {
				t.Fatal(err)
			}
			ts.token(name, testPassword)
			if h := stHash(t, ts, name); !strings.HasPrefix(h, "$2b$04$") {
				t.Errorf("hash of %s after login: %s, want $2b$04$...", name, h)
			}
			ts.token(name, testPassword)
		}
	})
}

// TestHashConcurrencyBound runs alone (not parallel), so every argon2 hash
// running while it samples is one of its own logins.
func TestHashConcurrencyBound(t *testing.T) {
	if cap(hashSlots) != runtime.NumCPU() {
		t.Fatalf("cap(hashSlots) = %d, want runtime.NumCPU() = %d", cap(hashSlots), runtime.NumCPU())
	}
	ts := newTestServer(t, func(c *Config) {
		c.Auth.Argon2.MemoryKiB, c.Auth.Argon2.Iterations = 8192, 2
	})
	hash, err := ts.app.hasher.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		u := &User{Username: fmt.Sprintf("burst%c", 'a'+i), FirstName: "Test", LastName: "User",
			Phone: fmt.Sprintf("+1666%07d", i), Email: fmt.Sprintf("burst%d@example.com", i),
			Role: []string{"support"}, hashedPassword: hash}
		if _, err := ts.store.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}

	// Sample how many slots are taken and how many goroutines are inside
	// argon2 at once, while the burst runs.
	stop := make(chan struct{})
	var maxSlots, maxHashing, samples int
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		buf := make([]byte, 1<<20)
		for {
			select {
			case <-stop:
				return
			default:
			}
			maxSlots = max(maxSlots, len(hashSlots))
			stack := string(buf[:runtime.Stack(buf, true)])
			hashing := 0
			for _, g := range strings.Split(stack, "\n\n") {
				if strings.Contains(g, "golang.org/x/crypto/argon2.IDKey") {
					hashing++
				}
			}
			maxHashing = max(maxHashing, hashing)
			samples++
			time.Sleep(200 * time.Microsecond)
		}
	}()
	answers := stBurst(n, func(i int) (int, []byte, error) {
		form := url.Values{"username": {fmt.Sprintf("burst%c", 'a'+i)}, "password": {testPassword}}
		res, err := ts.srv.Client().PostForm(ts.srv.URL+ts.cfg.RootPath+"/token", form)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, body, err
	})
	close(stop)
	<-sampled

	for i, a := range answers {
		if a.err != nil || a.status != 200 || !strings.Contains(string(a.body), `"access_token"`) {
			t.Errorf("login %d: %d %v %s", i, a.status, a.err, a.body)
		}
	}
	if maxSlots > cap(hashSlots) {
		t.Errorf("%d hash slots taken at once, cap is %d", maxSlots, cap(hashSlots))
	}
	if maxHashing > cap(hashSlots) {
		t.Errorf("%d goroutines were hashing with argon2 at once, more than cap(hashSlots) = %d", maxHashing, cap(hashSlots))
	}
	if maxSlots == 0 || maxHashing == 0 {
		t.Errorf("the sampler never saw a hash running (%d samples, max slots %d, max hashing %d)", samples, maxSlots, maxHashing)
	}
	t.Logf("%d samples: at most %d slots taken, %d hashes running (cap %d)", samples, maxSlots, maxHashing, cap(hashSlots))
}
