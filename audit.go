package main

// audit.go: the audit trail (docs/api.md §13): who changed what, and the
// security events. The entry of a change is written by the store inside
// the write that makes it, so it commits or rolls back with the change.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// auditEntry is one line of the trail, as GET /audit/ answers it.
type auditEntry struct {
	ID            int64                  `json:"id"`
	Time          string                 `json:"time"`
	ActorID       *int64                 `json:"actor_id"`
	ActorUsername *string                `json:"actor_username"`
	Action        string                 `json:"action"`
	TargetType    string                 `json:"target_type"`
	TargetID      *int64                 `json:"target_id"`
	Changes       map[string]fieldChange `json:"changes"`
	Client        string                 `json:"client"`
	RequestID     string                 `json:"request_id"`

	encoded []byte // Changes as JSON, when made ahead of the write (created)
}

// fieldChange is a field's value before and after: a created row has only
// new values, a deleted one only old ones.
type fieldChange struct {
	Old any `json:"old,omitempty"`
	New any `json:"new,omitempty"`
}

// entry starts an entry about one row.
func entry(action, targetType string, id int64) auditEntry {
	return auditEntry{Action: action, TargetType: targetType, TargetID: &id, Changes: map[string]fieldChange{}}
}

// auditFields yields a row's fields (row points to a User, Employee or
// Ticket) under the names its JSON answer gives them, less those the
// database sets (id, times) and an employee's tickets. A user's password
// hash has no JSON name (it is never encoded), so it never reaches the
// trail.
func auditFields(row any) iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		if !auditTrail {
			return
		}
		v := reflect.ValueOf(row).Elem()
		for i := range v.NumField() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			switch name {
			case "", "-", "id", "created", "updated", "tickets":
			default:
				if !yield(name, v.Field(i).Interface()) {
					return
				}
			}
		}
	}
}

// fieldsOf is a row's auditFields by name.
func fieldsOf(row any) map[string]any { return maps.Collect(auditFields(row)) }

// created is the entry of a new row: every field's new value. The store
// makes a ticket's or an employee's before the write reaches the writer
// goroutine, which then only inserts it; id is where the insert puts the
// new row's id. Its changes are written out field by field: json.Marshal
// of a map costs twice as much, and a ticket's entry is the commonest.
func created(targetType string, id *int64, row any) auditEntry {
	e := auditEntry{Action: targetType + ".created", TargetType: targetType, TargetID: id}
	changes := append(make([]byte, 0, 256), '{')
	for name, v := range auditFields(row) {
		value, _ := json.Marshal(v)
		changes = append(changes, '"')
		changes = append(changes, name...)
		changes = append(changes, `":{"new":`...)
		changes = append(changes, value...)
		changes = append(changes, "},"...)
	}
	e.encoded = append(bytes.TrimSuffix(changes, []byte(",")), '}')
	return e
}

// deleted is the entry of a deleted row: what it held.
func deleted(targetType string, id int64, row any) auditEntry {
	e := entry(targetType+".deleted", targetType, id)
	for name, v := range fieldsOf(row) {
		e.Changes[name] = fieldChange{Old: v}
	}
	return e
}

// updated is the entry of a changed row: the fields whose value changed.
func updated(targetType string, id int64, old, new any) auditEntry {
	e := entry(targetType+".updated", targetType, id)
	e.Changes = changedFields(fieldsOf(old), fieldsOf(new))
	return e
}

func changedFields(old, new map[string]any) map[string]fieldChange {
	changes := map[string]fieldChange{}
	for name, v := range new {
		if !reflect.DeepEqual(old[name], v) {
			changes[name] = fieldChange{Old: old[name], New: v}
		}
	}
	return changes
}

// userChanges are the entries of a change to a user, one for each kind of
// change, so that a filter on action finds every disabling, say, however
// it was made: roles, disabled, login_denied and the password each have
// their own action; the other fields share user.updated. A write that
// changed nothing still gets its user.updated entry: it set "updated".
func userChanges(old, u *User) []auditEntry {
	diff := changedFields(fieldsOf(old), fieldsOf(u))
	var entries []auditEntry
	own := func(field, action string) {
		if c, ok := diff[field]; ok {
			e := entry(action, "user", u.ID)
			e.Changes[field] = c
			entries = append(entries, e)
			delete(diff, field)
		}
	}
	own("role", "user.roles_changed")
	own("disabled", map[bool]string{true: "user.disabled", false: "user.enabled"}[u.Disabled])
	own("login_denied", map[bool]string{true: "user.login_denied", false: "user.login_allowed"}[u.LoginDenied])
	if old.hashedPassword != u.hashedPassword { // which one, never: only that it changed, and by whom
		entries = append(entries, entry("user.password_changed", "user", u.ID))
	}
	if len(diff) > 0 || len(entries) == 0 {
		e := entry("user.updated", "user", u.ID)
		e.Changes = diff
		entries = append(entries, e)
	}
	return entries
}

