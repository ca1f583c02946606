package main

// ops_test.go: the real binary as systemd and an operator run it:
// no answered write lost to SIGKILL, in-flight requests finished on SIGTERM,
// backups of a live database, logs without secrets, the systemd notify
// protocol, health checks and start-up errors. The binary is built once
// (without -race) and each subtest runs its own server process on its own
// database; nothing here calls the server's functions directly.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	opsAdminPassword = "Opsadmin7Secret!"
	opsSecretKey     = "ops-secret-key-5f1c9e2a7b3d4e6f8a0b1c2d3e4f5a6b"
	// opsDrainSeconds is shutdown_timeout_seconds of the servers here.
	opsDrainSeconds = 10
)

func TestOps(t *testing.T) {
	bin := opsBuild(t)
	t.Run("SIGKILL mid-burst loses no answered write", func(t *testing.T) { t.Parallel(); opsCrashSafety(t, bin) })
	t.Run("SIGTERM finishes in-flight requests and exits 0", func(t *testing.T) { t.Parallel(); opsGracefulStop(t, bin) })
	t.Run("backup of a live database holds every earlier write", func(t *testing.T) { t.Parallel(); opsBackupUnderLoad(t, bin) })
	t.Run("the log of a whole session holds no secret", func(t *testing.T) { t.Parallel(); opsLogsHoldNoSecret(t, bin) })
	t.Run("systemd notify: READY=1 once listening, STOPPING=1 on SIGTERM", func(t *testing.T) { t.Parallel(); opsNotify(t, bin) })
	t.Run("health checks answer without auth outside the API", func(t *testing.T) { t.Parallel(); opsHealth(t, bin) })
	t.Run("start errors end with one line naming the problem", func(t *testing.T) { t.Parallel(); opsStartErrors(t, bin) })
}

// opsBuild builds the binary as deploy/ installs it (static, no -race) into
// the parent test's temp dir, which outlives the parallel subtests.
func opsBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ticketapi")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// opsInstance is one installation: a config file and a database in a temp
// dir, and the environment the binary runs with.
type opsInstance struct {
	t                *testing.T
	bin, dir, config string
	db               string
	env              []string
}

// opsUnlimited lifts the per-caller rate limit and write cap for tests
// whose writers go as fast as they can: they test something else.
var opsUnlimited = map[string]any{"rate_limit": map[string]any{"requests_per_second": 1e9, "burst": 1e9, "concurrent_writes": 1000}}

// newOpsInstance writes the config: listen on a free loopback port, the
// database in the temp dir, cheap argon2 parameters, then the keys of
// config (top-level keys replace the defaults here).
func newOpsInstance(t *testing.T, bin string, config map[string]any) *opsInstance {
	t.Helper()
	dir := t.TempDir()
	in := &opsInstance{t: t, bin: bin, dir: dir, config: filepath.Join(dir, "config.json"), db: filepath.Join(dir, "ticketapi.db")}
	cfg := map[string]any{
		"listen_addr":              "127.0.0.1:0",
		"metrics_addr":             "127.0.0.1:0",
		"database_url":             in.db,
		"shutdown_timeout_seconds": opsDrainSeconds,
		"auth":                     map[string]any{"ARGON2": map[string]any{"memory_kib": 1024, "iterations": 1, "parallelism": 1}},
	}
	maps.Copy(cfg, config)
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TICKETAPI_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			in.env = append(in.env, kv)
		}
	}
	in.env = append(in.env, "TICKETAPI_SECRET_KEY="+opsSecretKey, "TICKETAPI_ADMIN_PASSWORD="+opsAdminPassword)
	return in
}

// opsProc is a running (or finished) server process.
type opsProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    *lockedBuffer // stdout and stderr
	exited chan struct{} // closed once the process is gone; then err is set
	err    error
	addr   string // host:port, once listening
	client *http.Client
}

