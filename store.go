package main

// store.go: every SQL statement the API's requests run, each written whole
// in the method that runs it (database.go opens and closes the database).
//
// Two databases, one store: SQLite (the default, one file) and PostgreSQL
// (for several instances behind a load balancer). The statements are
// written once, with ? placeholders, in SQL both understand; dialect.go
// holds what differs, migrate.go the schema.
//
// Writes go through one writer connection per process, and every write
// transaction first takes the database's write lock (SQLite: BEGIN
// IMMEDIATE; PostgreSQL: an advisory lock shared by all instances), so
// writes happen one at a time everywhere and a check made inside a write
// (is this email taken? is this the last admin?) still holds at commit.
// Reads use their own pool and run beside the writer.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"time"
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

// now is the timestamp format of the original, in UTC.
func now() string { return time.Now().UTC().Format(time.DateTime) }

// inTx runs f as one write, after the request's If-Match (etag.go): all of
// it is committed, or none of it. The writer goroutine runs it (groupcommit.go),
// in one commit with the others waiting then; inTx returns once it is done.
func (s *Store) inTx(ctx context.Context, f func(*txn) error) error {
	err := s.submit(ctx, meetPrecondition(ctx, f))
	if f, ok := uniqueViolation(err); ok {
		return f // another write got there first: the same answer as the store's own check
	}
	return err
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

// userColumns, employeeColumns and ticketColumns are each table's columns,
// in the order the scan functions below read them.
const (
	userColumns = "id, username, first_name, last_name, phone, email, role, disabled, login_denied, " +
		"hashed_password, created, updated"
	employeeColumns = "id, first_name, last_name, nick_name, phone, email, birthday, country, city, address, " +
		"created, updated"
	ticketColumns = "id, title, description, status, employee_id, owner_id, created, updated"
)

type scanner interface{ Scan(dest ...any) error }

// scanUser reads a row of userColumns. Files written by the original allow
// NULL in every column: orZero reads a NULL as the empty value.
func scanUser(row scanner) (*User, error) {
	u := &User{}
	var role string
	err := row.Scan(&u.ID, orZero(&u.Username), orZero(&u.FirstName), orZero(&u.LastName), orZero(&u.Phone),
		orZero(&u.Email), orZero(&role), orZero(&u.Disabled), orZero(&u.LoginDenied), orZero(&u.hashedPassword),
		orZero(&u.Created), &u.Updated)
	if err != nil {
		return nil, err
	}
	if json.Unmarshal([]byte(role), &u.Role) != nil || u.Role == nil {
		u.Role = []string{}
	}
	return u, nil
}

// oneUser is the user a query for one row found, or errUserNotFound.
func oneUser(row *sql.Row) (*User, error) {
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUserNotFound
	}
	return u, err
}

func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	return oneUser(s.read.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
}

// UserByUsername, UserByPhone and UserByEmail look a user up by a value a
// client sent; one PostgreSQL cannot store is nobody's (see storable).
func (s *Store) UserByUsername(ctx context.Context, username string) (*User, error) {
	if !storable(username) {
		return nil, errUserNotFound
	}
	return oneUser(s.read.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE username = ?", username))
}

func (s *Store) UserByPhone(ctx context.Context, phone string) (*User, error) {
	if !storable(phone) {
		return nil, errUserNotFound
	}
	return oneUser(s.read.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE phone = ?", phone))
}

// UserByEmail ignores the case of ASCII letters, as email uniqueness does.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	if !storable(email) {
		return nil, errUserNotFound
	}
	return oneUser(s.read.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE lower(email) = lower(?) ORDER BY id LIMIT 1", email))
}

func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, err
}

func (s *Store) ListUsers(ctx context.Context, p page) ([]User, error) {
	return scanUsers(s.read.QueryContext(ctx, "SELECT "+userColumns+" FROM users WHERE id > ? ORDER BY id LIMIT ? OFFSET ?",
		p.after, p.limit, p.skip))
}

