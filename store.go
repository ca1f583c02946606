package main

// store.go: every SQL statement the server runs, the schema, and the
// migrations that upgrade the original project's database files in place.
//
// Two databases, one store: SQLite (the default, one file) and PostgreSQL
// (for several instances behind a load balancer). The queries are written
// once, with ? placeholders, in the SQL both understand; everything that
// differs is in the "dialects" section below.
//
// Writes go through one writer connection per process, and every write
// transaction first takes the database's write lock (SQLite: BEGIN
// IMMEDIATE; PostgreSQL: an advisory lock shared by all instances), so
// writes happen one at a time everywhere and a check made inside a write
// (is this email taken? is this the last admin?) still holds at commit.
// Reads use their own pool and run beside the writer.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// failure is an expected failure, named as in the config's raise_error
// table; handlers answer it with that entry's status and detail.
type failure string

func (f failure) Error() string { return string(f) }

const (
	errUserNotFound       failure = "user_not_found"
	errEmployeeNotFound   failure = "employee_not_found"
	errTicketNotFound     failure = "ticket_not_found"
	errUsernameTaken      failure = "username_already_registered"
	errEmailTaken         failure = "email_already_registered"
	errPhoneTaken         failure = "phone_already_registered"
	errUnknownRole        failure = "unknown_role"
	errEmployeeHasTickets failure = "employee_has_tickets"
	errUserOwnsTickets    failure = "user_owns_tickets"
	errLastAdmin          failure = "last_active_admin"
)

// Store is the database: one writer connection, a pool of readers.
type Store struct {
	write, read *pool
	dialect     *dialect
	log         *slog.Logger
	jobs        chan writeJob // writes waiting for writeLoop
	writerDone  chan struct{}
	closeOnce   sync.Once
	closeErr    error

	watch   *changeWatch         // SQLite only: tells when the database changed, for the caches
	users   versionCache[User]   // by username, at most 10 000
	answers versionCache[[]byte] // encoded answers by key, at most 8 MiB
}

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

// pool is a connection pool that prepares each statement once and keeps it:
// SQLite takes longer to compile a short query than to run it, and
// database/sql would compile it again on every call.
type pool struct {
	*sql.DB
	dialect *dialect
	stmts   sync.Map // query text → *sql.Stmt
}

func (p *pool) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := p.DB.PrepareContext(ctx, p.dialect.rebind(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := p.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return p.DB.QueryRowContext(ctx, p.dialect.rebind(query), args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// txn is a write transaction that uses the pool's prepared statements.
// The writer pool has one connection, which the transaction holds, so a
// statement not prepared yet cannot be prepared on the pool now: it runs
// unprepared and is prepared once the transaction ends (see inTx).
type txn struct {
	*sql.Tx
	p      *pool
	missed []string
}

func (t *txn) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := t.p.stmts.Load(query); ok {
		return t.Tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	t.missed = append(t.missed, query)
	return nil
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, t.p.dialect.rebind(query), args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, t.p.dialect.rebind(query), args...)
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, t.p.dialect.rebind(query), args...)
}

// sqliteDSN is the connection string of a pool: writer transactions begin
// IMMEDIATE (take the write lock at once, queueing behind busy_timeout);
// readOnly connections refuse to write.
func sqliteDSN(path string, writer, readOnly bool) string {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	if writer {
		dsn += "&_txlock=immediate"
	}
	if readOnly {
		dsn += "&_pragma=query_only(1)"
	}
	return dsn
}

// isPostgresURL tells whether a database_url names a PostgreSQL database;
// anything else is the path of a SQLite file.
func isPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// displayName is a database_url fit for logs and error messages: a
// PostgreSQL URL loses its password.
func displayName(dbURL string) string {
	if !isPostgresURL(dbURL) {
		return dbURL
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// openStore opens the database that dbURL names (postgres://... or a
// SQLite file, created if missing) and brings its schema up to date.
func openStore(ctx context.Context, dbURL string, log *slog.Logger) (*Store, error) {
	s, err := openPools(ctx, dbURL, log)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", displayName(dbURL), err)
	}
	s.users = newVersionCache(10000, func(User) int { return 1 })
	s.answers = newVersionCache(8<<20, func(body []byte) int { return len(body) })
	s.jobs, s.writerDone = make(chan writeJob, maxBatch), make(chan struct{})
	go s.writeLoop()
	return s, nil
}

func openPools(ctx context.Context, dbURL string, log *slog.Logger) (*Store, error) {
	d, driver, writeDSN, readDSN := sqliteDialect, "sqlite", sqliteDSN(dbURL, true, false), sqliteDSN(dbURL, false, true)
	if isPostgresURL(dbURL) {
		d, driver, writeDSN, readDSN = postgresDialect, "pgx", dbURL, dbURL
	}
	writeDB, err := sql.Open(driver, writeDSN)
	if err != nil {
		return nil, err
	}
	write := &pool{DB: writeDB, dialect: d}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	s := &Store{write: write, dialect: d, log: log}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	readDB, err := sql.Open(driver, readDSN)
	if err != nil {
		write.Close()
		return nil, err
	}
	s.read = &pool{DB: readDB, dialect: d}
	readers := max(4, runtime.NumCPU())
	if d == sqliteDialect {
		readers++ // the change watch keeps one
		if s.watch, err = newChangeWatch(ctx, s.read); err != nil {
			readDB.Close()
			write.Close()
			return nil, err
		}
	} else {
		readers *= 2 // a PostgreSQL query waits on the network as well as on the CPU
	}
	s.read.SetMaxOpenConns(readers)
	s.read.SetMaxIdleConns(readers)
	return s, nil
}

// Close lets the writer finish the writes it was given, then closes both
// pools; the last connection to close checkpoints the WAL.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.jobs)
		<-s.writerDone
		if s.watch != nil {
			s.closeErr = s.watch.close()
		}
		s.closeErr = errors.Join(s.closeErr, s.read.Close(), s.write.Close())
	})
	return s.closeErr
}

