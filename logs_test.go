package main

// logs_test.go: logs.go, logbatch.go and logtext.go: text and JSON lines,
// each whole when many requests log at once; lines written in batches
// (batchWriter), never lost by a clean stop, warnings and errors at once;
// and FuzzQuickTextMatchesSlog: the fast text handler writes what slog's
// own TextHandler would.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The server's log lines are written in batches (batchWriter): never lost
// by a clean stop, never torn, warnings and errors written at once.
func TestBatchWriter(t *testing.T) {
	t.Parallel()
	t.Run("info waits, a warning writes it and itself at once, Close writes the rest", func(t *testing.T) {
		t.Parallel()
		out := &lockedBuffer{buf: &bytes.Buffer{}}
		w := newBatchWriter(out, time.Hour)
		log := newLogger(&Config{LogFormat: "text"}, w)
		log.Info("first")
		if got := out.String(); got != "" {
			t.Fatalf("an info line was written before its batch: %q", got)
		}
		log.With("part", 2).Error("second") // With: the flushing survives WithAttrs
		got := out.String()
		if !strings.Contains(got, "msg=first") || !strings.Contains(got, "msg=second part=2") || strings.Index(got, "first") > strings.Index(got, "second") {
			t.Fatalf("after an error: %q, want the info line, then the error line", got)
		}
		log.WithGroup("g").Info("third")
		if strings.Contains(out.String(), "third") {
			t.Fatal("an info line after the error was written before its batch")
		}
		w.Close()
		if !strings.Contains(out.String(), "msg=third") {
			t.Fatalf("Close did not write the last line: %q", out.String())
		}
		log.Info("fourth")
		if !strings.Contains(out.String(), "msg=fourth") {
			t.Fatal("a line after Close was not written at once")
		}
	})
	t.Run("a batch is written after the delay", func(t *testing.T) {
		t.Parallel()
		out := &lockedBuffer{buf: &bytes.Buffer{}}
		w := newBatchWriter(out, 5*time.Millisecond)
		defer w.Close()
		fmt.Fprintln(w, "line one")
		deadline := time.Now().Add(5 * time.Second)
		for out.String() != "line one\n" {
			if time.Now().After(deadline) {
				t.Fatalf("the line was not written within 5 s: %q", out.String())
			}
			time.Sleep(time.Millisecond)
		}
		fmt.Fprintln(w, "line two") // a second batch arms the timer again
		for out.String() != "line one\nline two\n" {
			if time.Now().After(deadline) {
				t.Fatalf("the second batch was not written: %q", out.String())
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Run("a full batch is written at once", func(t *testing.T) {
		t.Parallel()
		out := &lockedBuffer{buf: &bytes.Buffer{}}
		w := newBatchWriter(out, time.Hour)
		line := strings.Repeat("x", 1023) + "\n"
		for range maxLogBatch / len(line) {
			io.WriteString(w, line)
		}
		if n := len(out.String()); n != maxLogBatch {
			t.Fatalf("%d bytes written after %d bytes of lines, want all of them", n, maxLogBatch)
		}
	})
	t.Run("lines from many goroutines arrive whole, none lost", func(t *testing.T) {
		t.Parallel()
		out := &lockedBuffer{buf: &bytes.Buffer{}}
		w := newBatchWriter(out, time.Millisecond)
		log := newLogger(&Config{LogFormat: "json"}, w)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 500 {
					log.Info("request", "g", g, "i", i, "pad", strings.Repeat("p", i%200))
				}
			})
		}
		wg.Wait()
		w.Close()
		seen := map[[2]int]bool{}
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			var rec struct{ G, I int }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("a torn line: %v: %q", err, line)
			}
			seen[[2]int{rec.G, rec.I}] = true
		}
		if len(seen) != 8*500 {
			t.Fatalf("%d distinct lines, want %d", len(seen), 8*500)
		}
	})
}

// The server's log lines in the text format are written by
// quickTextHandler; whatever a record holds, they must equal what slog's
// own TextHandler writes (or be left to it).
func FuzzQuickTextMatchesSlog(f *testing.F) {
	f.Add("request", "path", "/api/v1/me", int64(200), 0.123, int64(1764372000123456789), true)
	f.Add("", "", "", int64(0), 0.0, int64(0), false)
	f.Add("a b", "k=v", "say \"hi\"\n", int64(-1), 1e21, int64(-62135596800000000), true)
	f.Add("tab\there", "ключ", "\xff\xfe", int64(1<<62), 1e-7, int64(253402300799999999), false)
	f.Add("\u2028", "back\\slash", "\u00a0nbsp", int64(42), 60000.5, int64(1), true)
	f.Add("del\x7f", "é", "emoji 🙂", int64(7), -0.0, int64(999), false)
	f.Fuzz(func(t *testing.T, msg, key, value string, n int64, x float64, nanos int64, yes bool) {
		quickTextMatchesSlog(t, msg, key, value, n, x, nanos, yes)
	})
}

func quickTextMatchesSlog(t *testing.T, msg, key, value string, n int64, x float64, nanos int64, yes bool) {
	t.Helper()
	// Each line's time is formatted from the text kept for its second
	// (appendStamp): a second time in (often) the same second, and a zone
	// other than UTC, go through that too.
	at := time.Unix(0, nanos).UTC()
	zone := time.FixedZone("", int(n%(18*3600)))
	for _, when := range []time.Time{at, at.Add(time.Duration(n % int64(time.Second))), at.In(zone), at.In(zone)} {
		quickTextLineMatchesSlog(t, when, msg, key, value, n, x, yes)
	}
}

