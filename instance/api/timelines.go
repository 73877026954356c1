package api

import (
	"net/http"
	"strings"
	"sync"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
)

func (a *API) registerTimelines(mux *http.ServeMux) {
	a.handle(mux, "GET /api/v1/timelines/home", user("read:statuses"), a.homeTimeline)
	a.handle(mux, "GET /api/v1/timelines/public", public(), a.publicTimeline)
	a.handle(mux, "GET /api/v1/timelines/tag/{tag}", public(), a.tagTimeline)
	a.handle(mux, "GET /api/v1/timelines/list/{id}", user("read:lists"), a.emptyList)
	a.handle(mux, "GET /api/v1/timelines/direct", user("read:statuses"), a.emptyList)

	a.handle(mux, "GET /api/v1/notifications", user("read:notifications"), a.notifications)
	a.handle(mux, "GET /api/v1/notifications/unread_count", user("read:notifications"), a.unreadCount)
	a.handle(mux, "GET /api/v1/notifications/{id}", user("read:notifications"), a.getNotification)
	a.handle(mux, "POST /api/v1/notifications/clear", user("write:notifications"), a.clearNotifications)
	a.handle(mux, "POST /api/v1/notifications/{id}/dismiss", user("write:notifications"), a.dismissNotification)
	a.handle(mux, "POST /api/v1/notifications/dismiss", user("write:notifications"), a.dismissNotification)

	a.handle(mux, "GET /api/v1/markers", user("read:statuses"), a.getMarkers)
	a.handle(mux, "POST /api/v1/markers", user("write:statuses"), a.setMarkers)
}

func (a *API) homeTimeline(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	pg, err := p.page(20, MaxLimit)
	if err != nil {
		return err
	}
	sts, err := a.st.HomeTimeline(r.Context(), c.viewer.ID, pg)
	if err != nil {
		return err
	}
	return a.statusPage(w, r, c, sts)
}

func (a *API) publicTimeline(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	pg, err := p.page(20, MaxLimit)
	if err != nil {
		return err
	}
	var local, remote, media bool
	for name, dst := range map[string]*bool{"local": &local, "remote": &remote, "only_media": &media} {
		if *dst, _, err = p.boolean(name); err != nil {
			return err
		}
	}
	sts, err := a.st.PublicTimelineFiltered(r.Context(), local, remote, media, pg)
	if err != nil {
		return err
	}
	return a.statusPage(w, r, c, sts)
}

func (a *API) tagTimeline(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	pg, err := p.page(20, MaxLimit)
	if err != nil {
		return err
	}
	tag := strings.TrimPrefix(r.PathValue("tag"), "#")
	if tag == "" {
		return notFound()
	}
	sts, err := a.st.TagTimeline(r.Context(), tag, pg)
	if err != nil {
		return err
	}
	return a.statusPage(w, r, c, sts)
}

// notificationTypes are the types Palisade stores; types[] naming others
// just match nothing, as in Mastodon.
var notificationTypes = []string{"mention", "status", "reblog", "follow", "follow_request", "favourite", "poll",
	"update", "admin.sign_up", "admin.report"}

func (a *API) notificationFilter(p *params) (data.NotificationFilter, error) {
	f := data.NotificationFilter{Types: p.list("types"), ExcludeTypes: p.list("exclude_types")}
	for _, list := range [][]string{f.Types, f.ExcludeTypes} {
		for _, t := range list {
			if len(t) > 64 {
				return f, invalidParam("types", "has an entry over 64 characters")
			}
		}
	}
	var err error
	f.FromAccountID, err = p.id("account_id")
	return f, err
}

func (a *API) notifications(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	pg, err := p.page(40, 80)
	if err != nil {
		return err
	}
	f, err := a.notificationFilter(p)
	if err != nil {
		return err
	}
	ns, err := a.st.NotificationsFiltered(r.Context(), c.viewer.ID, f, pg)
	if err != nil {
		return err
	}
	out, err := a.notificationsToAPI(r.Context(), c.viewer, ns)
	if err != nil {
		return err
	}
	if len(ns) > 0 {
		a.setLink(w, r, ns[0].ID, ns[len(ns)-1].ID, len(ns))
	}
	return ok(w, out)
}

