package main

// logs_test.go: logs.go: the log is slog's text or JSON lines, each line
// whole even when many requests log at once.

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

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
