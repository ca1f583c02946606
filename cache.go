package main

// cache.go: the SQLite caches of the caller's user and of encoded answers,
// kept valid by SQLite's PRAGMA data_version (any commit, by this server or
// another process, empties them).

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// changeWatch tells whether the database may have changed: SQLite's PRAGMA
// data_version, read on one connection kept for it, changes whenever any
// other connection commits — this server's writer, or another process such
// as `ticketapi set-password`. A cache that is emptied whenever it changes
// never serves data older than the last commit.
//
// Many requests ask at once, and the one connection answers one at a time,
// so requests that ask close together share a reading (see read). That
// reading is still fresh for each of them: it starts after they all asked.
type changeWatch struct {
	conn *sql.Conn
	stmt driverStmt // PRAGMA data_version, prepared on conn's driver connection
	dest [1]driver.Value

	mu     sync.Mutex
	asking bool          // a check has been given its leader and is not over yet
	next   *versionCheck // the check whose reading has not started: who asks now joins it
}

// driverStmt is a driver's prepared statement, as changeWatch uses it.
type driverStmt interface {
	driver.Stmt
	driver.StmtQueryContext
}

// versionCheck is one reading of data_version, shared by its waiters.
type versionCheck struct {
	lead    chan struct{} // given to one waiter: it reads for them all
	done    chan struct{} // closed when the reading is in
	version int64
	err     error
}

// version is data_version now, or, in a request that already asked (see
// withVersionMemo), the reading it got then.
func (w *changeWatch) version(ctx context.Context) (int64, error) {
	memo, _ := ctx.Value(versionMemoKey{}).(*versionMemo)
	if memo != nil && memo.read {
		return memo.version, nil
	}
	v, err := w.read()
	if memo != nil && err == nil {
		memo.version, memo.read = v, true
	}
	return v, err
}

// versionMemo is the data_version reading of one request: its caches (the
// caller's user, then the answer) are looked up at one version, the first
// one it read, rather than asking twice. A write forgets it (inTx): what
// the request reads after its own write must be at least that new.
type versionMemo struct {
	version int64
	read    bool
}

type versionMemoKey struct{}

// withVersionMemo gives a request's context a versionMemo.
func withVersionMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, versionMemoKey{}, &versionMemo{})
}

// read is data_version, from a reading that started after the caller
// asked. Requests that ask close together share one reading: whoever finds
// nobody asking leads a new check, lets others join it, and reads for all.
func (w *changeWatch) read() (int64, error) {
	w.mu.Lock()
	check := w.next
	lead := false
	if check == nil {
		check = &versionCheck{lead: make(chan struct{}, 1), done: make(chan struct{})}
		w.next = check
		if !w.asking {
			w.asking, lead = true, true
			check.lead <- struct{}{}
		}
	}
	w.mu.Unlock()
	if lead {
		// Before reading, let the goroutines that are ready to run go
		// first: those that come here join this check rather than each
		// asking. Under wrk on 2 cores this made 2.2 requests share a
		// reading with 16 connections (1.4 without it), 4.1 with 64 (3.3).
		runtime.Gosched()
	}
	select {
	case <-check.lead:
		w.mu.Lock()
		w.next = nil // who comes from now on waits for the reading after this one
		w.mu.Unlock()
		check.version, check.err = w.query()
		close(check.done)
		w.handOn()
	case <-check.done:
	}
	return check.version, check.err
}

// handOn ends a reading: the check that gathered meanwhile, if any, goes to
// one of its waiters to read for all of them. (A waiter rather than a new
// goroutine: SQLite's calls need a deep stack, which a request's goroutine
// has already grown and a new one would grow again each time.)
func (w *changeWatch) handOn() {
	w.mu.Lock()
	next := w.next
	w.asking = next != nil
	w.mu.Unlock()
	if next != nil {
		next.lead <- struct{}{} // buffered; next has a waiter, who made it
	}
}