// start runs `ticketapi serve` on the instance; env entries override the
// instance's. It does not wait for the server to listen.
func (in *opsInstance) start(env ...string) *opsProc {
	in.t.Helper()
	p := &opsProc{t: in.t, log: &lockedBuffer{buf: &bytes.Buffer{}}, exited: make(chan struct{}),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	p.cmd = exec.Command(in.bin, "serve", "-config", in.config)
	p.cmd.Dir = in.dir
	p.cmd.Env = append(append([]string{}, in.env...), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	in.t.Cleanup(func() {
		p.client.CloseIdleConnections()
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// startListening starts the server and waits until it listens.
func (in *opsInstance) startListening(env ...string) *opsProc {
	in.t.Helper()
	p := in.start(env...)
	p.waitListening()
	return p
}

var opsListening = regexp.MustCompile(`ticketapi listening\W+addr\W+([0-9.]+:[0-9]+)`)

// waitListening reads the address from the "ticketapi listening" log line.
func (p *opsProc) waitListening() string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.addr == "" {
		if m := opsListening.FindStringSubmatch(p.log.String()); m != nil {
			p.addr = m[1]
			break
		}
		select {
		case <-p.exited:
			p.t.Fatalf("the server exited at start (%v):\n%s", p.err, p.log)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the server did not log its address within 30 s:\n%s", p.log)
		}
	}
	return p.addr
}

// waitExit waits at most d for the process to end and returns its exit
// status (-1: killed by a signal).
func (p *opsProc) waitExit(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.t.Fatalf("the server still runs %v later:\n%s", d, p.log)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM and expects a clean exit.
func (p *opsProc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	if code := p.waitExit(opsDrainSeconds*time.Second + 5*time.Second); code != 0 {
		p.t.Fatalf("exit status %d after SIGTERM, want 0:\n%s", code, p.log)
	}
}

// opsAnswer is one HTTP answer.
type opsAnswer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body is url.Values (a form), rawJSON (bytes sent as
// they are) or a value sent as JSON.
// Headers come in name, value pairs.
func (p *opsProc) do(method, path, token string, body any, headers ...string) (*opsAnswer, error) {
	var reader io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		reader, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case rawJSON:
		reader = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+p.addr+path, reader)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &opsAnswer{res.StatusCode, res.Header, data}, nil
}

// must is do that fails the test unless the answer has the status; it
// returns the body decoded as a JSON object (nil when it is not one).
func (p *opsProc) must(status int, method, path, token string, body any, headers ...string) map[string]any {
	p.t.Helper()
	a, err := p.do(method, path, token, body, headers...)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	if a.status != status {
		p.t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.body, status)
	}
	var m map[string]any
	json.Unmarshal(a.body, &m)
	return m
}

func (p *opsProc) login(username, password string) string {
	p.t.Helper()
	m := p.must(200, "POST", "/api/v1/token", "", url.Values{"username": {username}, "password": {password}})
	token, _ := m["access_token"].(string)
	if token == "" {
		p.t.Fatalf("login %s: no access_token in %v", username, m)
	}
	return token
}

// employee creates an employee and returns its id as a path segment.
func (p *opsProc) employee(token string, n int) string {
	p.t.Helper()
	return fmt.Sprint(p.must(200, "POST", "/api/v1/employee/", token, validEmployee(n))["id"])
}

// opsTicket is a ticket whose create was answered 200.
type opsTicket struct {
	id    int64
	title string
}

// createTicket posts a ticket; ok is false (and err says why) unless the
// answer is a 200 with that title.
func (p *opsProc) createTicket(token, employeeID, title string) (tk opsTicket, ok bool, err error) {
	body := validTicket()
	body["title"] = title
	a, err := p.do("POST", "/api/v1/ticket/"+employeeID, token, body)
	if err != nil {
		return tk, false, err
	}
	if a.status != 200 {
		return tk, false, fmt.Errorf("create answered %d %s", a.status, a.body)
	}
	var got struct {
		ID    int64  `json:"id"`
		Title string `json:"title"`
	}
	if json.Unmarshal(a.body, &got) != nil || got.Title != title || got.ID == 0 {
		return tk, false, fmt.Errorf("create answered %s", a.body)
	}
	return opsTicket{got.ID, got.Title}, true, nil
}

// opsRecorder keeps the tickets whose create was answered, from many
// goroutines.
type opsRecorder struct {
	mu       sync.Mutex
	answered []opsTicket
	problems []string
}

func (r *opsRecorder) add(tk opsTicket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answered = append(r.answered, tk)
}

func (r *opsRecorder) problem(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, s)
}

func (r *opsRecorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.problems...)
}

func (r *opsRecorder) snapshot() []opsTicket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]opsTicket{}, r.answered...)
}

