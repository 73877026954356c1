package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/instance/social"
)

func (a *API) registerStatuses(mux *http.ServeMux) {
	a.handle(mux, "POST /api/v1/statuses", user("write:statuses"), a.postStatus)
	a.handle(mux, "GET /api/v1/statuses/{id}", public(), a.getStatus)
	a.handle(mux, "GET /api/v1/statuses/{id}/context", public(), a.statusContext)
	a.handle(mux, "PUT /api/v1/statuses/{id}", user("write:statuses"), a.editStatus)
	a.handle(mux, "GET /api/v1/statuses/{id}/history", public(), a.statusHistory)
	a.handle(mux, "GET /api/v1/statuses/{id}/source", user("read:statuses"), a.statusSource)
	a.handle(mux, "DELETE /api/v1/statuses/{id}", user("write:statuses"), a.deleteStatus)
	a.handle(mux, "POST /api/v1/statuses/{id}/favourite", user("write:favourites"), a.statusAction(func(ctx context.Context, c *call, id int64) error {
		return a.svc.Favourite(ctx, c.viewer.ID, id)
	}))
	a.handle(mux, "POST /api/v1/statuses/{id}/unfavourite", user("write:favourites"), a.statusAction(func(ctx context.Context, c *call, id int64) error {
		err := a.svc.Unfavourite(ctx, c.viewer.ID, id)
		if data.KindOf(err) == data.NotFound {
			return nil // not favourited: answer the status, as Mastodon does
		}
		return err
	}))
	a.handle(mux, "POST /api/v1/statuses/{id}/reblog", user("write:statuses"), a.reblog)
	a.handle(mux, "POST /api/v1/statuses/{id}/unreblog", user("write:statuses"), a.statusAction(func(ctx context.Context, c *call, id int64) error {
		err := a.svc.Unreblog(ctx, c.viewer.ID, id)
		if data.KindOf(err) == data.NotFound {
			return nil
		}
		return err
	}))
	a.handle(mux, "POST /api/v1/statuses/{id}/bookmark", user("write:bookmarks"), a.statusAction(func(ctx context.Context, c *call, id int64) error {
		_, err := a.st.CreateBookmark(ctx, c.viewer.ID, id)
		return err
	}))
	a.handle(mux, "POST /api/v1/statuses/{id}/unbookmark", user("write:bookmarks"), a.statusAction(func(ctx context.Context, c *call, id int64) error {
		_, err := a.st.DeleteBookmark(ctx, c.viewer.ID, id)
		return err
	}))
	// Pinning and muting conversations are not implemented: the status
	// answers unchanged rather than 404, so apps do not report an error.
	for _, act := range []string{"pin", "unpin", "mute", "unmute"} {
		a.handle(mux, "POST /api/v1/statuses/{id}/"+act, user("write:accounts"), a.statusAction(nil))
	}
	a.handle(mux, "GET /api/v1/statuses/{id}/favourited_by", public(), a.emptyList)
	a.handle(mux, "GET /api/v1/statuses/{id}/reblogged_by", public(), a.emptyList)
	a.handle(mux, "GET /api/v1/favourites", user("read:favourites"), a.markedList(a.st.FavouritedStatuses))
	a.handle(mux, "GET /api/v1/bookmarks", user("read:bookmarks"), a.markedList(a.st.BookmarkedStatuses))
}

// visible loads status id as viewer may see it (404 otherwise, as Mastodon
// hides what exists from who may not see it).
func (a *API) visible(ctx context.Context, viewer *data.Account, id int64) (*data.Status, error) {
	st, err := a.st.GetStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	check := st
	if st.ReblogOfID != 0 {
		if check, err = a.st.GetStatus(ctx, st.ReblogOfID); err != nil {
			return nil, err
		}
	}
	author, err := a.st.GetAccount(ctx, check.AccountID)
	if err != nil {
		return nil, err
	}
	if author.SuspendedAt != nil {
		return nil, notFound()
	}
	seen, err := social.CanSee(ctx, a.st, check, author, viewer)
	if err != nil {
		return nil, err
	}
	if !seen || st.DeletedAt != nil {
		return nil, notFound()
	}
	return st, nil
}

