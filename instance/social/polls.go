package social

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// Poll limits, Mastodon's defaults (which apps read from the instance's
// configuration.polls).
const (
	MaxPollOptions     = 4
	MaxPollOptionChars = 50
	MinPollExpiry      = 5 * time.Minute
	MaxPollExpiry      = 30 * 24 * time.Hour
)

// PollParams are the poll of a new status (POST /api/v1/statuses'
// poll[...] parameters).
type PollParams struct {
	Options    []string
	ExpiresIn  time.Duration
	Multiple   bool
	HideTotals bool // counts are hidden until the poll ends
}

// PollError is a poll that breaks a limit: Field is the parameter at
// fault ("options" or "expires_in"), Msg says what is wrong.
type PollError struct {
	Field string
	Msg   string
}

func (e *PollError) Error() string { return "poll " + e.Field + " " + e.Msg }

// MinPollExpiryOf is the shortest poll the service accepts (MinPollExpiry
// unless a test lowered it).
func (s *Service) MinPollExpiryOf() time.Duration { return s.minPoll }

// CheckPoll checks p against the service's limits (see CheckPollLimits).
func (s *Service) CheckPoll(p *PollParams) *PollError { return CheckPollLimits(p, s.minPoll) }

// CheckPollLimits checks p against the limits: 2 to MaxPollOptions
// options, each 1 to MaxPollOptionChars characters and none twice, and an
// expiry from minExpiry to MaxPollExpiry. nil when p is fine.
func CheckPollLimits(p *PollParams, minExpiry time.Duration) *PollError {
	if len(p.Options) < 2 || len(p.Options) > MaxPollOptions {
		return &PollError{"options", sprintf("has %d entries: give 2 to %d options", len(p.Options), MaxPollOptions)}
	}
	seen := map[string]bool{}
	for i, o := range p.Options {
		t := strings.TrimSpace(o)
		if t == "" {
			return &PollError{"options", sprintf("has an empty option (number %d)", i+1)}
		}
		if n := utf8.RuneCountInString(t); n > MaxPollOptionChars {
			return &PollError{"options", sprintf("has an option of %d characters (number %d): at most %d", n, i+1, MaxPollOptionChars)}
		}
		if seen[t] {
			return &PollError{"options", sprintf("has %q twice: options must differ", t)}
		}
		seen[t] = true
	}
	if p.ExpiresIn < minExpiry || p.ExpiresIn > MaxPollExpiry {
		return &PollError{"expires_in", sprintf("is %d seconds: give %d to %d", int64(p.ExpiresIn/time.Second),
			int64(minExpiry/time.Second), int64(MaxPollExpiry/time.Second))}
	}
	return nil
}

// newPoll is the poll column of a new local poll created at now.
func newPoll(p *PollParams, now time.Time) *data.Poll {
	end := now.Add(p.ExpiresIn).UTC().Truncate(time.Second)
	out := &data.Poll{Multiple: p.Multiple, HideTotals: p.HideTotals, ExpiresAt: &end}
	for _, o := range p.Options {
		out.Options = append(out.Options, data.PollOption{Title: strings.TrimSpace(o)})
	}
	return out
}

// pollsMayEndSooner wakes RunPolls to plan again (a poll to end, or counts
// to send, sooner than it planned).
func (s *Service) pollsMayEndSooner() {
	select {
	case s.pollsChanged <- struct{}{}:
	default:
	}
}

// questionOf makes n the Question of poll column raw: the options as oneOf
// (single choice) or anyOf, each a Note whose replies.totalItems is its
// count, endTime, votersCount, and closed once the poll has ended.
func (s *Service) questionOf(n *activity.Object, raw []byte) {
	p, err := data.ParsePoll(raw)
	if err != nil || p == nil {
		return
	}
	n.Type = "Question"
	opts := make([]activity.PollOption, 0, len(p.Options))
	for _, o := range p.Options {
		opts = append(opts, activity.PollOption{Name: o.Title, VotesCount: o.VotesCount})
	}
	if p.Multiple {
		n.AnyOf = opts
	} else {
		n.OneOf = opts
	}
	if p.ExpiresAt != nil {
		n.EndTime = *p.ExpiresAt
	}
	n.VotersCount = p.VotersCount
	if now := s.now(); p.Ended(now) {
		n.IsClosed = true
		n.Closed = n.EndTime
		if n.Closed.IsZero() || n.Closed.After(now) {
			n.Closed = now
		}
	}
}

