package main

// logs.go: the server's log: one line per request and one per event, in
// slog's text format (the default) or JSON, on stderr, which systemd hands
// to journald. The server's lines are written in batches (logbatch.go), and
// its text lines formatted by quickTextHandler (logtext.go), both for speed.
// Under journald each line starts with its syslog priority ("<4>" for a
// warning), so `journalctl -p warning` finds warnings and errors.

import (
	"context"
	"io"
	"log/slog"
	"os"
)

// newLogger makes the server's logger. Its lines are written from many
// goroutines at once, and quickTextHandler writes without slog's lock, so
// w gets a lock of its own unless it is a batchWriter (which locks).
func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	toJournal := writesToJournal(w)
	if _, ok := w.(*batchWriter); !ok {
		w = &lockedWriter{w: w}
	}
	var h slog.Handler
	if toJournal {
		h = newPriorityHandler(cfg, w)
	} else {
		h = newFormatHandler(cfg, w)
	}
	if b, ok := w.(*batchWriter); ok {
		h = flushingHandler{h, b}
	}
	return slog.New(h)
}

// newFormatHandler writes the lines in the configured format.
func newFormatHandler(cfg *Config, w io.Writer) slog.Handler {
	if cfg.LogFormat == "json" {
		return slog.NewJSONHandler(w, nil)
	}
	return quickTextHandler{slog.NewTextHandler(w, nil), w}
}

// writesToJournal reports whether w is a file (stderr, possibly under a
// batchWriter) that systemd connected to journald: systemd sets
// JOURNAL_STREAM for exactly those services, and a shell does not.
func writesToJournal(w io.Writer) bool {
	if b, ok := w.(*batchWriter); ok {
		w = b.out
	}
	_, isFile := w.(*os.File)
	return isFile && os.Getenv("JOURNAL_STREAM") != ""
}

// journalPriority is the "<N>" prefix journald reads as a line's syslog
// priority (and strips): 3 error, 4 warning, 6 info, 7 debug.
func journalPriority(level slog.Level) string {
	switch {
	case level >= slog.LevelError:
		return "<3>"
	case level >= slog.LevelWarn:
		return "<4>"
	case level >= slog.LevelInfo:
		return "<6>"
	default:
		return "<7>"
	}
}

// priorityLevels are the lowest level of each priority, in the order of
// priorityHandler.byPriority.
var priorityLevels = [...]slog.Level{slog.LevelError, slog.LevelWarn, slog.LevelInfo, slog.LevelDebug}

// priorityHandler sends each record to the format handler of its priority,
// whose writer puts that priority in front of the line: the line itself is
// formatted exactly as without journald.
type priorityHandler struct {
	byPriority [len(priorityLevels)]slog.Handler
}

func newPriorityHandler(cfg *Config, w io.Writer) priorityHandler {
	var h priorityHandler
	for i, level := range priorityLevels {
		h.byPriority[i] = newFormatHandler(cfg, prefixWriter{journalPriority(level), w})
	}
	return h
}

func (h priorityHandler) of(level slog.Level) slog.Handler {
	for i, lowest := range priorityLevels {
		if level >= lowest {
			return h.byPriority[i]
		}
	}
	return h.byPriority[len(priorityLevels)-1]
}

func (h priorityHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.of(level).Enabled(ctx, level)
}

func (h priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.of(r.Level).Handle(ctx, r)
}

func (h priorityHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i := range h.byPriority {
		h.byPriority[i] = h.byPriority[i].WithAttrs(attrs)
	}
	return h
}

func (h priorityHandler) WithGroup(name string) slog.Handler {
	for i := range h.byPriority {
		h.byPriority[i] = h.byPriority[i].WithGroup(name)
	}
	return h
}

// prefixWriter writes each line (one Write, as slog's handlers make) with
// prefix in front, in one Write too, so lines from many goroutines stay whole.
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(line []byte) (int, error) {
	buf := lineBuffers.Get().(*[]byte)
	prefixed := append(append((*buf)[:0], p.prefix...), line...)
	_, err := p.w.Write(prefixed)
	if cap(prefixed) <= 16<<10 { // keep no huge buffer around
		*buf = prefixed
	}
	lineBuffers.Put(buf)
	if err != nil {
		return 0, err
	}
	return len(line), nil
}
