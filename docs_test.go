package main

// docs_test.go: keeps openapi.json (docs/api.md §7), which docs.go serves,
// true to the code.
//
//   - TestOpenAPIRoutesMatchMux: the routes the server registers and the
//     operations the document lists are the same set, path and method.
//   - TestOpenAPIConstraintsMatchServer: boundary requests generated from the
//     document's request schemas and parameters; the server accepts or
//     refuses each exactly as the document does.
//   - TestOpenAPIPatternsMatchModels: the document's patterns are models.go's.
//   - TestOpenAPIServedDocument, TestOpenAPIDocsPage: what GET /openapi.json
//     and the Swagger UI page serve.
//
// Every answer the other tests observe is held to the document too: see
// TestMain in main_test.go.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// ---- the document ----

// oaDocURL is where the validator files openapi.json; schemas are compiled
// as JSON pointers into it, so their $refs resolve as in the document.
const oaDocURL = "file:///openapi.json"

var oaHTTPMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// oaOperation is one operation of the document.
type oaOperation struct {
	Method string // "GET"
	Path   string // as in the document, e.g. /user/{user_id}
	Ptr    string // JSON pointer of the operation object
	Op     map[string]any
}

func (o oaOperation) String() string { return o.Method + " " + o.Path }

func oaParse() (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	return doc, nil
}

func oaDocument(tb testing.TB) map[string]any {
	tb.Helper()
	doc, err := oaParse()
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func oaEscape(tok string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok) }

// oaAt is the value at a JSON pointer of doc ("" is the whole document).
func oaAt(doc map[string]any, ptr string) (any, bool) {
	var v any = doc
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// oaDeref follows local $refs from the object v found at ptr; it returns
// the object referred to and its pointer.
func oaDeref(doc map[string]any, v any, ptr string) (map[string]any, string) {
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, ptr
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return m, ptr
		}
		ptr = ref[1:]
		if v, ok = oaAt(doc, ptr); !ok {
			return nil, ptr
		}
	}
	return nil, ptr
}

// oaOperations lists the document's operations, by path then method.
func oaOperations(doc map[string]any) []oaOperation {
	paths, _ := doc["paths"].(map[string]any)
	var ops []oaOperation
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		item, _ := paths[p].(map[string]any)
		for _, m := range oaHTTPMethods {
			if op, ok := item[m].(map[string]any); ok {
				ops = append(ops, oaOperation{Method: strings.ToUpper(m), Path: p,
					Ptr: "/paths/" + oaEscape(p) + "/" + m, Op: op})
			}
		}
	}
	return ops
}

// oaResponse is the documented response of op for status, with its pointer.
func oaResponse(doc map[string]any, op oaOperation, status int) (map[string]any, string, bool) {
	responses, _ := op.Op["responses"].(map[string]any)
	key := strconv.Itoa(status)
	r, ok := responses[key]
	if !ok {
		return nil, "", false
	}
	resp, ptr := oaDeref(doc, r, op.Ptr+"/responses/"+key)
	return resp, ptr, resp != nil
}

// oaParameter is a resolved parameter of an operation.
type oaParameter struct {
	Name, In string
	Required bool
	Ptr      string // of the parameter object (its schema is at Ptr+"/schema")
	Schema   map[string]any
	Object   map[string]any
}

func oaParameters(doc map[string]any, op oaOperation) []oaParameter {
	var params []oaParameter
	list, _ := op.Op["parameters"].([]any)
	for i, raw := range list {
		p, ptr := oaDeref(doc, raw, fmt.Sprintf("%s/parameters/%d", op.Ptr, i))
		if p == nil {
			continue
		}
		schema, _ := p["schema"].(map[string]any)
		required, _ := p["required"].(bool)
		name, _ := p["name"].(string)
		in, _ := p["in"].(string)
		params = append(params, oaParameter{Name: name, In: in, Required: required, Ptr: ptr, Schema: schema, Object: p})
	}
	return params
}

// ---- the validator ----

// oaValidator compiles schemas of openapi.json on demand. Compiling is
// serialized; validating with a compiled schema is safe from many goroutines.
type oaValidator struct {
	mu     sync.Mutex
	c      *jsonschema.Compiler
	cached map[string]*jsonschema.Schema
}

// oaNewValidator reads openapi.json as one JSON Schema 2020-12 resource.
// Format assertion is on for requests (a request's birthday must be a real
// date, as the server checks) and off for responses, where format stays an
// annotation (rows carried over from an older database are shown as stored).
func oaNewValidator(assertFormat bool) (*oaValidator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapiJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// OpenAPI's format registry: int64 is a signed 64-bit integer.
	c.RegisterFormat(&jsonschema.Format{Name: "int64", Validate: func(v any) error {
		if n, ok := v.(json.Number); ok {
			if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
				return fmt.Errorf("%s is not a 64-bit integer", n)
			}
		}
		return nil
	}})
	if assertFormat {
		c.AssertFormat()
	}
	if err := c.AddResource(oaDocURL, doc); err != nil {
		return nil, err
	}
	return &oaValidator{c: c, cached: map[string]*jsonschema.Schema{}}, nil
}

func oaMustValidator(tb testing.TB, assertFormat bool) *oaValidator {
	tb.Helper()
	v, err := oaNewValidator(assertFormat)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// validate checks instance (as decoded by jsonschema.UnmarshalJSON) against
// the schema at ptr. verr is the validation failure; err a schema that does
// not compile.
func (v *oaValidator) validate(ptr string, instance any) (verr *jsonschema.ValidationError, err error) {
	v.mu.Lock()
	sch, ok := v.cached[ptr]
	if !ok {
		sch, err = v.c.Compile(oaDocURL + "#" + (&url.URL{Fragment: ptr}).EscapedFragment())
		if err != nil {
			v.mu.Unlock()
			return nil, fmt.Errorf("compile %s: %w", ptr, err)
		}
		v.cached[ptr] = sch
	}
	v.mu.Unlock()
	if err := sch.Validate(instance); err != nil {
		if ve, ok := err.(*jsonschema.ValidationError); ok {
			return ve, nil
		}
		return nil, err
	}
	return nil, nil
}

// oaInstance turns a Go value into what the validator reads (numbers as json.Number).
func oaInstance(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		panic(err)
	}
	return inst
}