// Vote casts local account accountID's choices (indexes into the options)
// on the poll of status statusID, which it must be able to see (NotFound
// otherwise, and for a status without a poll). Refused as Invalid: the
// voter's own poll, an ended poll, a choice out of range or given twice,
// several choices on a single-choice poll, a second vote. On a remote poll
// the vote is recorded here (counts included, until the poll's server
// sends its own) and delivered to the poll's author as Mastodon sends
// votes: one Create of a Note per choice, named like the option and in
// reply to the Question, addressed to the author alone.
func (s *Service) Vote(ctx context.Context, accountID, statusID int64, choices []int) (*data.Status, error) {
	const op = "vote"
	var out *data.Status
	remote := false
	err := s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		voter, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		status, author, err := s.visibleStatus(ctx, tx, op, statusID, voter)
		if err != nil {
			return nil, err
		}
		if len(status.Poll) == 0 {
			return nil, notFound(op, "status %s has no poll", ids.String(statusID))
		}
		if author.ID == voter.ID {
			return nil, invalid(op, "you cannot vote on your own poll")
		}
		remote = !author.Local()
		votes := make([]data.Vote, len(choices))
		for i, c := range choices {
			votes[i].Choice = c
			if remote {
				votes[i].URI = voter.URI + "#votes/" + ids.String(ids.New(s.now()))
			}
		}
		st, _, err := tx.CastVotes(ctx, status.ID, voter.ID, votes, false)
		if err != nil {
			return nil, err
		}
		if out, err = tx.GetStatus(ctx, st.ID); err != nil {
			return nil, err
		}
		if !remote {
			return nil, nil
		}
		poll, err := data.ParsePoll(st.Poll)
		if err != nil {
			return nil, err
		}
		inbox := personalInbox(author)
		var outs []outgoing
		now := s.now()
		for _, v := range votes {
			n := &activity.Object{ID: v.URI, Type: "Note", Name: poll.Options[v.Choice].Title, InReplyTo: status.URI,
				AttributedTo: voter.URI, To: []string{author.URI}, Published: now}
			doc, err := encode(activity.NewCreate(v.URI+"/activity", n))
			if err != nil {
				return nil, err
			}
			outs = append(outs, outgoing{actor: voter.URI, doc: doc, inboxes: inboxSet([]string{inbox})})
		}
		return outs, nil
	})
	if err == nil {
		// A local voter is told when a remote poll ends; a local poll's
		// new counts go out after data.PollSyncDelay.
		s.pollsMayEndSooner()
	}
	return out, err
}

// pollBatch is how many ended polls one transaction of ClosePolls handles.
const pollBatch = 50

// ClosePolls handles every poll that has ended and was not handled yet,
// and returns how many. For each: a local poll is marked closed and an
// Update of its Question (final counts, closed) goes to the status's
// audience and to the remote voters; the local author and every local
// voter get a "poll" notification (from the poll's author, as Mastodon
// has it). The handling and its outbox rows commit together with the mark,
// so a restart neither repeats nor loses it; several nodes may run it at
// once (each poll is claimed by one).
func (s *Service) ClosePolls(ctx context.Context) (int, error) {
	return s.eachClaimed(ctx, (*data.Store).ClaimEndedPolls, s.endPoll)
}

// eachClaimed claims due polls pollBatch at a time with claim and handles
// each with handle, in one transaction per batch (the claim commits with
// what handle sends), until a batch comes back short; it returns how many
// it claimed.
func (s *Service) eachClaimed(ctx context.Context,
	claim func(tx *data.Store, ctx context.Context, now time.Time, limit int) ([]*data.Status, error),
	handle func(ctx context.Context, tx *data.Store, st *data.Status) ([]outgoing, error)) (int, error) {
	total := 0
	for {
		n := 0
		err := s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
			sts, err := claim(tx, ctx, s.now(), pollBatch)
			if err != nil {
				return nil, err
			}
			n = len(sts)
			var outs []outgoing
			for _, st := range sts {
				o, err := handle(ctx, tx, st)
				if err != nil {
					return nil, err
				}
				outs = append(outs, o...)
			}
			return outs, nil
		})
		total += n
		if err != nil || n < pollBatch {
			return total, err
		}
	}
}