// waitFor polls until the recorder holds n answers.
func (r *opsRecorder) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(r.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d creates answered in 30 s, want %d (failures: %v)", len(r.snapshot()), n, r.failures())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// opsWriters starts n goroutines creating tickets titled prefix+number
// until stop is closed. expectFailure tells whether a failed create is
// expected (the server was killed); others are recorded, and end the
// goroutine either way.
func opsWriters(p *opsProc, token, employeeID, prefix string, n int, stop <-chan struct{}, expectFailure func() bool) (*opsRecorder, *sync.WaitGroup) {
	rec := &opsRecorder{}
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range n {
		repeatUntil(stop, &wg, func() bool {
			title := fmt.Sprintf("%s %05d", prefix, seq.Add(1))
			tk, ok, err := p.createTicket(token, employeeID, title)
			switch {
			case ok:
				rec.add(tk)
				return true
			case expectFailure():
				return false
			default:
				rec.problem(fmt.Sprintf("%s: %v", title, err))
				return false
			}
		})
	}
	return rec, &wg
}

// opsTickets reads every ticket of a database file: id → title.
func opsTickets(t *testing.T, path string) map[int64]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("PRAGMA integrity_check of %s: %q %v", path, check, err)
	}
	rows, err := db.Query("SELECT id, title FROM tickets")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tickets := map[int64]string{}
	for rows.Next() {
		var id int64
		var title string
		if err := rows.Scan(&id, &title); err != nil {
			t.Fatal(err)
		}
		tickets[id] = title
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tickets
}

// opsMissing lists the answered tickets that has lacks or holds with
// another title.
func opsMissing(answered []opsTicket, has map[int64]string) []string {
	var missing []string
	for _, tk := range answered {
		if got, ok := has[tk.id]; !ok || got != tk.title {
			missing = append(missing, fmt.Sprintf("%d %q (found %q)", tk.id, tk.title, got))
		}
	}
	return missing
}

