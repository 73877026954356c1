package data

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// Poll is the poll column of a status (statuses.poll, migration 0004; its
// votes are poll_votes, migration 0010). The same shape serves local polls
// and polls received in a Question; the counts of a remote poll are its
// server's (as last received) plus the votes of local members cast since.
type Poll struct {
	Options     []PollOption `json:"options"`
	Multiple    bool         `json:"multiple"`
	HideTotals  bool         `json:"hide_totals,omitempty"`
	ExpiresAt   *time.Time   `json:"expires_at,omitempty"`
	VotersCount int          `json:"voters_count"`
	// Closed is set when the poll was ended: by its server (a Question's
	// `closed`) or, for a local poll, by the job that ends polls.
	Closed bool `json:"closed,omitempty"`
}

// PollOption is one choice of a poll with its count.
type PollOption struct {
	Title      string `json:"title"`
	VotesCount int    `json:"votes_count"`
}

// ParsePoll reads a poll column; nil (no error) for an empty one.
func ParsePoll(raw json.RawMessage) (*Poll, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	p := &Poll{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, err
	}
	return p, nil
}

// JSON is the poll as the column stores it.
func (p *Poll) JSON() json.RawMessage {
	if p.Options == nil {
		p.Options = []PollOption{}
	}
	b, _ := json.Marshal(p) // plain fields: cannot fail
	return b
}

// Ended reports whether the poll takes no more votes at now.
func (p *Poll) Ended(now time.Time) bool {
	return p.Closed || (p.ExpiresAt != nil && !now.Before(*p.ExpiresAt))
}

// Vote is one choice cast on a poll.
type Vote struct {
	Choice int // index into the poll's options
	// URI is the vote's Note id: received votes are idempotent by it; a
	// local member's vote on a remote poll is sent with it. "" for a local
	// vote on a local poll.
	URI string
}

// PollSyncDelay is how long after a vote on a local poll its new counts
// go out to the servers that have it (ClaimPollSyncs): votes coming in
// meanwhile share one Update. Mastodon waits 3 minutes.
const PollSyncDelay = time.Minute