// postParams reads a status's parameters; minPoll is the shortest poll
// accepted (the service's MinPollExpiryOf).
func postParams(p *params, minPoll time.Duration) (social.PostParams, error) {
	var pp social.PostParams
	pp.Text = p.str("status")
	pp.SpoilerText = p.str("spoiler_text")
	pp.Visibility = data.Visibility(p.str("visibility"))
	switch pp.Visibility {
	case "", data.Public, data.Unlisted, data.Private, data.Direct:
	default:
		return pp, invalidParam("visibility", "is %q: want public, unlisted, private or direct", pp.Visibility)
	}
	var err error
	if pp.InReplyToID, err = p.id("in_reply_to_id"); err != nil {
		return pp, err
	}
	if pp.Sensitive, _, err = p.boolean("sensitive"); err != nil {
		return pp, err
	}
	lang := p.str("language")
	if lang != "" && (len(lang) > 16 || strings.ContainsAny(lang, " <>\"'")) {
		return pp, invalidParam("language", "is not a language code: %q", lang)
	}
	pp.Language = lang
	if pp.MediaIDs, err = p.idList("media_ids"); err != nil {
		return pp, err
	}
	if len(pp.MediaIDs) > social.MaxMedia {
		return pp, invalidParam("media_ids", "has %d entries: at most %d attachments", len(pp.MediaIDs), social.MaxMedia)
	}
	if pp.Poll, err = pollParams(p, minPoll); err != nil {
		return pp, err
	}
	if pp.Poll != nil && len(pp.MediaIDs) > 0 {
		return pp, invalidParam("media_ids", "cannot be given with a poll: a status has attachments or a poll, not both")
	}
	if p.has("scheduled_at") && p.str("scheduled_at") != "" {
		return pp, invalidParam("scheduled_at", "scheduled statuses are not supported on this server")
	}
	if strings.TrimSpace(pp.Text) == "" && len(pp.MediaIDs) == 0 {
		return pp, invalidParam("status", "can't be blank")
	}
	if n := utf8.RuneCountInString(pp.Text) + utf8.RuneCountInString(pp.SpoilerText); n > social.MaxChars {
		return pp, invalidParam("status", "is too long (%d characters, at most %d with the content warning)", n, social.MaxChars)
	}
	return pp, nil
}

// pollParams reads poll[options][], poll[expires_in] (seconds),
// poll[multiple] and poll[hide_totals]; nil when no poll is given.
func pollParams(p *params, minPoll time.Duration) (*social.PollParams, error) {
	opts := p.list("poll[options]")
	if len(opts) == 0 && p.str("poll[expires_in]") == "" {
		return nil, nil
	}
	pp := &social.PollParams{Options: opts}
	s := strings.TrimSpace(p.str("poll[expires_in]"))
	if s == "" {
		return nil, invalidParam("poll[expires_in]", "can't be blank: give the poll's duration in seconds")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64) // some clients send 300.0
		if ferr != nil || f != f {
			return nil, invalidParam("poll[expires_in]", "is not a number of seconds: %q", s)
		}
		n = int64(max(min(f, 1<<40), -1))
	}
	// Checked here, before a huge value could overflow into a valid
	// time.Duration.
	if lo, hi := int64(minPoll/time.Second), int64(social.MaxPollExpiry/time.Second); n < lo || n > hi {
		return nil, invalidParam("poll[expires_in]", "is %s seconds: give %d to %d", s, lo, hi)
	}
	pp.ExpiresIn = time.Duration(n) * time.Second
	if pp.Multiple, _, err = p.boolean("poll[multiple]"); err != nil {
		return nil, err
	}
	if pp.HideTotals, _, err = p.boolean("poll[hide_totals]"); err != nil {
		return nil, err
	}
	if e := social.CheckPollLimits(pp, minPoll); e != nil {
		return nil, invalidParam("poll["+e.Field+"]", "%s", e.Msg)
	}
	return pp, nil
}

func (a *API) postStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	pp, err := postParams(p, a.svc.MinPollExpiryOf())
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 256 {
		return errStatus(http.StatusBadRequest, "the Idempotency-Key header is over 256 bytes")
	}
	if key != "" {
		// One request at a time per key: a retry racing the original
		// waits for it and then finds its status.
		unlock := a.lockKey(c.viewer.ID, key)
		defer unlock()
		if prev, err := a.st.IdempotentStatus(ctx, c.viewer.ID, key); err != nil {
			return err
		} else if prev != 0 {
			st, err := a.st.GetStatus(ctx, prev)
			if err == nil && st.DeletedAt == nil {
				return a.writeStatus(ctx, w, c.viewer, st)
			}
		}
	}
	for _, mid := range pp.MediaIDs {
		m, err := a.st.GetMedia(ctx, mid)
		if err != nil || m.AccountID != c.viewer.ID {
			return invalidParam("media_ids", "names %s, which is not one of your uploads", ids.String(mid))
		}
		if m.StatusID != 0 {
			return invalidParam("media_ids", "names %s, which is already attached to a status", ids.String(mid))
		}
	}
	st, err := a.svc.PostStatus(ctx, c.viewer.ID, pp)
	if err != nil {
		return err
	}
	if c.id != nil && c.id.AppName != "" {
		if err := a.st.SetStatusApplication(ctx, st.ID, data.StatusApplication{Name: c.id.AppName, Website: c.id.AppWebsite}); err != nil {
			return err
		}
	}
	if key != "" {
		if err := a.st.RememberIdempotent(ctx, c.viewer.ID, key, st.ID); err != nil {
			return err
		}
	}
	return a.writeStatus(ctx, w, c.viewer, st)
}

