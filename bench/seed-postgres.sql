-- Seed data of the load harness (bench/run.sh) for PostgreSQL: the same rows
-- as bench/seed.sql writes into SQLite, in one transaction. Parameters
-- (psql -v NAME=VALUE):
--   :schema      the server's schema (the search_path of its database_url)
--   :employees   employees to create, ids 1..:employees
--   :tickets     tickets to create, ids 1..:tickets
--   :ticketed    the tickets go round-robin to employees 1..:ticketed, so
--                each of them gets :tickets / :ticketed, spread over the table
--   :mine_every  every :mine_every-th ticket is owned by :mine_owner,
--   :mine_owner  the others by user 1 (the first admin)
--   :rare_every  every :rare_every-th ticket's description ends in the rare
--                word "quokka", which no other text holds (0: none), so that
--                a selective q finds the same tickets in a small and a large set
-- Every value passes the API's validation rules; timestamps are the
-- server's 'YYYY-MM-DD HH:MM:SS'.
SET search_path TO :"schema";
BEGIN;
INSERT INTO employees (id, first_name, last_name, nick_name, phone, email, birthday,
                       country, city, address, created)
SELECT i, 'Bench', 'Employee', 'bench', '+1555' || lpad(i::text, 7, '0'), 'bench' || i || '@example.com',
       '1990-01-01', 'Germany', 'Berlin', 'Benchmark Street ' || i || ', Berlin',
       '2024-01-01 00:00:00'
FROM generate_series(1, :employees) AS i;
INSERT INTO tickets (id, title, description, status, employee_id, owner_id, created)
SELECT i, 'Ticket number ' || i,
       CASE WHEN :rare_every > 0 AND i % :rare_every = 0 THEN 'Seeded by the load harness - quokka'
            ELSE 'Seeded by the load harness' END, 'open',
       (i - 1) % :ticketed + 1,
       CASE WHEN i % :mine_every = 0 THEN :mine_owner ELSE 1 END,
       '2024-01-01 00:00:00'
FROM generate_series(1, :tickets) AS i;
-- The ids were given explicitly, so the identity columns must be told to
-- go on after them (SQLite's AUTOINCREMENT does that by itself).
SELECT setval(pg_get_serial_sequence('employees', 'id'), max(id)) FROM employees;
SELECT setval(pg_get_serial_sequence('tickets', 'id'), max(id)) FROM tickets;
COMMIT;
-- Planner statistics and the visibility map now, not whenever autovacuum
-- comes round: otherwise the first measurements run on a table the planner
-- believes empty.
VACUUM ANALYZE employees, tickets;
