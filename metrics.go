package main

// metrics.go: Prometheus metrics in the text exposition format, served at
// /metrics on a listener of their own (metrics_addr, loopback by default),
// never on the API's: requests by route, method and status and their
// latency by route, logins by outcome, password hashing, the database's
// writer and pools, and Go's runtime and the process. Each app has its own
// registry (tests run many servers in one process). No label ever holds
// what a client typed: routes are the mux's patterns, never paths, and
// usernames, tokens and passwords appear nowhere (docs/security.md).

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is one app's registry and the measures its requests update.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec   // by route, method, status
	durations *prometheus.HistogramVec // by route
	logins    *prometheus.CounterVec   // by outcome
	inFlight  prometheus.Gauge         // requests read and not yet answered
	rootPath  string
	routes    sync.Map // r.Pattern → *routeMetrics, filled on first use
}

// routeMetrics is what a route's requests update, looked up once per route.
type routeMetrics struct {
	label    string // the route as routeTable writes it, e.g. "GET /employee/{employee_id}"
	duration prometheus.Observer
}

// routeUnmatched labels requests no route ran for: a path no route has, an
// unclean path, or a CORS preflight answered before routing. The path
// itself is never a label: any client could fill the registry with them.
const routeUnmatched = "unmatched"

// loginOutcomes are the values of the outcome label of logins. A
// login_denied user gave the right password but may not log in.
var loginOutcomes = []string{"ok", "wrong_password", "unknown_user", "throttled", "login_denied"}

// Bucket bounds in seconds. An API request takes well under a millisecond
// to a few; a login some 100 ms of hashing, more when it queues for a slot.
var (
	requestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	waitBuckets    = []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

func newMetrics(a *app) *metrics {
	m := &metrics{registry: prometheus.NewRegistry(), rootPath: a.cfg.RootPath,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketapi_http_requests_total",
			Help: "HTTP requests answered, by route pattern (unmatched: no route), method and status."},
			[]string{"route", "method", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ticketapi_http_request_duration_seconds",
			Help: "Time from a request's arrival to the end of its answer, by route pattern.", Buckets: requestBuckets},
			[]string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketapi_logins_total",
			Help: "Logins (POST /token) by outcome: ok, wrong_password, unknown_user, throttled, login_denied."},
			[]string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ticketapi_http_requests_in_flight",
			Help: "Requests the server has read and not yet answered."}),
	}
	for _, outcome := range loginOutcomes {
		m.logins.WithLabelValues(outcome) // every outcome is shown from the start, at 0, so rate() sees its first one
	}
	m.registry.MustRegister(m.requests, m.durations, m.logins, m.inFlight,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ticketapi_password_hashes_running",
			Help: "Password hashes running now; at most ticketapi_password_hash_slots run at once."},
			func() float64 { return float64(len(hashSlots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ticketapi_password_hashes_waiting",
			Help: "Password hashes (logins, mostly) waiting for a hashing slot."},
			func() float64 { return float64(hashesWaiting.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ticketapi_password_hash_slots",
			Help: "How many password hashes may run at once (one per CPU)."},
			func() float64 { return float64(cap(hashSlots)) }),
		a.hasher.slotWait,
		a.store.writes.transactions, a.store.writes.writes, a.store.writes.lockWait, a.store.writes.commit,
		connectionsInUse("write", a.store.write), connectionsInUse("read", a.store.read),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// request counts one answered request. It runs for every request, so the
// route's histogram is looked up once per route and kept; the counter's
// child for (route, method, status) is looked up each time (a hash of the
// three labels and a map read under a read lock: well under a microsecond).
func (m *metrics) request(pattern, method string, status int, took time.Duration) {
	route := m.route(pattern)
	m.requests.WithLabelValues(route.label, methodLabel(method), strconv.Itoa(status)).Inc()
	route.duration.Observe(took.Seconds())
}

// route returns the measures of the route whose mux pattern (r.Pattern) is
// pattern. The mux has a fixed set of patterns, so the map stays small.
func (m *metrics) route(pattern string) *routeMetrics {
	if rm, ok := m.routes.Load(pattern); ok {
		return rm.(*routeMetrics)
	}
	label := routeLabel(pattern, m.rootPath)
	rm, _ := m.routes.LoadOrStore(pattern, &routeMetrics{label: label, duration: m.durations.WithLabelValues(label)})
	return rm.(*routeMetrics)
}

// routeLabel turns a pattern the mux registered back into the route as
// routeTable writes it: without the root path, and a collection with its
// slash ("GET /api/v1/employee/{$}" and "GET /api/v1/employee" are both
// "GET /employee/"). The catch-all "/" and no pattern at all are unmatched.
func routeLabel(pattern, rootPath string) string {
	method, path, found := strings.Cut(pattern, " ")
	if !found {
		return routeUnmatched
	}
	path = strings.TrimSuffix(strings.TrimPrefix(path, rootPath), "{$}")
	if slices.ContainsFunc(routeTable, func(rt route) bool { return rt.pattern == method+" "+path+"/" }) {
		path += "/"
	}
	return method + " " + path
}

// methodLabel is the method, or "other" for one no route has: the method is
// the client's to choose, and every new label value is a new series.
func methodLabel(method string) string {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return method
	}
	return "other"
}

// login counts a login by its outcome, one of loginOutcomes.
func (m *metrics) login(outcome string) { m.logins.WithLabelValues(outcome).Inc() }

// newHashSlotWait measures the wait for a hashing slot (withHashSlot in
// auth.go): 0 when one was free, longer in a burst of logins.
func newHashSlotWait() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ticketapi_password_hash_slot_wait_seconds",
		Help: "Wait of a password hash for a hashing slot, from asking to starting.", Buckets: waitBuckets})
}