func (a *API) getStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	st, err := a.visible(r.Context(), c.viewer, id)
	if err != nil {
		return err
	}
	return a.writeStatus(r.Context(), w, c.viewer, st)
}

// maxContext bounds each side of a thread.
const maxContext = 400

func (a *API) statusContext(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	st, err := a.visible(ctx, c.viewer, id)
	if err != nil {
		return err
	}
	up, err := a.st.Ancestors(ctx, st.ID, maxContext)
	if err != nil {
		return err
	}
	down, err := a.st.Descendants(ctx, st.ID, maxContext)
	if err != nil {
		return err
	}
	out := Context{Ancestors: []Status{}, Descendants: []Status{}}
	if out.Ancestors, err = a.visibleOnly(ctx, c.viewer, up); err != nil {
		return err
	}
	if out.Descendants, err = a.visibleOnly(ctx, c.viewer, down); err != nil {
		return err
	}
	return ok(w, out)
}

// visibleOnly renders those of sts viewer may see.
func (a *API) visibleOnly(ctx context.Context, viewer *data.Account, sts []*data.Status) ([]Status, error) {
	keep := sts[:0]
	for _, st := range sts {
		if st.Visibility == data.Public || st.Visibility == data.Unlisted {
			keep = append(keep, st)
			continue
		}
		if viewer == nil {
			continue
		}
		author, err := a.st.GetAccount(ctx, st.AccountID)
		if err != nil {
			return nil, err
		}
		if err := a.st.LoadStatusExtras(ctx, []*data.Status{st}); err != nil {
			return nil, err
		}
		if seen, err := social.CanSee(ctx, a.st, st, author, viewer); err != nil {
			return nil, err
		} else if seen {
			keep = append(keep, st)
		}
	}
	out, err := a.statusesToAPI(ctx, viewer, keep)
	if out == nil {
		out = []Status{}
	}
	return out, err
}

func (a *API) editStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	cur, err := a.visible(ctx, c.viewer, id)
	if err != nil {
		return err
	}
	if cur.AccountID != c.viewer.ID {
		return errStatus(http.StatusForbidden, "This action is not allowed: the status is not yours")
	}
	ep := social.EditParams{Text: p.str("status"), SpoilerText: cur.SpoilerText, Sensitive: cur.Sensitive}
	if p.has("spoiler_text") {
		ep.SpoilerText = p.str("spoiler_text")
	}
	if v, given, err := p.boolean("sensitive"); err != nil {
		return err
	} else if given {
		ep.Sensitive = v
	}
	if strings.TrimSpace(ep.Text) == "" {
		return invalidParam("status", "can't be blank")
	}
	if n := utf8.RuneCountInString(ep.Text) + utf8.RuneCountInString(ep.SpoilerText); n > social.MaxChars {
		return invalidParam("status", "is too long (%d characters, at most %d with the content warning)", n, social.MaxChars)
	}
	if mids, err := p.idList("media_ids"); err != nil {
		return err
	} else if len(mids) > 0 && !sameMedia(mids, cur.Media) {
		return invalidParam("media_ids", "cannot be changed by an edit on this server yet")
	}
	st, err := a.svc.EditStatus(ctx, c.viewer.ID, id, ep)
	if err != nil {
		return err
	}
	return a.writeStatus(ctx, w, c.viewer, st)
}

func sameMedia(idList []int64, media []data.MediaAttachment) bool {
	if len(idList) != len(media) {
		return false
	}
	for i, m := range media {
		if idList[i] != m.ID {
			return false
		}
	}
	return true
}

