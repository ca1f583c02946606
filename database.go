package main

// database.go: the Store itself: opening the database that the config
// names (a SQLite file or PostgreSQL) with its writer connection and
// reader pool, the caches beside them, and closing it all. The statements
// it runs are in store.go.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
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
	writes      *writeMetrics // what the writer did, for /metrics (metrics.go)

	watch   *changeWatch         // SQLite only: tells when the database changed, for the caches
	users   versionCache[User]   // by username, at most 10 000
	answers versionCache[[]byte] // encoded answers by key, at most 8 MiB

	employeeAnswers *employeeAnswers // GET /employee/{id}'s, by id, at most 8 MiB
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
	s.employeeAnswers = newEmployeeAnswers(8 << 20)
	s.jobs, s.writerDone = make(chan writeJob, maxBatch), make(chan struct{})
	s.writes = newWriteMetrics()
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
