package web

import (
	"net/url"
	"strconv"
)

// flowsPerPage is how many flows one page of the entity page's table
// shows; older ones are on the next pages, reached by plain links (no
// script), and the API and CSV have every row.
const flowsPerPage = 50

// maxPage bounds the page number a reader may ask for.
const maxPage = 1_000_000

// parsePage reads the page parameter: absent is 1.
func parsePage(q url.Values) (int, error) {
	v := q.Get("page")
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		return 0, badRequest("page=%q: want a whole number from 1", v)
	}
	return n, nil
}

// pager is the position of a page of flows among all of them, with the
// links to its neighbours ("" when there is none).
type pager struct {
	Page, Pages  int
	First, Last  int // 1-based numbers of the first and last flow shown
	Total        int
	Newer, Older string
}

// newPager places page among total items of perPage; href makes a page's
// link. A page past the last is not found (page 1 always exists).
func newPager(page, total, perPage int, href func(page int) string) (pager, error) {
	pages := max(1, (total+perPage-1)/perPage)
	if page > pages {
		return pager{}, notFound("there are %d pages of flows in this period, not %d", pages, page)
	}
	p := pager{Page: page, Pages: pages, Total: total, First: min(total, (page-1)*perPage+1), Last: min(total, page*perPage)}
	if page > 1 {
		p.Newer = href(page - 1)
	}
	if page < pages {
		p.Older = href(page + 1)
	}
	return p, nil
}