// writeMetrics measure the writer (groupcommit.go). The Store keeps them
// from its opening, before the app and its registry exist.
type writeMetrics struct {
	transactions prometheus.Counter   // one per transaction the writer began, however many writes share it
	writes       prometheus.Counter   // one per write (a caller's job), committed or not
	lockWait     prometheus.Histogram // a write's wait from submit until its transaction holds the write lock
	commit       prometheus.Histogram // how long each COMMIT took
}

func newWriteMetrics() *writeMetrics {
	return &writeMetrics{
		transactions: prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketapi_db_write_transactions_total",
			Help: "Write transactions begun; writes waiting together share one (group commit)."}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketapi_db_writes_total",
			Help: "Writes run in write transactions: a change with its audit entry, a security event, a login count on PostgreSQL."}),
		lockWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ticketapi_db_write_lock_wait_seconds",
			Help: "Wait of a write from its submission until its transaction holds the write lock.", Buckets: waitBuckets}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ticketapi_db_commit_seconds",
			Help: "Time a write transaction's COMMIT took.", Buckets: waitBuckets}),
	}
}

// started counts a transaction begun for batch, and each write's wait for it.
func (w *writeMetrics) started(batch []writeJob) {
	w.transactions.Inc()
	w.writes.Add(float64(len(batch)))
	for _, job := range batch {
		w.lockWait.Observe(time.Since(job.submitted).Seconds())
	}
}

// timed runs commit and observes how long it took.
func (w *writeMetrics) timed(commit func() error) error {
	start := time.Now()
	err := commit()
	w.commit.Observe(time.Since(start).Seconds())
	return err
}

// connectionsInUse reports a pool's connections in use, read from
// database/sql's own count at each scrape.
func connectionsInUse(pool string, p *pool) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ticketapi_db_connections_in_use",
		Help: "Database connections in use, by pool (write: the writer's one; read: the readers').", ConstLabels: prometheus.Labels{"pool": pool}},
		func() float64 { return float64(p.Stats().InUse) })
}

// metricsServer is the metrics listener: its port is taken at start, with
// the API's, and it serves once the app exists. A nil *metricsServer is
// metrics turned off (metrics_addr empty); its methods then do nothing.
type metricsServer struct {
	ln  net.Listener
	srv *http.Server
}

// listenMetrics takes the metrics port; nil, nil when addr is empty.
func listenMetrics(addr string) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_addr: listen on %s: %w", addr, err)
	}
	return &metricsServer{ln: ln}, nil
}

// serve answers GET /metrics with m's registry, and nothing else.
func (s *metricsServer) serve(m *metrics, logger *slog.Logger) {
	if s == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler())
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go s.srv.Serve(s.ln)
	logger.Info("metrics listening", "addr", s.ln.Addr().String(), "path", "/metrics")
}

// Close stops the listener (a scrape in progress is cut: it is only read).
func (s *metricsServer) Close() {
	switch {
	case s == nil:
	case s.srv != nil:
		s.srv.Close()
	default:
		s.ln.Close()
	}
}

// handler writes the registry in the text exposition format (or what the
// scraper's Accept header asks for).
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
