package main

// etag.go: conditional requests on users, employees and tickets
// (docs/api.md §5, "Conditional requests"). Every answer that is one of
// them carries a strong ETag, a hash of the answer's bytes, so it changes
// whenever what the client sees does (an employee's embeds its tickets). A
// GET whose If-None-Match holds it is answered 304. A PUT, PATCH or DELETE
// with If-Match is checked inside its write transaction, where writes run
// one at a time: of two writes sent with the same ETag, the second finds
// the row changed and is answered 412.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

const errPreconditionFailed failure = "precondition_failed"

// entityTag is the strong ETag of an answer body.
func entityTag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// tagsMatch tells whether an If-Match or If-None-Match header (its values,
// each a comma-separated list of tags, or "*") names tag. weak allows
// W/ tags, as If-None-Match does; If-Match compares strongly.
func tagsMatch(values []string, tag string, weak bool) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if weak {
				t = strings.TrimPrefix(t, "W/")
			}
			if t == "*" || t == tag {
				return true
			}
		}
	}
	return false
}

// replyResource answers one user, employee or ticket with its ETag.
func (a *app) replyResource(w http.ResponseWriter, r *http.Request, v any, err error) {
	var body []byte
	if err == nil {
		body, err = json.Marshal(v)
	}
	a.replyResourceEncoded(w, r, body, entityTag(body), err)
}

// replyResourceEncoded is replyResource for an answer already encoded,
// with its ETag. A GET whose If-None-Match names the ETag gets 304 and no
// body.
func (a *app) replyResourceEncoded(w http.ResponseWriter, r *http.Request, body []byte, tag string, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", tag)
	if r.Method == http.MethodGet && tagsMatch(r.Header.Values("If-None-Match"), tag, true) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeEncoded(w, http.StatusOK, body)
}

// resourceKind names what an If-Match is about: the row's current answer,
// read inside a write transaction, gives its current ETag.
type resourceKind func(ctx context.Context, tx *txn, id int64) (any, error)

// userNow, employeeNow and ticketNow read a row as GET answers it, with
// the same statements.
func userNow(ctx context.Context, tx *txn, id int64) (any, error) {
	return oneUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
}

func employeeNow(ctx context.Context, tx *txn, id int64) (any, error) {
	e, err := oneEmployee(tx.QueryRowContext(ctx, "SELECT "+employeeColumns+" FROM employees WHERE id = ?", id))
	if err != nil {
		return nil, err
	}
	e.Tickets, err = scanTickets(tx.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE employee_id = ? ORDER BY id", id))
	return e, err
}

func ticketNow(ctx context.Context, tx *txn, id int64) (any, error) {
	return oneTicket(tx.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = ?", id))
}

// precondition is an If-Match a write must meet.
type precondition struct {
	kind resourceKind
	id   int64
	tags []string // the If-Match header's values
}

type preconditionKey struct{}

// ifMatch is the request's context, carrying its If-Match (when it has one)
// about row id to the store's write transaction (see meetPrecondition).
func ifMatch(r *http.Request, kind resourceKind, id int64) context.Context {
	tags := r.Header.Values("If-Match")
	if len(tags) == 0 {
		return r.Context()
	}
	return context.WithValue(r.Context(), preconditionKey{}, &precondition{kind, id, tags})
}

// meetPrecondition makes write f first check ctx's If-Match, in f's own
// transaction: 412 unless the row's current ETag is named. A missing row
// is left to f, which answers 404 as it would without If-Match.
func meetPrecondition(ctx context.Context, f func(*txn) error) func(*txn) error {
	p, ok := ctx.Value(preconditionKey{}).(*precondition)
	if !ok {
		return f
	}
	return func(tx *txn) error {
		current, err := p.kind(ctx, tx, p.id)
		if err == errUserNotFound || err == errEmployeeNotFound || err == errTicketNotFound {
			return f(tx)
		}
		if err != nil {
			return err
		}
		body, err := json.Marshal(current)
		if err != nil {
			return err
		}
		if !tagsMatch(p.tags, entityTag(body), false) {
			return errPreconditionFailed
		}
		return f(tx)
	}
}