// oaErrorLocations lists the instance locations (JSON pointers) a
// validation failure blames; a missing required property is blamed on the
// property, not on its object.
func oaErrorLocations(verr *jsonschema.ValidationError) map[string]bool {
	locs := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		loc := ""
		for _, tok := range e.InstanceLocation {
			loc += "/" + oaEscape(tok)
		}
		if req, ok := e.ErrorKind.(*kind.Required); ok {
			for _, name := range req.Missing {
				locs[loc+"/"+oaEscape(name)] = true
			}
		} else if len(e.Causes) == 0 {
			locs[loc] = true
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	if verr != nil {
		walk(verr)
	}
	return locs
}

// ---- routes: the mux and the document ----

var oaParamRE = regexp.MustCompile(`\{[^}]*\}`)

// oaShape forgets the names of path parameters: /ticket/{employee_id} and
// /ticket/{ticket_id} are the same route to the mux and to OpenAPI.
func oaShape(p string) string { return oaParamRE.ReplaceAllString(p, "{}") }

// oaIndex finds the document's operation of a mux pattern.
type oaIndex struct {
	root string
	ops  map[string]oaOperation // METHOD + " " + oaShape(document path)
}

func oaNewIndex(doc map[string]any, root string) *oaIndex {
	ix := &oaIndex{root: root, ops: map[string]oaOperation{}}
	for _, op := range oaOperations(doc) {
		ix.ops[op.Method+" "+oaShape(op.Path)] = op
	}
	return ix
}

// forPattern maps a pattern as the mux reports it ("GET /api/v1/user/{$}",
// "GET /api/v1/user") to its documented operation. A collection route is
// documented with its trailing slash, and answers without it too (docs/api.md §1).
func (ix *oaIndex) forPattern(pattern string) (oaOperation, bool) {
	method, p, ok := strings.Cut(pattern, " ")
	if !ok || !strings.HasPrefix(p, ix.root+"/") {
		return oaOperation{}, false
	}
	p = strings.TrimSuffix(strings.TrimPrefix(p, ix.root), "{$}")
	if op, ok := ix.ops[method+" "+oaShape(p)]; ok {
		return op, true
	}
	if !strings.HasSuffix(p, "/") {
		if op, ok := ix.ops[method+" "+oaShape(p+"/")]; ok {
			return op, true
		}
	}
	return oaOperation{}, false
}

// oaNotInDocument are the routes that are not API operations, and why.
var oaNotInDocument = map[string]string{
	"GET /api/v1/openapi.json": "the document itself",
	"GET /api/v1/docs":         "the Swagger UI page (HTML)",
	"GET /api/v1/docs/{file}":  "Swagger UI's static files",
	"GET /favicon.ico":         "the browser icon, outside the base path",
	"GET /healthz":             "liveness check for systemd, NGINX and load balancers, outside the base path the document's servers entry names",
	"GET /readyz":              "readiness check, outside the base path like /healthz",
}

// oaAuthRoutes are docs/api.md §2's routes outside the RBAC table.
var oaAuthRoutes = []string{"POST /token", "GET /me", "GET /status", "GET /token/scope_example"}

// oaParamAliases: a path parameter the document must name differently from
// the server. OpenAPI forbids two templated paths of the same shape
// (/ticket/{employee_id} next to /ticket/{ticket_id}), so POST's parameter
// is documented as ticket_id, described as the employee's id. A 422 for it
// names employee_id.
var oaParamAliases = map[string]map[string]string{
	"POST /ticket/{ticket_id}": {"ticket_id": "employee_id"},
}

// oaServerParam is the server's name for a documented path parameter.
func oaServerParam(op oaOperation, name string) string {
	if alias, ok := oaParamAliases[op.String()][name]; ok {
		return alias
	}
	return name
}

// oaFill puts value into every path parameter of a route template.
func oaFill(template, value string) string {
	return oaParamRE.ReplaceAllStringFunc(template, func(m string) string {
		if m == "{$}" {
			return ""
		}
		return value
	})
}

// oaRegisteredRoutes is every route the server registers: routeTable's,
// under the root path, and the non-API routes of oaNotInDocument (docs.go).
// The test below probes the mux for each, so a route listed here that the
// server does not serve fails it.
func oaRegisteredRoutes(root string) []string {
	var routes []string
	for _, rt := range routeTable {
		method, p, _ := strings.Cut(rt.pattern, " ")
		routes = append(routes, method+" "+root+p)
	}
	for route := range oaNotInDocument {
		routes = append(routes, route)
	}
	sort.Strings(routes)
	return routes
}

func TestOpenAPIRoutesMatchMux(t *testing.T) {
	t.Parallel()
	doc := oaDocument(t)
	ts := newTestServer(t)
	root := ts.cfg.RootPath
	if root != "/api/v1" {
		t.Fatalf("root path %q, want /api/v1 (docs/api.md §1)", root)
	}
	ix := oaNewIndex(doc, root)
	probe := func(method, target string) string {
		_, pattern := ts.app.mux.Handler(httptest.NewRequest(method, target, nil))
		return pattern
	}
	ops := oaOperations(doc)
	if len(ops) == 0 {
		t.Fatal("the document has no operations")
	}

	t.Run("every documented operation is registered with its method and path", func(t *testing.T) {
		for _, op := range ops {
			targets := []string{root + oaFill(op.Path, "1")}
			if strings.HasSuffix(op.Path, "/") { // a collection answers without the slash too
				targets = append(targets, strings.TrimSuffix(targets[0], "/"))
			}
			for _, target := range targets {
				pattern := probe(op.Method, target)
				got, ok := ix.forPattern(pattern)
				if !ok || got.String() != op.String() {
					t.Errorf("documented %s: %s %s reaches mux pattern %q, not this operation", op, op.Method, target, pattern)
					continue
				}
				// The parameter names are the server's (but for oaParamAliases).
				_, muxPath, _ := strings.Cut(pattern, " ")
				docNames := oaParamRE.FindAllString(op.Path, -1)
				muxNames := slices.DeleteFunc(oaParamRE.FindAllString(muxPath, -1), func(s string) bool { return s == "{$}" })
				for i := range docNames {
					name := strings.Trim(docNames[i], "{}")
					if i >= len(muxNames) || "{"+oaServerParam(op, name)+"}" != muxNames[i] {
						t.Errorf("documented %s: parameter %s is %v on the mux (%s)", op, docNames[i], muxNames, pattern)
					}
				}
			}
		}
	})

	t.Run("the aliased parameter is described as what the server reads", func(t *testing.T) {
		for key, aliases := range oaParamAliases {
			found := false
			for _, op := range ops {
				if op.String() != key {
					continue
				}
				found = true
				for _, p := range oaParameters(doc, op) {
					if server, ok := aliases[p.Name]; ok {
						what := strings.TrimSuffix(server, "_id") // "employee"
						if desc, _ := p.Object["description"].(string); !strings.Contains(strings.ToLower(desc), what) {
							t.Errorf("%s: parameter %s is the server's %s; its description %q must say so", key, p.Name, server, desc)
						}
					}
				}
			}
			if !found {
				t.Errorf("oaParamAliases names %s, which the document does not have", key)
			}
		}
	})

	t.Run("every registered route is documented, except the listed non-API routes", func(t *testing.T) {
		routes := oaRegisteredRoutes(root)
		covered := map[string]bool{}
		for _, route := range routes {
			method, p, _ := strings.Cut(route, " ")
			// The mux serves the route under this very pattern.
			want := route
			if strings.HasSuffix(p, "/") {
				want += "{$}"
			}
			if got := probe(method, oaFill(p, "1")); got != want {
				t.Errorf("route %s: the mux answers %s %s with pattern %q, want %q", route, method, oaFill(p, "1"), got, want)
			}
			op, documented := ix.forPattern(route)
			if why, excluded := oaNotInDocument[route]; excluded {
				if documented {
					t.Errorf("route %s is documented as %s but listed as not an API operation (%s)", route, op, why)
				}
				continue
			}
			if !documented {
				t.Errorf("registered route %s is not in openapi.json", route)
				continue
			}
			covered[op.String()] = true
		}
		for _, op := range ops {
			if !covered[op.String()] {
				t.Errorf("documented operation %s matches no registered route", op)
			}
		}
		if want := len(routeRoles(nil)) + len(oaAuthRoutes); len(ops) != want {
			t.Errorf("the document has %d operations, want %d (the role table plus the authentication routes)", len(ops), want)
		}
	})
}

// ---- constraints: generated boundary requests ----

// oaFit is s cut or padded (with fill) to exactly n characters.
func oaFit(s, fill string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	for len(r) < n && fill != "" {
		r = append(r, []rune(fill)...)
	}
	return string(r[:min(n, len(r))])
}

// oaLetters is seq in base 26, least significant letter first (a prefix of
// it still tells small numbers apart).
func oaLetters(seq int) string {
	var b []byte
	for range 4 {
		b = append(b, byte('a'+seq%26))
		seq /= 26
	}
	return string(b)
}

func oaBase36(seq int) string {
	var b []byte
	for range 4 {
		b = append(b, "0123456789abcdefghijklmnopqrstuvwxyz"[seq%36])
		seq /= 36
	}
	return string(b)
}

// oaOfLength makes, for a field, a value of exactly n characters that the
// field's characters rule accepts; seq makes values of unique fields unique.
var oaOfLength = map[string]func(n, seq int) string{
	"username":    func(n, seq int) string { return oaFit("Qz"+oaLetters(seq), "x", n) },
	"nick_name":   func(n, seq int) string { return oaFit("Nk"+oaLetters(seq), "y", n) },
	"first_name":  func(n, seq int) string { return oaFit("Zoë O’Brien-Ñúñez'", "a", n) },
	"last_name":   func(n, seq int) string { return oaFit("Ødegård-O’Neil 'x", "e", n) },
	"country":     func(n, seq int) string { return oaFit("Côte d’Ivoire-Ost", "e", n) },
	"city":        func(n, seq int) string { return oaFit("Київ O'Hare-Ёлки", "o", n) },
	"phone":       func(n, seq int) string { return oaFit("+"+oaDigits(seq, n-1), "0", n) },
	"email":       oaEmailOfLength,
	"birthday":    func(n, seq int) string { return oaFit("2000-02-29", "9", n) },
	"address":     func(n, seq int) string { return oaFit("Straße 14/2, Kyiv: #3 ’s-.'", "a", n) },
	"title":       func(n, seq int) string { return oaFit("Drucker #2 ’s-1 O'Neil", "x", n) },
	"status":      func(n, seq int) string { return oaFit("Neu #2 ’s-1 O'N", "x", n) },
	"description": func(n, seq int) string { return oaFit("Drucker #2. ’s-1 O'Neil", "x", n) },
	"password":    func(n, seq int) string { return oaFit("Aa1!Ää&*", "x", n) },
	// Any string can be a current password: a wrong one is answered 400.
	"current_password": func(n, seq int) string { return oaFit("Wr0ng!€", "x", n) },
}

// oaDigits is seq with leading zeros, in exactly n digits (its last ones).
func oaDigits(seq, n int) string {
	if n <= 0 {
		return ""
	}
	s := fmt.Sprintf("%0*d", n, seq)
	return s[len(s)-n:]
}

func oaEmailOfLength(n, seq int) string {
	const domain = "@ex.io"
	if n <= len(domain) {
		return oaFit("a"+domain, "", n)
	}
	return oaFit(oaBase36(seq)+"ü.a_b%c+d-e", "f", n-len(domain)) + domain
}

// oaBreaks are values of a field's allowed length that break its
// characters rule (or, for birthday, are no calendar date).
var oaBreaks = map[string][]string{
	"username":    {"Qzab1", "Qzäbc", "Qz bc", "Qz-bc"},
	"nick_name":   {"Nk1", "Nkä", "Nk_"},
	"first_name":  {"Ab1", "A_b", "Ab!", "A\tb"},
	"last_name":   {"Ab1", "A.b", "A,b"},
	"country":     {"Ab1", "Ab_", "Ab."},
	"city":        {"Ab1", "Ab/", "Ab#"},
	"phone":       {"0123456789", "+12345678a", "+1234 5678", "++12345678", "+１２３４５６７８９"},
	"email":       {"userex.io", "us@er@ex.io", "user@localhost", "user@ex.c0", "user@-ex.io", "us er@ex.io", "user@ex..io", "user@ex.io."},
	"birthday":    {"2000/02/29", "2000-02-2x", "2023-02-29", "2000-13-01", "2000-04-31", "0000-00-00"},
	"address":     {"Main street 1!!x", "Main street 1_23", "Main street 1;23"},
	"title":       {"Network problem.", "Network problem!", "Network_problem1"},
	"status":      {"New.", "New!", "Ne_w"},
	"description": {"Cannot reach it!", "Cannot_reach_it1", "Cannot reach it;"},
	"password":    {"aa1!aaaa", "AA1!AAAA", "Aa!aaaaa", "Aa1aaaaa", "ǅa1!aaaa"},
	"grant_type":  {"password", "Password", "password ", "client_credentials"},
}

// oaCandidate is one value to try for a field (or its absence).
type oaCandidate struct {
	what   string
	absent bool
	value  func(seq int) any
}

// oaCandidates derives from a property's schema the values to try: absent,
// a wrong JSON type, empty, very long, each length bound and one past it,
// and values that break its characters rule.
func oaCandidates(field string, prop map[string]any, jsonBody, withBreaks bool) ([]oaCandidate, error) {
	cands := []oaCandidate{{what: "absent", absent: true}}
	typ, _ := prop["type"].(string)
	if jsonBody {
		wrong := map[string]any{"string": 12345, "boolean": "yes", "array": "admin", "integer": "1", "object": []any{}}[typ]
		if wrong != nil {
			cands = append(cands, oaCandidate{what: fmt.Sprintf("wrong type %T", wrong), value: func(int) any { return wrong }})
		}
	}
	if typ != "string" {
		return cands, nil
	}
	_, hasPattern := prop["pattern"]
	_, hasAllOf := prop["allOf"]
	_, hasFormat := prop["format"]
	minLen, hasMin := prop["minLength"].(float64)
	maxLen, hasMax := prop["maxLength"].(float64)
	gen := oaOfLength[field]
	if gen == nil {
		if hasMin || hasMax {
			return nil, fmt.Errorf("field %s has length rules but no value generator: add it to oaOfLength", field)
		}
		gen = func(n, _ int) string { return strings.Repeat("a", n) }
	}
	lengths := []int{0, 1000}
	if hasMin {
		lengths = append(lengths, int(minLen)-1, int(minLen))
	}
	if hasMax {
		lengths = append(lengths, int(maxLen), int(maxLen)+1)
	}
	seen := map[int]bool{}
	for _, n := range lengths {
		if n < 0 || seen[n] {
			continue
		}
		seen[n] = true
		cands = append(cands, oaCandidate{what: fmt.Sprintf("length %d", n), value: func(seq int) any { return gen(n, seq) }})
	}
	breaks := oaBreaks[field]
	if !withBreaks {
		breaks = nil
	}
	if (hasPattern || hasAllOf || hasFormat && prop["format"] != "password") && len(breaks) == 0 {
		return nil, fmt.Errorf("field %s has a characters rule but no breaking values: add them to oaBreaks", field)
	}
	for _, b := range breaks {
		cands = append(cands, oaCandidate{what: fmt.Sprintf("%q", b), value: func(int) any { return b }})
	}
	return cands, nil
}

// oaWorld is a server with an admin caller and one of each record, for
// requests generated from the document.
type oaWorld struct {
	ts       *testServer
	admin    string
	password string
	token    string
	params   map[string]string // path parameter values naming the world's records
	seq      int
}

func oaNewWorld(t *testing.T) *oaWorld {
	w := &oaWorld{ts: newTestServer(t), admin: "oaadmin", password: testPassword}
	w.ts.addUser(w.admin, "admin")
	w.token = w.ts.token(w.admin, w.password)
	target := w.ts.addUser("oatarget", "support")
	emp := w.ts.call("POST", "/employee/", w.token, validEmployee(9999)).expect(http.StatusOK).obj()
	employeeID := int64(emp["id"].(float64))
	ticket := w.ts.call("POST", fmt.Sprintf("/ticket/%d", employeeID), w.token, validTicket()).expect(http.StatusOK).obj()
	w.params = map[string]string{"user_id": fmt.Sprint(target.ID), "employee_id": fmt.Sprint(employeeID),
		"ticket_id": fmt.Sprint(ticket["id"]), "username": target.Username, "phone": target.Phone, "email": target.Email}
	return w
}

func (w *oaWorld) next() int { w.seq++; return w.seq }

// path fills op's path parameters with the world's records; override
// replaces one parameter's value.
func (w *oaWorld) path(op oaOperation, override map[string]string) string {
	return oaParamRE.ReplaceAllStringFunc(op.Path, func(m string) string {
		name := strings.Trim(m, "{}")
		if v, ok := override[name]; ok {
			return url.PathEscape(v)
		}
		v, ok := w.params[oaServerParam(op, name)]
		if !ok {
			panic(fmt.Sprintf("%s: no record for path parameter %s", op, name))
		}
		return url.PathEscape(v)
	})
}

// baseBody is a valid body for the schema: its required properties, from
// the helpers' valid bodies, with unique values.
func (w *oaWorld) baseBody(t *testing.T, op oaOperation, schema map[string]any) map[string]any {
	seq := w.next()
	source := map[string]any{}
	for _, part := range []map[string]any{validNewUser(oaOfLength["username"](8, seq), seq), validEmployee(seq), validTicket()} {
		for k, v := range part {
			source[k] = v
		}
	}
	source["disabled"], source["login_denied"] = false, false
	if op.String() == "POST /token" {
		source["username"], source["password"] = w.admin, w.password
	}
	body := map[string]any{}
	required, _ := schema["required"].([]any)
	for _, r := range required {
		name := r.(string)
		v, ok := source[name]
		if !ok {
			t.Fatalf("%s: no valid value for required property %s", op, name)
		}
		body[name] = v
	}
	return body
}

// send makes the request; query may be nil, body nil for none.
func (w *oaWorld) send(op oaOperation, p string, query url.Values, contentType string, body map[string]any) *response {
	if len(query) > 0 {
		p += "?" + query.Encode()
	}
	if contentType == "application/x-www-form-urlencoded" {
		form := url.Values{}
		for k, v := range body {
			form.Set(k, fmt.Sprint(v))
		}
		return w.ts.form(p, form)
	}
	var b any
	if body != nil {
		b = body
	}
	token := w.token
	if sec, ok := op.Op["security"].([]any); ok && len(sec) == 0 {
		token = ""
	}
	return w.ts.call(op.Method, p, token, b)
}

// after keeps the world usable: changing one's own password ends one's tokens.
func (w *oaWorld) after(op oaOperation, res *response, body map[string]any) {
	if op.String() == "PATCH /user/password" && res.status == http.StatusOK {
		w.password = body["password"].(string)
		w.token = w.ts.token(w.admin, w.password)
	}
}

// oaRefusedAt tells whether res is a 422 validation answer naming loc.
func oaRefusedAt(res *response, loc ...any) bool {
	if res.status != http.StatusUnprocessableEntity {
		return false
	}
	var v struct {
		Detail []struct {
			Loc []any `json:"loc"`
		} `json:"detail"`
	}
	if json.Unmarshal(res.body, &v) != nil {
		return false
	}
	for _, d := range v.Detail {
		if reflect.DeepEqual(d.Loc, loc) {
			return true
		}
	}
	return false
}

// oaQueryInstance is one query value as the parameter's schema sees it: a
// number when it reads as an integer and the schema wants no text, a boolean
// for true or false of a boolean parameter, a list of one for a repeatable
// parameter, else a string.
func oaQueryInstance(schema map[string]any, value string) any {
	switch {
	case regexp.MustCompile(`^-?[0-9]+$`).MatchString(value) && schema["type"] != "string" && schema["type"] != "array":
		return json.Number(value)
	case schema["type"] == "boolean" && (value == "true" || value == "false"):
		return value == "true"
	case schema["type"] == "array":
		items, _ := schema["items"].(map[string]any)
		return []any{oaQueryInstance(items, value)}
	}
	return value
}

func oaVerdict(refused bool) string {
	if refused {
		return "refuses"
	}
	return "accepts"
}

func oaIf(cond bool, f func() any) any {
	if cond {
		return f()
	}
	return nil
}

// oaRequestBody is op's request body media type and schema pointer.
func oaRequestBody(doc map[string]any, op oaOperation) (string, string, map[string]any) {
	rb, ptr := oaDeref(doc, op.Op["requestBody"], op.Ptr+"/requestBody")
	content, _ := rb["content"].(map[string]any)
	for _, ct := range []string{"application/json", "application/x-www-form-urlencoded"} {
		if media, ok := content[ct].(map[string]any); ok {
			schemaPtr := ptr + "/content/" + oaEscape(ct) + "/schema"
			schema, _ := oaDeref(doc, media["schema"], schemaPtr)
			return ct, schemaPtr, schema
		}
	}
	return "", "", nil
}

func TestOpenAPIConstraintsMatchServer(t *testing.T) {
	t.Parallel()
	doc := oaDocument(t)
	v := oaMustValidator(t, true)
	for _, op := range oaOperations(doc) {
		contentType, bodyPtr, schema := oaRequestBody(doc, op)
		var query, pathInts []oaParameter
		for _, p := range oaParameters(doc, op) {
			switch {
			case p.In == "query":
				query = append(query, p)
			case p.In == "path" && p.Schema["type"] == "integer":
				pathInts = append(pathInts, p)
			}
		}
		t.Run(op.String(), func(t *testing.T) {
			t.Parallel()
			w := oaNewWorld(t)
			vr := oaMustValidator(t, false)

			t.Run("error answers are documented", func(t *testing.T) {
				type bad struct {
					what    string
					status  int
					token   string
					ct      string
					body    string
					applies bool
				}
				secured := true
				if sec, ok := op.Op["security"].([]any); ok && len(sec) == 0 {
					secured = false
				}
				jsonBody := contentType == "application/json"
				valid, _ := json.Marshal(oaIf(schema != nil, func() any { return w.baseBody(t, op, schema) }))
				huge := `{"x":"` + strings.Repeat("a", maxBodyBytes) + `"}`
				cases := []bad{
					{"no token", http.StatusUnauthorized, "", "", "", secured},
					{"a token that is no JWT", http.StatusUnauthorized, "not.a.jwt", "", "", secured},
					{"a body that is not JSON", http.StatusUnsupportedMediaType, w.token, "text/plain", string(valid), jsonBody},
					{"malformed JSON", http.StatusUnprocessableEntity, w.token, "application/json", "{", jsonBody},
					{"a JSON list", http.StatusUnprocessableEntity, w.token, "application/json", "[]", jsonBody},
					{"an empty body", http.StatusUnprocessableEntity, w.token, "application/json", "", jsonBody},
					{"a body over 1 MiB", http.StatusRequestEntityTooLarge, w.token, "application/json", huge, jsonBody},
					{"a form over 1 MiB", http.StatusRequestEntityTooLarge, "", "application/x-www-form-urlencoded", "username=" + strings.Repeat("a", maxBodyBytes), !jsonBody && schema != nil},
					{"a wrong password", http.StatusBadRequest, "", "application/x-www-form-urlencoded", url.Values{"username": {w.admin}, "password": {"Wrong0ne!"}}.Encode(), !jsonBody && schema != nil},
				}
				for _, c := range cases {
					if !c.applies {
						continue
					}
					req, err := http.NewRequest(op.Method, w.ts.srv.URL+w.ts.cfg.RootPath+w.path(op, nil), strings.NewReader(c.body))
					if err != nil {
						t.Fatal(err)
					}
					if c.ct != "" {
						req.Header.Set("Content-Type", c.ct)
					}
					if c.token != "" {
						req.Header.Set("Authorization", "Bearer "+c.token)
					}
					res := w.ts.send(req)
					if res.status != c.status {
						t.Errorf("%s: status %d, want %d: %.200s", c.what, res.status, c.status, res.body)
						continue
					}
					kind, example, err := oaCheckAnswer(doc, vr, op, observedAnswer{op.Method, req.URL.Path, res.status, res.header.Get("Content-Type"), res.body, res.header})
					if err != nil {
						t.Fatal(err)
					}
					if kind != "" {
						t.Errorf("%s: %s\n%s", c.what, kind, example)
					}
				}
			})

			base := func(t *testing.T) map[string]any {
				if schema == nil {
					return nil
				}
				return w.baseBody(t, op, schema)
			}
			accepted := func(res *response, field string) bool {
				if res.status == http.StatusOK {
					return true
				}
				// Login: a username or password the rules accept can still be
				// wrong; so can the current password of one's own password change.
				return (op.String() == "POST /token" && (field == "username" || field == "password") ||
					op.String() == "PATCH /user/password" && field == "current_password") &&
					res.status == http.StatusBadRequest && res.detail() == "Incorrect User name or password"
			}

			if schema != nil {
				t.Run("the valid base body is accepted", func(t *testing.T) {
					body := base(t)
					if verr, err := v.validate(bodyPtr, oaInstance(body)); err != nil || verr != nil {
						t.Fatalf("base body %v does not match the document: %v %v", body, err, verr)
					}
					res := w.send(op, w.path(op, nil), nil, contentType, body)
					if res.status != http.StatusOK {
						t.Fatalf("base body %v: status %d, want 200: %s", body, res.status, res.body)
					}
					w.after(op, res, body)
				})
				props, _ := schema["properties"].(map[string]any)
				for _, field := range slices.Sorted(maps.Keys(props)) {
					prop, _ := oaDeref(doc, props[field], "")
					// The login form's username and password are credentials, not rules.
					credentials := op.String() == "POST /token" && (field == "username" || field == "password")
					cands, err := oaCandidates(field, prop, contentType == "application/json", !credentials)
					if err != nil {
						t.Error(err)
						continue
					}
					t.Run("body "+field, func(t *testing.T) {
						for _, c := range cands {
							body := base(t)
							if c.absent {
								delete(body, field)
							} else {
								body[field] = c.value(w.next())
							}
							verr, err := v.validate(bodyPtr, oaInstance(body))
							if err != nil {
								t.Fatal(err)
							}
							locs := oaErrorLocations(verr)
							docRefuses := locs["/"+oaEscape(field)]
							delete(locs, "/"+oaEscape(field))
							if len(locs) > 0 {
								t.Fatalf("%s: the document blames other fields %v than %s for %v", c.what, locs, field, body)
							}
							res := w.send(op, w.path(op, nil), nil, contentType, body)
							serverRefuses := oaRefusedAt(res, "body", field)
							if docRefuses != serverRefuses {
								t.Errorf("%s = %s (%v): the document %s it, the server %s it: %d %s",
									field, c.what, body[field], oaVerdict(docRefuses), oaVerdict(serverRefuses), res.status, res.body)
							} else if !docRefuses && !accepted(res, field) {
								t.Errorf("%s = %s (%v): valid per the document, but the server answered %d %s",
									field, c.what, body[field], res.status, res.body)
							}
							w.after(op, res, body)
						}
					})
				}
			}

			for _, p := range query {
				t.Run("query "+p.Name, func(t *testing.T) {
					for _, value := range []string{"", "-1", "0", "1", "100", "1000", "x", "1.5", "1e2", "99999999999999999999", "(absent)"} {
						q := url.Values{}
						var inst any
						if value != "(absent)" {
							q.Set(p.Name, value)
							inst = oaQueryInstance(p.Schema, value)
						}
						docRefuses := value == "(absent)" && p.Required
						if value != "(absent)" {
							verr, err := v.validate(p.Ptr+"/schema", inst)
							if err != nil {
								t.Fatal(err)
							}
							docRefuses = verr != nil
						}
						res := w.send(op, w.path(op, nil), q, contentType, base(t))
						serverRefuses := oaRefusedAt(res, "query", p.Name)
						if docRefuses != serverRefuses {
							t.Errorf("%s=%s: the document %s it, the server %s it: %d %s",
								p.Name, value, oaVerdict(docRefuses), oaVerdict(serverRefuses), res.status, res.body)
						} else if !docRefuses && res.status != http.StatusOK {
							t.Errorf("%s=%s: valid per the document, but the server answered %d %s", p.Name, value, res.status, res.body)
						}
					}
				})
			}

			for _, p := range pathInts {
				t.Run("path "+p.Name, func(t *testing.T) {
					// Valid ids name no record (404): nothing is changed or deleted.
					for _, value := range []string{"0", "-1", "123456789", "x", "1.5", "1e2", "99999999999999999999", " 1"} {
						inst := any(value)
						if regexp.MustCompile(`^-?[0-9]+$`).MatchString(value) {
							inst = json.Number(value)
						}
						verr, err := v.validate(p.Ptr+"/schema", inst)
						if err != nil {
							t.Fatal(err)
						}
						docRefuses := verr != nil
						res := w.send(op, w.path(op, map[string]string{p.Name: value}), nil, contentType, base(t))
						serverRefuses := oaRefusedAt(res, "path", oaServerParam(op, p.Name))
						if docRefuses != serverRefuses {
							t.Errorf("%s=%q: the document %s it, the server %s it: %d %s",
								p.Name, value, oaVerdict(docRefuses), oaVerdict(serverRefuses), res.status, res.body)
						} else if !docRefuses && res.status != http.StatusNotFound {
							t.Errorf("%s=%q: valid per the document and no such record, but the server answered %d %s",
								p.Name, value, res.status, res.body)
						}
					}
				})
			}
		})
	}
}

// ---- the document's patterns are the code's ----

func TestOpenAPIPatternsMatchModels(t *testing.T) {
	t.Parallel()
	doc := oaDocument(t)
	// Every pattern of models.go, and the password rule's four character
	// classes (passwordProblem), each as a JSON Schema pattern.
	want := map[string]bool{
		patternASCIILetters: true, patternNameLetters: true, patternPhone: true, patternEmail: true,
		patternDate: true, patternAddress: true, patternTicketText: true, patternDescription: true,
		patternGrantType: true,
		`\p{Lu}`:         true, `\p{Ll}`: true, `[0-9]`: true, "[" + passwordSpecials + "]": true,
	}
	// Responses: timestamps as store.go writes them (time.DateTime).
	const timestamp = `^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$`
	if re := regexp.MustCompile(timestamp); !re.MatchString(time.Now().UTC().Format(time.DateTime)) {
		t.Fatalf("timestamp pattern does not match time.DateTime")
	}
	want[timestamp] = true
	want[patternAuditTarget], want[patternAuditAction] = true, true // audit.go's filters
	// The sort parameters' fields (lists.go).
	want[ticketList.sortPattern()] = true
	want[employeeList.sortPattern()] = true
	want[userList.sortPattern()] = true

	found := map[string]bool{}
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["pattern"].(string); ok {
				found[p] = true
				if !want[p] {
					t.Errorf("%s: pattern %q is none of models.go's", where, p)
				}
			}
			for k, e := range x {
				walk(e, where+"/"+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", where, i))
			}
		}
	}
	walk(doc["components"], "#/components")
	walk(doc["paths"], "#/paths")
	for p := range want {
		if !found[p] {
			t.Errorf("pattern %q of the code is in no schema of the document", p)
		}
	}
}