// Ping tells whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// backupDatabase writes a consistent copy of the database file src to dest
// with VACUUM INTO: it reads one snapshot, so writes that go on meanwhile
// are either wholly in the copy (committed before it began) or not at all.
// The file is opened as it is (no migration), dest must not exist and is
// created readable by its owner only (it holds password hashes), and the
// copy is checked with PRAGMA integrity_check before backupDatabase returns.
func backupDatabase(ctx context.Context, src, dest string) error {
	if isPostgresURL(src) {
		return errors.New("backup copies a SQLite file; back up PostgreSQL with its own tools (pg_dump)")
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: database %s: %w", src, err)
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", sqliteDSN(src, false, false))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("backup %s to %s: %w", src, dest, err)
	}
	copyDB, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
	if err != nil {
		return err
	}
	defer copyDB.Close()
	var result string
	if err := copyDB.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		return fmt.Errorf("check backup %s: %w", dest, err)
	}
	if result != "ok" {
		return fmt.Errorf("backup %s failed its integrity check: %s", dest, result)
	}
	return nil
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

// now is the timestamp format of the original, in UTC.
func now() string { return time.Now().UTC().Format(time.DateTime) }

// inTx runs f as one write: all of it is committed, or none of it.
//
// Writes are serialized through one goroutine (writeLoop) that owns the
// writer connection. When several writes are waiting, it runs them in one
// transaction, each inside its own SAVEPOINT (so a write that fails undoes
// only itself), and commits once for all of them: committing costs far
// more than a small insert, so under load this "group commit" multiplies
// the writes per second. inTx returns only after the commit.
func (s *Store) inTx(ctx context.Context, f func(*txn) error) error {
	job := writeJob{ctx: ctx, f: f, done: make(chan error, 1)}
	s.jobs <- job
	err := <-job.done
	if memo, _ := ctx.Value(versionMemoKey{}).(*versionMemo); memo != nil {
		memo.read = false // a reading from before this write is stale for this request now
	}
	if f, ok := uniqueViolation(err); ok {
		return f // another write got there first: the same answer as the store's own check
	}
	return err
}

// writeJob is one caller's write, waiting for the writer.
type writeJob struct {
	ctx  context.Context
	f    func(*txn) error
	done chan error
}

// maxBatch bounds how many writes share one commit.
const maxBatch = 64

// writeLoop is the writer: it takes a waiting write and all others queued
// behind it (up to maxBatch), and commits them together.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	for job := range s.jobs {
		batch := []writeJob{job}
	gather:
		for len(batch) < maxBatch {
			select {
			case next, ok := <-s.jobs:
				if !ok {
					break gather
				}
				batch = append(batch, next)
			default:
				break gather
			}
		}
		s.commitBatch(batch)
	}
}

// beginWrite starts a write transaction on the writer connection, holding
// the database's write lock (see dialect.beginWrite).
func (s *Store) beginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil || s.dialect.beginWrite == "" {
		return tx, err
	}
	if _, err := tx.ExecContext(ctx, s.dialect.beginWrite); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

func (s *Store) commitBatch(batch []writeJob) {
	ctx := context.Background()
	results := make([]error, len(batch))
	tx, err := s.beginWrite(ctx)
	if err == nil {
		t := &txn{Tx: tx, p: s.write}
		if len(batch) == 1 { // alone in its transaction: no savepoint needed
			if results[0] = batch[0].f(t); results[0] != nil {
				tx.Rollback()
				err = results[0]
			}
		} else {
			for i, job := range batch {
				results[i] = runSavepoint(job.ctx, t, job.f)
			}
		}
		if err == nil {
			err = tx.Commit()
		}
		for _, query := range t.missed { // the connection is free again: prepare for next time
			s.write.stmt(ctx, query)
		}
	}
	for i, job := range batch {
		if results[i] == nil {
			results[i] = err // the commit's failure is every write's
		}
		job.done <- results[i]
	}
}

// runSavepoint runs one write inside a savepoint, undoing it alone when it
// fails (or panics: the writer must go on for everyone else).
func runSavepoint(ctx context.Context, t *txn, f func(*txn) error) (err error) {
	if _, err := t.ExecContext(ctx, "SAVEPOINT write"); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a write: %v", p)
		}
		if err != nil {
			t.ExecContext(context.Background(), "ROLLBACK TO write")
		}
		t.ExecContext(context.Background(), "RELEASE write")
	}()
	return f(t)
}

// queryer is a pool or a transaction: reads run on either.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func exists(ctx context.Context, q queryer, query string, args ...any) (bool, error) {
	var found bool
	err := q.QueryRowContext(ctx, "SELECT EXISTS ("+query+")", args...).Scan(&found)
	return found, err
}

// page selects a window of a list ordered by id: the items after the id
// `after` (keyset paging: as fast at the end of a long list as at its
// start), then skip of them (OFFSET: the further, the slower), then limit.
type page struct {
	skip, limit, after int64
}

// ---- Users ----

// Nullable columns are read with COALESCE: files written by the original
// declare every column nullable.
const userColumns = `id, COALESCE(username, ''), COALESCE(first_name, ''), COALESCE(last_name, ''),
	COALESCE(phone, ''), COALESCE(email, ''), COALESCE(role, '[]'), COALESCE(disabled, false),
	COALESCE(login_denied, false), COALESCE(hashed_password, ''), COALESCE(created, ''), updated`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (*User, error) {
	u := &User{}
	var role string
	err := row.Scan(&u.ID, &u.Username, &u.FirstName, &u.LastName, &u.Phone, &u.Email, &role,
		&u.Disabled, &u.LoginDenied, &u.hashedPassword, &u.Created, &u.Updated)
	if err != nil {
		return nil, err
	}
	if json.Unmarshal([]byte(role), &u.Role) != nil || u.Role == nil {
		u.Role = []string{}
	}
	return u, nil
}

func (s *Store) userWhere(ctx context.Context, q queryer, where string, arg any) (*User, error) {
	if text, ok := arg.(string); ok && !storable(text) {
		return nil, errUserNotFound // no user has such a name
	}
	u, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUserNotFound
	}
	return u, err
}

func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	return s.userWhere(ctx, s.read, "id = ?", id)
}

func (s *Store) UserByUsername(ctx context.Context, username string) (*User, error) {
	return s.userWhere(ctx, s.read, "username = ?", username)
}

func (s *Store) UserByPhone(ctx context.Context, phone string) (*User, error) {
	return s.userWhere(ctx, s.read, "phone = ?", phone)
}

func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	return s.userWhere(ctx, s.read, "lower(email) = lower(?) ORDER BY id LIMIT 1", email)
}

func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, err
}

func (s *Store) ListUsers(ctx context.Context, p page) ([]User, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+userColumns+" FROM users WHERE id > ? ORDER BY id LIMIT ? OFFSET ?",
		p.after, p.limit, p.skip)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, *u)
	}
	return users, rows.Err()
}

