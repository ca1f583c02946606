package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// requests.go: what every handler uses to read its request (path values,
// the query, the JSON body: every problem found, answered in one 422) and to
// write its answer (JSON, or a failure through fail, which takes the status
// and message from the config's raise_error table).

// request collects the problems of one request's path, query and body, so
// a 422 names all of them at once.
type request struct {
	a        *app
	w        http.ResponseWriter
	r        *http.Request
	problems validationError
	in       *input
	tooLarge bool
	notJSON  bool // the Content-Type names something else than JSON
}

func (a *app) parse(w http.ResponseWriter, r *http.Request) *request {
	return &request{a: a, w: w, r: r}
}

// id reads an integer path value.
func (q *request) id(name string) int64 {
	n, problem := parseInt("path", name, q.r.PathValue(name))
	if problem != nil {
		q.problems = append(q.problems, *problem)
	}
	return n
}

// page reads skip (≥ 0, default 0), limit (≥ 0, default and ceiling
// BODY_RESPONSE_ITEMS_LIMIT; a larger limit is capped silently) and
// after_id (≥ 0, default 0: only items with a larger id).
func (q *request) page() page {
	query := q.r.URL.Query() // parses the query string: once, not per parameter
	read := func(name string, fallback int64) int64 {
		v, given := query[name]
		if !given {
			return fallback
		}
		n, problem := parseInt("query", name, v[0])
		if problem == nil && n < 0 {
			problem = &fieldError{Type: "greater_than_equal", Loc: []any{"query", name}, Input: v[0],
				Msg: "Input should be greater than or equal to 0", Ctx: map[string]any{"ge": 0}}
		}
		if problem != nil {
			q.problems = append(q.problems, *problem)
		}
		return n
	}
	ceiling := int64(q.a.cfg.ItemsLimit)
	return page{skip: read("skip", 0), limit: min(read("limit", ceiling), ceiling), after: read("after_id", 0)}
}

// body reads the JSON body once (at most maxBodyBytes). When it is not a
// JSON object, that is the body's only problem and its fields read as empty.
func (q *request) body() *input {
	if q.in != nil {
		return q.in
	}
	q.in = &input{}
	if ct := q.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			q.notJSON, q.in.dead = true, true
			return q.in
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		q.tooLarge, q.in.dead = true, true
	case err != nil || len(strings.TrimSpace(string(data))) == 0:
		q.problems = append(q.problems, fieldError{Type: "missing", Loc: []any{"body"}, Msg: "Field required"})
		q.in.dead = true
	default:
		in, problems := newInput(data)
		if problems != nil {
			q.problems = append(q.problems, problems...)
			q.in.dead = true
		} else {
			q.in = in
		}
	}
	return q.in
}

// valid answers 413, 415 or 422 when the request had problems, and tells whether
// the handler may go on.
func (q *request) valid() bool {
	if q.tooLarge {
		q.a.tooLarge(q.w, q.r)
		return false
	}
	if q.notJSON {
		writeJSON(q.w, http.StatusUnsupportedMediaType, map[string]string{"detail": "Content-Type must be application/json"})
		return false
	}
	if q.in != nil {
		q.problems = append(q.problems, q.in.errs...)
	}
	if len(q.problems) > 0 {
		q.a.fail(q.w, q.r, q.problems)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"detail":"Internal Server Error"}`)
	}
	writeEncoded(w, status, body)
}

var newline = []byte{'\n'}

// writeEncoded answers with a body already encoded as JSON.
func writeEncoded(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(body) // body may be a cached answer: never appended to
	w.Write(newline)
}

// reply writes v, or the failure err stands for.
func (a *app) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// replyEncoded is reply for an answer already encoded (see CachedAnswer).
func (a *app) replyEncoded(w http.ResponseWriter, r *http.Request, body []byte, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeEncoded(w, http.StatusOK, body)
}

func (a *app) message(name string) map[string]string {
	return map[string]string{"message": a.cfg.Message[name]}
}

// fail answers an error: a validation problem list as 422, a named failure
// with its status and detail from the config's raise_error table, anything
// else as a 500 whose cause goes to the log, never to the client.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	var problems validationError
	var f failure
	switch {
	case errors.As(err, &problems):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": problems})
	case errors.As(err, &f):
		e, ok := a.cfg.RaiseError[string(f)]
		if !ok {
			a.internalError(w, r, fmt.Errorf("raise_error has no entry %q", f))
			return
		}
		if f == errNotAuthenticated || f == errCouldNotValidate || f == errTokenHasExpired {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		writeJSON(w, e.StatusCode, map[string]string{"detail": e.Detail})
	case r.Context().Err() != nil:
		// The client went away: nobody to answer, and no fault of the
		// server's (the access line says 499). An error other than the
		// cancellation itself is still worth a line.
		if !errors.Is(err, r.Context().Err()) {
			a.log.Info("client went away", "request_id", requestInfoOf(r).id, "method", r.Method, "path", r.URL.Path, "error", err)
		}
	default:
		a.internalError(w, r, err)
	}
}

func (a *app) internalError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("internal error", "request_id", requestInfoOf(r).id, "method", r.Method, "path", r.URL.Path, "error", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"detail": "Internal Server Error"})
}

func (a *app) tooLarge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"detail": "Request body too large"})
}
