package main

// logs.go: the server's log: one line per request and one per event, in
// slog's text format (the default) or JSON, on stderr, which systemd hands
// to journald. The server's lines are written in batches (logbatch.go), and
// its text lines formatted by quickTextHandler (logtext.go), both for speed.

import (
	"io"
	"log/slog"
)

// newLogger makes the server's logger. Its lines are written from many
// goroutines at once, and quickTextHandler writes without slog's lock, so
// w gets a lock of its own unless it is a batchWriter (which locks).
func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	if _, ok := w.(*batchWriter); !ok {
		w = &lockedWriter{w: w}
	}
	var h slog.Handler = quickTextHandler{slog.NewTextHandler(w, nil), w}
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, nil)
	}
	if b, ok := w.(*batchWriter); ok {
		h = flushingHandler{h, b}
	}
	return slog.New(h)
}