func (s *Service) endPoll(ctx context.Context, tx *data.Store, st *data.Status) ([]outgoing, error) {
	poll, err := data.ParsePoll(st.Poll)
	if err != nil || poll == nil || st.DeletedAt != nil {
		return nil, tx.MarkPollEnded(ctx, st.ID, nil)
	}
	author, err := tx.GetAccount(ctx, st.AccountID)
	if err != nil {
		return nil, err
	}
	voters, err := tx.Voters(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	var closed *data.Poll
	if st.Local {
		poll.Closed = true
		closed = poll
		st.Poll = poll.JSON()
	}
	if err := tx.MarkPollEnded(ctx, st.ID, closed); err != nil {
		return nil, err
	}
	var notes []*data.Notification
	if author.Local() && author.SuspendedAt == nil {
		notes = append(notes, &data.Notification{AccountID: author.ID, FromAccountID: author.ID, Type: data.NotifyPoll, StatusID: st.ID})
	}
	for _, id := range voters.Local {
		notes = append(notes, &data.Notification{AccountID: id, FromAccountID: author.ID, Type: data.NotifyPoll, StatusID: st.ID})
	}
	if err := tx.InsertNotifications(ctx, notes); err != nil {
		return nil, err
	}
	if !st.Local || author.SuspendedAt != nil {
		return nil, nil
	}
	return s.questionUpdate(ctx, tx, st, author, voters.RemoteInboxes)
}

// questionUpdate is the Update of local poll st's Question as it now is,
// to the status's audience and to remoteVoters (who may not follow the
// author).
func (s *Service) questionUpdate(ctx context.Context, tx *data.Store, st *data.Status, author *data.Account, remoteVoters []string) ([]outgoing, error) {
	if err := tx.LoadStatusExtras(ctx, []*data.Status{st}); err != nil {
		return nil, err
	}
	updateID := st.URI + "#updates/" + ids.String(ids.New(s.now()))
	outs, err := s.statusOut(ctx, tx, st, author, func(n *activity.Object) *activity.Activity {
		return activity.NewUpdate(updateID, n)
	})
	if err != nil {
		return nil, err
	}
	outs[0].inboxes = inboxSet(outs[0].inboxes, remoteVoters)
	return outs, nil
}

// SyncPolls sends the counts of local polls that votes changed (as
// Mastodon does, an Update of the Question some time after the votes, see
// data.PollSyncDelay) to the status's audience and the remote voters, and
// returns how many polls it sent. Like ClosePolls it commits the sending
// with the claim, and several nodes may run it at once.
func (s *Service) SyncPolls(ctx context.Context) (int, error) {
	return s.eachClaimed(ctx, (*data.Store).ClaimPollSyncs, s.syncPoll)
}

// syncPoll is the Update of local poll st's counts (none for a deleted
// status or a suspended author).
func (s *Service) syncPoll(ctx context.Context, tx *data.Store, st *data.Status) ([]outgoing, error) {
	if st.DeletedAt != nil || !st.Local || len(st.Poll) == 0 {
		return nil, nil
	}
	author, err := tx.GetAccount(ctx, st.AccountID)
	if err != nil {
		return nil, err
	}
	if author.SuspendedAt != nil {
		return nil, nil
	}
	voters, err := tx.Voters(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	return s.questionUpdate(ctx, tx, st, author, voters.RemoteInboxes)
}

// RunPolls calls ClosePolls and SyncPolls now, then again when the next
// poll ends or has counts to send (as far as it knows: a new local poll or
// a vote wakes it to plan again), and at least every interval (polls of
// other nodes sharing the database, remote polls and votes received
// meanwhile), until ctx ends.
func (s *Service) RunPolls(ctx context.Context, interval time.Duration) {
	for {
		wait := interval
		if err := s.pollWork(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("social: handling polls failed; trying again later", "err", err)
		} else if next, err := s.store.NextPollWork(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("social: finding the next poll to handle failed", "err", err)
		} else if next != nil {
			// A due poll another node holds is retried after a pause, not
			// in a spin.
			wait = min(wait, max(next.Sub(s.now())+10*time.Millisecond, 500*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.pollsChanged:
			t.Stop()
		}
	}
}

func (s *Service) pollWork(ctx context.Context) error {
	if _, err := s.ClosePolls(ctx); err != nil {
		return err
	}
	_, err := s.SyncPolls(ctx)
	return err
}
