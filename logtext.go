package main

// logtext.go: the access log's text lines, formatted here rather than by
// slog's general machinery: 1.3 µs of CPU a line instead of 2.2–2.7. With
// logbatch.go this keeps GET /me above half the bare net/http ceiling:
// without both a GET /me costs 35–41 µs of CPU instead of 28–30
// (docs/performance.md). FuzzQuickTextMatchesSlog holds the lines byte for
// byte to what slog writes.

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
// line, and formatting them here costs a fraction of slog's general way.
// Other records, and loggers made by
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