// CastVotes records votes of accountID on the poll of status statusID and
// moves the poll's counts (options' votes_count and, for a first vote,
// voters_count) in the same transaction, under a lock of the status row;
// on a local poll it schedules the new counts to go out (PollSyncDelay).
// It returns the status as it now is.
//
// When addToEarlier is false (a member voting through the API) the votes
// are all the account may ever cast on the poll: any earlier vote is
// refused. When it is true (a remote member's votes, which arrive one Note
// per choice) a vote for another choice of a multiple-choice poll is
// added. A vote whose URI is already recorded changes nothing and returns
// created == false.
//
// Refusals are Invalid with a message for people: the poll has ended, a
// choice is not an option, several choices (or a second one) on a
// single-choice poll, a choice given twice, already voted. A status
// without a poll, deleted or unknown, is NotFound.
func (s *Store) CastVotes(ctx context.Context, statusID, accountID int64, votes []Vote, addToEarlier bool) (st *Status, created bool, err error) {
	const op = "cast votes"
	if len(votes) == 0 {
		return nil, false, errorf(op, Invalid, "no choice given")
	}
	err = s.tx(ctx, func(tx *Store) error {
		cur, err := scanStatus(tx.q.QueryRow(ctx, `SELECT `+statusCols+` FROM statuses WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, statusID))
		if err != nil {
			return wrap(op, err, "no status with id "+ids.String(statusID))
		}
		poll, err := ParsePoll(cur.Poll)
		if err != nil || poll == nil {
			return errorf(op, NotFound, "status %s has no poll", ids.String(statusID))
		}
		if poll.Ended(tx.now()) {
			return errorf(op, Invalid, "the poll has already ended")
		}
		seen := map[int]bool{}
		for _, v := range votes {
			if v.Choice < 0 || v.Choice >= len(poll.Options) {
				return errorf(op, Invalid, "choice %d is not an option of the poll (it has %d, numbered from 0)", v.Choice, len(poll.Options))
			}
			if seen[v.Choice] {
				return errorf(op, Invalid, "choice %d is given twice", v.Choice)
			}
			seen[v.Choice] = true
		}
		if len(votes) > 1 && !poll.Multiple {
			return errorf(op, Invalid, "the poll allows one choice, %d were given", len(votes))
		}
		rows, err := tx.q.Query(ctx, `SELECT choice, coalesce(uri, '') FROM poll_votes WHERE status_id = $1 AND account_id = $2`, statusID, accountID)
		if err != nil {
			return wrap(op, err, "")
		}
		earlier, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Vote, error) {
			var v Vote
			return v, r.Scan(&v.Choice, &v.URI)
		})
		if err != nil {
			return wrap(op, err, "")
		}
		for _, e := range earlier {
			for _, v := range votes {
				if v.URI != "" && e.URI == v.URI {
					st = cur
					return nil // a redelivered vote
				}
			}
		}
		if len(earlier) > 0 {
			if !addToEarlier || !poll.Multiple {
				return errorf(op, Invalid, "you have already voted on this poll")
			}
			for _, e := range earlier {
				if seen[e.Choice] {
					return errorf(op, Invalid, "choice %d was already voted for", e.Choice)
				}
			}
		}
		now := tx.now()
		for _, v := range votes {
			tag, err := tx.q.Exec(ctx, `INSERT INTO poll_votes (status_id, account_id, choice, uri, created_at)
				VALUES ($1, $2, $3, NULLIF($4, ''), $5) ON CONFLICT DO NOTHING`, statusID, accountID, v.Choice, v.URI, now)
			if err != nil {
				return wrap(op, err, "")
			}
			if tag.RowsAffected() == 0 {
				// The Note id is taken by a vote of someone else or on
				// another poll: a peer reusing ids. Not counted.
				return errorf(op, Invalid, "vote %s is already recorded for another vote", v.URI)
			}
			poll.Options[v.Choice].VotesCount++
		}
		if len(earlier) == 0 {
			poll.VotersCount++
		}
		cur.Poll = poll.JSON()
		if _, err := tx.q.Exec(ctx, `UPDATE statuses SET poll = $2,
			poll_sync_at = CASE WHEN local THEN coalesce(poll_sync_at, $3) END WHERE id = $1`,
			statusID, []byte(cur.Poll), now.Add(PollSyncDelay)); err != nil {
			return wrap(op, err, "")
		}
		st, created = cur, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return st, created, nil
}

// OwnVotes returns, of statusIDs, the choices accountID voted for on each
// status it voted on (sorted), in one query: what a page of statuses needs
// for own_votes.
func (s *Store) OwnVotes(ctx context.Context, accountID int64, statusIDs []int64) (map[int64][]int, error) {
	out := map[int64][]int{}
	if len(statusIDs) == 0 {
		return out, nil
	}
	rows, err := s.q.Query(ctx, `SELECT status_id, choice FROM poll_votes WHERE account_id = $1 AND status_id = ANY($2)
		ORDER BY status_id, choice`, accountID, statusIDs)
	if err != nil {
		return nil, wrap("own votes", err, "")
	}
	var id int64
	var choice int
	_, err = pgx.ForEachRow(rows, []any{&id, &choice}, func() error {
		out[id] = append(out[id], choice)
		return nil
	})
	return out, wrap("own votes", err, "")
}

// PollVoters are the accounts that voted on a poll.
type PollVoters struct {
	Local []int64 // local accounts' ids
	// RemoteInboxes are the remote voters' inboxes (shared where they have
	// one), distinct and sorted: a closing poll's final counts go there.
	RemoteInboxes []string
}

// Voters returns who voted on the poll of statusID.
func (s *Store) Voters(ctx context.Context, statusID int64) (PollVoters, error) {
	var out PollVoters
	rows, err := s.q.Query(ctx, `SELECT DISTINCT a.id, a.domain IS NULL, CASE WHEN a.shared_inbox_url <> '' THEN a.shared_inbox_url ELSE a.inbox_url END
		FROM poll_votes v JOIN accounts a ON a.id = v.account_id
		WHERE v.status_id = $1 AND a.suspended_at IS NULL ORDER BY a.id`, statusID)
	if err != nil {
		return out, wrap("poll voters", err, "")
	}
	var id int64
	var local bool
	var inbox string
	_, err = pgx.ForEachRow(rows, []any{&id, &local, &inbox}, func() error {
		if local {
			out.Local = append(out.Local, id)
		} else if inbox != "" {
			out.RemoteInboxes = append(out.RemoteInboxes, inbox)
		}
		return nil
	})
	slices.Sort(out.RemoteInboxes)
	out.RemoteInboxes = slices.Compact(out.RemoteInboxes)
	return out, wrap("poll voters", err, "")
}

// ClaimEndedPolls locks and returns up to limit statuses whose poll ended
// at or before now and whose end was not handled yet (MarkPollEnded),
// oldest end first, deleted ones included (so they are marked too). Call
// it inside Tx: the rows stay locked (other nodes skip them) until the
// transaction ends.
func (s *Store) ClaimEndedPolls(ctx context.Context, now time.Time, limit int) ([]*Status, error) {
	// The conditions are those of statuses_poll_due_idx (migration 0010).
	rows, err := s.q.Query(ctx, `SELECT `+statusCols+` FROM statuses
		WHERE poll IS NOT NULL AND NOT poll_ended AND palisade_poll_expires_at(poll) <= $1
		ORDER BY palisade_poll_expires_at(poll) LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, wrap("claim ended polls", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Status, error) { return scanStatus(r) })
	return out, wrap("claim ended polls", err, "")
}

// MarkPollEnded records that the end of status id's poll was handled and,
// when poll is not nil, stores it as the poll column (a local poll, now
// closed).
func (s *Store) MarkPollEnded(ctx context.Context, id int64, poll *Poll) error {
	var raw any
	if poll != nil {
		raw = []byte(poll.JSON())
	}
	// The closing Update carries the final counts: no other is due.
	_, err := s.q.Exec(ctx, `UPDATE statuses SET poll_ended = true, poll_sync_at = NULL, poll = coalesce($2::jsonb, poll)
		WHERE id = $1`, id, raw)
	return wrap("mark poll ended", err, "")
}

// ClaimPollSyncs locks and returns up to limit local statuses whose poll's
// counts are due to go out at now (see PollSyncDelay), and marks them sent
// (the caller sends them in the same transaction, through the outbox). Call
// it inside Tx.
func (s *Store) ClaimPollSyncs(ctx context.Context, now time.Time, limit int) ([]*Status, error) {
	rows, err := s.q.Query(ctx, `SELECT `+statusCols+` FROM statuses
		WHERE poll_sync_at IS NOT NULL AND poll_sync_at <= $1 ORDER BY poll_sync_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, wrap("claim poll syncs", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Status, error) { return scanStatus(r) })
	if err != nil {
		return nil, wrap("claim poll syncs", err, "")
	}
	idList := make([]int64, len(out))
	for i, st := range out {
		idList[i] = st.ID
	}
	_, err = s.q.Exec(ctx, `UPDATE statuses SET poll_sync_at = NULL WHERE id = ANY($1)`, idList)
	return out, wrap("claim poll syncs", err, "")
}

// NextPollWork is the earliest time a poll needs handling: its end (not
// handled yet) or its counts due to go out; nil when there is none.
func (s *Store) NextPollWork(ctx context.Context) (*time.Time, error) {
	var t *time.Time
	err := s.q.QueryRow(ctx, `SELECT least(
		(SELECT min(palisade_poll_expires_at(poll)) FROM statuses WHERE poll IS NOT NULL AND NOT poll_ended),
		(SELECT min(poll_sync_at) FROM statuses WHERE poll_sync_at IS NOT NULL))`).Scan(&t)
	return t, wrap("next poll work", err, "")
}

// DeleteVotes removes every vote on status id's poll (a remote poll whose
// options an edit changed: the votes named the old ones).
func (s *Store) DeleteVotes(ctx context.Context, id int64) error {
	_, err := s.q.Exec(ctx, `DELETE FROM poll_votes WHERE status_id = $1`, id)
	return wrap("delete votes", err, "")
}

// SetRemotePoll replaces the poll column of remote status id with what
// its server last sent (an Update of a Question that changed only the
// counts, or closed it): no edit is recorded, and the votes cast here stay
// (own_votes comes from poll_votes). Unknown or deleted: NotFound.
func (s *Store) SetRemotePoll(ctx context.Context, id int64, poll json.RawMessage) error {
	tag, err := s.q.Exec(ctx, `UPDATE statuses SET poll = $2 WHERE id = $1 AND NOT local AND deleted_at IS NULL`, id, nullJSON(poll))
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("set remote poll", NotFound, "no remote status with id %s", ids.String(id))
	}
	return wrap("set remote poll", err, "")
}