// uniqueRule is one value that no two rows of a table may share.
type uniqueRule struct {
	where string // matches another row holding the value
	value string
	err   failure
}

// checkUnique answers the first rule that another row of table breaks.
// Emails compare without case (ASCII letters, as SQLite's lower() folds).
func checkUnique(ctx context.Context, tx *txn, table string, id int64, rules ...uniqueRule) error {
	for _, r := range rules {
		taken, err := exists(ctx, tx, "SELECT 1 FROM "+table+" WHERE "+r.where+" AND id != ?", r.value, id)
		if err != nil {
			return err
		}
		if taken {
			return r.err
		}
	}
	return nil
}

func checkUserUnique(ctx context.Context, tx *txn, u *User) error {
	return checkUnique(ctx, tx, "users", u.ID,
		uniqueRule{"username = ?", u.Username, errUsernameTaken},
		uniqueRule{"lower(email) = lower(?)", u.Email, errEmailTaken},
		uniqueRule{"phone = ?", u.Phone, errPhoneTaken})
}

func checkEmployeeUnique(ctx context.Context, tx *txn, e *Employee) error {
	return checkUnique(ctx, tx, "employees", e.ID,
		uniqueRule{"lower(email) = lower(?)", e.Email, errEmailTaken},
		uniqueRule{"phone = ?", e.Phone, errPhoneTaken})
}

func roleJSON(roles []string) string {
	b, _ := json.Marshal(roles)
	return string(b)
}