func opsCrashSafety(t *testing.T, bin string) {
	in := newOpsInstance(t, bin, opsUnlimited) // the writers go as fast as they can
	p := in.startListening()
	token := p.login("admin", opsAdminPassword)
	eid := p.employee(token, 1)

	var killed atomic.Bool
	stop := make(chan struct{})
	rec, writers := opsWriters(p, token, eid, "Crash test", 8, stop, killed.Load)
	rec.waitFor(t, 150)
	killed.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitExit(10 * time.Second)
	close(stop)
	writers.Wait()
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the server ended with %v, not by SIGKILL", p.cmd.ProcessState)
	}
	if failed := rec.failures(); len(failed) > 0 {
		t.Fatalf("creates failed before the kill: %v", failed)
	}
	answered := rec.snapshot()

	// The same database again: the old token still works (same key), and
	// every answered create is there with its title.
	again := in.startListening()
	listed := map[int64]string{}
	for skip := 0; ; skip += 100 {
		a, err := again.do("GET", fmt.Sprintf("/api/v1/ticket/?skip=%d&limit=100", skip), token, nil)
		if err != nil || a.status != 200 {
			t.Fatalf("list tickets after the restart: %v %v", a, err)
		}
		var page []struct {
			ID    int64  `json:"id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, tk := range page {
			listed[tk.ID] = tk.Title
		}
		if len(page) < 100 {
			break
		}
	}
	if missing := opsMissing(answered, listed); len(missing) > 0 {
		t.Fatalf("%d of %d answered creates are not listed after SIGKILL and restart: %v", len(missing), len(answered), missing)
	}
	again.stop()
	inFile := opsTickets(t, in.db)
	if len(inFile) != len(listed) {
		t.Fatalf("the file holds %d tickets, the restarted server listed %d", len(inFile), len(listed))
	}
	t.Logf("%d creates answered before SIGKILL, %d tickets in the database", len(answered), len(inFile))
}

// opsRawRequest is a request written by hand on its own connection, so the
// test decides when the rest of its body arrives.
type opsRawRequest struct {
	name string
	conn net.Conn
	body string
}

func opsStartRaw(t *testing.T, addr, name, head, body string) *opsRawRequest {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := fmt.Sprintf("%sHost: %s\r\nContent-Length: %d\r\n\r\n%s", head, addr, len(body), body[:len(body)/2])
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return &opsRawRequest{name, conn, body}
}

// finish sends the rest of the body and reads the answer.
func (r *opsRawRequest) finish(t *testing.T) (int, string) {
	t.Helper()
	if _, err := r.conn.Write([]byte(r.body[len(r.body)/2:])); err != nil {
		t.Fatalf("%s: send the rest of the body: %v", r.name, err)
	}
	r.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(r.conn), nil)
	if err != nil {
		t.Fatalf("%s: no answer: %v", r.name, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

func opsGracefulStop(t *testing.T, bin string) {
	// The real argon2 parameters: each login hashes for a noticeable time.
	in := newOpsInstance(t, bin, map[string]any{"auth": map[string]any{}})
	p := in.startListening()
	token := p.login("admin", opsAdminPassword)
	eid := p.employee(token, 2)

	form := url.Values{"username": {"admin"}, "password": {opsAdminPassword}}.Encode()
	ticket, _ := json.Marshal(map[string]any{"title": "Sent during stop", "description": "The body arrives late.", "status": "New"})
	var inFlight []*opsRawRequest
	for i := range 3 {
		inFlight = append(inFlight, opsStartRaw(t, p.addr, fmt.Sprintf("login %d", i),
			"POST /api/v1/token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n", form))
	}
	inFlight = append(inFlight, opsStartRaw(t, p.addr, "ticket create",
		"POST /api/v1/ticket/"+eid+" HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: Bearer "+token+"\r\n", string(ticket)))
	time.Sleep(300 * time.Millisecond) // the server reads the headers; the handlers wait for the bodies

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	// New connections are refused at once...
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Since(sent) > 5*time.Second {
			t.Fatal("the server still accepts connections 5 s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// ...while the requests in flight keep it running.
	select {
	case <-p.exited:
		t.Fatalf("the server exited (%v) with requests in flight:\n%s", p.err, p.log)
	case <-time.After(300 * time.Millisecond):
	}
	for _, r := range inFlight {
		status, body := r.finish(t)
		switch {
		case status != 200:
			t.Errorf("%s after SIGTERM: %d %s, want 200", r.name, status, body)
		case r.name == "ticket create" && !strings.Contains(body, `"title":"Sent during stop"`):
			t.Errorf("%s after SIGTERM: %s", r.name, body)
		case r.name != "ticket create" && !strings.Contains(body, `"access_token":"`):
			t.Errorf("%s after SIGTERM: %s", r.name, body)
		}
	}
	if code := p.waitExit(opsDrainSeconds * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0:\n%s", code, p.log)
	}
	if d := time.Since(sent); d > opsDrainSeconds*time.Second {
		t.Fatalf("the stop took %v, more than the drain timeout of %d s", d, opsDrainSeconds)
	}
	log := p.log.String()
	draining := fmt.Sprintf(`msg="shutting down: draining in-flight requests" timeout_seconds=%d`, opsDrainSeconds)
	for _, want := range []string{draining, "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %s:\n%s", want, log)
		}
	}
	// The ticket sent during the stop is in the database.
	if titles := slices.Collect(maps.Values(opsTickets(t, in.db))); len(titles) != 1 || titles[0] != "Sent during stop" {
		t.Fatalf("tickets after the stop: %q, want the one sent during it", titles)
	}
}

