package main

// store.go: every SQL statement the server runs, the schema, and the
// migrations that upgrade the original project's database files in place.
//
// SQLite is set up for a server: the pragmas are in the connection string so
// every pooled connection has them; writes go through a pool of one
// connection that starts its transactions with BEGIN IMMEDIATE, so writers
// queue instead of failing with "database is locked", and reads use their
// own pool, which WAL lets run beside the writer.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite"
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
	log         *slog.Logger
	path        string
	jobs        chan writeJob // writes waiting for writeLoop
	writerDone  chan struct{}
	closeOnce   sync.Once
	closeErr    error

	watch *changeWatch // tells when the database changed, for the user cache
	users userCache
}

// changeWatch tells whether the database may have changed: SQLite's PRAGMA
// data_version, read on one connection kept for it, changes whenever any
// other connection commits — this server's writer, or another process such
// as `ticketapi set-password`. A cache that is emptied whenever it changes
// never serves data older than the last commit.
type changeWatch struct {
	mu   sync.Mutex
	conn *sql.Conn
	stmt *sql.Stmt
}

func (w *changeWatch) version(ctx context.Context) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var v int64
	err := w.stmt.QueryRowContext(ctx).Scan(&v)
	return v, err
}

// userCache keeps the users that requests authenticate as, valid for one
// data_version: every request still asks the database whether anything
// changed (a cheap question), but not for the user's row.
type userCache struct {
	mu      sync.Mutex
	version int64
	users   map[string]User
}

const maxCachedUsers = 10000

// AuthUser is UserByUsername for authenticating a request: a disabled,
// deleted or re-passworded user is seen on the very next request, because
// the cache is emptied by any commit.
func (s *Store) AuthUser(ctx context.Context, username string) (*User, error) {
	v, err := s.watch.version(ctx)
	if err != nil {
		return nil, err
	}
	c := &s.users
	c.mu.Lock()
	if c.version != v {
		clear(c.users)
		c.version = v
	}
	cached, ok := c.users[username]
	c.mu.Unlock()
	if ok {
		cached.Role = slices.Clone(cached.Role) // the caller may change its copy
		return &cached, nil
	}
	u, err := s.UserByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.version == v && len(c.users) < maxCachedUsers {
		keep := *u
		keep.Role = slices.Clone(u.Role)
		c.users[username] = keep
	}
	c.mu.Unlock()
	return u, nil
}

// pool is a connection pool that prepares each statement once and keeps it:
// SQLite takes longer to compile a short query than to run it, and
// database/sql would compile it again on every call.
type pool struct {
	*sql.DB
	stmts sync.Map // query text → *sql.Stmt
}

func (p *pool) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := p.DB.PrepareContext(ctx, query)
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
		return p.DB.QueryRowContext(ctx, query, args...) // reports the same error
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
	return t.Tx.QueryRowContext(ctx, query, args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
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

// openStore opens (or creates) the database file and brings its schema up
// to date.
func openStore(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	writeDB, err := sql.Open("sqlite", sqliteDSN(path, true, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	write := &pool{DB: writeDB}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	s := &Store{write: write, log: log, path: path}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	readDB, err := sql.Open("sqlite", sqliteDSN(path, false, true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	read := &pool{DB: readDB}
	read.SetMaxOpenConns(max(4, runtime.NumCPU()) + 1) // + 1: the change watch keeps one
	read.SetMaxIdleConns(max(4, runtime.NumCPU()) + 1)
	s.read = read
	if s.watch, err = newChangeWatch(ctx, read); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.users.users = map[string]User{}
	s.jobs, s.writerDone = make(chan writeJob, maxBatch), make(chan struct{})
	go s.writeLoop()
	return s, nil
}

// Close lets the writer finish the writes it was given, then closes both
// pools; the last connection to close checkpoints the WAL.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.jobs)
		<-s.writerDone
		s.closeErr = errors.Join(s.watch.stmt.Close(), s.watch.conn.Close(), s.read.Close(), s.write.Close())
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
	stmt, err := conn.PrepareContext(ctx, "PRAGMA data_version")
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &changeWatch{conn: conn, stmt: stmt}, nil
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
	return <-job.done
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

func (s *Store) commitBatch(batch []writeJob) {
	ctx := context.Background()
	results := make([]error, len(batch))
	tx, err := s.write.BeginTx(ctx, nil)
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
	COALESCE(phone, ''), COALESCE(email, ''), COALESCE(role, '[]'), COALESCE(disabled, 0),
	COALESCE(login_denied, 0), COALESCE(hashed_password, ''), COALESCE(created, ''), updated`

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
		u.Created, u.Updated = now(), nil
		return tx.QueryRowContext(ctx, `INSERT INTO users (username, first_name, last_name, phone, email, role,
			disabled, login_denied, hashed_password, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.Username, u.FirstName, u.LastName, u.Phone, u.Email, roleJSON(u.Role), u.Disabled, u.LoginDenied,
			u.hashedPassword, u.Created).Scan(&u.ID)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
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
// writes are serialized, so two requests cannot both pass it.
func checkOtherAdmin(ctx context.Context, tx *txn, id int64) error {
	other, err := exists(ctx, tx, `SELECT 1 FROM users WHERE id != ? AND NOT COALESCE(disabled, 0)
		AND NOT COALESCE(login_denied, 0) AND EXISTS (SELECT 1 FROM json_each(users.role) WHERE value = 'admin')`, id)
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
		return err
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
		return err
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
		err := tx.QueryRowContext(ctx, `INSERT INTO tickets (title, description, status, employee_id, owner_id,
			created) SELECT ?, ?, ?, id, ?, ? FROM employees WHERE id = ? RETURNING id`,
			t.Title, t.Description, t.Status, ownerID, t.Created, employeeID).Scan(&t.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return errEmployeeNotFound
		}
		return err
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

// ---- Schema and migrations ----

// schemaTables is the current schema. AUTOINCREMENT keeps ids from being
// handed out again after a delete; the foreign keys keep tickets from
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

// migrations[i] takes the schema from version i to i+1 (PRAGMA user_version).
// Version 0 is an empty file or one written by the original.
var migrations = []func(ctx context.Context, tx *sql.Tx, log *slog.Logger) error{
	migrateFromOriginal,
}

// migrate applies the missing migrations, each in its own transaction, with
// foreign key checks off while tables are rebuilt (SQLite's documented way
// to change a table), then reports any rows that break a foreign key.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("the database has schema version %d, newer than this ticketapi knows (%d): use a newer binary",
			version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
	for v := version; v < len(migrations); v++ {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := migrations[v](ctx, tx, s.log); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.log.Info("database schema migrated", "version", v+1)
	}
	return reportForeignKeyProblems(ctx, conn, s.log)
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
// to the rule, and the log says what was found.
func createIndex(ctx context.Context, tx *sql.Tx, name, table, columns string, unique bool, log *slog.Logger) error {
	if unique {
		_, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE UNIQUE INDEX %s ON %s (%s)", name, table, columns))
		if err == nil || !strings.Contains(err.Error(), "UNIQUE constraint failed") {
			return err
		}
		var dups string
		tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT group_concat(v, ', ') FROM (SELECT %s AS v FROM %s
			GROUP BY %s HAVING count(*) > 1)`, columns, table, columns)).Scan(&dups)
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