func (a *API) unreadCount(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := a.st.Markers(r.Context(), c.viewer.ID, []string{"notifications"})
	if err != nil {
		return err
	}
	pg := data.Page{Limit: 200}
	if len(ms) > 0 {
		pg.SinceID = ms[0].LastReadID
	}
	ns, err := a.st.NotificationsFiltered(r.Context(), c.viewer.ID, data.NotificationFilter{}, pg)
	if err != nil {
		return err
	}
	return ok(w, map[string]int{"count": len(ns)})
}

func (a *API) getNotification(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	m, err := a.st.GetNotifications(r.Context(), []int64{id})
	if err != nil {
		return err
	}
	n, found := m[id]
	if !found || n.AccountID != c.viewer.ID || n.Dismissed {
		return notFound()
	}
	out, err := a.notificationsToAPI(r.Context(), c.viewer, []data.Notification{n})
	if err != nil {
		return err
	}
	if len(out) == 0 {
		return notFound()
	}
	return ok(w, out[0])
}

func (a *API) clearNotifications(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.st.ClearNotifications(r.Context(), c.viewer.ID); err != nil {
		return err
	}
	return ok(w, struct{}{})
}

func (a *API) dismissNotification(w http.ResponseWriter, r *http.Request, c *call) error {
	var id int64
	var err error
	if r.PathValue("id") != "" {
		id, err = pathID(r, "id")
	} else {
		var p *params
		if p, err = parseParams(r, maxBody); err == nil {
			id, err = p.id("id")
			if err == nil && id == 0 {
				err = invalidParam("id", "is missing")
			}
		}
	}
	if err != nil {
		return err
	}
	if err := a.st.DismissNotification(r.Context(), c.viewer.ID, id); err != nil {
		return err
	}
	return ok(w, struct{}{})
}

func (a *API) getMarkers(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	tls := p.list("timeline")
	for _, t := range tls {
		if t != "home" && t != "notifications" {
			return invalidParam("timeline", "is %q: want home or notifications", t)
		}
	}
	ms, err := a.st.Markers(r.Context(), c.viewer.ID, tls)
	if err != nil {
		return err
	}
	out := map[string]Marker{}
	for _, m := range ms {
		out[m.Timeline] = Marker{LastReadID: ids.String(m.LastReadID), Version: m.Version, UpdatedAt: Time(m.UpdatedAt)}
	}
	return ok(w, out)
}

func (a *API) setMarkers(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	out := map[string]Marker{}
	for _, tl := range []string{"home", "notifications"} {
		field := tl + "[last_read_id]"
		if !p.has(field) {
			continue
		}
		id, err := p.id(field)
		if err != nil {
			return err
		}
		if id == 0 {
			return invalidParam(field, "can't be blank")
		}
		m, err := a.st.SetMarker(r.Context(), c.viewer.ID, tl, id)
		if err != nil {
			return err
		}
		out[tl] = Marker{LastReadID: ids.String(m.LastReadID), Version: m.Version, UpdatedAt: Time(m.UpdatedAt)}
	}
	if len(out) == 0 {
		return invalidParam("home[last_read_id]", "or notifications[last_read_id] is required")
	}
	return ok(w, out)
}

// keyLocks serialises requests sharing an Idempotency-Key.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (a *API) lockKey(account int64, key string) (unlock func()) {
	k := ids.String(account) + "\x00" + key
	a.keys.mu.Lock()
	if a.keys.locks == nil {
		a.keys.locks = map[string]*keyLock{}
	}
	l := a.keys.locks[k]
	if l == nil {
		l = &keyLock{}
		a.keys.locks[k] = l
	}
	l.refs++
	a.keys.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		a.keys.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(a.keys.locks, k)
		}
		a.keys.mu.Unlock()
	}
}