// copyUser is u as it is now, for userChanges to compare with later.
func copyUser(u *User) *User {
	c := *u
	c.Role = append([]string{}, u.Role...)
	return &c
}

// audited adds entries to tx if err is nil (the write they record went
// well so far), and returns err. They are inserted just before tx commits
// (writeAudit), a write that fails takes its entries with it
// (runSavepoint), and an insert that fails fails the commit: an entry
// exists exactly when its change commits.
func audited(ctx context.Context, tx *txn, err error, entries ...auditEntry) error {
	if err != nil || !auditTrail {
		return err
	}
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	if info == nil {
		info = &requestInfo{} // the server's own write, such as the first admin
	}
	at := now()
	for _, e := range entries {
		if e.ActorID == nil && info.userID != 0 {
			e.ActorID, e.ActorUsername = &info.userID, &info.user
		}
		changes := e.encoded
		if changes == nil {
			if e.Changes == nil {
				e.Changes = map[string]fieldChange{}
			}
			changes, _ = json.Marshal(e.Changes)
		}
		tx.audit = append(tx.audit, at, orNull(e.ActorID), orNull(e.ActorUsername), e.Action, e.TargetType,
			orNull(e.TargetID), string(changes), info.client, info.id)
	}
	return nil
}

// orNull is *p, or NULL for nil.
func orNull[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// writeAudit inserts the entries that tx's writes added, just before tx
// commits, many in one statement: an entry in a statement of its own cost
// the writer three times as much as one more row of a statement does.
// Statements of 32, 16, 8, 4, 2 and 1 entries: few texts to prepare.
func writeAudit(ctx context.Context, tx *txn) error {
	const columns = 9 // the values of one entry (audited)
	values := tx.audit
	for n := 32; len(values) > 0; n /= 2 {
		for len(values) >= n*columns {
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit (time, actor_id, actor_username, action, target_type,
				target_id, changes, client, request_id) VALUES `+
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?), ", n), ", "), values[:n*columns]...); err != nil {
				return err
			}
			values = values[n*columns:]
		}
	}
	return nil
}

// recordEvent writes a security event (a login, a refused token) in a
// write of its own: it has no change to join. It shares a commit with the
// writes waiting then (groupcommit.go), so it costs an insert, and it is
// written even if the client has gone: the attempt was made.
func (s *Store) recordEvent(ctx context.Context, e auditEntry) error {
	ctx = context.WithoutCancel(ctx)
	return s.submit(ctx, func(tx *txn) error { return audited(ctx, tx, nil, e) })
}

// loginOutcome records how a login (or a check of the current password)
// ended: u is the user whose name was given, nil if there is none. Only an
// existing username is kept: a name that matches nobody may be a password
// typed in the wrong field. The error is that of writing the entry.
func (a *app) loginOutcome(r *http.Request, action string, u *User) error {
	e := auditEntry{Action: action, TargetType: "user"}
	if u != nil {
		id, name := u.ID, u.Username
		e = entry(action, "user", id)
		e.ActorID, e.ActorUsername = &id, &name // the user the attempt was made as
	}
	err := a.store.recordEvent(r.Context(), e)
	if err != nil && action != "login.ok" {
		a.log.Warn("could not write a security event to the audit trail", "action", action,
			"request_id", requestInfoOf(r).id, "error", err)
		return nil // the refusal stands either way
	}
	return err
}

// ---- Reading the trail: GET /audit/ ----

// auditColumns are the columns scanAudit reads, in its order.
const auditColumns = "id, time, actor_id, actor_username, action, target_type, target_id, changes, client, request_id"

// auditWindow is GET /audit/'s since and until, as times are stored; ""
// leaves that side open.
type auditWindow struct{ since, until string }

// FindAudit returns a page of the trail, newest first, that meets l's
// conditions and lies in w; keyset paging: only entries older than
// beforeID, when given.
func (s *Store) FindAudit(ctx context.Context, l *listQuery, w auditWindow, beforeID int64, limit int) ([]auditEntry, error) {
	if err := s.within(ctx, l, w); err != nil {
		return nil, err
	}
	if beforeID > 0 {
		l.where("id < ?", beforeID)
	}
	rows, err := s.read.DB.QueryContext(ctx, s.dialect.rebind(auditPage(l)), append(l.args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := []auditEntry{}
	for rows.Next() {
		var e auditEntry
		var changes string
		var actor sql.Null[string]
		if err := rows.Scan(&e.ID, &e.Time, &e.ActorID, &actor, &e.Action, &e.TargetType, &e.TargetID,
			&changes, &e.Client, &e.RequestID); err != nil {
			return nil, err
		}
		if actor.Valid {
			e.ActorUsername = &actor.V
		}
		if err := json.Unmarshal([]byte(changes), &e.Changes); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

// auditPage is the query of a page of l's entries, newest first; its last
// ? is the page's size.
func auditPage(l *listQuery) string {
	return "SELECT " + auditColumns + " FROM audit WHERE " + strings.Join(append([]string{"1 = 1"}, l.conds...), " AND ") +
		" ORDER BY id DESC LIMIT ?"
}

// within limits l to the entries of w as a range of ids, which the primary
// key (and each index, ending in id) serves. The times are compared as
// well, so that no entry out of step with its neighbours is shown outside
// the window.
func (s *Store) within(ctx context.Context, l *listQuery, w auditWindow) error {
	for _, bound := range []struct{ at, cond string }{{w.since, "id >= ? AND time >= ?"}, {w.until, "id < ? AND time < ?"}} {
		if bound.at == "" {
			continue
		}
		id, err := s.auditIDAt(ctx, bound.at)
		if err != nil {
			return err
		}
		l.where(bound.cond, id, bound.at)
	}
	return nil
}

// auditIDAt is the id where time t starts in the trail: the entries before
// it were written before t, those from it on at t or later (one past the
// last entry if none was). Entries are written in time order, by one
// writer at a time (groupcommit.go; on PostgreSQL, the write lock), so a
// binary search over the ids finds it, each step a lookup by primary key:
// there is no index on time, which every write would have to update.
func (s *Store) auditIDAt(ctx context.Context, t string) (int64, error) {
	// The entries up to id before were written before t; those from id from
	// on, at t or later. (Two subqueries: SQLite finds min and max by the
	// key only when each is alone in its query.)
	var before, from int64
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE((SELECT min(id) FROM audit), 1) - 1,
		COALESCE((SELECT max(id) FROM audit), 0) + 1`).Scan(&before, &from)
	for err == nil && from-before > 1 {
		mid := before + (from-before)/2
		var id int64
		var at string
		err = s.read.QueryRowContext(ctx, "SELECT id, time FROM audit WHERE id >= ? ORDER BY id LIMIT 1", mid).Scan(&id, &at)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && (id >= from || at >= t):
			from, err = mid, nil // no entry from mid on was written before t
		case err == nil:
			before = id
		}
	}
	return from, err
}

// auditFilters reads GET /audit/'s filters: actor_id, target (a type, or
// type:id such as ticket:812), action, and the window: since and until (as
// created_after and created_before of the lists: since is inclusive, until
// is not).
func (q *request) auditFilters() (*listQuery, auditWindow) {
	f := q.filters()
	f.id("actor_id", "actor_id = ?")
	if target, ok := f.text("target", 1, 40, patternAuditTarget); ok {
		kind, id, hasID := strings.Cut(target, ":")
		f.l.where("target_type = ?", kind)
		if hasID {
			n, _ := strconv.ParseInt(id, 10, 64)
			f.l.where("target_id = ?", n)
		}
	}
	if action, ok := f.text("action", 1, 40, patternAuditAction); ok {
		f.l.where("action = ?", action)
	}
	var w auditWindow
	w.since, _ = f.instantOf("since")
	w.until, _ = f.instantOf("until")
	return f.l, w
}

// GET /audit/?actor_id=&target=&action=&since=&until=&before_id=&limit=:
// the trail, newest first. A full page carries a Link to the next one.
func (a *app) listAudit(w http.ResponseWriter, r *http.Request, caller *User) {
	q := a.parse(w, r)
	l, window := q.auditFilters()
	ceiling := int64(a.cfg.ItemsLimit)
	limit, before := min(q.queryInt("limit", 0, ceiling), ceiling), q.queryInt("before_id", 1, 0)
	if !q.valid() {
		return
	}
	entries, err := a.store.FindAudit(r.Context(), l, window, before, int(limit))
	if err == nil && len(entries) > 0 && len(entries) == int(limit) {
		next := r.URL.Query()
		next.Set("before_id", fmt.Sprint(entries[len(entries)-1].ID))
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, next.Encode()))
	}
	a.reply(w, r, entries, err)
}