// ---- what is served ----

func TestOpenAPIServedDocument(t *testing.T) {
	t.Parallel()
	embedded := oaDocument(t)

	check := func(t *testing.T, ts *testServer) map[string]any {
		t.Helper()
		res := ts.call("GET", "/openapi.json", "", nil).expect(http.StatusOK)
		if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		served := res.obj()
		if served["openapi"] != "3.1.0" {
			t.Errorf("openapi = %v, want 3.1.0", served["openapi"])
		}
		if want := []any{map[string]any{"url": "/api/v1"}}; !reflect.DeepEqual(served["servers"], want) {
			t.Errorf("servers = %v, want %v", served["servers"], want)
		}
		flow, _ := oaAt(served, "/components/securitySchemes/OAuth2PasswordBearer/flows/password")
		f, _ := flow.(map[string]any)
		if f["tokenUrl"] != "token" || f["tokenUrl"] != ts.cfg.Auth.OAuth2Scheme.TokenURL {
			t.Errorf("tokenUrl = %v, want token (config %q)", f["tokenUrl"], ts.cfg.Auth.OAuth2Scheme.TokenURL)
		}
		wantScopes := map[string]any{}
		for k, v := range ts.cfg.Auth.OAuth2Scheme.Scopes {
			wantScopes[k] = v
		}
		if !reflect.DeepEqual(f["scopes"], wantScopes) || wantScopes["scope_example"] == nil {
			t.Errorf("scopes = %v, want the config's %v", f["scopes"], wantScopes)
		}
		// Everything else is the embedded document as written.
		for _, key := range []string{"paths", "components"} {
			s, e := served[key].(map[string]any), embedded[key].(map[string]any)
			for k := range e {
				if k == "securitySchemes" {
					continue
				}
				if !reflect.DeepEqual(s[k], e[k]) {
					t.Errorf("served %s.%s differs from openapi.json", key, k)
				}
			}
		}
		// Tags: the config's, and every operation's tag is one of them.
		var apiDocs struct {
			Tags []map[string]any `json:"openapi_tags"`
		}
		if err := json.Unmarshal(ts.cfg.APIDocs, &apiDocs); err != nil {
			t.Fatal(err)
		}
		var wantTags []any
		names := map[string]bool{}
		for _, tag := range apiDocs.Tags {
			wantTags = append(wantTags, tag)
			names[tag["name"].(string)] = true
		}
		if !reflect.DeepEqual(served["tags"], wantTags) {
			t.Errorf("tags = %v, want the config's %v", served["tags"], wantTags)
		}
		for _, want := range []string{"Authentication", "User", "Employee", "Ticket"} {
			if !names[want] {
				t.Errorf("tag %s missing", want)
			}
		}
		for _, op := range oaOperations(served) {
			tags, _ := op.Op["tags"].([]any)
			if len(tags) != 1 || !names[fmt.Sprint(tags[0])] {
				t.Errorf("%s: tags %v, want one of the declared tags", op, tags)
			}
			if s, _ := op.Op["summary"].(string); s == "" {
				t.Errorf("%s: no summary", op)
			}
		}
		return served
	}

	// wantInfo is the info object the config's api_docs makes.
	wantInfo := func(t *testing.T, apiDocs json.RawMessage) map[string]any {
		var d map[string]any
		if err := json.Unmarshal(apiDocs, &d); err != nil {
			t.Fatal(err)
		}
		info := map[string]any{}
		for from, to := range map[string]string{"title": "title", "version": "version", "summary": "summary",
			"description": "description", "terms_of_service": "termsOfService", "contact": "contact", "license_info": "license"} {
			if v, ok := d[from]; ok {
				info[to] = v
			}
		}
		return info
	}

	t.Run("built-in config", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t)
		served := check(t, ts)
		if want := wantInfo(t, ts.cfg.APIDocs); !reflect.DeepEqual(served["info"], want) {
			t.Errorf("info = %v\nwant the config's api_docs %v", served["info"], want)
		}
		// The file itself carries the built-in config's info, so it reads
		// right on its own; its license may add an SPDX identifier (which
		// the lint asks for).
		fileInfo := maps.Clone(embedded["info"].(map[string]any))
		license := maps.Clone(fileInfo["license"].(map[string]any))
		if license["identifier"] != nil && served["info"].(map[string]any)["license"].(map[string]any)["identifier"] == nil {
			delete(license, "identifier")
		}
		fileInfo["license"] = license
		if !reflect.DeepEqual(fileInfo, served["info"]) {
			t.Errorf("openapi.json info %v differs from the built-in config's %v", embedded["info"], served["info"])
		}
	})

	t.Run("the original's config", func(t *testing.T) {
		t.Parallel()
		data, err := os.ReadFile(originalConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			APIDocs json.RawMessage `json:"api_docs"`
		}
		if err := json.Unmarshal(data, &file); err != nil {
			t.Fatal(err)
		}
		ts := newTestServer(t, func(c *Config) { c.APIDocs = file.APIDocs })
		served := check(t, ts)
		want := wantInfo(t, file.APIDocs)
		if want["termsOfService"] == nil {
			t.Fatal("fixture has no terms_of_service")
		}
		if !reflect.DeepEqual(served["info"], want) {
			t.Errorf("info = %v\nwant the config's api_docs %v", served["info"], want)
		}
	})
}

func TestOpenAPIDocsPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		t.Fatal(err)
	}
	contentTypes := map[string]string{
		".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".png": "image/png", ".html": "text/html; charset=utf-8",
	}
	get := func(t *testing.T, target, wantType string) *response {
		t.Helper()
		req, err := http.NewRequest("GET", ts.srv.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		res := ts.send(req)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200", target, res.status)
		}
		if ct := res.header.Get("Content-Type"); ct != wantType {
			t.Errorf("GET %s: Content-Type %q, want %q", target, ct, wantType)
		}
		return res
	}
	absoluteURL := regexp.MustCompile(`(?i)https?://`)

	page := get(t, "/api/v1/docs", "text/html; charset=utf-8")
	if !bytes.Contains(page.body, []byte(`id="swagger-ui"`)) {
		t.Errorf("the docs page has no Swagger UI element")
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q, want default-src 'self'", csp)
	}

	t.Run("every file the page references is served with its type", func(t *testing.T) {
		refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllSubmatch(page.body, -1)
		if len(refs) < 4 {
			t.Fatalf("index.html references %d files, want the CSS, icons and scripts", len(refs))
		}
		scripts := 0
		for _, m := range refs {
			ref := string(m[1])
			if !strings.HasPrefix(ref, "docs/") || strings.Contains(ref, "..") {
				t.Errorf("index.html references %q, want a file under docs/", ref)
				continue
			}
			if path.Ext(ref) == ".js" {
				scripts++
			}
			get(t, "/api/v1/"+ref, contentTypes[path.Ext(ref)])
		}
		if scripts != 2 {
			t.Errorf("index.html loads %d scripts, want the bundle and swagger-init.js", scripts)
		}
	})

	t.Run("the OAuth2 redirect page and its script are served", func(t *testing.T) {
		init, err := fs.ReadFile(static, "swagger-init.js")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`url: "openapi.json"`, `"/oauth2-redirect.html"`, "validatorUrl: null"} {
			if !bytes.Contains(init, []byte(want)) {
				t.Errorf("swagger-init.js lacks %s", want)
			}
		}
		redirect := get(t, "/api/v1/docs/oauth2-redirect.html", "text/html; charset=utf-8")
		if !bytes.Contains(redirect.body, []byte(`src="oauth2-redirect.js"`)) {
			t.Errorf("oauth2-redirect.html does not load oauth2-redirect.js")
		}
		get(t, "/api/v1/docs/oauth2-redirect.js", "text/javascript; charset=utf-8")
	})

	t.Run("the page's own files name no other host", func(t *testing.T) {
		for _, name := range []string{"index.html", "swagger-init.js", "oauth2-redirect.html"} {
			data, err := fs.ReadFile(static, name)
			if err != nil {
				t.Fatal(err)
			}
			if m := absoluteURL.Find(data); m != nil {
				t.Errorf("%s references %q: the page must work offline, with its own files only", name, m)
			}
		}
	})

	t.Run("favicon", func(t *testing.T) {
		res := get(t, "/favicon.ico", "image/png")
		if !bytes.HasPrefix(res.body, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("/favicon.ico is not a PNG")
		}
	})

	t.Run("the page itself and the refresh script are not served as files", func(t *testing.T) {
		for _, name := range []string{"index.html", "refresh.sh"} {
			ts.call("GET", "/docs/"+name, "", nil).expect(http.StatusNotFound, "Not Found")
		}
	})
}

