package api

import (
	"net/http"
	"net/url"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
)

// MaxLimit is the largest page a list endpoint returns (Mastodon's 40;
// larger limits are lowered, not refused).
const MaxLimit = 40

// page reads max_id, since_id, min_id and limit (default def, at most
// max).
func (p *params) page(def, max int) (data.Page, error) {
	var pg data.Page
	var err error
	if pg.MaxID, err = p.id("max_id"); err != nil {
		return pg, err
	}
	if pg.SinceID, err = p.id("since_id"); err != nil {
		return pg, err
	}
	if pg.MinID, err = p.id("min_id"); err != nil {
		return pg, err
	}
	pg.Limit, err = p.integer("limit", def, 1, max)
	return pg, err
}

// setLink writes the Link header of a page whose entries have the given
// page ids, newest first: rel="next" continues below the oldest (max_id),
// rel="prev" above the newest (min_id). An empty page has no links.
func (a *API) setLink(w http.ResponseWriter, r *http.Request, newest, oldest int64, n int) {
	if n == 0 {
		return
	}
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		switch k {
		case "max_id", "since_id", "min_id", "access_token":
			continue
		}
		q[k] = vs
	}
	link := func(key string, id int64, rel string) string {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set(key, ids.String(id))
		return "<" + a.base + r.URL.Path + "?" + qq.Encode() + `>; rel="` + rel + `"`
	}
	w.Header().Set("Link", link("max_id", oldest, "next")+", "+link("min_id", newest, "prev"))
}