func opsBackupUnderLoad(t *testing.T, bin string) {
	in := newOpsInstance(t, bin, opsUnlimited) // the writers go as fast as they can
	p := in.startListening()
	token := p.login("admin", opsAdminPassword)
	eid := p.employee(token, 3)

	stop := make(chan struct{})
	rec, writers := opsWriters(p, token, eid, "Backup test", 4, stop, func() bool { return false })
	defer func() { close(stop); writers.Wait() }()
	rec.waitFor(t, 50)

	before := rec.snapshot() // answered before the backup began
	dest := filepath.Join(t.TempDir(), "copy.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	backup := exec.CommandContext(ctx, bin, "backup", "-config", in.config, dest)
	backup.Dir, backup.Env = in.dir, in.env
	began := time.Now()
	out, err := backup.CombinedOutput()
	during := len(rec.snapshot()) - len(before)
	took := time.Since(began)
	if err != nil {
		t.Fatalf("ticketapi backup: %v\n%s", err, out)
	}
	if want := "written to " + dest + " (integrity_check ok)"; !strings.Contains(string(out), want) {
		t.Fatalf("ticketapi backup printed %q, want it to say %q", out, want)
	}
	// The writers never stopped: none failed, and the server goes on
	// answering them after the backup.
	rec.waitFor(t, len(before)+during+10)
	if failed := rec.failures(); len(failed) > 0 {
		t.Fatalf("creates failed around the backup: %v", failed)
	}

	copied := opsTickets(t, dest) // integrity_check first
	if missing := opsMissing(before, copied); len(missing) > 0 {
		t.Fatalf("the backup lacks %d of the %d creates answered before it began: %v", len(missing), len(before), missing)
	}
	if len(copied) > len(rec.snapshot())+4 {
		t.Fatalf("the backup holds %d tickets, more than were ever created", len(copied))
	}
	t.Logf("%d creates answered before the backup, %d during its %v; the copy holds %d", len(before), during, took, len(copied))
}

func opsLogsHoldNoSecret(t *testing.T, bin string) {
	in := newOpsInstance(t, bin, map[string]any{"log_format": "json"})
	p := in.startListening()
	const (
		firstPassword = "Firstpass1Word!"
		ownPassword   = "Ownpass2Word!"
		adminSet      = "Adminset3Word!"
		wrongPassword = "Wrongguess4Word!"
		refused       = "Sh0rt!x"
		garbageToken  = "garbage.bearer.Zq81Xw77Kp"
		queryToken    = "querytoken6c5b4a93"
		tracedRequest = "ops-trace-4711"
		userName      = "Leakcheck"
	)
	requests := 0
	call := func(status int, method, path, token string, body any, headers ...string) map[string]any {
		t.Helper()
		requests++
		return p.must(status, method, path, token, body, headers...)
	}
	login := func(user, password string) string {
		t.Helper()
		requests++
		return p.login(user, password)
	}

	admin := login("admin", opsAdminPassword)
	requests++
	if a, err := p.do("GET", "/api/v1/me", admin, nil, "X-Request-ID", tracedRequest); err != nil || a.status != 200 ||
		a.header.Get("X-Request-ID") != tracedRequest {
		t.Fatalf("GET /me with X-Request-ID %s: %v %v, want 200 echoing the id", tracedRequest, a, err)
	}
	newUser := validNewUser(userName, 1)
	newUser["password"] = firstPassword
	id := fmt.Sprint(call(200, "POST", "/api/v1/user/", admin, newUser)["id"])
	weak := validNewUser("Weakling", 2)
	weak["password"] = refused
	call(422, "POST", "/api/v1/user/", admin, weak)
	first := login(userName, firstPassword)
	call(200, "PATCH", "/api/v1/user/password", first, map[string]any{"password": ownPassword})
	call(401, "GET", "/api/v1/me", first, nil) // a password change ends older tokens
	own := login(userName, ownPassword)
	call(200, "GET", "/api/v1/status", own, nil)
	call(200, "PATCH", "/api/v1/user/"+id+"/password", admin, map[string]any{"password": adminSet})
	call(400, "POST", "/api/v1/token", "", url.Values{"username": {userName}, "password": {wrongPassword}})
	last := login(userName, adminSet)
	call(200, "GET", "/api/v1/ticket/my/", last, nil)
	call(401, "GET", "/api/v1/me", garbageToken, nil)
	call(200, "GET", "/api/v1/me?access_token="+queryToken, last, nil)
	p.stop()

	log := p.log.String()
	secrets := map[string]string{
		"the admin password": opsAdminPassword, "the first password": firstPassword, "the changed password": ownPassword,
		"the password set by the admin": adminSet, "a wrong password": wrongPassword, "a refused password": refused,
		"a garbage bearer token": garbageToken, "a token in the query": queryToken, "the secret key": opsSecretKey,
		"the admin token": admin, "the first token": first, "the second token": own, "the last token": last,
	}
	for name, secret := range secrets {
		for _, form := range opsSecretForms(secret) {
			if strings.Contains(log, form) {
				t.Errorf("the log holds %s (%q, as %q)", name, secret, form)
			}
		}
	}
	for _, hash := range []string{"$argon2id$", "$2b$", "$2a$"} {
		if strings.Contains(log, hash) {
			t.Errorf("the log holds a password hash (%s...)", hash)
		}
	}

	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	requestLines := 0
	traced := false
	for i, line := range lines {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("log line %d is not JSON: %v: %s", i+1, err, line)
			continue
		}
		if _, ok := entry["password"]; ok {
			t.Errorf("log line %d has a password attribute: %s", i+1, line)
		}
		if entry["msg"] != "request" {
			continue
		}
		requestLines++
		if rid, _ := entry["request_id"].(string); rid == "" {
			t.Errorf("request log line %d has no request_id: %s", i+1, line)
		}
		for _, key := range []string{"method", "path", "status", "duration_ms", "user", "client"} {
			if _, ok := entry[key]; !ok {
				t.Errorf("request log line %d has no %s: %s", i+1, key, line)
			}
		}
		if entry["request_id"] == tracedRequest {
			traced = entry["path"] == "/api/v1/me" && entry["status"] == float64(200) && entry["user"] == "admin" &&
				entry["client"] == "127.0.0.1"
		}
	}
	if requestLines != requests {
		t.Errorf("%d request log lines for %d requests", requestLines, requests)
	}
	if !traced {
		t.Errorf("no request line with request_id %q, path /api/v1/me, status 200, user admin, client 127.0.0.1:\n%s", tracedRequest, log)
	}
}

