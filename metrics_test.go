package main

// metrics_test.go: metrics.go. Each test sends a known sequence of
// requests to a real server, scrapes its metrics listener, and reads the
// exposition with the Prometheus library's own parser (expfmt), so what is
// checked is what Prometheus would read. Then: the metrics port is not the
// API's and the API's port has no /metrics; no metrics listener when
// metrics_addr is empty; no label holds a secret or a path.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsURL serves the test server's metrics on a listener of their own,
// as serve does, and returns its /metrics URL.
func (ts *testServer) metricsURL() string {
	ts.t.Helper()
	s, err := listenMetrics("127.0.0.1:0")
	if err != nil {
		ts.t.Fatal(err)
	}
	s.serve(ts.app.metrics, discardLogger())
	ts.t.Cleanup(s.Close)
	return "http://" + s.ln.Addr().String() + "/metrics"
}

// scrape is one read of the metrics: the exposition as sent, and parsed.
type scrape struct {
	text     string
	families map[string]*dto.MetricFamily
}

// scrapeMetrics GETs url as Prometheus does and parses the answer with
// expfmt's text parser, which refuses anything that is not the format.
func scrapeMetrics(t testing.TB, url string) scrape {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET %s: %d %q, want 200 in the text exposition format: %.200s", url, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return scrape{text: string(body), families: families}
}

// series is each series of the metric name: its labels (`a="x",b="y"`) →
// its value; a histogram's value is its count of observations.
func (s scrape) series(t testing.TB, name string) map[string]float64 {
	t.Helper()
	f, ok := s.families[name]
	if !ok {
		t.Fatalf("no metric %s in the exposition", name)
	}
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		var pairs []string
		for _, l := range m.GetLabel() {
			pairs = append(pairs, l.GetName()+"="+`"`+l.GetValue()+`"`)
		}
		var v float64
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			v = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			v = m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			v = float64(m.GetHistogram().GetSampleCount())
		default:
			t.Fatalf("%s is a %v", name, f.GetType())
		}
		out[strings.Join(pairs, ",")] = v
	}
	return out
}

// value is the one series of an unlabelled metric.
func (s scrape) value(t testing.TB, name string) float64 {
	t.Helper()
	return s.series(t, name)[""]
}

// sum is the sum of a histogram without labels.
func (s scrape) sum(t testing.TB, name string) float64 {
	t.Helper()
	return s.families[name].GetMetric()[0].GetHistogram().GetSampleSum()
}

// loginDeniedUser adds a user whose login_denied is set.
func (ts *testServer) loginDeniedUser(username string) {
	ts.t.Helper()
	hash, err := ts.app.hasher.Hash(testPassword)
	if err != nil {
		ts.t.Fatal(err)
	}
	u := &User{Username: username, FirstName: "Test", LastName: "User", Phone: "+15559990001", Email: username + "@example.com",
		Role: []string{"support"}, LoginDenied: true, hashedPassword: hash}
	if _, err := ts.store.CreateUser(context.Background(), u); err != nil {
		ts.t.Fatal(err)
	}
}