// TestTourNamesRealFunctions: docs/tour.md follows requests through the
// code; every function it names as `name()` and every file it names as
// `file.go` must exist, so the tour cannot drift from the code unnoticed.
func TestTourNamesRealFunctions(t *testing.T) {
	t.Parallel()
	tour, err := os.ReadFile("docs/tour.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok {
				declared[fn.Name.Name] = true
			}
		}
	}
	names := regexp.MustCompile("`([A-Za-z_][A-Za-z0-9_]*)\\(\\)`").FindAllStringSubmatch(string(tour), -1)
	if len(names) < 30 {
		t.Fatalf("the tour names only %d functions; has its form changed?", len(names))
	}
	for _, m := range names {
		if !declared[m[1]] {
			t.Errorf("docs/tour.md names %s(), which no file declares", m[1])
		}
	}
	for _, m := range regexp.MustCompile("`([a-z_]+\\.go)`").FindAllStringSubmatch(string(tour), -1) {
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("docs/tour.md names %s: %v", m[1], err)
		}
	}
}

// TestDocsNameRealTests: the docs (the security table above all) point at
// the tests that pin each claim; every test they name must exist.
func TestDocsNameRealTests(t *testing.T) {
	t.Parallel()
	docs, _ := filepath.Glob("docs/*.md")
	sources, _ := filepath.Glob("*_test.go")
	var tests strings.Builder
	for _, name := range sources {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		tests.Write(data)
	}
	named := 0
	for _, doc := range append(docs, "README.md") {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile("`((Test|Fuzz|Benchmark)[A-Za-z0-9_]+)`").FindAllStringSubmatch(string(data), -1) {
			named++
			if !strings.Contains(tests.String(), "func "+m[1]+"(") {
				t.Errorf("%s names %s, which no test file declares", doc, m[1])
			}
		}
	}
	if named < 20 {
		t.Fatalf("the docs name only %d tests; has the security table moved?", named)
	}
}