func (a *API) statusHistory(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	st, err := a.visible(ctx, c.viewer, id)
	if err != nil {
		return err
	}
	edits, err := a.st.StatusEdits(ctx, st.ID)
	if err != nil {
		return err
	}
	author, err := a.st.GetAccount(ctx, st.AccountID)
	if err != nil {
		return err
	}
	acct := a.AccountToAPI(author)
	var mediaIDs []int64
	for _, e := range edits {
		mediaIDs = append(mediaIDs, e.MediaIDs...)
	}
	media, err := a.st.GetMediaList(ctx, mediaIDs)
	if err != nil {
		return err
	}
	out := make([]StatusEdit, 0, len(edits)+1)
	for _, e := range edits {
		x := StatusEdit{Content: e.Content, SpoilerText: e.SpoilerText, Sensitive: e.Sensitive, CreatedAt: Time(e.EditedAt),
			Account: &acct, MediaAttachments: []MediaAttachment{}, Emojis: []Emoji{}}
		for _, mid := range e.MediaIDs {
			if m, ok := media[mid]; ok {
				x.MediaAttachments = append(x.MediaAttachments, a.MediaToAPI(&m))
			}
		}
		out = append(out, x)
	}
	// The current version comes last, dated by its edit.
	cur := StatusEdit{Content: st.Content, SpoilerText: st.SpoilerText, Sensitive: st.Sensitive, CreatedAt: Time(st.CreatedAt),
		Account: &acct, MediaAttachments: []MediaAttachment{}, Emojis: []Emoji{}}
	if st.EditedAt != nil {
		cur.CreatedAt = Time(*st.EditedAt)
	}
	for i := range st.Media {
		cur.MediaAttachments = append(cur.MediaAttachments, a.MediaToAPI(&st.Media[i]))
	}
	out = append(out, cur)
	return ok(w, out)
}

func (a *API) statusSource(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	st, err := a.visible(r.Context(), c.viewer, id)
	if err != nil {
		return err
	}
	if st.AccountID != c.viewer.ID {
		return notFound()
	}
	return ok(w, StatusSource{ID: ids.String(st.ID), Text: st.Text, SpoilerText: st.SpoilerText})
}

func (a *API) deleteStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	cur, err := a.visible(ctx, c.viewer, id)
	if err != nil {
		return err
	}
	if cur.AccountID != c.viewer.ID {
		return errStatus(http.StatusForbidden, "This action is not allowed: the status is not yours")
	}
	// Render before deleting: the answer is the status with its source
	// (apps offer "delete and redraft").
	out, err := a.statusToAPIOne(ctx, c.viewer, cur)
	if err != nil {
		return err
	}
	if _, err := a.svc.DeleteStatus(ctx, c.viewer.ID, id); err != nil {
		return err
	}
	text := cur.Text
	out.Text = &text
	return ok(w, out)
}

// statusAction runs fn on a status the viewer may see and answers the
// status as it now is.
func (a *API) statusAction(fn func(ctx context.Context, c *call, id int64) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		ctx := r.Context()
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		st, err := a.visible(ctx, c.viewer, id)
		if err != nil {
			return err
		}
		if st.ReblogOfID != 0 {
			id = st.ReblogOfID // acting on a boost acts on what it boosts
		}
		if fn != nil {
			if err := fn(ctx, c, id); err != nil {
				return err
			}
		}
		if st, err = a.st.GetStatus(ctx, id); err != nil {
			return err
		}
		return a.writeStatus(ctx, w, c.viewer, st)
	}
}

func (a *API) reblog(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	st, err := a.visible(ctx, c.viewer, id)
	if err != nil {
		return err
	}
	if st.ReblogOfID != 0 {
		id = st.ReblogOfID
	}
	b, err := a.svc.Reblog(ctx, c.viewer.ID, id)
	if err != nil {
		return err
	}
	return a.writeStatus(ctx, w, c.viewer, b)
}

func (a *API) markedList(list func(ctx context.Context, id int64, p data.Page) ([]data.MarkedStatus, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		p, err := parseParams(r, maxBody)
		if err != nil {
			return err
		}
		pg, err := p.page(20, MaxLimit)
		if err != nil {
			return err
		}
		ms, err := list(r.Context(), c.viewer.ID, pg)
		if err != nil {
			return err
		}
		sts := make([]*data.Status, 0, len(ms))
		for _, m := range ms {
			sts = append(sts, m.Status)
		}
		out, err := a.statusesToAPI(r.Context(), c.viewer, sts)
		if err != nil {
			return err
		}
		if len(ms) > 0 {
			a.setLink(w, r, ms[0].MarkID, ms[len(ms)-1].MarkID, len(ms))
		}
		return ok(w, out)
	}
}

func (a *API) emptyList(w http.ResponseWriter, r *http.Request, c *call) error { return ok(w, []any{}) }