// TestMetricsCountKnownRequests: after a known sequence of requests, each
// counter holds exactly what was sent, by route pattern, method, status and
// login outcome; the histograms hold one observation each.
func TestMetricsCountKnownRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.LoginThrottle.MaxFailuresPerUser = 1 }) // one wrong password blocks the pair
	// Users straight in the store: no request is counted before the sequence.
	ts.addUser("metricsadmin", "admin")
	ts.addUser("guesser", "support")
	ts.loginDeniedUser("denied")
	metricsAt := ts.metricsURL()
	before := scrapeMetrics(t, metricsAt)
	if got := before.families["ticketapi_http_requests_total"]; got != nil {
		t.Fatalf("requests counted before any was sent: %v", got)
	}

	token := ts.token("metricsadmin", testPassword)                                                                    // ok
	ts.token("guesser", testPassword)                                                                                  // ok
	ts.form("/token", url.Values{"username": {"guesser"}, "password": {"Wrong-pass1"}}).expect(400)                    // wrong_password: the pair is blocked
	ts.form("/token", url.Values{"username": {"guesser"}, "password": {testPassword}}).expect(429)                     // throttled
	ts.form("/token", url.Values{"username": {"nobody"}, "password": {testPassword}}).expect(400)                      // unknown_user
	ts.form("/token", url.Values{"username": {strings.Repeat("x", 40)}, "password": {testPassword}}).expect(400)       // unknown_user, longer than any
	ts.form("/token", url.Values{"username": {"denied"}, "password": {testPassword}}).expect(400, "User login denied") // login_denied
	ts.form("/token", url.Values{"username": {"nobody"}}).expect(422)                                                  // no password: not a login
	for range 3 {
		ts.call("GET", "/me", token, nil).expect(200)
	}
	ts.call("GET", "/employee/987654", token, nil).expect(404)
	ts.call("GET", "/employee/", token, nil).expect(200)
	ts.call("GET", "/employee", token, nil).expect(200) // the same route without its slash
	ts.call("GET", "/no/such/route/42", token, nil).expect(404)
	beforeWrites := scrapeMetrics(t, metricsAt)
	for i := range 2 {
		ts.call("POST", "/employee/", token, validEmployee(i)).expect(200)
	}
	after := scrapeMetrics(t, metricsAt)

	wantRequests := map[string]float64{
		`method="POST",route="POST /token",status="200"`:                2,
		`method="POST",route="POST /token",status="400"`:                4,
		`method="POST",route="POST /token",status="429"`:                1,
		`method="POST",route="POST /token",status="422"`:                1,
		`method="GET",route="GET /me",status="200"`:                     3,
		`method="GET",route="GET /employee/{employee_id}",status="404"`: 1,
		`method="GET",route="GET /employee/",status="200"`:              2,
		`method="GET",route="unmatched",status="404"`:                   1,
		`method="POST",route="POST /employee/",status="200"`:            2,
	}
	if got := after.series(t, "ticketapi_http_requests_total"); !mapsEqual(got, wantRequests) {
		t.Errorf("ticketapi_http_requests_total:\n got %v\nwant %v", got, wantRequests)
	}
	wantDurations := map[string]float64{`route="POST /token"`: 8, `route="GET /me"`: 3, `route="GET /employee/{employee_id}"`: 1,
		`route="GET /employee/"`: 2, `route="unmatched"`: 1, `route="POST /employee/"`: 2}
	if got := after.series(t, "ticketapi_http_request_duration_seconds"); !mapsEqual(got, wantDurations) {
		t.Errorf("ticketapi_http_request_duration_seconds counts:\n got %v\nwant %v", got, wantDurations)
	}
	wantLogins := map[string]float64{`outcome="ok"`: 2, `outcome="wrong_password"`: 1, `outcome="unknown_user"`: 2,
		`outcome="throttled"`: 1, `outcome="login_denied"`: 1}
	if got := after.series(t, "ticketapi_logins_total"); !mapsEqual(got, wantLogins) {
		t.Errorf("ticketapi_logins_total:\n got %v\nwant %v", got, wantLogins)
	}

	// Five logins hashed (two right, one wrong, the dummy hash of the
	// unknown user, the denied user's); the throttled and the overlong
	// username were refused before any hash.
	const slotWait = "ticketapi_password_hash_slot_wait_seconds"
	if got := after.value(t, slotWait) - before.value(t, slotWait); got != 5 {
		t.Errorf("%s counted %v hashes, want 5", slotWait, got)
	}
	if running, slots := after.value(t, "ticketapi_password_hashes_running"), after.value(t, "ticketapi_password_hash_slots"); running < 0 ||
		running > slots || slots != float64(cap(hashSlots)) {
		t.Errorf("hashes running %v of %v slots, want 0..%d of %d", running, slots, cap(hashSlots), cap(hashSlots))
	}

	// Two writes (the employees); group commit may have put both in one
	// transaction, each of which committed once.
	delta := func(name string) float64 { return after.value(t, name) - beforeWrites.value(t, name) }
	writes, transactions := delta("ticketapi_db_writes_total"), delta("ticketapi_db_write_transactions_total")
	if writes != 2 || transactions < 1 || transactions > writes {
		t.Errorf("2 writes counted as %v writes in %v transactions, want 2 in 1 or 2", writes, transactions)
	}
	if waits, commits := delta("ticketapi_db_write_lock_wait_seconds"), delta("ticketapi_db_commit_seconds"); waits != 2 || commits != transactions {
		t.Errorf("%v waits for the write lock and %v commits observed, want 2 and %v", waits, commits, transactions)
	}
	if got := after.value(t, "ticketapi_db_writes_total"); got < 3+5+2 { // the users made first, each login's audit event, the employees
		t.Errorf("ticketapi_db_writes_total = %v in all, want at least 10", got)
	}
	pools := after.series(t, "ticketapi_db_connections_in_use")
	if len(pools) != 2 || pools[`pool="write"`] > 1 || pools[`pool="read"`] < 0 {
		t.Errorf("ticketapi_db_connections_in_use = %v, want pool write (0 or 1) and read", pools)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds", "go_info",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"} {
		if _, ok := after.families[name]; !ok {
			t.Errorf("no %s: Go runtime and process metrics are missing", name)
		}
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestMetricsHashSlotWait: a login that queues for a hashing slot is seen
// waiting: every slot counts as running, and its wait is observed once it
// gets one. Not parallel: it holds every slot of the process.
func TestMetricsHashSlotWait(t *testing.T) {
	ts := newTestServer(t)
	ts.addUser("waiter", "support")
	metricsAt := ts.metricsURL()
	before := scrapeMetrics(t, metricsAt)
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	answered := make(chan *response, 1)
	go func() {
		answered <- ts.form("/token", url.Values{"username": {"waiter"}, "password": {testPassword}})
	}()
	for deadline := time.Now().Add(10 * time.Second); hashesWaiting.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the login never waited for a hashing slot")
		}
	}
	const held = 200 * time.Millisecond
	time.Sleep(held) // the login waits at least this long
	full := scrapeMetrics(t, metricsAt)
	for range cap(hashSlots) {
		<-hashSlots
	}
	if res := <-answered; res.status != 200 {
		t.Fatalf("the queued login answered %d %s", res.status, res.body)
	}
	after := scrapeMetrics(t, metricsAt)
	if got := full.value(t, "ticketapi_password_hashes_running"); got != float64(cap(hashSlots)) {
		t.Errorf("hashes running with every slot held: %v, want %d", got, cap(hashSlots))
	}
	if got, now := full.value(t, "ticketapi_password_hashes_waiting"), after.value(t, "ticketapi_password_hashes_waiting"); got != 1 || now != 0 {
		t.Errorf("hashes waiting: %v with every slot held and %v after, want 1 and 0", got, now)
	}
	const slotWait = "ticketapi_password_hash_slot_wait_seconds"
	if n, waited := after.value(t, slotWait)-before.value(t, slotWait), after.sum(t, slotWait)-before.sum(t, slotWait); n != 1 || waited < held.Seconds() {
		t.Errorf("%s: %v observations adding up to %.3fs, want 1 of at least %v", slotWait, n, waited, held)
	}
}

