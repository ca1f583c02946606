package main

// groupcommit_test.go: groupcommit.go's writer goroutine: concurrent
// writes queue instead of failing (no "database is locked"), unique checks
// still let exactly one of them win, and the writer survives a panicking
// write, alone in its transaction or batched with others.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// stDo sends one request from any goroutine (ts.call may only run on the
// test's own goroutine).
func stDo(ts *testServer, method, path, token string, body any) (int, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(method, ts.srv.URL+ts.cfg.RootPath+path, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

type stAnswer struct {
	status int
	body   []byte
	err    error
}

// stBurst runs n requests at once (released together) and returns the answers.
func stBurst(n int, send func(i int) (int, []byte, error)) []stAnswer {
	answers := make([]stAnswer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, b, err := send(i)
			answers[i] = stAnswer{s, b, err}
		}()
	}
	close(start)
	wg.Wait()
	return answers
}

func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	var users []*User
	var tokens []string
	for i, role := range []string{"admin", "manager", "support", "support", "manager"} {
		u, tok := ts.userWithToken(fmt.Sprintf("worker%c", 'a'+i), role)
		users, tokens = append(users, u), append(tokens, tok)
	}
	employee := ts.call("POST", "/employee/", tokens[0], validEmployee(5000)).expect(200).obj()
	eid := fmt.Sprint(employee["id"])

	t.Run("50 tickets created at once all succeed with distinct ids", func(t *testing.T) {
		answers := stBurst(50, func(i int) (int, []byte, error) {
			body := validTicket()
			body["title"] = fmt.Sprintf("Concurrent %03d", i)
			return stDo(ts, "POST", "/ticket/"+eid, tokens[i%len(tokens)], body)
		})
		ids := map[float64]bool{}
		for i, a := range answers {
			if a.err != nil || a.status != 200 {
				t.Fatalf("ticket %d: %d %v %s", i, a.status, a.err, a.body)
			}
			var tk map[string]any
			if err := json.Unmarshal(a.body, &tk); err != nil {
				t.Fatal(err)
			}
			if tk["title"] != fmt.Sprintf("Concurrent %03d", i) || tk["owner_id"] != float64(users[i%len(users)].ID) {
				t.Fatalf("ticket %d answered %v", i, tk)
			}
			ids[tk["id"].(float64)] = true
		}
		if len(ids) != 50 {
			t.Fatalf("%d distinct ids for 50 tickets", len(ids))
		}
		listed := ts.call("GET", "/ticket/?limit=100", tokens[0], nil).expect(200).list()
		if len(listed) != 50 {
			t.Fatalf("GET /ticket/ lists %d tickets, want 50", len(listed))
		}
		titles := map[string]bool{}
		for _, tk := range listed {
			if !ids[tk["id"].(float64)] {
				t.Fatalf("listed ticket %v was not answered to any create", tk["id"])
			}
			titles[tk["title"].(string)] = true
		}
		if len(titles) != 50 {
			t.Fatalf("%d distinct titles listed, want 50", len(titles))
		}
	})

	t.Run("of concurrent employees with one phone exactly one wins", func(t *testing.T) {
		answers := stBurst(20, func(i int) (int, []byte, error) {
			body := validEmployee(6000 + i)
			body["phone"] = "+380991234567"
			return stDo(ts, "POST", "/employee/", tokens[i%2], body)
		})
		stOneWinner(t, answers, "Phone already registered")
	})

	t.Run("of concurrent employees with one email exactly one wins", func(t *testing.T) {
		answers := stBurst(20, func(i int) (int, []byte, error) {
			body := validEmployee(7000 + i)
			body["email"] = "same.person@example.com"
			return stDo(ts, "POST", "/employee/", tokens[i%2], body)
		})
		stOneWinner(t, answers, "Email already registered")
		employees := ts.call("GET", "/employee/", tokens[0], nil).expect(200).list()
		phones, emails := 0, 0
		for _, e := range employees {
			if e["phone"] == "+380991234567" {
				phones++
			}
			if e["email"] == "same.person@example.com" {
				emails++
			}
		}
		if phones != 1 || emails != 1 {
			t.Fatalf("%d employees hold the contested phone and %d the contested email, want 1 each", phones, emails)
		}
	})

	// Closing the server waits for every handler (and its access log line),
	// so the log buffer is read only once nothing writes to it.
	ts.srv.Close()
	if log := ts.log.String(); strings.Contains(log, "database is locked") || strings.Contains(log, "internal error") {
		t.Fatalf("the server logged a failure under concurrent writes:\n%s", log)
	}
}

func stOneWinner(t *testing.T, answers []stAnswer, conflict string) {
	t.Helper()
	won := 0
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("request %d: %v", i, a.err)
		}
		switch {
		case a.status == 200:
			won++
		case a.status == 422 && string(a.body) == `{"detail":"`+conflict+`"}`+"\n":
		default:
			t.Fatalf("request %d: %d %s, want 200 or 422 %s", i, a.status, a.body, conflict)
		}
	}
	if won != 1 {
		t.Fatalf("%d requests won, want exactly 1", won)
	}
}
