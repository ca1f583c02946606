-- Seed data of the load harness (bench/run.sh), written straight into the
-- database in one transaction. Parameters (sqlite3 ".parameter set"):
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
BEGIN IMMEDIATE;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :employees)
INSERT INTO employees (id, first_name, last_name, nick_name, phone, email, birthday,
                       country, city, address, created)
SELECT i, 'Bench', 'Employee', 'bench', printf('+1555%07d', i), printf('bench%d@example.com', i),
       '1990-01-01', 'Germany', 'Berlin', printf('Benchmark Street %d, Berlin', i),
       '2024-01-01 00:00:00'
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :tickets)
INSERT INTO tickets (id, title, description, status, employee_id, owner_id, created)
SELECT i, printf('Ticket number %d', i),
       CASE WHEN :rare_every > 0 AND i % :rare_every = 0 THEN 'Seeded by the load harness - quokka'
            ELSE 'Seeded by the load harness' END, 'open',
       (i - 1) % :ticketed + 1,
       CASE WHEN i % :mine_every = 0 THEN :mine_owner ELSE 1 END,
       '2024-01-01 00:00:00'
FROM n;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