// query reads data_version. It talks to the driver directly, under
// sql.Conn.Raw: database/sql's rows and scanning were over a quarter of this
// question's cost, asked on nearly every request. Only the goroutine that
// is asking calls it, so dest needs no lock.
func (w *changeWatch) query() (version int64, err error) {
	err = w.conn.Raw(func(driverConn any) error {
		rows, err := w.stmt.QueryContext(context.Background(), nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := rows.Next(w.dest[:]); err != nil {
			return err
		}
		var ok bool
		if version, ok = w.dest[0].(int64); !ok {
			return fmt.Errorf("PRAGMA data_version gave %T", w.dest[0])
		}
		return nil
	})
	return version, err
}

// close closes the statement and gives the connection back.
func (w *changeWatch) close() error {
	err := w.conn.Raw(func(any) error { return w.stmt.Close() })
	return errors.Join(err, w.conn.Close())
}

// versionCache keeps values valid for one data_version: any commit, by this
// server or another process, empties it, so it never serves data older
// than the last commit. Every lookup still asks the database whether
// anything changed (a cheap question), but not for the value. It holds at
// most maxSize (sizeOf each value, added up); when full, values are simply
// not kept until the next commit empties it.
type versionCache[V any] struct {
	mu      sync.Mutex
	version int64
	values  map[string]V
	size    int
	maxSize int
	sizeOf  func(V) int
}

func newVersionCache[V any](maxSize int, sizeOf func(V) int) versionCache[V] {
	return versionCache[V]{values: map[string]V{}, maxSize: maxSize, sizeOf: sizeOf}
}

// get is key's value, from the cache or else from load (whose failures are
// not kept). load runs after the version is read, so what is kept under a
// version is at least as new as it: never older than what a request seeing
// that version may get.
func (c *versionCache[V]) get(ctx context.Context, watch *changeWatch, key string, load func() (V, error)) (V, error) {
	var none V
	v, err := watch.version(ctx)
	if err != nil {
		return none, err
	}
	c.mu.Lock()
	if c.version != v {
		clear(c.values)
		c.version, c.size = v, 0
	}
	value, ok := c.values[key]
	c.mu.Unlock()
	if ok {
		return value, nil
	}
	if value, err = load(); err != nil {
		return none, err
	}
	c.mu.Lock()
	if n := c.sizeOf(value); c.version == v && c.size+n <= c.maxSize {
		c.values[key] = value
		c.size += n
	}
	c.mu.Unlock()
	return value, nil
}

// AuthUser is UserByUsername for authenticating a request, cached per
// data_version (with its encoding for GET /me): a disabled, deleted or
// re-passworded user is seen on the very next request, because any commit
// empties the cache.
//
// PostgreSQL has no cheap "did anything change" question that sees the
// commits of other instances at once, so there every request reads the user.
func (s *Store) AuthUser(ctx context.Context, username string) (*User, error) {
	if s.watch == nil {
		return s.UserByUsername(ctx, username)
	}
	u, err := s.users.get(ctx, s.watch, username, func() (User, error) {
		u, err := s.UserByUsername(ctx, username)
		if err != nil {
			return User{}, err
		}
		// GET /me, the route clients call most, answers with this: encoded
		// once per version, with the user it shows.
		u.me, err = json.Marshal(u)
		return *u, err
	})
	if err != nil {
		return nil, err
	}
	u.Role = slices.Clone(u.Role) // the caller may change its copy, not the cache's
	return &u, nil
}

// CachedAnswer is read()'s result encoded as JSON, kept per data_version for
// answers that are the same whoever asks (an employee, a page of the
// employee list). On PostgreSQL (no change watch) it always reads.
func (s *Store) CachedAnswer(ctx context.Context, key string, read func() (any, error)) ([]byte, error) {
	if s.watch == nil {
		return encodeAnswer(read())
	}
	return s.answers.get(ctx, s.watch, key, func() ([]byte, error) { return encodeAnswer(read()) })
}

func encodeAnswer(v any, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func newChangeWatch(ctx context.Context, read *pool) (*changeWatch, error) {
	conn, err := read.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &changeWatch{conn: conn}
	err = conn.Raw(func(driverConn any) error {
		prepare, ok := driverConn.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) cannot prepare with a context", driverConn)
		}
		stmt, err := prepare.PrepareContext(ctx, "PRAGMA data_version")
		if err != nil {
			return err
		}
		if w.stmt, ok = stmt.(driverStmt); !ok {
			stmt.Close()
			return fmt.Errorf("the SQLite driver's statement (%T) cannot query with a context", stmt)
		}
		return nil
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}
