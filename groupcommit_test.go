package main

// groupcommit_test.go: the writer goroutine survives a panicking write,
// alone in its transaction or batched with others.

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestPanicInAWrite: a write that panics is that request's 500 and a log
// line with the panic and its stack; the writer goes on, and the other
// writes of its batch are committed.
func TestPanicInAWrite(t *testing.T) {
	ts := newTestServer(t)
	ts.app.mux.HandleFunc("POST /api/v1/boom", func(w http.ResponseWriter, r *http.Request) {
		err := ts.app.store.inTx(r.Context(), func(*txn) error { panic("boom inside a write") })
		ts.app.reply(w, r, nil, err)
	})
	_, token := ts.userWithToken("writer", "admin")
	employee := itoaID(ts.call("POST", "/employee/", token, validEmployee(1)).expect(200).obj()["id"])

	t.Run("alone in its transaction", func(t *testing.T) {
		ts.call("POST", "/boom", "", nil, "X-Request-ID", "boom-alone").expect(500, "Internal Server Error")
		ts.call("POST", "/ticket/"+employee, token, validTicket()).expect(200) // the writer still writes
	})

	t.Run("batched with other writes", func(t *testing.T) {
		var wg sync.WaitGroup
		statuses := make([]int, 40)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%8 == 0 {
					statuses[i] = ts.call("POST", "/boom", "", nil).status
				} else {
					statuses[i] = ts.call("POST", "/ticket/"+employee, token, validTicket()).status
				}
			}()
		}
		wg.Wait()
		for i, status := range statuses {
			if want := map[bool]int{true: 500, false: 200}[i%8 == 0]; status != want {
				t.Errorf("request %d: status %d, want %d", i, status, want)
			}
		}
		mine := ts.call("GET", "/ticket/my/", token, nil).expect(200).list()
		if len(mine) != 1+35 {
			t.Errorf("%d tickets stored, want 36 (every write that did not panic)", len(mine))
		}
	})

	ts.srv.Close()
	log := ts.log.String()
	if n := strings.Count(log, "panic in a write: boom inside a write"); n != 1+5 {
		t.Errorf("%d log lines name the panic, want 6 (one a panicking request)", n)
	}
	if !strings.Contains(log, "request_id=boom-alone") || !strings.Contains(log, "groupcommit_test.go") {
		t.Errorf("the log lacks the request id or where the panic happened:\n%s", log)
	}
}