func quickTextLineMatchesSlog(t *testing.T, when time.Time, msg, key, value string, n int64, x float64, yes bool) {
	t.Helper()
	r := slog.NewRecord(when, slog.LevelWarn, msg, 0)
	r.AddAttrs(slog.String(key, value), slog.Int64("n", n), slog.Float64("x", x), slog.Bool("yes", yes),
		slog.String("user", value+key))
	var want, got bytes.Buffer
	if err := slog.NewTextHandler(&want, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	line, ok := appendTextLine(nil, r)
	if !ok {
		if key != "" {
			t.Fatalf("appendTextLine left a record of strings and numbers to slog: %q", want.String())
		}
		return // an empty key: slog's business
	}
	got.Write(line)
	if got.String() != want.String() {
		t.Fatalf("quick text line differs from slog's:\n got %q\nwant %q", got.String(), want.String())
	}
}

func TestLogFormats(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			out := &lockedBuffer{buf: &bytes.Buffer{}}
			log := newLogger(&Config{LogFormat: format}, out)
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					log.Info("request", "path", "/api/v1/me", "n", i, "note", strings.Repeat("x", 2000))
				}()
			}
			wg.Wait()
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != 50 {
				t.Fatalf("%d lines, want 50", len(lines))
			}
			for _, line := range lines {
				if format == "json" {
					var v map[string]any
					if err := json.Unmarshal([]byte(line), &v); err != nil || v["msg"] != "request" || v["level"] != "INFO" {
						t.Fatalf("not a whole JSON line (%v): %.120s", err, line)
					}
				} else if !strings.Contains(line, "level=INFO msg=request path=/api/v1/me n=") || !strings.HasSuffix(line, strings.Repeat("x", 2000)) {
					t.Fatalf("not a whole text line: %.120s", line)
				}
			}
		})
	}
}

// Under journald (JOURNAL_STREAM set, the log on a file: stderr) every line
// starts with its syslog priority, which journald reads and strips, so
// `journalctl -p warning` finds warnings; elsewhere the lines stay plain.
// Not parallel: it sets the environment.
func TestJournalPriorityPrefixes(t *testing.T) {
	for level, want := range map[slog.Level]string{slog.LevelError: "<3>", slog.LevelError + 4: "<3>",
		slog.LevelWarn: "<4>", slog.LevelInfo: "<6>", slog.LevelInfo + 1: "<6>", slog.LevelDebug: "<7>", slog.LevelDebug - 4: "<7>"} {
		if got := journalPriority(level); got != want {
			t.Errorf("journalPriority(%v) = %s, want %s", level, got, want)
		}
	}
	logLines := func(t *testing.T, format string, batched bool) []string {
		t.Helper()
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var w io.Writer = f
		if batched {
			b := newBatchWriter(f, time.Hour)
			defer b.Close()
			w = b
		}
		log := newLogger(&Config{LogFormat: format}, w)
		log.Info("started", "addr", "127.0.0.1:8000")
		log.Warn("readiness check failed")
		log.With("user", "admin").Error("could not write")
		log.Debug("not shown at the default level")
		if b, ok := w.(*batchWriter); ok {
			b.Close()
		}
		text, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	}
	for _, format := range []string{"text", "json"} {
		for _, batched := range []bool{false, true} {
			name := fmt.Sprintf("%s batched=%v", format, batched)
			t.Run(name+" under journald", func(t *testing.T) {
				t.Setenv("JOURNAL_STREAM", "8:12345")
				lines := logLines(t, format, batched)
				if len(lines) != 3 {
					t.Fatalf("%d lines, want 3: %q", len(lines), lines)
				}
				for i, want := range []string{"<6>", "<4>", "<3>"} {
					line := lines[i]
					if !strings.HasPrefix(line, want) {
						t.Fatalf("line %d does not start with %s: %q", i, want, line)
					}
					rest := strings.TrimPrefix(line, want)
					if format == "json" && json.Unmarshal([]byte(rest), new(map[string]any)) != nil {
						t.Fatalf("after its priority, line %d is not slog's JSON line: %q", i, line)
					}
					if format == "text" && !strings.HasPrefix(rest, "time=") {
						t.Fatalf("after its priority, line %d is not slog's text line: %q", i, line)
					}
				}
				if !strings.Contains(lines[2], "could not write") || !strings.Contains(lines[2], "admin") {
					t.Fatalf("a logger made by With lost its attributes: %q", lines[2])
				}
			})
			t.Run(name+" elsewhere", func(t *testing.T) {
				t.Setenv("JOURNAL_STREAM", "")
				for _, line := range logLines(t, format, batched) {
					if strings.HasPrefix(line, "<") {
						t.Fatalf("a priority prefix without journald: %q", line)
					}
				}
			})
		}
	}
	t.Run("never on a writer that is not a file", func(t *testing.T) {
		t.Setenv("JOURNAL_STREAM", "8:12345")
		var out bytes.Buffer
		newLogger(&Config{LogFormat: "text"}, &out).Warn("careful")
		if !strings.HasPrefix(out.String(), "time=") {
			t.Fatalf("a buffer got a priority prefix: %q", out.String())
		}
	})
}
