package main

// middleware.go: what runs around every request: the request id, the
// access log line, panic recovery, security headers, CORS, and the JSON
// answers for paths and methods no route has.

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// requestInfo is what the access log line says about a request; handlers
// fill in the user.
type requestInfo struct {
	id, user, client string
	userID           int64 // the caller's id (0: none yet), for the audit trail

	caller callerKey    // who the rate limit counted this request against
	limits *rateLimiter // nil until the rate limit admitted the request
}

type requestInfoKey struct{}

func requestInfoOf(r *http.Request) *requestInfo {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// statusRecorder remembers the status a handler wrote, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// statusClientGone is what the access log says of a request whose client
// went away before its answer (NGINX's code for it): nothing was answered.
const statusClientGone = 499

// ServeHTTP runs every request through, in order: request id, access log,
// panic recovery, security headers, CORS, then the route (or a JSON 404/405).
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a.metrics.inFlight.Inc()
	defer a.metrics.inFlight.Dec()
	info := &requestInfo{client: clientAddress(r, a.trusted), id: r.Header.Get("X-Request-ID")}
	if info.id == "" || len(info.id) > 128 {
		// Unique, not secret.
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], rand.Uint64())
		info.id = hex.EncodeToString(b[:])
	}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	rec := &statusRecorder{ResponseWriter: w}
	h := rec.Header()
	h.Set("X-Request-ID", info.id)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.Error("panic", "request_id", info.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rec.status == 0 {
				writeJSON(rec, http.StatusInternalServerError, map[string]string{"detail": "Internal Server Error"})
			}
		}
		status, took := rec.status, time.Since(start)
		switch {
		case status == 0 && r.Context().Err() != nil:
			status = statusClientGone
		case status == 0: // the handler wrote nothing: net/http answers 200
			status = http.StatusOK
		}
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", status),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.String("user", info.user), slog.String("request_id", info.id), slog.String("client", info.client))
		a.metrics.request(r.Pattern, r.Method, status, took) // the pattern the mux matched, never the path
	}()

	if !cleanPath(r.URL.Path) { // the mux would redirect it, with an HTML body
		writeJSON(rec, http.StatusNotFound, map[string]string{"detail": "Not Found"})
		return
	}
	if a.cors(rec, r) {
		return
	}
	a.mux.ServeHTTP(rec, r)
}

// cleanPath tells whether p is in its clean form: no "//", "/./" or "/../".
// Every route's path is, so any other is an unknown path.
func cleanPath(p string) bool {
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean == p
}

// noRoute is the mux's catch-all "/": it answers a path no route matches
// (404) or a method the path does not have (405, with Allow) in JSON, where
// the mux would write plain text. It asks the mux which methods would have
// matched, off the hot path: only requests that match nothing get here.
func (a *app) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
		probe := *r
		probe.Method = method
		if _, pattern := a.mux.Handler(&probe); pattern != "/" {
			allow = append(allow, method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"detail": "Method Not Allowed"})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
}

// cors applies the config's cors section; it answers preflight requests
// itself and reports that it did.
func (a *app) cors(w http.ResponseWriter, r *http.Request) (answered bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	c := a.cfg.CORS
	allowed := slices.Contains(c.AllowOrigins, origin) || slices.Contains(c.AllowOrigins, "*")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	h := w.Header()
	h.Add("Vary", "Origin")
	if !allowed {
		if preflight {
			writeJSON(w, http.StatusBadRequest, map[string]string{"detail": "Disallowed CORS origin"})
		}
		return preflight
	}
	if slices.Contains(c.AllowOrigins, "*") && !c.AllowCredentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if !preflight {
		return false
	}
	methods := strings.Join(c.AllowMethods, ", ")
	if slices.Contains(c.AllowMethods, "*") {
		methods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
	}
	headers := strings.Join(c.AllowHeaders, ", ")
	if slices.Contains(c.AllowHeaders, "*") {
		headers = r.Header.Get("Access-Control-Request-Headers")
	}
	h.Set("Access-Control-Allow-Methods", methods)
	if headers != "" {
		h.Set("Access-Control-Allow-Headers", headers)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}
