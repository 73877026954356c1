package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// account loads local account name (case-insensitively), or 404.
func (h *Handler) account(ctx context.Context, name string) (*data.Account, error) {
	if name == "" || strings.ContainsAny(name, "@/") {
		return nil, errorf(http.StatusNotFound, "no account %q here", name)
	}
	a, err := h.st.GetAccountByUsername(ctx, name, "")
	if data.KindOf(err) == data.NotFound {
		return nil, errorf(http.StatusNotFound, "no account %q here", name)
	}
	return a, err
}

// gone is the answer for a suspended account's documents: 410 with a
// Tombstone of id (Mastodon answers so, and peers then delete what they
// hold), or a notice page for browsers.
func gone(r *http.Request, id, formerType string) error {
	e := errorf(http.StatusGone, "this account is suspended")
	if wantsAS(r) {
		e.Doc, _ = activity.EncodeObject(&activity.Object{ID: id, Type: "Tombstone", FormerType: formerType})
	}
	return e
}

// actor serves BASE/users/NAME: the Person for ActivityStreams clients,
// the profile page for browsers.
func (h *Handler) actor(w http.ResponseWriter, r *http.Request) error {
	return h.profile(w, r, r.PathValue("name"))
}

// atProfile serves the alias BASE/@NAME.
func (h *Handler) atProfile(w http.ResponseWriter, r *http.Request) error {
	handle := r.PathValue("handle")
	if !strings.HasPrefix(handle, "@") {
		return errorf(http.StatusNotFound, "not found")
	}
	return h.profile(w, r, handle[1:])
}

func (h *Handler) profile(w http.ResponseWriter, r *http.Request, name string) error {
	ctx := r.Context()
	a, err := h.account(ctx, name)
	if err != nil {
		return err
	}
	if a.SuspendedAt != nil {
		return gone(r, a.URI, "Person")
	}
	if !wantsAS(r) {
		return h.profilePage(w, r, a)
	}
	if _, err := h.fetcher(r); err != nil {
		return err
	}
	doc, err := activity.EncodeActor(h.svc.AccountToPerson(a))
	if err != nil {
		return err
	}
	writeAS(w, r, http.StatusOK, doc)
	return nil
}
