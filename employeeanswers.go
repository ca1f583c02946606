package main

// employeeanswers.go: GET /employee/{id}'s answer is kept per employee,
// with its ETag, for as long as the employee's version is unchanged. The
// version is a column that triggers raise whenever the employee or one of
// its tickets changes, whoever writes (versionEmployees in migrate.go), so
// a request asks the database for one number instead of the employee and
// all of its tickets, and a write empties only its own employee's answer.
// The answer cache of cache.go is emptied by any commit, which under the
// mixed workload of bench/run.sh (a write every few milliseconds) made it
// useless there; docs/performance.md gives what this one gained.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
)

// employeeAnswer is an employee's encoded answer at one version.
type employeeAnswer struct {
	version   int64
	body      []byte
	tag       string
	checkedAt int64 // SQLite's data_version when version was last read
}

// employeeAnswers holds at most maxSize bytes of answers; when full, it
// starts again empty (simpler than choosing what to drop, and rare: 8 MiB
// holds thousands of employees). Employee ids are never reused (both
// schemas number them from a sequence), so an answer is never mistaken
// for another employee's of the same id and version.
type employeeAnswers struct {
	mu      sync.Mutex
	answers map[int64]employeeAnswer
	size    int
	maxSize int
}

func newEmployeeAnswers(maxSize int) *employeeAnswers {
	return &employeeAnswers{answers: map[int64]employeeAnswer{}, maxSize: maxSize}
}

// EmployeeAnswer is GET /employee/{id}'s answer, encoded, and its ETag:
// the kept one when the employee's version has not changed since it was
// kept, else read anew. The version is read first, so an answer is at
// least as new as the version it is kept under.
//
// On SQLite a kept answer also remembers the data_version (cache.go) at
// which it was last found current: while nothing at all has been
// committed since, it is served without asking for the version, which
// the change watch answers for less (GET /employee/{id} with no writes
// would otherwise lose a quarter of its rate, docs/performance.md).
func (s *Store) EmployeeAnswer(ctx context.Context, id int64) (body []byte, tag string, err error) {
	c := s.employeeAnswers
	var seen int64 // data_version before anything else is read; 0 on PostgreSQL
	if s.watch != nil {
		if seen, err = s.watch.version(); err != nil {
			return nil, "", err
		}
	}
	c.mu.Lock()
	kept, ok := c.answers[id]
	c.mu.Unlock()
	if ok && s.watch != nil && kept.checkedAt == seen {
		return kept.body, kept.tag, nil
	}
	var version int64
	err = s.read.QueryRowContext(ctx, "SELECT version FROM employees WHERE id = ?", id).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", errEmployeeNotFound
	} else if err != nil {
		return nil, "", err
	}
	if !ok || kept.version != version {
		e, err := s.Employee(ctx, id)
		if err != nil {
			return nil, "", err
		}
		if body, err = json.Marshal(e); err != nil {
			return nil, "", err
		}
		kept = employeeAnswer{version: version, body: body, tag: entityTag(body)}
	}
	kept.checkedAt = seen
	c.mu.Lock()
	if c.size+len(kept.body) > c.maxSize {
		clear(c.answers)
		c.size = 0
	}
	c.size += len(kept.body) - len(c.answers[id].body)
	c.answers[id] = kept
	c.mu.Unlock()
	return kept.body, kept.tag, nil
}

// versionEmployees adds employees.version and the SQLite triggers that
// raise it: after any change to the employee's row (unless the change set
// the version itself) and after any ticket of it is filed, changed or
// deleted. It can run again on a database set back to an older version.
func versionEmployees(ctx context.Context, tx *sql.Tx, _ *slog.Logger) error {
	var found bool
	err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pragma_table_info('employees') WHERE name = 'version')").Scan(&found)
	if err == nil && !found {
		_, err = tx.ExecContext(ctx, "ALTER TABLE employees ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `
DROP TRIGGER IF EXISTS employee_changed;
CREATE TRIGGER employee_changed AFTER UPDATE ON employees WHEN NEW.version = OLD.version BEGIN
	UPDATE employees SET version = version + 1 WHERE id = NEW.id;
END;
DROP TRIGGER IF EXISTS ticket_filed;
CREATE TRIGGER ticket_filed AFTER INSERT ON tickets BEGIN
	UPDATE employees SET version = version + 1 WHERE id = NEW.employee_id;
END;
DROP TRIGGER IF EXISTS ticket_changed;
CREATE TRIGGER ticket_changed AFTER UPDATE ON tickets BEGIN
	UPDATE employees SET version = version + 1 WHERE id IN (OLD.employee_id, NEW.employee_id);
END;
DROP TRIGGER IF EXISTS ticket_deleted;
CREATE TRIGGER ticket_deleted AFTER DELETE ON tickets BEGIN
	UPDATE employees SET version = version + 1 WHERE id = OLD.employee_id;
END;`)
	return err
}

// versionPostgresEmployees is versionEmployees for PostgreSQL: any update
// of an employee's row raises its version, and a change to a ticket
// updates its employee's row.
func versionPostgresEmployees(ctx context.Context, tx *sql.Tx, _ *slog.Logger) error {
	_, err := tx.ExecContext(ctx, `
ALTER TABLE employees ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0;
CREATE OR REPLACE FUNCTION employee_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.version := OLD.version + 1;
	RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS employee_changed ON employees;
CREATE TRIGGER employee_changed BEFORE UPDATE ON employees FOR EACH ROW EXECUTE FUNCTION employee_changed();
CREATE OR REPLACE FUNCTION employee_tickets_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		UPDATE employees SET version = version + 1 WHERE id = OLD.employee_id;
	END IF;
	IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.employee_id IS DISTINCT FROM OLD.employee_id) THEN
		UPDATE employees SET version = version + 1 WHERE id = NEW.employee_id;
	END IF;
	RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS employee_tickets_changed ON tickets;
CREATE TRIGGER employee_tickets_changed AFTER INSERT OR UPDATE OR DELETE ON tickets
	FOR EACH ROW EXECUTE FUNCTION employee_tickets_changed();`)
	return err
}