// docsNotFound fails unless an answer is the JSON 404 of docs/api.md §1.
func docsNotFound(t testing.TB, what string, status int, contentType string, body []byte) {
	t.Helper()
	if status != http.StatusNotFound || contentType != "application/json; charset=utf-8" ||
		strings.TrimSpace(string(body)) != `{"detail":"Not Found"}` {
		t.Fatalf("%s: %d %s %q, want the JSON 404", what, status, contentType, body)
	}
}

// TestDocsFilesAnswerJSON: a name under /docs/ is one of the page's files
// or the JSON 404, however it is encoded: never a file server's plain-text
// 400, 404 or 500.
func TestDocsFilesAnswerJSON(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, name := range []string{"%2e%2e%2fopenapi.json", "%2e%2fdocs.go", "..%2f..%2fgo.mod", "%2e", "%2e%2e",
		"a%2fb", "x%00", "%5c..%5cdocs.go", "nonexistent.js", "index.html", "refresh.sh", "%2fswagger-ui.css",
		"swagger-ui.css%2f", "static%2fswagger-ui.css", strings.Repeat("%2e%2e%2f", 3000) + "go.mod"} {
		res := ts.call("GET", "/docs/"+name, "", nil)
		docsNotFound(t, "GET /docs/"+name, res.status, res.header.Get("Content-Type"), res.body)
	}
	static, _ := fs.Sub(staticFiles, "static")
	for _, name := range []string{"swagger-ui.css", "swagger-ui-bundle.js", "favicon-16x16.png", "LICENSE"} {
		want, err := fs.ReadFile(static, name)
		if err != nil {
			t.Fatal(err)
		}
		res := ts.call("GET", "/docs/"+name, "", nil).expect(http.StatusOK)
		if !bytes.Equal(res.body, want) || res.header.Get("Content-Type") == "" {
			t.Errorf("GET /docs/%s: %d bytes of type %q, want the file's %d", name, len(res.body), res.header.Get("Content-Type"), len(want))
		}
	}
}

