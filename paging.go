package main

// paging.go: the headers of a filtered or sorted list's answer
// (docs/api.md §5, "Paging headers"): X-Total-Count, the number of items
// under the filters, and an RFC 8288 Link to the next page. The next page
// starts after the last row of this one (keyset paging: rows added or
// removed meanwhile shift nothing): by after_id when the list is sorted by
// id, else by a cursor holding the last row's sort values.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// cursor is where a page ended: the sort it was read in, and the last
// row's values of the sort's keys (id last). Clients pass it back as is.
type cursor struct {
	Sort  string `json:"sort"`
	After []any  `json:"after"`
}

// sortName is the list's order as a sort parameter would say it.
func (l *listQuery) sortName() string {
	var fields []string
	for _, k := range l.keys() {
		if k.desc {
			fields = append(fields, "-"+k.field)
		} else {
			fields = append(fields, k.field)
		}
	}
	return strings.Join(fields, ",")
}

// byIDOnly tells whether the list is in the plain order of ids, which
// after_id pages.
func (l *listQuery) byIDOnly() bool {
	keys := l.keys()
	return len(keys) == 1 && !keys[0].desc
}

// encodeCursor is the cursor after a row whose sort values are values.
func (l *listQuery) encodeCursor(values map[string]any) string {
	c := cursor{Sort: l.sortName()}
	for _, k := range l.keys() {
		c.After = append(c.After, values[k.field])
	}
	data, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(data)
}

// cursor reads the cursor parameter, which must come from a Link of a list
// in the same sort: its values become the condition afterCondition writes.
func (f *filters) cursor() {
	v := f.all("cursor")
	if len(v) == 0 || f.sortFailed {
		return
	}
	keys := f.l.keys()
	var c cursor
	data, err := base64.RawURLEncoding.DecodeString(v[0])
	ok := err == nil
	if ok {
		decoder := json.NewDecoder(strings.NewReader(string(data)))
		decoder.UseNumber()
		ok = decoder.Decode(&c) == nil && c.Sort == f.l.sortName() && len(c.After) == len(keys)
	}
	for i := 0; ok && i < len(keys); i++ {
		if keys[i].text {
			_, ok = c.After[i].(string)
			continue
		}
		number, isNumber := c.After[i].(json.Number)
		n, err := number.Int64()
		ok = isNumber && err == nil
		c.After[i] = n
	}
	if !ok {
		f.problem("value_error", "cursor", "Value error, not a cursor of this list's Link header in this sort", v[0], nil)
		return
	}
	f.l.after = c.After
}

// totalCount reads total_count: false leaves X-Total-Count out. Counting
// visits every row the filters select, whatever the index, so a client
// walking a large list can save that cost on each page.
func (f *filters) totalCount() {
	v := f.all("total_count")
	if len(v) == 0 {
		return
	}
	if v[0] != "true" && v[0] != "false" {
		f.problem("bool_parsing", "total_count", "Input should be a valid boolean, unable to interpret input", v[0], nil)
		return
	}
	f.l.noTotal = v[0] == "false"
}

// afterCondition is "the row comes after l.after in the order": its first
// key is past the cursor's, or equal and the second is past, and so on
// (id, last, is unique). Written from the keys' fixed expressions only.
func (l *listQuery) afterCondition(d *dialect) (string, []any) {
	keys := l.keys()
	var terms []string
	var args []any
	for i, k := range keys {
		var parts []string
		for j, equal := range keys[:i] {
			parts = append(parts, equal.sql(d)+" = ?")
			args = append(args, l.after[j])
		}
		if k.desc {
			parts = append(parts, k.sql(d)+" < ?")
		} else {
			parts = append(parts, k.sql(d)+" > ?")
		}
		args = append(args, l.after[i])
		terms = append(terms, "("+strings.Join(parts, " AND ")+")")
	}
	// The first key's bound, implied by the terms, lets an index on the
	// sort start at the cursor: PostgreSQL finds no range in the ORs alone.
	bound := keys[0].sql(d) + " >= ?"
	if keys[0].desc {
		bound = keys[0].sql(d) + " <= ?"
	}
	return "(" + bound + " AND (" + strings.Join(terms, " OR ") + "))", append([]any{l.after[0]}, args...)
}

// CountFound is how many rows of table meet l's conditions, on every page.
// table is always a constant of a handler.
func (s *Store) CountFound(ctx context.Context, l *listQuery, table string) (int64, error) {
	if err := s.narrowSearch(ctx, l); err != nil {
		return 0, err
	}
	query := "SELECT count(*) FROM " + table
	if len(l.conds) > 0 {
		query += " WHERE " + strings.Join(l.conds, " AND ")
	}
	var n int64
	err := s.read.DB.QueryRowContext(ctx, s.dialect.rebind(query), l.argsFor(l.args)...).Scan(&n)
	return n, err
}

// peek is the page with one row more, which tells whether a next page exists.
func (p page) peek() page {
	p.limit++
	return p
}

// replyPage answers a filtered or sorted page that was read with p.peek():
// the page, X-Total-Count, and a Link to the next page when there is one.
func replyPage[T any](a *app, w http.ResponseWriter, r *http.Request, l *listQuery, p page, table string,
	items []T, err error, sortValues func(T) map[string]any) {
	var total int64
	if err == nil && !l.noTotal {
		var counted bool
		if total, counted = countOnPage(l, p, len(items)); !counted {
			total, err = a.store.CountFound(r.Context(), l, table)
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !l.noTotal {
		w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	}
	if int64(len(items)) > p.limit {
		items = items[:p.limit]
		if p.limit > 0 {
			w.Header().Set("Link", nextLink(r, l, sortValues(items[len(items)-1])))
		}
	}
	writeJSON(w, http.StatusOK, items)
}

// nextLink is the Link header to the page after the row whose sort values
// are last: the same query, starting after that row.
func nextLink(r *http.Request, l *listQuery, last map[string]any) string {
	query := r.URL.Query()
	query.Del("skip")
	query.Del("cursor")
	if l.byIDOnly() {
		query.Set("after_id", strconv.FormatInt(last["id"].(int64), 10))
	} else {
		query.Set("cursor", l.encodeCursor(last))
	}
	return "<" + r.URL.Path + "?" + query.Encode() + `>; rel="next"`
}

// ticketSortValues, employeeSortValues and userSortValues are a row's
// values of its list's sort fields, as the cursor holds them.
func ticketSortValues(t Ticket) map[string]any {
	return map[string]any{"id": t.ID, "created": t.Created, "status": t.Status, "title": t.Title,
		"employee_id": t.EmployeeID}
}

func employeeSortValues(e Employee) map[string]any {
	return map[string]any{"id": e.ID, "created": e.Created, "last_name": e.LastName, "first_name": e.FirstName,
		"country": e.Country, "city": e.City}
}

func userSortValues(u User) map[string]any {
	return map[string]any{"id": u.ID, "created": u.Created, "username": u.Username, "last_name": u.LastName,
		"first_name": u.FirstName}
}
