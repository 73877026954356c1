package data

import (
	"context"
	"slices"
	"strings"
)

// EditExtras are the parts of a remote status that an Update replaces
// besides its text: the hashtags, the attachments (remote references) and
// the mentions.
type EditExtras struct {
	Tags     []string
	Media    []MediaAttachment // remote attachments; ids are assigned here
	Mentions []Mention
}

// ReplaceRemoteExtras makes status st's hashtags and attachments exactly
// e's and adds e's mentions (a mention is never withdrawn: its
// notification went out), returning the accounts mentioned for the first
// time, to be notified. st is the status as GetStatus or GetStatusByURI
// read it (with its mentions) in the transaction of the edit this
// follows. A local status is Forbidden: local edits go through the
// service layer.
func (s *Store) ReplaceRemoteExtras(ctx context.Context, st *Status, e EditExtras) (newMentions []int64, err error) {
	const op = "replace status extras"
	id := st.ID
	if st.Local {
		return nil, errorf(op, Forbidden, "status %d is local", id)
	}
	if _, err := s.q.Exec(ctx, `DELETE FROM statuses_tags WHERE status_id = $1`, id); err != nil {
		return nil, wrap(op, err, "")
	}
	if _, err := s.q.Exec(ctx, `DELETE FROM media_attachments WHERE status_id = $1`, id); err != nil {
		return nil, wrap(op, err, "")
	}
	had := make([]int64, 0, len(st.Mentions))
	for _, m := range st.Mentions {
		had = append(had, m.AccountID)
	}
	var fresh []Mention
	for _, m := range e.Mentions {
		if !slices.Contains(had, m.AccountID) {
			fresh = append(fresh, m)
			had = append(had, m.AccountID)
			if !m.Silent {
				newMentions = append(newMentions, m.AccountID)
			}
		}
	}
	tags := make([]string, 0, len(e.Tags))
	for _, t := range e.Tags {
		tags = append(tags, strings.ToLower(strings.TrimPrefix(t, "#")))
	}
	media := make([]MediaAttachment, len(e.Media))
	for i, m := range e.Media {
		m.ID, m.AccountID = 0, st.AccountID
		media[i] = m
	}
	// insertStatusExtras adds mentions idempotently, links tags and
	// inserts the attachments at their positions.
	if err := s.insertStatusExtras(ctx, &Status{ID: id, AccountID: st.AccountID, CreatedAt: st.CreatedAt,
		Mentions: fresh, Tags: tags, Media: media}); err != nil {
		return nil, err
	}
	return newMentions, nil
}