// queryInt reads an integer query parameter of at least least, or fallback
// when it is absent.
func (q *request) queryInt(name string, least, fallback int64) int64 {
	v, given := q.r.URL.Query()[name]
	if !given {
		return fallback
	}
	n, problem := parseInt("query", name, v[0])
	if problem == nil && n < least {
		problem = &fieldError{Type: "greater_than_equal", Loc: []any{"query", name}, Input: v[0],
			Msg: fmt.Sprintf("Input should be greater than or equal to %d", least), Ctx: map[string]any{"ge": least}}
	}
	if problem != nil {
		q.problems = append(q.problems, *problem)
	}
	return n
}

// ---- Retention ----

// pruneAudit deletes the entries older than days, a batch per write so
// that other writes are not held up long. Each batch looks at the oldest
// entries by id, which are the oldest in time too (auditIDAt), so no index
// on time is needed; each entry's own time decides whether it goes, and
// batches go on until one finds none, so that an entry out of step (a
// clock set back) does not hold back the older ones behind it.
func (s *Store) pruneAudit(ctx context.Context, days int) (int64, error) {
	cutoff := time.Now().UTC().AddDate(0, 0, -days).Format(time.DateTime)
	var total int64
	for {
		var n int64
		err := s.inTx(ctx, func(tx *txn) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE id IN (SELECT id FROM
				(SELECT id, time FROM audit ORDER BY id LIMIT 5000) AS oldest WHERE time < ?)`, cutoff)
			if err == nil {
				n, err = res.RowsAffected()
			}
			return err
		})
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// pruneAuditEvery prunes the trail now and then every interval, until the
// returned stop is called (before the store closes). days 0 keeps it all.
func (s *Store) pruneAuditEvery(interval time.Duration, days int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for days > 0 {
			if n, err := s.pruneAudit(ctx, days); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("could not prune the audit trail", "error", err)
			} else if n > 0 {
				s.log.Info("pruned the audit trail", "entries", n, "older_than_days", days)
			}
			select {
			case <-time.After(interval):
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// ---- Schema ----

// auditIndexes serve GET /audit/'s filters on actor and target, each newest
// first by id; the action filter reads the newest entries in order. since,
// until and the retention go by id (auditIDAt): an index on time would
// cost every write its update.
const auditIndexes = `
CREATE INDEX IF NOT EXISTS ix_audit_actor ON audit (actor_id, id);
CREATE INDEX IF NOT EXISTS ix_audit_target ON audit (target_type, target_id, id);`

// createAuditTrail adds the (empty) trail to a SQLite file; like every
// statement here, it may run again. No foreign keys: the trail outlives
// the rows it tells about.
func createAuditTrail(ctx context.Context, tx *sql.Tx, _ *slog.Logger) error {
	_, err := tx.ExecContext(ctx, auditTable("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"))
	return err
}

// createPostgresAuditTrail is createAuditTrail for PostgreSQL.
func createPostgresAuditTrail(ctx context.Context, tx *sql.Tx, _ *slog.Logger) error {
	_, err := tx.ExecContext(ctx, auditTable("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT"))
	return err
}

// auditTable is the trail's table and its indexes; the databases differ
// only in how they number rows (id) and name a 64-bit integer.
func auditTable(id, integer string) string {
	return `
CREATE TABLE IF NOT EXISTS audit (
	id ` + id + `,
	time TEXT NOT NULL,
	actor_id ` + integer + `,
	actor_username TEXT,
	action TEXT NOT NULL,
	target_type TEXT NOT NULL,
	target_id ` + integer + `,
	changes TEXT NOT NULL,
	client TEXT NOT NULL,
	request_id TEXT NOT NULL
);` + auditIndexes
}

// dropAuditTimeIndex drops the index on time that createAuditTrail made
// before since, until and the retention went by id.
func dropAuditTimeIndex(ctx context.Context, tx *sql.Tx, _ *slog.Logger) error {
	_, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS ix_audit_time")
	return err
}

// userNamed is the user of that name, or nil: a throttled login has not
// looked its user up yet.
func (a *app) userNamed(r *http.Request, username string) *User {
	u, err := a.store.UserByUsername(r.Context(), username)
	if err != nil {
		return nil
	}
	return u
}