// TestMetricsNotOnPublicListener: serve answers /metrics on metrics_addr
// alone; the API's port answers it with its JSON 404, and the metrics port
// serves nothing of the API.
func TestMetricsNotOnPublicListener(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, path := range []string{"/metrics", ts.cfg.RootPath + "/metrics"} {
		req, _ := http.NewRequest("GET", ts.srv.URL+path, nil)
		res := ts.send(req)
		docsNotFound(t, "GET "+path+" on the API's listener", res.status, res.header.Get("Content-Type"), res.body)
	}

	s, err := mtStart(t, mtServeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`msg="metrics listening" addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("serve logged no metrics address: %s", s.log.String())
	}
	metricsAddr := m[1]
	if metricsAddr == s.addr {
		t.Fatalf("metrics on the API's own address %s", s.addr)
	}
	res, err := s.client.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	docsNotFound(t, "GET /metrics on serve's API port", res.StatusCode, res.Header.Get("Content-Type"), body)
	if res, err := s.client.Get("http://" + s.addr + "/healthz"); err != nil { // one request, counted on the metrics port
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	got := scrapeMetrics(t, "http://"+metricsAddr+"/metrics")
	if n := got.series(t, "ticketapi_http_requests_total")[`method="GET",route="GET /healthz",status="200"`]; n != 1 {
		t.Errorf("GET /healthz counted %v times on serve's metrics port, want 1", n)
	}
	for _, path := range []string{"/", "/healthz", ts.cfg.RootPath + "/me", ts.cfg.RootPath + "/openapi.json"} {
		res, err := s.client.Get("http://" + metricsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the metrics port: %d, want 404 (only /metrics is served there)", path, res.StatusCode)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", metricsAddr, time.Second); err == nil {
		c.Close()
		t.Error("the metrics port still accepts connections after the stop")
	}
}

// TestMetricsOff: an empty metrics_addr starts no metrics listener.
func TestMetricsOff(t *testing.T) {
	t.Parallel()
	if s, err := listenMetrics(""); s != nil || err != nil {
		t.Fatalf(`listenMetrics("") = %v, %v; want no listener`, s, err)
	}
	var off *metricsServer
	off.serve(nil, discardLogger()) // does nothing, like Close: metrics are off
	off.Close()

	cfg := mtServeConfig(t)
	cfg.MetricsAddr = ""
	s, err := mtStart(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.client.Get("http://" + s.addr + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if log := s.log.String(); strings.Contains(log, "metrics listening") || !strings.Contains(log, "ticketapi listening") {
		t.Fatalf("with metrics_addr empty the log says: %s", log)
	}
}

// TestMetricsPortInUse: a metrics port that cannot be had ends the start
// with an error naming it, before the database is touched (as the API's
// port does: the first admin's password is printed only once).
func TestMetricsPortInUse(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := mtServeConfig(t)
	cfg.DatabaseURL = t.TempDir() + "/never.db"
	cfg.MetricsAddr = busy.Addr().String()
	_, err = mtStart(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "metrics_addr") || !strings.Contains(err.Error(), cfg.MetricsAddr) {
		t.Fatalf("serve with the metrics port in use: %v, want an error naming metrics_addr %s", err, cfg.MetricsAddr)
	}
	if _, err := os.Stat(cfg.DatabaseURL); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a start that could not listen created the database (%v)", err)
	}
	// The same from the command line: -metrics-addr replaces metrics_addr.
	var stdout, stderr strings.Builder
	err = run([]string{"serve", "-addr", "127.0.0.1:0", "-db", t.TempDir() + "/never.db", "-metrics-addr", cfg.MetricsAddr},
		strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "metrics_addr") || !strings.Contains(err.Error(), cfg.MetricsAddr) {
		t.Fatalf("serve -metrics-addr on a port in use: %v, want an error naming metrics_addr %s", err, cfg.MetricsAddr)
	}
	for _, bad := range []string{"9464", "localhost", "127.0.0.1:9464:1"} {
		cfg := testConfig(t)
		cfg.MetricsAddr = bad
		if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "metrics_addr") {
			t.Errorf("metrics_addr %q: check() = %v, want a refusal naming metrics_addr", bad, err)
		}
	}
}

// TestMetricsLabelsHoldNoSecret: after a broad run of requests (logins with
// wrong passwords, unknown and overlong usernames, good and forged tokens,
// ids and names in paths, odd methods), no password, token, typed
// username or path is in the exposition, and every label of ticketapi's
// metrics has one of the values it is allowed.
func TestMetricsLabelsHoldNoSecret(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.addUser("scanadmin", "admin")
	ts.addUser("scanuser", "support")
	metricsAt := ts.metricsURL()
	const (
		wrongPassword = "Wr0ng-Secret-Pw!"
		typedName     = "typed-unknown-name"
		email         = "someone.secret@example.com"
	)
	longName := "L0ngName" + strings.Repeat("q", 120)
	token := ts.token("scanadmin", testPassword)
	forged := token[:len(token)-4] + "AAAA"
	secrets := []string{testPassword, wrongPassword, typedName, longName, "L0ngName", email, token, forged, "scanadmin",
		"scanuser", "987654321", "876543219", "+15550001111", "7777777", "secret-request-id", "evil.example"}

	for _, form := range []url.Values{
		{"username": {"scanuser"}, "password": {wrongPassword}},
		{"username": {typedName}, "password": {wrongPassword}},
		{"username": {longName}, "password": {testPassword}},
		{"username": {"scanuser"}, "password": {testPassword}},
		{"username": {"scanuser"}, "password": {testPassword}, "scope": {"scope_example " + typedName}},
		{"username": {email}, "password": {testPassword}, "grant_type": {"password"}},
		{"username": {typedName}},
	} {
		ts.form("/token", form)
	}
	for _, c := range []struct {
		method, path, token string
		body                any
		headers             []string
	}{
		{"GET", "/me", token, nil, nil},
		{"GET", "/me", forged, nil, nil},
		{"GET", "/me?access_token=" + token, "", nil, nil},
		{"GET", "/employee/987654321", token, nil, nil},
		{"GET", "/ticket/876543219", token, nil, nil},
		{"PUT", "/ticket/876543219", token, validTicket(), nil},
		{"DELETE", "/employee/987654321", token, nil, nil},
		{"GET", "/user/username/" + typedName, token, nil, nil},
		{"GET", "/user/email/" + email, token, nil, nil},
		{"GET", "/user/phone/+15550001111", token, nil, nil},
		{"GET", "/user/" + typedName, token, nil, nil},
		{"GET", "/no/such/path/7777777", token, nil, nil},
		{"GET", "//" + typedName + "/./7777777", token, nil, nil},
		{"GET", "/%2e%2e/" + typedName, token, nil, nil},
		{"PROPFIND", "/me", token, nil, nil},
		{"BREW", "/employee/987654321", token, nil, nil},
		{"OPTIONS", "/me", "", nil, []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}},
		{"GET", "/me", token, nil, []string{"X-Request-ID", "secret-request-id"}},
		{"PATCH", "/user/password", token, map[string]any{"current_password": wrongPassword, "new_password": "N3w-Secret-Pw!"}, nil},
		{"GET", "/docs/" + typedName, "", nil, nil},
		{"GET", "/openapi.json", "", nil, nil},
	} {
		ts.call(c.method, c.path, c.token, c.body, c.headers...)
	}
	for _, path := range []string{"/healthz", "/readyz", "/favicon.ico", "/metrics", "/" + typedName} {
		req, _ := http.NewRequest("GET", ts.srv.URL+path, nil)
		ts.send(req)
	}
	secrets = append(secrets, "N3w-Secret-Pw!")

	s := scrapeMetrics(t, metricsAt)
	// Label values, and every word of the text; numbers only in labels
	// (a value such as a start time may hold any digits).
	labels := strings.Join(regexp.MustCompile(`\{[^}]*\}`).FindAllString(s.text, -1), "\n")
	for _, secret := range secrets {
		inText := strings.Trim(secret, "+0123456789") != "" && strings.Contains(s.text, secret)
		if inText || strings.Contains(labels, secret) {
			t.Errorf("the exposition holds %q", secret)
		}
	}
	if strings.Contains(s.text, ts.cfg.RootPath+"/") {
		t.Errorf("the exposition holds a path under %s", ts.cfg.RootPath)
	}
	routes := map[string]bool{routeUnmatched: true}
	for _, rt := range routeTable {
		routes[rt.pattern] = true
	}
	for _, page := range []string{"GET /openapi.json", "GET /docs", "GET /docs/{file}", "GET /favicon.ico", "GET /healthz", "GET /readyz"} {
		routes[page] = true
	}
	allowed := map[string]func(string) bool{
		"route": func(v string) bool { return routes[v] },
		"method": func(v string) bool {
			return slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, v)
		},
		"status":  regexp.MustCompile(`^[1-5][0-9][0-9]$`).MatchString,
		"outcome": func(v string) bool { return slices.Contains(loginOutcomes, v) },
		"pool":    func(v string) bool { return v == "read" || v == "write" },
		"le":      func(string) bool { return true }, // a histogram's bucket bounds
	}
	seen := map[string]bool{}
	for name, f := range s.families {
		if !strings.HasPrefix(name, "ticketapi_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				check, known := allowed[l.GetName()]
				if !known || !check(l.GetValue()) {
					t.Errorf("%s has the label %s=%q", name, l.GetName(), l.GetValue())
				}
				seen[l.GetName()+"="+l.GetValue()] = true
			}
		}
	}
	// The run reached what the labels must fold: unknown paths, odd
	// methods, a preflight, and the pages beside the API.
	for _, want := range []string{"route=unmatched", "method=other", "method=OPTIONS", "route=GET /docs/{file}", "route=GET /healthz",
		"route=GET /user/username/{username}", "outcome=wrong_password", "outcome=unknown_user", "status=401"} {
		if !seen[want] {
			t.Errorf("no series with %s after the run", want)
		}
	}
}