// scanUsers reads every row of a query of userColumns.
func scanUsers(rows *sql.Rows, err error) ([]User, error) {
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

// uniqueRule is one value that no two rows of a table may share: query
// finds another row (id != ?) that holds it.
type uniqueRule struct {
	query string
	value string
	err   failure
}

// checkUnique answers the first rule that another row than id breaks;
// usernames and emails ignore the case of ASCII letters (SQLite's lower()).
func checkUnique(ctx context.Context, tx *txn, id int64, rules ...uniqueRule) error {
	for _, r := range rules {
		taken, err := exists(ctx, tx, r.query, r.value, id)
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
	return checkUnique(ctx, tx, u.ID,
		uniqueRule{"SELECT 1 FROM users WHERE lower(username) = lower(?) AND id != ?", u.Username, errUsernameTaken},
		uniqueRule{"SELECT 1 FROM users WHERE lower(email) = lower(?) AND id != ?", u.Email, errEmailTaken},
		uniqueRule{"SELECT 1 FROM users WHERE phone = ? AND id != ?", u.Phone, errPhoneTaken})
}

func checkEmployeeUnique(ctx context.Context, tx *txn, e *Employee) error {
	return checkUnique(ctx, tx, e.ID,
		uniqueRule{"SELECT 1 FROM employees WHERE lower(email) = lower(?) AND id != ?", e.Email, errEmailTaken},
		uniqueRule{"SELECT 1 FROM employees WHERE phone = ? AND id != ?", e.Phone, errPhoneTaken})
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
	err := tx.QueryRowContext(ctx, `INSERT INTO users (username, first_name, last_name, phone, email, role,
		disabled, login_denied, hashed_password, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Username, u.FirstName, u.LastName, u.Phone, u.Email, roleJSON(u.Role), u.Disabled, u.LoginDenied,
		u.hashedPassword, u.Created).Scan(&u.ID)
	return audited(ctx, tx, err, created("user", &u.ID, u))
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
		if u, err = oneUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id)); err != nil {
			return err
		}
		wasAdmin, old := u.activeAdmin(), copyUser(u)
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
		return audited(ctx, tx, err, userChanges(old, u)...)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SetPassword replaces a user's password hash (which also ends every token
// issued under the old one).
func (s *Store) SetPassword(ctx context.Context, id int64, hash string) error {
	_, err := s.UpdateUser(ctx, id, func(u *User) error { u.hashedPassword = hash; return nil })
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

// DeleteUser deletes a user who created no tickets, if allowed(the user) is nil.
func (s *Store) DeleteUser(ctx context.Context, id int64, allowed func(*User) error) error {
	return s.inTx(ctx, func(tx *txn) error {
		u, err := oneUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
		if err == nil {
			err = allowed(u)
		}
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
		return audited(ctx, tx, orFailure(err, foreignKeyViolation, errUserOwnsTickets), deleted("user", id, u))
	})
}

// ---- Employees ----

func scanEmployee(row scanner) (*Employee, error) {
	e := &Employee{Tickets: []Ticket{}}
	err := row.Scan(&e.ID, orZero(&e.FirstName), orZero(&e.LastName), orZero(&e.NickName), orZero(&e.Phone),
		orZero(&e.Email), orZero(&e.Birthday), orZero(&e.Country), orZero(&e.City), orZero(&e.Address),
		orZero(&e.Created), &e.Updated)
	return e, err
}

// oneEmployee is the employee a query for one row found, or errEmployeeNotFound.
func oneEmployee(row *sql.Row) (*Employee, error) {
	e, err := scanEmployee(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errEmployeeNotFound
	}
	return e, err
}

// Employee returns one employee with all of its tickets.
func (s *Store) Employee(ctx context.Context, id int64) (*Employee, error) {
	e, err := oneEmployee(s.read.QueryRowContext(ctx, "SELECT "+employeeColumns+" FROM employees WHERE id = ?", id))
	if err != nil {
		return nil, err
	}
	e.Tickets, err = scanTickets(s.read.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE employee_id = ? ORDER BY id", id))
	return e, err
}

// ListEmployees returns a page of employees with their tickets: two queries
// a page, however many employees it holds.
func (s *Store) ListEmployees(ctx context.Context, p page) ([]Employee, error) {
	employees, err := scanEmployees(s.read.QueryContext(ctx,
		"SELECT "+employeeColumns+" FROM employees WHERE id > ? ORDER BY id LIMIT ? OFFSET ?", p.after, p.limit, p.skip))
	if err != nil || len(employees) == 0 {
		return employees, err
	}
	tickets, err := scanTickets(s.read.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets "+
		"WHERE employee_id BETWEEN ? AND ? ORDER BY employee_id, id", employees[0].ID, employees[len(employees)-1].ID))
	if err != nil {
		return nil, err
	}
	return withTickets(employees, tickets), nil
}

// scanEmployees reads every row of a query of employeeColumns.
func scanEmployees(rows *sql.Rows, err error) ([]Employee, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	employees := []Employee{}
	for rows.Next() {
		e, err := scanEmployee(rows)
		if err != nil {
			return nil, err
		}
		employees = append(employees, *e)
	}
	return employees, rows.Err()
}

// withTickets gives each of employees its tickets, in the order given;
// tickets of other employees are left out.
func withTickets(employees []Employee, tickets []Ticket) []Employee {
	index := make(map[int64]int, len(employees))
	for i, e := range employees {
		index[e.ID] = i
	}
	for _, t := range tickets {
		if i, ok := index[t.EmployeeID]; ok {
			employees[i].Tickets = append(employees[i].Tickets, t)
		}
	}
	return employees
}

func (s *Store) CreateEmployee(ctx context.Context, e *Employee) (*Employee, error) {
	entry := created("employee", &e.ID, e) // here, not in the writer goroutine
	err := s.inTx(ctx, func(tx *txn) error {
		if err := checkEmployeeUnique(ctx, tx, e); err != nil {
			return err
		}
		e.Created, e.Updated, e.Tickets = now(), nil, []Ticket{}
		err := tx.QueryRowContext(ctx, `INSERT INTO employees (first_name, last_name, nick_name, phone, email,
			birthday, country, city, address, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.FirstName, e.LastName, e.NickName, e.Phone, e.Email, e.Birthday, e.Country, e.City, e.Address,
			e.Created).Scan(&e.ID)
		return audited(ctx, tx, err, entry)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// UpdateEmployee replaces every field of employee id with those of e.
func (s *Store) UpdateEmployee(ctx context.Context, id int64, e *Employee) (*Employee, error) {
	err := s.inTx(ctx, func(tx *txn) error {
		old, err := oneEmployee(tx.QueryRowContext(ctx, "SELECT "+employeeColumns+" FROM employees WHERE id = ?", id))
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
		e.Tickets, err = scanTickets(tx.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE employee_id = ? ORDER BY id", id))
		return audited(ctx, tx, err, updated("employee", id, old, e))
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// DeleteEmployee deletes an employee who has no tickets.
func (s *Store) DeleteEmployee(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *txn) error {
		e, err := oneEmployee(tx.QueryRowContext(ctx, "SELECT "+employeeColumns+" FROM employees WHERE id = ?", id))
		if err != nil {
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
		return audited(ctx, tx, orFailure(err, foreignKeyViolation, errEmployeeHasTickets), deleted("employee", id, e))
	})
}

// ---- Tickets ----

func scanTicket(row scanner) (*Ticket, error) {
	t := &Ticket{}
	err := row.Scan(&t.ID, orZero(&t.Title), orZero(&t.Description), orZero(&t.Status), orZero(&t.EmployeeID),
		orZero(&t.OwnerID), orZero(&t.Created), &t.Updated)
	return t, err
}

// oneTicket is the ticket a query for one row found, or errTicketNotFound.
func oneTicket(row *sql.Row) (*Ticket, error) {
	t, err := scanTicket(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errTicketNotFound
	}
	return t, err
}

// scanTickets reads every row of a query of ticketColumns.
func scanTickets(rows *sql.Rows, err error) ([]Ticket, error) {
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

func (s *Store) Ticket(ctx context.Context, id int64) (*Ticket, error) {
	return oneTicket(s.read.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = ?", id))
}

func (s *Store) ListTickets(ctx context.Context, p page) ([]Ticket, error) {
	return scanTickets(s.read.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id > ? ORDER BY id LIMIT ? OFFSET ?",
		p.after, p.limit, p.skip))
}

// ListTicketsOf returns the tickets a user created.
func (s *Store) ListTicketsOf(ctx context.Context, ownerID int64, p page) ([]Ticket, error) {
	return scanTickets(s.read.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets "+
		"WHERE owner_id = ? AND id > ? ORDER BY id LIMIT ? OFFSET ?", ownerID, p.after, p.limit, p.skip))
}

// CreateTicket files t about employee employeeID, owned by user ownerID.
func (s *Store) CreateTicket(ctx context.Context, employeeID, ownerID int64, t *Ticket) (*Ticket, error) {
	t.EmployeeID, t.OwnerID = employeeID, ownerID
	entry := created("ticket", &t.ID, t) // here, not in the writer goroutine
	err := s.inTx(ctx, func(tx *txn) error {
		t.Created, t.Updated = now(), nil
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
		err = orFailure(err, foreignKeyViolation, errUserNotFound) // the owner was deleted meanwhile
		return audited(ctx, tx, err, entry)
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
		if t, err = oneTicket(tx.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = ?", id)); err != nil {
			return err
		}
		stamp, old := now(), *t
		t.Title, t.Description, t.Status, t.Updated = in.Title, in.Description, in.Status, &stamp
		_, err = tx.ExecContext(ctx, "UPDATE tickets SET title = ?, description = ?, status = ?, updated = ? WHERE id = ?",
			t.Title, t.Description, t.Status, stamp, id)
		return audited(ctx, tx, err, updated("ticket", id, &old, t))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Store) DeleteTicket(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *txn) error {
		t, err := oneTicket(tx.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = ?", id))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM tickets WHERE id = ?", id)
		return audited(ctx, tx, err, deleted("ticket", id, t))
	})
}

// orZero scans a column that may hold NULL into dest, a NULL as T's zero value.
func orZero[T any](dest *T) sql.Scanner { return zeroIfNull[T]{dest} }

type zeroIfNull[T any] struct{ dest *T }

func (z zeroIfNull[T]) Scan(src any) error {
	var v sql.Null[T]
	if err := v.Scan(src); err != nil {
		return err
	}
	*z.dest = v.V // the zero value when src is NULL
	return nil
}
