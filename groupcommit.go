package main

// groupcommit.go: the writer goroutine. Writes waiting together share one
// transaction and one commit, each inside its own savepoint: a commit
// costs far more than a small insert. With 64 clients creating tickets
// this makes 6 200 writes/s instead of 4 100 (docs/performance.md). Their
// audit entries are inserted together, just before the commit (audit.go).

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// writeJob is one caller's write, waiting for the writer.
type writeJob struct {
	ctx       context.Context
	f         func(*txn) error
	done      chan error
	submitted time.Time // for the wait until its transaction starts (metrics.go)
}

// maxBatch bounds how many writes share one commit.
const maxBatch = 64

// submit hands f to the writer and waits for its commit. A write whose
// client has gone is not started: nobody would learn whether it was stored.
// Each caller has only so many writes waiting at once (ratelimit.go), so
// one caller's flood cannot fill the queue ahead of everyone else.
func (s *Store) submit(ctx context.Context, f func(*txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	release, err := takeWriteSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	job := writeJob{ctx: ctx, f: f, done: make(chan error, 1), submitted: time.Now()}
	select {
	case s.jobs <- job:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-job.done
}

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
	if batch = dropAbandoned(batch); len(batch) == 0 {
		return
	}
	ctx := context.Background()
	results := make([]error, len(batch))
	tx, err := s.beginWrite(ctx)
	if err == nil {
		s.writes.started(batch)
		t := &txn{Tx: tx, p: s.write}
		if len(batch) == 1 { // alone in its transaction: no savepoint needed
			if results[0] = runWrite(t, batch[0].f); results[0] != nil {
				tx.Rollback()
				err = results[0]
			}
		} else {
			for i, job := range batch {
				results[i] = runSavepoint(job.ctx, t, job.f)
			}
		}
		if err == nil { // the audit entries of the writes that went well, then the commit
			if err = writeAudit(ctx, t); err == nil {
				err = s.writes.timed(tx.Commit)
			} else {
				tx.Rollback()
			}
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

// dropAbandoned answers the writes whose client went away while they
// waited, without running them, and returns the others.
func dropAbandoned(batch []writeJob) []writeJob {
	live := batch[:0]
	for _, job := range batch {
		if err := job.ctx.Err(); err != nil {
			job.done <- err
			continue
		}
		live = append(live, job)
	}
	return live
}

// runSavepoint runs one write inside a savepoint, undoing it alone, and
// dropping the audit entries it added, when it fails or panics.
func runSavepoint(ctx context.Context, t *txn, f func(*txn) error) (err error) {
	if _, err := t.ExecContext(ctx, "SAVEPOINT write"); err != nil {
		return err
	}
	entries := len(t.audit)
	if err = runWrite(t, f); err != nil {
		t.ExecContext(context.Background(), "ROLLBACK TO write")
		t.audit = t.audit[:entries] // its audit entries go with it
	}
	t.ExecContext(context.Background(), "RELEASE write")
	return err
}

// runWrite runs one write, its panic turned into its error: the writer
// goroutine lives on for every other request, and the request whose write
// panicked answers 500 and logs the panic and where it happened.
func runWrite(t *txn, f func(*txn) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a write: %v\n%s", p, debug.Stack())
		}
	}()
	return f(t)
}