// CreateUser inserts u (whose hashedPassword is set) and fills in its id and
// created time.
func (s *Store) CreateUser(ctx context.Context, u *User) (*User, error) {
	err := s.inTx(ctx, func(tx *txn) error {
		if err := checkUserUnique(ctx, tx, u); err != nil {
			return err
		}
		return insertUser(ctx, tx, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func insertUser(ctx context.Context, tx *txn, u *User) error {
	u.Created, u.Updated = now(), nil
	return tx.QueryRowContext(ctx, `INSERT INTO users (username, first_name, last_name, phone, email, role,
		disabled, login_denied, hashed_password, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Username, u.FirstName, u.LastName, u.Phone, u.Email, roleJSON(u.Role), u.Disabled, u.LoginDenied,
		u.hashedPassword, u.Created).Scan(&u.ID)
}

// CreateFirstUser inserts u only if there is no user at all, and tells
// whether it did: instances starting together on a new database create one
// first admin between them.
func (s *Store) CreateFirstUser(ctx context.Context, u *User) (created bool, err error) {
	err = s.inTx(ctx, func(tx *txn) error {
		found, err := exists(ctx, tx, "SELECT 1 FROM users")
		if err != nil || found {
			return err
		}
		created = true
		return insertUser(ctx, tx, u)
	})
	return created && err == nil, err
}

// UpdateUser loads user id, lets change edit it, checks the result and
// saves it, all in one transaction. change runs after the user is found, so
// "User not found" comes before the problems change reports.
func (s *Store) UpdateUser(ctx context.Context, id int64, change func(*User) error) (*User, error) {
	var u *User
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		if u, err = s.userWhere(ctx, tx, "id = ?", id); err != nil {
			return err
		}
		wasAdmin := u.activeAdmin()
		if err := change(u); err != nil {
			return err
		}
		if wasAdmin && !u.activeAdmin() {
			if err := checkOtherAdmin(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		if err := checkUserUnique(ctx, tx, u); err != nil {
			return err
		}
		t := now()
		u.Updated = &t
		_, err = tx.ExecContext(ctx, `UPDATE users SET username = ?, first_name = ?, last_name = ?, phone = ?,
			email = ?, role = ?, disabled = ?, login_denied = ?, hashed_password = ?, updated = ? WHERE id = ?`,
			u.Username, u.FirstName, u.LastName, u.Phone, u.Email, roleJSON(u.Role), u.Disabled, u.LoginDenied,
			u.hashedPassword, t, u.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SetPassword replaces a user's password hash (which also ends every token
// issued under the old one).
func (s *Store) SetPassword(ctx context.Context, id int64, hash string) error {
	_, err := s.UpdateUser(ctx, id, func(u *User) error {
		u.hashedPassword = hash
		return nil
	})
	return err
}

// RehashPassword swaps an outdated hash for a new one of the same password
// without touching "updated": the user changed nothing. It only replaces
// the hash it was given, so a password changed meanwhile is kept.
func (s *Store) RehashPassword(ctx context.Context, id int64, oldHash, newHash string) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, "UPDATE users SET hashed_password = ? WHERE id = ? AND hashed_password = ?",
			newHash, id, oldHash)
		return err
	})
}

// activeAdmin tells whether u is an admin who can log in and use the API.
func (u *User) activeAdmin() bool {
	return slices.Contains(u.Role, "admin") && !u.Disabled && !u.LoginDenied
}

// checkOtherAdmin refuses a change that would leave no active admin but
// user id. It runs inside the write transaction making the change, and
// writes are serialized (on PostgreSQL across every instance, by the write
// lock), so two requests cannot both pass it.
func checkOtherAdmin(ctx context.Context, tx *txn, id int64) error {
	other, err := exists(ctx, tx, `SELECT 1 FROM users WHERE id != ? AND NOT COALESCE(disabled, false)
		AND NOT COALESCE(login_denied, false) AND `+tx.p.dialect.adminRole, id)
	if err != nil || other {
		return err
	}
	return errLastAdmin
}

// DeleteUser deletes a user who created no tickets.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *txn) error {
		u, err := s.userWhere(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		if u.activeAdmin() {
			if err := checkOtherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		owns, err := exists(ctx, tx, "SELECT 1 FROM tickets WHERE owner_id = ?", id)
		if err != nil {
			return err
		}
		if owns {
			return errUserOwnsTickets
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id)
		return orFailure(err, foreignKeyViolation, errUserOwnsTickets)
	})
}

// ---- Employees ----

const employeeColumns = `id, COALESCE(first_name, ''), COALESCE(last_name, ''), COALESCE(nick_name, ''),
	COALESCE(phone, ''), COALESCE(email, ''), COALESCE(birthday, ''), COALESCE(country, ''),
	COALESCE(city, ''), COALESCE(address, ''), COALESCE(created, ''), updated`

func scanEmployee(row scanner) (*Employee, error) {
	e := &Employee{Tickets: []Ticket{}}
	err := row.Scan(&e.ID, &e.FirstName, &e.LastName, &e.NickName, &e.Phone, &e.Email, &e.Birthday,
		&e.Country, &e.City, &e.Address, &e.Created, &e.Updated)
	return e, err
}

func (s *Store) employeeByID(ctx context.Context, q queryer, id int64) (*Employee, error) {
	e, err := scanEmployee(q.QueryRowContext(ctx, "SELECT "+employeeColumns+" FROM employees WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errEmployeeNotFound
	}
	return e, err
}

// Employee returns one employee with all of its tickets.
func (s *Store) Employee(ctx context.Context, id int64) (*Employee, error) {
	e, err := s.employeeByID(ctx, s.read, id)
	if err != nil {
		return nil, err
	}
	e.Tickets, err = s.tickets(ctx, s.read, "WHERE employee_id = ? ORDER BY id", id)
	return e, err
}

// ListEmployees returns a page of employees with their tickets: two queries
// a page, however many employees it holds.
func (s *Store) ListEmployees(ctx context.Context, p page) ([]Employee, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+employeeColumns+" FROM employees WHERE id > ? ORDER BY id LIMIT ? OFFSET ?",
		p.after, p.limit, p.skip)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	employees := []Employee{}
	index := map[int64]int{}
	for rows.Next() {
		e, err := scanEmployee(rows)
		if err != nil {
			return nil, err
		}
		index[e.ID] = len(employees)
		employees = append(employees, *e)
	}
	if err := rows.Err(); err != nil || len(employees) == 0 {
		return employees, err
	}
	tickets, err := s.tickets(ctx, s.read, "WHERE employee_id BETWEEN ? AND ? ORDER BY employee_id, id",
		employees[0].ID, employees[len(employees)-1].ID)
	if err != nil {
		return nil, err
	}
	for _, t := range tickets {
		if i, ok := index[t.EmployeeID]; ok {
			employees[i].Tickets = append(employees[i].Tickets, t)
		}
	}
	return employees, nil
}

func (s *Store) CreateEmployee(ctx context.Context, e *Employee) (*Employee, error) {
	err := s.inTx(ctx, func(tx *txn) error {
		if err := checkEmployeeUnique(ctx, tx, e); err != nil {
			return err
		}
		e.Created, e.Updated, e.Tickets = now(), nil, []Ticket{}
		return tx.QueryRowContext(ctx, `INSERT INTO employees (first_name, last_name, nick_name, phone, email,
			birthday, country, city, address, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.FirstName, e.LastName, e.NickName, e.Phone, e.Email, e.Birthday, e.Country, e.City, e.Address,
			e.Created).Scan(&e.ID)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// UpdateEmployee replaces every field of employee id with those of e.
func (s *Store) UpdateEmployee(ctx context.Context, id int64, e *Employee) (*Employee, error) {
	err := s.inTx(ctx, func(tx *txn) error {
		old, err := s.employeeByID(ctx, tx, id)
		if err != nil {
			return err
		}
		e.ID, e.Created = id, old.Created
		if err := checkEmployeeUnique(ctx, tx, e); err != nil {
			return err
		}
		t := now()
		e.Updated = &t
		if _, err := tx.ExecContext(ctx, `UPDATE employees SET first_name = ?, last_name = ?, nick_name = ?,
			phone = ?, email = ?, birthday = ?, country = ?, city = ?, address = ?, updated = ? WHERE id = ?`,
			e.FirstName, e.LastName, e.NickName, e.Phone, e.Email, e.Birthday, e.Country, e.City, e.Address,
			t, id); err != nil {
			return err
		}
		e.Tickets, err = s.tickets(ctx, tx, "WHERE employee_id = ? ORDER BY id", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// DeleteEmployee deletes an employee who has no tickets.
func (s *Store) DeleteEmployee(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *txn) error {
		if _, err := s.employeeByID(ctx, tx, id); err != nil {
			return err
		}
		has, err := exists(ctx, tx, "SELECT 1 FROM tickets WHERE employee_id = ?", id)
		if err != nil {
			return err
		}
		if has {
			return errEmployeeHasTickets
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM employees WHERE id = ?", id)
		return orFailure(err, foreignKeyViolation, errEmployeeHasTickets)
	})
}

// ---- Tickets ----

const ticketColumns = `id, COALESCE(title, ''), COALESCE(description, ''), COALESCE(status, ''),
	COALESCE(owner_id, 0), COALESCE(employee_id, 0), COALESCE(created, ''), updated`

func scanTicket(row scanner) (*Ticket, error) {
	t := &Ticket{}
	err := row.Scan(&t.ID, &t.Title, &t.Description, &t.Status, &t.OwnerID, &t.EmployeeID, &t.Created, &t.Updated)
	return t, err
}

// tickets runs one SELECT of tickets; rest is its WHERE/ORDER/LIMIT part.
func (s *Store) tickets(ctx context.Context, q queryer, rest string, args ...any) ([]Ticket, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets "+rest, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tickets := []Ticket{}
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, err
		}
		tickets = append(tickets, *t)
	}
	return tickets, rows.Err()
}

func (s *Store) ticketByID(ctx context.Context, q queryer, id int64) (*Ticket, error) {
	t, err := scanTicket(q.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errTicketNotFound
	}
	return t, err
}

func (s *Store) Ticket(ctx context.Context, id int64) (*Ticket, error) {
	return s.ticketByID(ctx, s.read, id)
}

func (s *Store) ListTickets(ctx context.Context, p page) ([]Ticket, error) {
	return s.tickets(ctx, s.read, "WHERE id > ? ORDER BY id LIMIT ? OFFSET ?", p.after, p.limit, p.skip)
}

// ListTicketsOf returns the tickets a user created.
func (s *Store) ListTicketsOf(ctx context.Context, ownerID int64, p page) ([]Ticket, error) {
	return s.tickets(ctx, s.read, "WHERE owner_id = ? AND id > ? ORDER BY id LIMIT ? OFFSET ?",
		ownerID, p.after, p.limit, p.skip)
}

// CreateTicket files t about employee employeeID, owned by user ownerID.
func (s *Store) CreateTicket(ctx context.Context, employeeID, ownerID int64, t *Ticket) (*Ticket, error) {
	err := s.inTx(ctx, func(tx *txn) error {
		t.EmployeeID, t.OwnerID, t.Created, t.Updated = employeeID, ownerID, now(), nil
		// One statement: it inserts nothing (no row) when the employee does not exist.
		// The CASTs tell PostgreSQL the parameters' types, which it cannot
		// guess from a SELECT list.
		err := tx.QueryRowContext(ctx, `INSERT INTO tickets (title, description, status, employee_id, owner_id,
			created) SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), id, CAST(? AS BIGINT), CAST(? AS TEXT)
			FROM employees WHERE id = ? RETURNING id`,
			t.Title, t.Description, t.Status, ownerID, t.Created, employeeID).Scan(&t.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return errEmployeeNotFound
		}
		return orFailure(err, foreignKeyViolation, errUserNotFound) // the owner was deleted meanwhile
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateTicket replaces a ticket's title, description and status.
func (s *Store) UpdateTicket(ctx context.Context, id int64, in *Ticket) (*Ticket, error) {
	var t *Ticket
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		if t, err = s.ticketByID(ctx, tx, id); err != nil {
			return err
		}
		stamp := now()
		t.Title, t.Description, t.Status, t.Updated = in.Title, in.Description, in.Status, &stamp
		_, err = tx.ExecContext(ctx, "UPDATE tickets SET title = ?, description = ?, status = ?, updated = ? WHERE id = ?",
			t.Title, t.Description, t.Status, stamp, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Store) DeleteTicket(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *txn) error {
		if _, err := s.ticketByID(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM tickets WHERE id = ?", id)
		return err
	})
}

// ---- Login failures (the shared login throttle, PostgreSQL only) ----

// LoginFailures reads the throttle's counts of keys (missing keys: none).
func (s *Store) LoginFailures(ctx context.Context, keys ...string) (map[string]failures, error) {
	counts := map[string]failures{}
	for _, key := range keys {
		f, err := loginFailures(ctx, s.read, key)
		if err != nil {
			return nil, err
		}
		counts[key] = f
	}
	return counts, nil
}

// failureKey is how a throttle key is stored: a hash, because the key holds
// whatever username a client sent, and PostgreSQL text takes neither NUL
// bytes nor invalid UTF-8.
func failureKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func loginFailures(ctx context.Context, q queryer, key string) (failures, error) {
	var f failures
	var since, until int64
	err := q.QueryRowContext(ctx, "SELECT count, since, blocked_until FROM login_failures WHERE key = ?", failureKey(key)).
		Scan(&f.count, &since, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return failures{}, nil
	}
	f.since, f.blockedUntil = time.UnixMilli(since), time.UnixMilli(until)
	return f, err
}

// AddLoginFailure counts one failure for each key, update deciding each
// new count from the old, all in one write; rows whose window ended before
// expireBefore (when not zero) and are not blocked at now are deleted.
func (s *Store) AddLoginFailure(ctx context.Context, update func(key string, f failures) failures,
	now, expireBefore time.Time, keys ...string) (map[string]failures, error) {
	counts := map[string]failures{}
	err := s.inTx(ctx, func(tx *txn) error {
		if !expireBefore.IsZero() {
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_failures WHERE since < ? AND blocked_until <= ?",
				expireBefore.UnixMilli(), now.UnixMilli()); err != nil {
				return err
			}
		}
		for _, key := range keys {
			f, err := loginFailures(ctx, tx, key)
			if err != nil {
				return err
			}
			f = update(key, f)
			counts[key] = f
			if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, count, since, blocked_until)
				VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET count = excluded.count,
				since = excluded.since, blocked_until = excluded.blocked_until`,
				failureKey(key), f.count, f.since.UnixMilli(), f.blockedUntil.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	return counts, err
}

// ForgetLoginFailures deletes the counts of keys. Most logins have none to
// forget, so it reads first and takes the write lock only when there are.
func (s *Store) ForgetLoginFailures(ctx context.Context, keys ...string) error {
	counts, err := s.LoginFailures(ctx, keys...)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(keys, func(key string) bool { return counts[key].count > 0 }) {
		return nil
	}
	return s.inTx(ctx, func(tx *txn) error {
		for _, key := range keys {
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_failures WHERE key = ?", failureKey(key)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- Schema and migrations ----

// schemaTables is the current SQLite schema. AUTOINCREMENT keeps ids from
// being handed out again after a delete; the foreign keys keep tickets from
// pointing at nothing.
const schemaTables = `
CREATE TABLE users (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	username VARCHAR(16),
	first_name VARCHAR(64),
	last_name VARCHAR(64),
	phone VARCHAR(20),
	email VARCHAR(64),
	role JSON,
	disabled BOOLEAN,
	login_denied BOOLEAN,
	hashed_password VARCHAR(128),
	created VARCHAR(19),
	updated VARCHAR(19)
);
CREATE TABLE employees (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	first_name VARCHAR(64),
	last_name VARCHAR(64),
	nick_name VARCHAR(20),
	phone VARCHAR(20),
	email VARCHAR(64),
	birthday VARCHAR(10),
	country VARCHAR(64),
	city VARCHAR(64),
	address VARCHAR(254),
	created VARCHAR(19),
	updated VARCHAR(19)
);
CREATE TABLE tickets (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	title VARCHAR(32),
	description VARCHAR(64),
	status VARCHAR(16),
	employee_id INTEGER REFERENCES employees (id),
	owner_id INTEGER REFERENCES users (id),
	created VARCHAR(19),
	updated VARCHAR(19)
);`

// postgresTables is the same schema for PostgreSQL: identity columns (which,
// like AUTOINCREMENT, never hand an id out twice), TEXT where SQLite's
// VARCHAR(n) only documented a length (the API checks lengths; rows copied
// from the original must fit whatever it stored), timestamps as the same
// text as in SQLite, so answers are identical. login_failures is the login
// throttle's table, shared by every instance (see sharedThrottle in auth.go).
const postgresTables = `
CREATE TABLE users (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	username TEXT,
	first_name TEXT,
	last_name TEXT,
	phone TEXT,
	email TEXT,
	role TEXT,
	disabled BOOLEAN,
	login_denied BOOLEAN,
	hashed_password TEXT,
	created TEXT,
	updated TEXT
);
CREATE TABLE employees (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	first_name TEXT,
	last_name TEXT,
	nick_name TEXT,
	phone TEXT,
	email TEXT,
	birthday TEXT,
	country TEXT,
	city TEXT,
	address TEXT,
	created TEXT,
	updated TEXT
);
CREATE TABLE tickets (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	title TEXT,
	description TEXT,
	status TEXT,
	employee_id BIGINT REFERENCES employees (id),
	owner_id BIGINT REFERENCES users (id),
	created TEXT,
	updated TEXT
);
CREATE TABLE login_failures (
	key TEXT PRIMARY KEY,
	count INTEGER NOT NULL,
	since BIGINT NOT NULL,
	blocked_until BIGINT NOT NULL
);`

// schemaIndexes: the unique ones back up the checks the store makes itself;
// the ticket indexes make reading an employee's or a user's tickets cheap.
var schemaIndexes = []struct {
	name, table, columns string
	unique               bool
}{
	{"ix_users_username", "users", "username", true},
	{"ix_users_phone", "users", "phone", true},
	{"ix_users_email", "users", "email", true},
	{"ix_users_email_lower", "users", "lower(email)", false},
	{"ix_employees_phone", "employees", "phone", true},
	{"ix_employees_email", "employees", "email", true},
	{"ix_employees_email_lower", "employees", "lower(email)", false},
	{"ix_tickets_employee_id", "tickets", "employee_id", false},
	{"ix_tickets_owner_id", "tickets", "owner_id", false},
}

// ---- Dialects: everything that differs between SQLite and PostgreSQL ----

// dialect is one database's way of doing the few things the two do
// differently. The rest of the store is the same SQL for both.
type dialect struct {
	name string
	// rebind turns the store's ? placeholders into the driver's.
	rebind func(query string) string
	// beginWrite runs first in every write transaction and takes the
	// database's write lock (SQLite's BEGIN IMMEDIATE does it itself).
	beginWrite string
	// adminRole is a condition on users: its role, a JSON array, holds "admin".
	adminRole string
	// migrations[i] takes the schema from version i to i+1.
	migrations []func(ctx context.Context, tx *sql.Tx, log *slog.Logger) error
	// startMigration prepares conn for migrating, readVersion reads the
	// schema version, writeVersion records it, and finishMigration undoes
	// startMigration and checks the result.
	startMigration  func(ctx context.Context, conn *sql.Conn) error
	readVersion     func(ctx context.Context, conn *sql.Conn) (int, error)
	writeVersion    func(ctx context.Context, tx *sql.Tx, version int) error
	finishMigration func(ctx context.Context, conn *sql.Conn, log *slog.Logger) error
}

// writeLockKey names PostgreSQL's advisory lock that write transactions
// take: any number, the same in every instance.
const writeLockKey = 7_250_001

// migrationLockKey is the advisory lock held while one instance migrates,
// so that instances starting together do not migrate twice.
const migrationLockKey = 7_250_002

var sqliteDialect = &dialect{
	name:       "sqlite",
	rebind:     func(query string) string { return query },
	adminRole:  `EXISTS (SELECT 1 FROM json_each(users.role) WHERE value = 'admin')`,
	migrations: []func(context.Context, *sql.Tx, *slog.Logger) error{migrateFromOriginal},
	// Tables are rebuilt with foreign key checks off, SQLite's documented
	// way to change a table; any row that then breaks a foreign key is
	// reported (and kept).
	startMigration: func(ctx context.Context, conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF")
		return err
	},
	readVersion: func(ctx context.Context, conn *sql.Conn) (v int, err error) {
		err = conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
		return v, err
	},
	writeVersion: func(ctx context.Context, tx *sql.Tx, v int) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
		return err
	},
	finishMigration: func(ctx context.Context, conn *sql.Conn, log *slog.Logger) error {
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = ON"); err != nil {
			return err
		}
		return reportForeignKeyProblems(ctx, conn, log)
	},
}

var postgresDialect = &dialect{
	name:       "postgres",
	rebind:     dollarPlaceholders,
	beginWrite: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", writeLockKey),
	adminRole:  `COALESCE(users.role, '[]')::jsonb @> '["admin"]'`,
	migrations: []func(context.Context, *sql.Tx, *slog.Logger) error{createPostgresSchema},
	startMigration: func(ctx context.Context, conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_lock(%d)", migrationLockKey))
		return err
	},
	readVersion: func(ctx context.Context, conn *sql.Conn) (v int, err error) {
		var found bool
		if err = conn.QueryRowContext(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&found); err != nil || !found {
			return 0, err
		}
		err = conn.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v)
		return v, err
	},
	writeVersion: func(ctx context.Context, tx *sql.Tx, v int) error {
		_, err := tx.ExecContext(ctx, "UPDATE schema_version SET version = $1", v)
		return err
	},
	finishMigration: func(ctx context.Context, conn *sql.Conn, log *slog.Logger) error {
		_, err := conn.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_unlock(%d)", migrationLockKey))
		return err
	},
}

// dollarPlaceholders numbers the ? placeholders of a query ($1, $2, ...),
// as PostgreSQL wants them. A ? inside a quoted string stays as it is.
func dollarPlaceholders(query string) string {
	var b strings.Builder
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// uniqueViolation names the failure for an error that broke a unique index
// (ix_users_email on PostgreSQL, "users.email" in SQLite's message): the
// same failure the store's own checks give, on both databases.
func uniqueViolation(err error) (failure, bool) {
	if !duplicateKey(err) {
		return "", false
	}
	var column string
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		column = pgErr.ConstraintName[strings.LastIndex(pgErr.ConstraintName, "_")+1:]
	} else if _, after, found := strings.Cut(err.Error(), "UNIQUE constraint failed: "); found {
		column, _, _ = strings.Cut(after, " ")
		column = column[strings.LastIndex(column, ".")+1:]
	}
	switch column {
	case "username":
		return errUsernameTaken, true
	case "email":
		return errEmailTaken, true
	case "phone":
		return errPhoneTaken, true
	}
	return "", false
}

// duplicateKey tells whether err broke a unique index.
func duplicateKey(err error) bool {
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	return errors.As(err, &pgErr) && pgErr.Code == "23505" ||
		errors.As(err, &liteErr) && liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// storable tells whether a string can be stored, and so looked up, in
// both databases: PostgreSQL text is valid UTF-8 without NUL bytes.
func storable(text string) bool {
	return utf8.ValidString(text) && !strings.ContainsRune(text, 0)
}

// foreignKeyViolation tells whether err broke a foreign key.
func foreignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	return errors.As(err, &pgErr) && pgErr.Code == "23503" ||
		errors.As(err, &liteErr) && liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// orFailure answers f instead of err when is(err).
func orFailure(err error, is func(error) bool, f failure) error {
	if err != nil && is(err) {
		return f
	}
	return err
}

// migrate applies the missing migrations, each in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	d := s.dialect
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := d.startMigration(ctx, conn); err != nil {
		return err
	}
	err = s.applyMigrations(ctx, conn)
	return errors.Join(err, d.finishMigration(context.WithoutCancel(ctx), conn, s.log))
}

func (s *Store) applyMigrations(ctx context.Context, conn *sql.Conn) error {
	d := s.dialect
	version, err := d.readVersion(ctx, conn)
	if err != nil {
		return err
	}
	if version > len(d.migrations) {
		return fmt.Errorf("the database has schema version %d, newer than this ticketapi knows (%d): use a newer binary",
			version, len(d.migrations))
	}
	for v := version; v < len(d.migrations); v++ {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := d.migrations[v](ctx, tx, s.log); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
		if err := d.writeVersion(ctx, tx, v+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.log.Info("database schema migrated", "database", d.name, "version", v+1)
	}
	return nil
}

// createPostgresSchema creates the schema in an empty PostgreSQL database.
func createPostgresSchema(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
	if _, err := tx.ExecContext(ctx, postgresTables+`
		CREATE TABLE schema_version (version INTEGER NOT NULL);
		INSERT INTO schema_version VALUES (0);`); err != nil {
		return err
	}
	for _, ix := range schemaIndexes {
		if err := createIndex(ctx, tx, ix.name, ix.table, ix.columns, ix.unique, log); err != nil {
			return err
		}
	}
	return nil
}

// migrateFromOriginal creates the schema on an empty file, or rebuilds the
// original's tables into it keeping every row (and id) exactly as it was.
func migrateFromOriginal(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
	var old []string
	for _, table := range []string{"users", "employees", "tickets"} {
		found, err := exists(ctx, tx, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table)
		if err != nil {
			return err
		}
		if found {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s_original", table, table)); err != nil {
				return err
			}
			old = append(old, table)
		}
	}
	if _, err := tx.ExecContext(ctx, schemaTables); err != nil {
		return err
	}
	columns := map[string]string{
		"users":     "id, username, first_name, last_name, phone, email, role, disabled, login_denied, hashed_password, created, updated",
		"employees": "id, first_name, last_name, nick_name, phone, email, birthday, country, city, address, created, updated",
		"tickets":   "id, title, description, status, employee_id, owner_id, created, updated",
	}
	for _, table := range old {
		res, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s_original",
			table, columns[table], columns[table], table))
		if err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		log.Info("upgrading a database written by the original: rows kept", "table", table, "rows", n)
	}
	for i := len(old) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+old[i]+"_original"); err != nil {
			return err
		}
	}
	for _, ix := range schemaIndexes {
		if err := createIndex(ctx, tx, ix.name, ix.table, ix.columns, ix.unique, log); err != nil {
			return err
		}
	}
	return nil
}

// createIndex creates an index. A unique index that old rows already break
// (the original's shipped file has two employees with one email) is created
// plain instead, keeping those rows: the store's own checks hold new writes
// to the rule, and the log says what was found. The savepoint lets the
// transaction go on after the failed attempt (PostgreSQL requires it).
func createIndex(ctx context.Context, tx *sql.Tx, name, table, columns string, unique bool, log *slog.Logger) error {
	if unique {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT unique_index"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE UNIQUE INDEX %s ON %s (%s)", name, table, columns))
		if err != nil && !duplicateKey(err) {
			return err
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, "RELEASE unique_index")
			return err
		}
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO unique_index"); err != nil {
			return err
		}
		var dups string
		tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT string_agg(v, ', ') FROM (SELECT %s AS v FROM %s
			GROUP BY %s HAVING count(*) > 1) AS d`, columns, table, columns)).Scan(&dups)
		log.Warn("existing rows share a value that must be unique; keeping them, new writes must be unique",
			"table", table, "column", columns, "duplicates", dups)
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE INDEX %s ON %s (%s)", name, table, columns))
	return err
}

func reportForeignKeyProblems(ctx context.Context, conn *sql.Conn, log *slog.Logger) error {
	rows, err := conn.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid, fkid sql.NullInt64
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		log.Warn("a row points at a record that does not exist; kept as it is", "table", table, "rowid", rowid.Int64, "missing_in", parent)
	}
	return rows.Err()
}

// ---- Copying a SQLite database into PostgreSQL ----

// copyTables are the tables copyDatabase copies and their columns, read and
// written by name, in an order the foreign keys accept (PostgreSQL checks
// them at once): tickets point at employees and users.
var copyTables = []struct{ table, columns string }{
	{"users", "id, username, first_name, last_name, phone, email, role, disabled, login_denied, hashed_password, created, updated"},
	{"employees", "id, first_name, last_name, nick_name, phone, email, birthday, country, city, address, created, updated"},
	{"tickets", "id, title, description, status, employee_id, owner_id, created, updated"},
}

// copiedRows is how many rows of one table copyDatabase copied.
type copiedRows struct {
	table string
	rows  int64
}

// copyDatabase copies the SQLite file fromPath, written by ticketapi or by
// the original, into the empty PostgreSQL database toURL: every row with
// its id, timestamps, password hash, role text, booleans and NULLs.
//
// The source is read as it is, in one snapshot, and never migrated (that
// would rewrite an original's file). The target gets its schema from the
// normal migration, and the rows in one transaction under the write lock:
// a copy that fails leaves it empty. A target holding any row is refused,
// and so is a source whose tickets point at a missing employee or user
// (SQLite kept such rows; PostgreSQL's foreign keys refuse them).
func copyDatabase(ctx context.Context, fromPath, toURL string, log *slog.Logger) ([]copiedRows, error) {
	if !isPostgresURL(toURL) {
		return nil, errors.New("copy: the target must be a postgres:// or postgresql:// URL") // not echoed: it may hold a password
	}
	if _, err := os.Stat(fromPath); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("copy: source database %s does not exist", fromPath)
	} else if err != nil {
		return nil, fmt.Errorf("copy: source database: %w", err)
	}
	src, err := sql.Open("sqlite", "file:"+fromPath+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// One read transaction: the three tables come from one snapshot even
	// while a server writes to the file.
	read, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("copy: open %s: %w", fromPath, err)
	}
	defer read.Rollback()
	if err := checkCopySource(ctx, read, fromPath); err != nil {
		return nil, err
	}

	store, err := openStore(ctx, toURL, log)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	tx, err := store.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var users, employees, tickets int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM employees),
		(SELECT count(*) FROM tickets)`).Scan(&users, &employees, &tickets); err != nil {
		return nil, err
	}
	if users+employees+tickets > 0 {
		return nil, fmt.Errorf("copy: %s already holds rows (users %d, employees %d, tickets %d): copy only into an empty database, "+
			"before any server starts on it (a server creates the first admin)", displayName(toURL), users, employees, tickets)
	}

	// The unique indexes come back after the rows, through createIndex:
	// rows the original let share a value (the shipped file has two
	// employees with one email) then get a plain index, as on SQLite.
	for _, ix := range schemaIndexes {
		if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+ix.name); err != nil {
			return nil, err
		}
	}
	var copied []copiedRows
	for _, t := range copyTables {
		n, maxID, err := copyTable(ctx, read, tx, store.dialect, t.table, t.columns)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", t.table, err)
		}
		// New ids continue after every id the source handed out, also
		// those of rows deleted since (sqlite_sequence remembers them).
		last, err := sqliteSequence(ctx, read, t.table)
		if err != nil {
			return nil, err
		}
		if last = max(last, maxID); last > 0 {
			if _, err := tx.ExecContext(ctx, store.dialect.rebind("SELECT setval(pg_get_serial_sequence(?, 'id'), ?)"),
				t.table, last); err != nil {
				return nil, err
			}
		}
		copied = append(copied, copiedRows{t.table, n})
	}
	for _, ix := range schemaIndexes {
		if err := createIndex(ctx, tx, ix.name, ix.table, ix.columns, ix.unique, log); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("copy: commit to %s: %w", displayName(toURL), err)
	}
	return copied, nil
}

// checkCopySource refuses a source this ticketapi cannot read, or whose
// tickets point at rows that do not exist, naming them.
func checkCopySource(ctx context.Context, read *sql.Tx, fromPath string) error {
	var version int
	if err := read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("copy: read %s: %w", fromPath, err)
	}
	if version > len(sqliteDialect.migrations) {
		return fmt.Errorf("copy: %s has schema version %d, newer than this ticketapi knows (%d): use a newer binary",
			fromPath, version, len(sqliteDialect.migrations))
	}
	rows, err := read.QueryContext(ctx, `SELECT id, employee_id, owner_id FROM tickets
		WHERE employee_id IS NOT NULL AND employee_id NOT IN (SELECT id FROM employees)
		OR owner_id IS NOT NULL AND owner_id NOT IN (SELECT id FROM users) ORDER BY id`)
	if err != nil {
		return fmt.Errorf("copy: read %s: %w", fromPath, err)
	}
	defer rows.Close()
	var broken []string
	for rows.Next() {
		var id int64
		var employee, owner sql.NullInt64
		if err := rows.Scan(&id, &employee, &owner); err != nil {
			return err
		}
		broken = append(broken, fmt.Sprintf("ticket %d (employee_id %s, owner_id %s)", id, nullInt(employee), nullInt(owner)))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(broken) > 0 {
		n := len(broken)
		if n > 20 { // enough to see the pattern, short enough to read
			broken = append(broken[:20], fmt.Sprintf("and %d more", n-20))
		}
		return fmt.Errorf("copy: nothing copied: in %s, %d tickets point at an employee or user that does not exist, "+
			"which PostgreSQL refuses; fix or delete them in a copy of the file first: %s",
			fromPath, n, strings.Join(broken, ", "))
	}
	return nil
}

func nullInt(n sql.NullInt64) string {
	if !n.Valid {
		return "NULL"
	}
	return strconv.FormatInt(n.Int64, 10)
}

// copyTable inserts every row of table from the source into the target,
// ids included, and returns how many rows it copied and the highest id.
func copyTable(ctx context.Context, read, tx *sql.Tx, d *dialect, table, columns string) (n, maxID int64, err error) {
	names := strings.Split(columns, ", ")
	insert, err := tx.PrepareContext(ctx, d.rebind(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)",
		table, columns, strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", "))))
	if err != nil {
		return 0, 0, err
	}
	defer insert.Close()
	rows, err := read.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY id", columns, table))
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	values := make([]any, len(names))
	for i, name := range names {
		// Null* keep a NULL a NULL, and send each value as its column's type.
		switch name {
		case "id", "employee_id", "owner_id":
			values[i] = &sql.NullInt64{}
		case "disabled", "login_denied":
			values[i] = &sql.NullBool{}
		default:
			values[i] = &sql.NullString{}
		}
	}
	for rows.Next() {
		if err := rows.Scan(values...); err != nil {
			var id any
			rest := make([]any, len(names)-1)
			for i := range rest {
				rest[i] = new(any)
			}
			rows.Scan(append([]any{&id}, rest...)...) // again, only to name the row
			return n, maxID, fmt.Errorf("row id %v: %w", id, err)
		}
		id := values[0].(*sql.NullInt64).Int64
		for i, name := range names {
			text, ok := values[i].(*sql.NullString)
			if !ok || !text.Valid {
				continue
			}
			if !storable(text.String) {
				return n, maxID, fmt.Errorf("row id %d: %s is not UTF-8 text without NUL bytes, which PostgreSQL cannot store", id, name)
			}
			if name == "role" && !roleList(text.String) {
				return n, maxID, fmt.Errorf("row id %d: role %q is not a JSON array of strings", id, text.String)
			}
		}
		if _, err := insert.ExecContext(ctx, values...); err != nil {
			return n, maxID, fmt.Errorf("row id %d: %w", id, err)
		}
		n, maxID = n+1, max(maxID, id)
	}
	return n, maxID, rows.Err()
}

// roleList tells whether a role value is a JSON array of strings: the API
// would read anything else as no role at all.
func roleList(text string) bool {
	var roles []string
	return strings.HasPrefix(strings.TrimSpace(text), "[") && json.Unmarshal([]byte(text), &roles) == nil
}

// sqliteSequence is the last id AUTOINCREMENT handed out for table, or 0
// (the original's files have no sqlite_sequence, or none for the table).
func sqliteSequence(ctx context.Context, read *sql.Tx, table string) (int64, error) {
	found, err := exists(ctx, read, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")
	if err != nil || !found {
		return 0, err
	}
	var seq sql.NullInt64
	err = read.QueryRowContext(ctx, "SELECT max(seq) FROM sqlite_sequence WHERE name = ?", table).Scan(&seq)
	return seq.Int64, err
}
