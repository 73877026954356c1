package web

import (
	"net/http"
	"strings"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// status serves BASE/users/NAME/statuses/ID: the Note (or, for a boost,
// its Announce), or the status page for browsers.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) error {
	return h.serveStatus(w, r, r.PathValue("name"), r.PathValue("id"), false)
}

// statusActivity serves BASE/users/NAME/statuses/ID/activity: the Create
// that published the Note (Mastodon's activity URL).
func (h *Handler) statusActivity(w http.ResponseWriter, r *http.Request) error {
	return h.serveStatus(w, r, r.PathValue("name"), r.PathValue("id"), true)
}

// atStatus serves the alias BASE/@NAME/ID.
func (h *Handler) atStatus(w http.ResponseWriter, r *http.Request) error {
	handle := r.PathValue("handle")
	if !strings.HasPrefix(handle, "@") {
		return errorf(http.StatusNotFound, "not found")
	}
	return h.serveStatus(w, r, handle[1:], r.PathValue("id"), false)
}

// serveStatus applies the visibility rules: public and unlisted statuses
// to anyone; private ones only to a signed fetch by an account that
// follows the author; direct ones only to a signed fetch by a mentioned
// account; nothing of a blocked fetcher. Anything else is 404, the same
// answer as for a status that does not exist, so a fetcher learns nothing
// of what it may not see. A deleted public or unlisted status is 410 with a
// Tombstone. Browsers are never authenticated here and see only public
// and unlisted statuses.
func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request, name, idStr string, asActivity bool) error {
	ctx := r.Context()
	notFound := errorf(http.StatusNotFound, "no such status")
	id, err := ids.Parse(idStr)
	if err != nil {
		return notFound
	}
	a, err := h.account(ctx, name)
	if err != nil {
		return err
	}
	st, err := h.st.GetStatus(ctx, id)
	if data.KindOf(err) == data.NotFound {
		return notFound
	} else if err != nil {
		return err
	}
	if st.AccountID != a.ID || !st.Local {
		return notFound
	}
	if a.SuspendedAt != nil {
		return gone(r, st.URI, "Note")
	}
	as := wantsAS(r)
	var f *Fetcher
	if as {
		if f, err = h.fetcher(r); err != nil {
			return err
		}
	}
	if st.DeletedAt != nil {
		if st.Visibility != data.Public && st.Visibility != data.Unlisted {
			return notFound
		}
		e := errorf(http.StatusGone, "this post was deleted")
		if as {
			e.Doc, _ = activity.EncodeObject(&activity.Object{ID: st.URI, Type: "Tombstone", FormerType: "Note", Deleted: *st.DeletedAt})
		}
		return e
	}
	ok, err := social.CanSee(ctx, h.st, st, a, f.viewer())
	if err != nil {
		return err
	}
	if !ok {
		return notFound
	}
	if !as {
		if st.ReblogOfID != 0 {
			orig, err := h.st.GetStatus(ctx, st.ReblogOfID)
			if err != nil {
				return err
			}
			target := orig.URL
			if target == "" {
				target = orig.URI
			}
			http.Redirect(w, r, target, http.StatusFound)
			return nil
		}
		return h.statusPage(w, r, a, st)
	}
	var doc []byte
	if asActivity || st.ReblogOfID != 0 {
		act, err := h.svc.StatusToActivity(ctx, h.st, st, a)
		if err != nil {
			return err
		}
		doc, err = activity.EncodeActivity(act)
		if err != nil {
			return err
		}
	} else {
		n, err := h.svc.StatusToNote(ctx, h.st, st, a)
		if err != nil {
			return err
		}
		if doc, err = activity.EncodeObject(n); err != nil {
			return err
		}
	}
	writeAS(w, r, http.StatusOK, doc)
	return nil
}