// FuzzDocsFile: whatever the name under /docs/ (each byte percent-encoded,
// so the mux routes it there), the answer is that file of the page or the
// JSON 404.
func FuzzDocsFile(f *testing.F) {
	ts := newTestServer(f)
	ts.app.log = discardLogger() // a million access lines would only fill memory
	static, _ := fs.Sub(staticFiles, "static")
	files := map[string][]byte{} // what the page may load: static/ but the page itself and the refresh script
	entries, _ := fs.ReadDir(static, ".")
	for _, e := range entries {
		if name := e.Name(); name != "index.html" && path.Ext(name) != ".sh" {
			files[name], _ = fs.ReadFile(static, name)
		}
	}
	for _, seed := range []string{"swagger-ui.css", "../openapi.json", "./docs.go", ".", "..", "a/b", "x\x00", `\..\docs.go`,
		"index.html", "refresh.sh", "/etc/passwd", "swagger-ui.css/", "%2e", "LICENSE"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		// Longer names take no other path (TestDocsFilesAnswerJSON sends one),
		// and would only slow the fuzzer's shrinking of what it finds.
		name = name[:min(len(name), 255)]
		var escaped strings.Builder
		for i := 0; i < len(name); i++ {
			escaped.WriteString("%" + strconv.FormatUint(uint64(name[i])|0x100, 16)[1:])
		}
		rec := ts.serve(httptest.NewRequest("GET", "/api/v1/docs/"+escaped.String(), nil))
		if file, ok := files[name]; ok {
			if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), file) {
				t.Fatalf("docs file %q: %d, %d bytes", name, rec.Code, rec.Body.Len())
			}
			return
		}
		docsNotFound(t, fmt.Sprintf("GET /docs/ %q", name), rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	})
}
