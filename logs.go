package main

// logs.go: the server's log. slog's text (the default) or JSON lines on
// stderr, which systemd hands to journald; written in batches, and in the
// text format formatted here rather than by slog's general machinery,
// because a busy server writes one line per request.

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
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

// lockedWriter lets one writer take lines from many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// quickTextHandler writes the lines slog's TextHandler would write, byte
// for byte, for records it can format on its own: attributes that are
// strings, integers, floats or booleans, no groups. That is every access log
// line, and formatting them here costs a fraction of slog's general way
// (which was 10% of a GET /me's CPU). Other records, and loggers made by
// With or WithGroup, go to slog. FuzzQuickTextMatchesSlog holds the two
// together.
type quickTextHandler struct {
	*slog.TextHandler
	out io.Writer
}

var lineBuffers = sync.Pool{New: func() any { return new([]byte) }}

func (h quickTextHandler) Handle(ctx context.Context, r slog.Record) error {
	buf := lineBuffers.Get().(*[]byte)
	defer lineBuffers.Put(buf)
	line, ok := appendTextLine((*buf)[:0], r)
	if !ok {
		return h.TextHandler.Handle(ctx, r)
	}
	if cap(line) <= 16<<10 { // keep no huge buffer around
		*buf = line
	}
	_, err := h.out.Write(line)
	return err
}

// appendTextLine appends r as slog's TextHandler (without options) writes
// it, or reports that it cannot.
func appendTextLine(b []byte, r slog.Record) ([]byte, bool) {
	if r.Time.IsZero() {
		return b, false
	}
	b = append(b, "time="...)
	b = appendStamp(b, r.Time)
	b = append(b, " level="...)
	b = appendTextString(b, r.Level.String())
	b = append(b, " msg="...)
	b = appendTextString(b, r.Message)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "" {
			ok = false
			return false
		}
		b = append(b, ' ')
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		switch v := a.Value; v.Kind() {
		case slog.KindString:
			b = appendTextString(b, v.String())
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindFloat64:
			b = strconv.AppendFloat(b, v.Float64(), 'g', -1, 64)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		default:
			ok = false
		}
		return ok
	})
	return append(b, '\n'), ok
}

// stamp is the text of one second as a line's time, with 000 where the
// milliseconds go: all lines of that second share the rest, and formatting
// a time anew for each line was nearly half of a line's cost.
type stamp struct {
	unix int64
	loc  *time.Location
	text []byte
}

const stampLayout = "2006-01-02T15:04:05.000Z07:00" // slog's

var lastStamp atomic.Pointer[stamp]

// appendStamp appends t as slog's text format does.
func appendStamp(b []byte, t time.Time) []byte {
	s := lastStamp.Load()
	if s == nil || s.unix != t.Unix() || s.loc != t.Location() {
		text := t.Truncate(time.Second).AppendFormat(nil, stampLayout)
		if len(text) < 23 || text[19] != '.' { // a year of other than 4 digits
			return t.AppendFormat(b, stampLayout)
		}
		s = &stamp{t.Unix(), t.Location(), text}
		lastStamp.Store(s)
	}
	n := len(b) + len("2006-01-02T15:04:05.")
	b = append(b, s.text...)
	ms := t.Nanosecond() / 1e6
	b[n], b[n+1], b[n+2] = '0'+byte(ms/100), '0'+byte(ms/10%10), '0'+byte(ms%10)
	return b
}

// appendTextString appends s as slog's text format does: as it is, or
// quoted when it is empty or holds a space, '=', '"', a control character,
// or a non-printable or invalid rune.
func appendTextString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' {
				return strconv.AppendQuote(b, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return strconv.AppendQuote(b, s)
		}
		i += size
	}
	if s == "" {
		return append(b, `""`...)
	}
	return append(b, s...)
}

// logBatchDelay is how long a log line may wait to be written with others.
const logBatchDelay = 10 * time.Millisecond

// batchWriter collects the server's log lines and writes them together,
// at most delay after the first of them: a busy server then makes one
// write system call per batch instead of one per request (that call was 5%
// of a GET /me's CPU). The price: a crash that kills the process (SIGKILL,
// power loss) can lose the last delay's worth of lines. Warnings and errors
// are written at once, with the lines before them (flushingHandler), and
// Close, at the end of serve, writes the rest.
type batchWriter struct {
	mu     sync.Mutex
	out    io.Writer
	buf    []byte
	delay  time.Duration
	timer  *time.Timer
	armed  bool // the timer will flush buf
	closed bool // after Close, lines are written at once
}

// maxLogBatch is the most a batch holds: a longer one is written at once.
const maxLogBatch = 64 << 10

func newBatchWriter(out io.Writer, delay time.Duration) *batchWriter {
	b := &batchWriter{out: out, delay: delay}
	b.timer = time.AfterFunc(delay, func() { b.Flush() })
	b.timer.Stop()
	return b
}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if b.closed || len(b.buf) >= maxLogBatch {
		return len(p), b.flushLocked()
	}
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.delay)
	}
	return len(p), nil
}

// Flush writes the lines collected so far.
func (b *batchWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *batchWriter) flushLocked() error {
	b.armed = false // a timer still running finds nothing, or a later batch: harmless
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.out.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close writes what is left; later lines are written as they come.
func (b *batchWriter) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.timer.Stop()
	return b.flushLocked()
}

// flushingHandler writes warnings and errors out at once, after the lines
// collected before them.
type flushingHandler struct {
	slog.Handler
	out *batchWriter
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.out.Flush()
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.out}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.out}
}