var opsNotAlphanumeric = regexp.MustCompile(`[^A-Za-z0-9]+`)

// opsSecretForms are the ways a secret could show in a log: as is,
// URL-encoded, and its longest run of letters and digits (which survives
// any escaping) when that is long enough to be telling.
func opsSecretForms(secret string) []string {
	forms := []string{secret}
	if escaped := url.QueryEscape(secret); escaped != secret {
		forms = append(forms, escaped)
	}
	longest := ""
	for _, run := range opsNotAlphanumeric.Split(secret, -1) {
		if len(run) > len(longest) {
			longest = run
		}
	}
	if len(longest) >= 8 && longest != secret {
		forms = append(forms, longest)
	}
	return forms
}

func opsNotify(t *testing.T, bin string) {
	for _, tc := range []struct{ name, socket string }{
		{"socket file", ""},
		{"abstract socket", "@ticketapi-ops-" + strconv.Itoa(os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socket := tc.socket
			if socket == "" {
				// A short path: unix socket names are limited to 108 bytes.
				dir, err := os.MkdirTemp("", "opsn")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				socket = filepath.Join(dir, "notify")
			}
			ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: socket, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			next := func(within time.Duration) string {
				t.Helper()
				buf := make([]byte, 4096)
				ln.SetReadDeadline(time.Now().Add(within))
				n, err := ln.Read(buf)
				if err != nil {
					t.Fatalf("no notification: %v", err)
				}
				return string(buf[:n])
			}

			p := newOpsInstance(t, bin, nil).start("NOTIFY_SOCKET=" + socket)
			if got := next(30 * time.Second); got != "READY=1" {
				t.Fatalf("first notification %q, want READY=1", got)
			}
			// Ready means listening: the port takes connections now.
			conn, err := net.DialTimeout("tcp", p.waitListening(), time.Second)
			if err != nil {
				t.Fatalf("READY=1 was sent, but the port refuses: %v", err)
			}
			conn.Close()
			p.must(200, "GET", "/healthz", "", nil)

			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if got := next(10 * time.Second); got != "STOPPING=1" {
				t.Fatalf("notification after SIGTERM %q, want STOPPING=1", got)
			}
			if code := p.waitExit(opsDrainSeconds * time.Second); code != 0 {
				t.Fatalf("exit status %d, want 0:\n%s", code, p.log)
			}
			if log := p.log.String(); strings.Contains(log, "could not notify systemd") {
				t.Fatalf("the server failed to notify:\n%s", log)
			}
		})
	}
}

