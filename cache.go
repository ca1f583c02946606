package main

// cache.go: on SQLite, the caller's user (every request authenticates) and
// answers that are the same whoever asks (a page of employees) are kept
// until the next commit. Without them a GET /me takes 50 µs of CPU instead
// of 31, below the target of docs/performance.md. Under the mixed
// workload, where a write comes every few milliseconds, they neither help
// nor cost; one employee's answer is kept per employee instead
// (employeeanswers.go).

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// changeWatch tells whether the database may have changed: SQLite's PRAGMA
// data_version, read on one connection kept for it, changes whenever any
// other connection commits: this server's writer, or another process such
// as `ticketapi set-password`. A cache that is emptied whenever it changes
// never serves data older than the last commit.
//
// Requests that ask while a reading is under way wait for the connection;
// when they get it, a reading that began after they asked is as fresh as
// their own would be, and they take its answer instead of asking again
// (under GET /me load: 4.9 µs of CPU a request on data_version, 5.8 without).
type changeWatch struct {
	mu      sync.Mutex    // held while reading; guards last*
	started atomic.Uint64 // readings begun so far, numbering them
	lastNo  uint64        // the number of the last reading done
	last    int64         // and its data_version
	conn    *sql.Conn
	// stmt is PRAGMA data_version, prepared on conn's driver connection and
	// asked through the driver directly: database/sql's rows and scanning
	// made this question, asked once or twice a request, a fifth of a GET
	// /me's CPU (docs/performance.md).
	stmt driverStmt
	dest [1]driver.Value
}

// driverStmt is a driver's prepared statement, as changeWatch uses it.
type driverStmt interface {
	driver.Stmt
	driver.StmtQueryContext
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

// version is data_version, read after the caller asked.
func (w *changeWatch) version() (int64, error) {
	asked := w.started.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastNo > asked { // that reading began after this caller asked
		return w.last, nil
	}
	n := w.started.Add(1)
	version, err := w.read()
	if err == nil {
		w.lastNo, w.last = n, version
	}
	return version, err
}

// read asks SQLite for data_version.
func (w *changeWatch) read() (version int64, err error) {
	err = w.conn.Raw(func(any) error {
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
	v, err := watch.version()
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
// data_version: a disabled, deleted or re-passworded user is seen on the
// very next request, because any commit empties the cache.
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
		return *u, nil
	})
	if err != nil {
		return nil, err
	}
	u.Role = slices.Clone(u.Role) // the caller may change its copy, not the cache's
	return &u, nil
}

// CachedAnswer is read()'s result encoded as JSON, kept per data_version for
// answers that are the same whoever asks (a page of the employee list). On PostgreSQL (no change watch) it always reads.
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
