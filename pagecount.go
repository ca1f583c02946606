package main

// pagecount.go: X-Total-Count without a count query when the page is the
// whole answer. A first page (no skip, after_id or cursor) that found no
// row beyond its limit holds every row the filters select, so their number
// is the count; asking the database would find those rows a second time.
//
// What it gained: a q found in few rows pays its search once, not twice.
// On PostgreSQL an employee's email as q went from 1 000-1 043 to
// 1 433-1 558 requests/s at 1 000 000 tickets and from 1 288-1 707 to
// 2 040-2 297/s at 1 000 (16 connections), toward the data-growth target
// of docs/performance.md, which it needs; on the mixed workload with lists
// (SQLite) it is within noise.

// countOnPage is the count of a list read from its page, where found rows
// came back for p.peek(), and whether the page can tell it.
func countOnPage(l *listQuery, p page, found int) (int64, bool) {
	firstPage := p.skip == 0 && p.after == 0 && l.after == nil
	if !firstPage || int64(found) > p.limit {
		return 0, false
	}
	return int64(found), true
}
