package main

// logs.go: the server's log: one line per request and one per event, in
// slog's text format (the default) or JSON, on stderr, which systemd hands
// to journald.

import (
	"io"
	"log/slog"
)

// newLogger makes the server's logger. slog's handlers take lines from many
// goroutines at once and write each one whole.
func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
