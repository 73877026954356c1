package web

import (
	"net/http"
	"net/url"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// pageSize is the number of items per collection page (Mastodon's).
const pageSize = 20

// collectionAccount loads the account of a collection request and
// authenticates the fetcher; collections are ActivityStreams only.
func (h *Handler) collectionAccount(r *http.Request) (*data.Account, error) {
	a, err := h.account(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	if a.SuspendedAt != nil {
		return nil, gone(r, a.URI, "Person")
	}
	if _, err := h.fetcher(r); err != nil {
		return nil, err
	}
	return a, nil
}

// pageOf reads ?page=true&max_id=ID&min_id=ID. paged is false without
// page (the collection itself is asked for).
func pageOf(r *http.Request) (p data.Page, paged bool, err error) {
	q := r.URL.Query()
	if q.Get("page") == "" {
		return p, false, nil
	}
	p.Limit = pageSize
	for name, dst := range map[string]*int64{"max_id": &p.MaxID, "min_id": &p.MinID} {
		if v := q.Get(name); v != "" {
			if *dst, err = ids.Parse(v); err != nil {
				return p, true, errorf(http.StatusBadRequest, "%s %q is not an id", name, v)
			}
		}
	}
	return p, true, nil
}

// pageIDs builds a page's id and its next/prev links over the ids of its
// items (newest first).
func pageIDs(c *activity.Collection, coll string, p data.Page, first, last int64, n int) {
	q := url.Values{"page": {"true"}}
	if p.MaxID > 0 {
		q.Set("max_id", ids.String(p.MaxID))
	}
	if p.MinID > 0 {
		q.Set("min_id", ids.String(p.MinID))
	}
	c.ID, c.Type, c.PartOf = coll+"?"+q.Encode(), "OrderedCollectionPage", coll
	if n == 0 {
		return
	}
	if n == pageSize {
		c.Next = coll + "?" + url.Values{"page": {"true"}, "max_id": {ids.String(last)}}.Encode()
	}
	c.Prev = coll + "?" + url.Values{"page": {"true"}, "min_id": {ids.String(first)}}.Encode()
}

func (h *Handler) writeCollection(w http.ResponseWriter, r *http.Request, c *activity.Collection) error {
	doc, err := activity.EncodeCollection(c)
	if err != nil {
		return err
	}
	writeAS(w, r, http.StatusOK, doc)
	return nil
}

// outbox serves BASE/users/NAME/outbox: an OrderedCollection with the
// count of public and unlisted statuses, and pages (?page=true) of their
// Create and Announce activities, newest first.
func (h *Handler) outbox(w http.ResponseWriter, r *http.Request) error {
	a, err := h.collectionAccount(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	coll := h.svc.URLs(a.Username).Outbox
	p, paged, err := pageOf(r)
	if err != nil {
		return err
	}
	if !paged {
		n, err := h.st.CountPublicAccountStatuses(ctx, a.ID)
		if err != nil {
			return err
		}
		return h.writeCollection(w, r, &activity.Collection{ID: coll, Type: "OrderedCollection", TotalItems: &n,
			First: coll + "?page=true"})
	}
	sts, err := h.st.PublicAccountStatuses(ctx, a.ID, p)
	if err != nil {
		return err
	}
	if err := h.st.LoadStatusExtras(ctx, sts); err != nil {
		return err
	}
	c := &activity.Collection{}
	for _, st := range sts {
		act, err := h.svc.StatusToActivity(ctx, h.st, st, a)
		if err != nil {
			return err
		}
		c.Items = append(c.Items, act)
	}
	if len(sts) > 0 {
		pageIDs(c, coll, p, sts[0].ID, sts[len(sts)-1].ID, len(sts))
	} else {
		pageIDs(c, coll, p, 0, 0, 0)
	}
	return h.writeCollection(w, r, c)
}

// followers serves BASE/users/NAME/followers: the count, and pages of
// follower actor ids.
func (h *Handler) followers(w http.ResponseWriter, r *http.Request) error {
	return h.follows(w, r, true)
}

// following serves BASE/users/NAME/following likewise.
func (h *Handler) following(w http.ResponseWriter, r *http.Request) error {
	return h.follows(w, r, false)
}

func (h *Handler) follows(w http.ResponseWriter, r *http.Request, followers bool) error {
	a, err := h.collectionAccount(r)
	if err != nil {
		return err
	}
	u := h.svc.URLs(a.Username)
	coll, total, list := u.Following, int(a.FollowingCount), h.st.Following
	if followers {
		coll, total, list = u.Followers, int(a.FollowersCount), h.st.Followers
	}
	p, paged, err := pageOf(r)
	if err != nil {
		return err
	}
	hidden := h.o.HideNetwork != nil && h.o.HideNetwork(a)
	if !paged {
		c := &activity.Collection{ID: coll, Type: "OrderedCollection", TotalItems: &total}
		if !hidden {
			c.First = coll + "?page=true"
		}
		return h.writeCollection(w, r, c)
	}
	if hidden {
		return errorf(http.StatusForbidden, "%s keeps this list private", a.Username)
	}
	es, err := list(r.Context(), a.ID, p)
	if err != nil {
		return err
	}
	c := &activity.Collection{TotalItems: &total}
	for _, e := range es {
		c.Items = append(c.Items, e.Account.URI)
	}
	if len(es) > 0 {
		pageIDs(c, coll, p, es[0].FollowID, es[len(es)-1].FollowID, len(es))
	} else {
		pageIDs(c, coll, p, 0, 0, 0)
	}
	return h.writeCollection(w, r, c)
}

// featured serves BASE/users/NAME/collections/featured, the pinned
// statuses. The schema has no pins yet, so it is always the empty
// ordered collection (Mastodon fetches it for every new account and
// expects a collection, not a 404).
func (h *Handler) featured(w http.ResponseWriter, r *http.Request) error {
	a, err := h.collectionAccount(r)
	if err != nil {
		return err
	}
	zero := 0
	return h.writeCollection(w, r, &activity.Collection{ID: h.svc.URLs(a.Username).Featured, Type: "OrderedCollection",
		TotalItems: &zero, Items: []any{}})
}