func opsHealth(t *testing.T, bin string) {
	p := newOpsInstance(t, bin, nil).startListening()
	for _, path := range []string{"/healthz", "/readyz"} {
		a, err := p.do("GET", path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.status != 200 || string(a.body) != "{\"status\":\"ok\"}\n" {
			t.Errorf("GET %s: %d %q, want 200 {\"status\":\"ok\"}", path, a.status, a.body)
		}
		if a.header.Get("X-Request-ID") == "" {
			t.Errorf("GET %s: no X-Request-ID in the answer", path)
		}
		p.must(404, "GET", "/api/v1"+path, "", nil)
	}
	p.stop()
}

func opsStartErrors(t *testing.T, bin string) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // not defer: the subtests run after this function returns
	dbDir := t.TempDir()
	badJSON := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(badJSON, []byte(`{"listen_addr": "127.0.0.1:0",}`), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		args  []string // after serve -config CONFIG
		names string   // what the line must name
	}{
		{"port in use", []string{"-addr", busy.Addr().String()}, busy.Addr().String()},
		{"database path is a directory", []string{"-db", dbDir}, dbDir},
		{"config is not JSON", []string{"-config", badJSON}, badJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := newOpsInstance(t, bin, map[string]any{"log_format": "json"})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "-config", in.config}, tc.args...)...)
			cmd.Dir, cmd.Env = in.dir, in.env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("serve: %v, want a non-zero exit status", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("giving up took %v", d)
			}
			line := strings.TrimSuffix(stderr.String(), "\n")
			if line == "" || strings.Contains(line, "\n") || !strings.Contains(line, tc.names) {
				t.Errorf("stderr %q, want one line naming %s", stderr.String(), tc.names)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			if tc.name == "port in use" {
				// The port is taken before the database is touched, so no
				// first admin (and no printed password) is lost.
				if _, err := os.Stat(in.db); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a start that could not listen created the database (%v)", err)
				}
			}
		})
	}
}
