package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
)

// Polls: the poll's id is its status's id (as Palisade stores a poll in
// its status's row); creating one is POST /api/v1/statuses with
// poll[...].

func (a *API) registerPolls(mux *http.ServeMux) {
	a.handle(mux, "GET /api/v1/polls/{id}", optional("read:statuses"), a.getPoll)
	a.handle(mux, "POST /api/v1/polls/{id}/votes", user("write:statuses"), a.votePoll)
}

func (a *API) getPoll(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	st, err := a.visible(ctx, c.viewer, id)
	if err != nil {
		return err
	}
	return a.writePoll(ctx, w, c.viewer, st)
}

// writePoll answers with st's poll as viewer sees it (404 when st has no
// poll).
func (a *API) writePoll(ctx context.Context, w http.ResponseWriter, viewer *data.Account, st *data.Status) error {
	out, err := a.statusToAPIOne(ctx, viewer, st)
	if err != nil {
		return err
	}
	if out.Poll == nil {
		return notFound()
	}
	return ok(w, out.Poll)
}

// maxChoices bounds choices[] before it is checked against the poll.
const maxChoices = social.MaxPollOptions * 4

// choiceParams reads choices[] (indexes of options, from 0).
func choiceParams(p *params) ([]int, error) {
	raw := p.list("choices")
	if len(raw) == 0 {
		return nil, invalidParam("choices", "can't be blank: give the indexes of the options you vote for")
	}
	if len(raw) > maxChoices {
		return nil, invalidParam("choices", "has %d entries: a poll has at most %d options", len(raw), social.MaxPollOptions)
	}
	out := make([]int, 0, len(raw))
	for _, s := range raw {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, invalidParam("choices", "has an entry that is not an option's index: %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (a *API) votePoll(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	// The poll must exist for the viewer before its parameters are judged.
	if _, err := a.visible(ctx, c.viewer, id); err != nil {
		return err
	}
	choices, err := choiceParams(p)
	if err != nil {
		return err
	}
	st, err := a.svc.Vote(ctx, c.viewer.ID, id, choices)
	if err != nil {
		return err
	}
	return a.writePoll(ctx, w, c.viewer, st)
}
