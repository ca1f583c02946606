package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// sentSecrets are the passwords and tokens the suite's requests sent to one
// test server or got from it. When the server closes, checkNoSecretKept
// looks for each of them, and for any password hash, in everything the
// server keeps or shows about its requests: the audit trail and the
// metrics. So every request of every test through newTestServer is also a
// check that nothing secret is recorded.
type sentSecrets struct {
	mu     sync.Mutex
	values map[string]bool
}

func (s *sentSecrets) add(v string) {
	if len(v) < 6 { // too short to tell apart from ordinary text
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string]bool{}
	}
	s.values[v] = true
}

// fromRequest notes the bearer token and every password field of a form or
// JSON body.
func (s *sentSecrets) fromRequest(req *http.Request) {
	if token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		s.add(token)
	}
	if req.GetBody == nil {
		return
	}
	body, err := req.GetBody()
	if err != nil {
		return
	}
	data, _ := io.ReadAll(body)
	if form, err := url.ParseQuery(string(data)); err == nil {
		for key, values := range form {
			if strings.Contains(strings.ToLower(key), "password") {
				for _, v := range values {
					s.add(v)
				}
			}
		}
	}
	var fields map[string]any
	if json.Unmarshal(data, &fields) == nil {
		for key, v := range fields {
			if text, ok := v.(string); ok && strings.Contains(strings.ToLower(key), "password") {
				s.add(text)
			}
		}
	}
}

// fromAnswer notes a token the server gave out.
func (s *sentSecrets) fromAnswer(body []byte) {
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &answer) == nil {
		s.add(answer.AccessToken)
	}
}

// hashMarkers begin the password hashes the server writes or reads.
var hashMarkers = []string{"$argon2", "$2a$", "$2b$", "$2y$"}

// checkNoSecretKept fails the test if the server's audit trail or metrics
// hold a secret its requests carried, a password hash, or an audit change
// of a field named like a password.
func (ts *testServer) checkNoSecretKept() {
	ts.t.Helper()
	ts.sent.mu.Lock()
	secrets := ts.sent.values
	ts.sent.mu.Unlock()
	look := func(where, text string) {
		for secret := range secrets {
			if strings.Contains(text, secret) {
				ts.t.Errorf("%s holds a password or token the tests sent: %q", where, secret)
			}
		}
		for _, marker := range hashMarkers {
			if strings.Contains(text, marker) {
				ts.t.Errorf("%s holds a password hash (%s...)", where, marker)
			}
		}
	}

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(ts.app.metrics.registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var samples []string // the help texts are the server's own words ("garbage collection")
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if !strings.HasPrefix(line, "# HELP ") {
			samples = append(samples, line)
		}
	}
	look("the metrics", strings.Join(samples, "\n"))

	entries, err := ts.store.FindAudit(context.Background(), &listQuery{}, auditWindow{}, 0, 1<<30)
	if err != nil && strings.Contains(err.Error(), "database is closed") {
		return // the test closed the store itself
	} else if err != nil {
		ts.t.Errorf("read the audit trail: %v", err)
		return
	}
	for _, e := range entries {
		text, _ := json.Marshal(e)
		look("audit entry "+e.Action, string(text))
		for field := range e.Changes {
			if strings.Contains(strings.ToLower(field), "password") {
				ts.t.Errorf("audit entry %s records a change of %q", e.Action, field)
			}
		}
	}
}
