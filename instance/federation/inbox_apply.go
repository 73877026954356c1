package federation

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// apply writes a prepared batch inside the transaction tx, in queue order.
// Consecutive Creates go in together; every other activity runs under its
// own savepoint. Only an error that breaks the transaction itself is
// returned (the batch is then retried whole).
func (c *Consumer) apply(ctx context.Context, tx *data.Store, items []*item, effects *[]func()) error {
	var run []*item
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := c.applyCreates(ctx, tx, run, effects)
		run = run[:0]
		return err
	}
	for _, it := range items {
		if it.done {
			continue
		}
		if !it.quar && it.act.Type == "Create" && !it.vote {
			run = append(run, it)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		handler := c.applyOne
		switch {
		case it.quar:
			handler = c.applyQuarantine
		case it.vote:
			handler = c.applyVote
		}
		if err := c.savepoint(ctx, tx, it, effects, handler); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	// The admin's record of every refusal: an audit row beside the log line.
	for _, it := range items {
		if it.result != resultRefused && it.result != resultFailed {
			continue
		}
		err := tx.InsertAudit(ctx, &data.AuditEntry{Actor: "federation", Action: "inbound." + it.result,
			TargetType: "activity", TargetID: it.e.ActivityID,
			Detail: map[string]string{"type": it.e.Type, "actor": it.e.Actor, "reason": it.reason, "detail": it.detail}})
		if err != nil {
			return err
		}
	}
	return nil
}

type handler func(ctx context.Context, tx *data.Store, it *item, effects *[]func()) error

// savepoint runs h for it under a savepoint: a refusal or a database error
// of this activity rolls back its writes only and finishes it as refused
// or failed. Effects h registered are kept only when it succeeded.
func (c *Consumer) savepoint(ctx context.Context, tx *data.Store, it *item, effects *[]func(), h handler) error {
	var mine []func()
	err := tx.Tx(ctx, func(sp *data.Store) error {
		if err := h(ctx, sp, it, &mine); err != nil {
			return err
		}
		if it.result == resultStored {
			return c.policyEffects(ctx, sp, it, 0, &mine)
		}
		return nil
	})
	if err == nil {
		*effects = append(*effects, mine...)
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	it.out = nil
	var r *refusal
	if errors.As(err, &r) {
		it.finish(resultRefused, r.reason, r.detail)
		return nil
	}
	it.finish(resultFailed, reasonDatabase, err.Error())
	return nil
}

// policyEffects applies the decision's effects on the account: silence
// (the account limited from now on) and report (a report citing the
// rules). statusID is the stored status the report cites, if any.
func (c *Consumer) policyEffects(ctx context.Context, tx *data.Store, it *item, statusID int64, effects *[]func()) error {
	if it.actor == nil {
		return nil
	}
	if it.mods&policy.ModSilence != 0 && it.actor.SilencedAt == nil {
		now := c.o.Now()
		if _, err := tx.SetSilenced(ctx, it.actor.ID, &now); err != nil {
			return err
		}
		a := *it.actor
		a.SilencedAt = &now
		*effects = append(*effects, func() { c.remember(&a) })
	}
	if it.mods&policy.ModReport != 0 {
		comment := "Filed automatically: policy rules " + strings.Join(it.rec.Fired, ", ") + " fired on " + it.e.ActivityID
		exists, err := tx.AutoReportExists(ctx, it.actor.ID, comment)
		if err != nil || exists {
			return err
		}
		r := &data.Report{TargetAccountID: it.actor.ID, Comment: comment, RuleIDs: it.rec.Fired, Category: data.ReportSpam}
		if statusID != 0 {
			r.StatusIDs = []int64{statusID}
		}
		if _, err := tx.InsertReport(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// account returns the account with actor id uri (cached or stored), or
// nil when it is not known here.
func (c *Consumer) account(ctx context.Context, tx *data.Store, uri string) (*data.Account, error) {
	if a := c.cached(uri); a != nil {
		return a, nil
	}
	a, err := tx.GetAccountByURI(ctx, uri)
	if data.KindOf(err) == data.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.remember(a)
	return a, nil
}

// applyCreates stores a run of Create(Note) activities with one
// InsertRemoteStatuses call (plus the parents fetched for them), then their
// notifications and policy effects. If the run fails as a whole, each
// activity is retried under its own savepoint so one bad row cannot sink
// the others.
func (c *Consumer) applyCreates(ctx context.Context, tx *data.Store, run []*item, effects *[]func()) error {
	var all []*data.Status
	own := make([]*data.Status, len(run))
	for i, it := range run {
		own[i] = it.sts[len(it.sts)-1]
		all = append(all, it.sts...)
	}
	var mine []func()
	err := tx.Tx(ctx, func(sp *data.Store) error {
		created, err := sp.InsertRemoteStatuses(ctx, all)
		if err != nil {
			return err
		}
		byStatus := map[*data.Status]bool{}
		for i, st := range all {
			byStatus[st] = created[i]
		}
		return c.afterCreates(ctx, sp, run, own, byStatus, &mine)
	})
	if err == nil {
		*effects = append(*effects, mine...)
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	c.log.Warn("a run of Creates failed together; retrying them one by one", "n", len(run), "err", err)
	for _, it := range run {
		sts := it.sts
		st := sts[len(sts)-1]
		if err := c.savepoint(ctx, tx, it, effects, func(ctx context.Context, sp *data.Store, it *item, eff *[]func()) error {
			created, err := sp.InsertRemoteStatuses(ctx, sts)
			if err != nil {
				return err
			}
			return c.afterCreates(ctx, sp, []*item{it}, []*data.Status{st}, map[*data.Status]bool{st: created[len(created)-1]}, eff)
		}); err != nil {
			return err
		}
	}
	return nil
}

// afterCreates records the outcome of each Create and writes what follows
// from a new status: mention notifications and the policy's effects on the
// account (silence, report).
func (c *Consumer) afterCreates(ctx context.Context, tx *data.Store, run []*item, own []*data.Status,
	created map[*data.Status]bool, effects *[]func()) error {
	var notes []*data.Notification
	for i, it := range run {
		st := own[i]
		if !created[st] {
			it.result, it.reason = resultNoop, reasonDuplicate
			continue
		}
		it.result, it.reason = resultStored, reasonOK
		silenced := it.actor.SilencedAt != nil || it.mods&policy.ModSilence != 0
		for _, m := range st.Mentions {
			if m.AccountID == it.actor.ID || m.Silent {
				continue
			}
			if !slices.Contains(it.localMentions, m.AccountID) {
				continue
			}
			if silenced {
				// A silenced account's notifications reach only those who
				// follow it (Mastodon's filter).
				if _, err := tx.GetFollow(ctx, m.AccountID, it.actor.ID); err != nil {
					if data.KindOf(err) == data.NotFound {
						continue
					}
					return err
				}
			}
			notes = append(notes, &data.Notification{AccountID: m.AccountID, FromAccountID: it.actor.ID,
				Type: data.NotifyMention, StatusID: st.ID, CreatedAt: st.CreatedAt})
		}
		if err := c.policyEffects(ctx, tx, it, st.ID, effects); err != nil {
			return err
		}
	}
	return tx.InsertNotifications(ctx, notes)
}

// sameOptions reports whether two poll columns are both polls with the
// same options (titles, in order) and the same single or multiple choice:
// an Update between them changes counts, not the poll.
func sameOptions(a, b []byte) bool {
	pa, err := data.ParsePoll(a)
	if err != nil || pa == nil {
		return false
	}
	pb, err := data.ParsePoll(b)
	if err != nil || pb == nil || pa.Multiple != pb.Multiple || len(pa.Options) != len(pb.Options) {
		return false
	}
	for i := range pa.Options {
		if pa.Options[i].Title != pb.Options[i].Title {
			return false
		}
	}
	return true
}

// applyVote records a remote member's vote (one choice) on a local poll,
// idempotently by the vote Note's id. Votes the poll does not take (it
// has ended, no option has that name, a second choice on a single-choice
// poll, a choice already voted for) are dropped, as Mastodon drops them:
// the voter's server learns nothing either way.
func (c *Consumer) applyVote(ctx context.Context, tx *data.Store, it *item, _ *[]func()) error {
	o := it.obj
	st, err := tx.GetStatusByURI(ctx, o.InReplyTo)
	switch {
	case data.KindOf(err) == data.NotFound:
		return it.set(resultNoop, reasonUnknownObject)
	case err != nil:
		return err
	case st.DeletedAt != nil:
		return it.set(resultNoop, reasonUnknownObject)
	}
	if st.Visibility == data.Direct {
		if err := tx.LoadStatusExtras(ctx, []*data.Status{st}); err != nil {
			return err
		}
	}
	if ok, err := tx.CanSee(ctx, st, st.AccountID, it.actor.ID); err != nil {
		return err
	} else if !ok {
		// A vote on a followers-only or direct poll from someone it was
		// not addressed to, or across a block: the poll is not theirs to
		// answer.
		c.log.Debug("a vote from an account that may not see the poll dropped", "activity", it.e.ActivityID, "status", o.InReplyTo)
		return it.set(resultDropped, reasonVoteRefused)
	}
	poll, err := data.ParsePoll(st.Poll)
	if err != nil || poll == nil {
		// A reply of nothing but a name to a post without a poll: not a
		// vote, and nothing a timeline could show.
		c.log.Debug("a vote on a status without a poll dropped", "activity", it.e.ActivityID, "status", o.InReplyTo)
		return it.set(resultDropped, reasonVoteRefused)
	}
	choice := -1
	for i, opt := range poll.Options {
		if opt.Title == o.Name {
			choice = i
			break
		}
	}
	if choice < 0 {
		c.log.Debug("a vote for no option of the poll dropped", "activity", it.e.ActivityID, "status", o.InReplyTo, "name", o.Name)
		return it.set(resultDropped, reasonVoteRefused)
	}
	_, created, err := tx.CastVotes(ctx, st.ID, it.actor.ID, []data.Vote{{Choice: choice, URI: o.ID}}, true)
	switch data.KindOf(err) {
	case data.Invalid:
		c.log.Debug("a vote the poll does not take dropped", "activity", it.e.ActivityID, "status", o.InReplyTo, "err", err)
		return it.set(resultDropped, reasonVoteRefused)
	case data.NotFound:
		return it.set(resultNoop, reasonUnknownObject)
	}
	if err != nil {
		return err
	}
	return it.stored(created)
}

// applyQuarantine holds the activity for a moderator, raw bytes and decision.
func (c *Consumer) applyQuarantine(ctx context.Context, tx *data.Store, it *item, _ *[]func()) error {
	reasons := it.rec.Fired
	if len(reasons) == 0 {
		reasons = []string{"quarantine"}
	}
	created, err := tx.InsertQuarantine(ctx, &data.Quarantined{ActivityURI: it.e.ActivityID, ActivityType: it.e.Type,
		ActorURI: it.e.Actor, Raw: it.e.Body, Decision: it.e.Decision, Reasons: reasons})
	if err != nil {
		return err
	}
	if created {
		it.result, it.reason = resultQuarantined, reasonPolicy
	} else {
		it.result, it.reason = resultNoop, reasonDuplicate
	}
	return nil
}

func (it *item) set(result, reason string) error {
	it.result, it.reason = result, reason
	return nil
}

// stored sets the outcome from whether a row was created.
func (it *item) stored(created bool) error {
	if created {
		return it.set(resultStored, reasonOK)
	}
	return it.set(resultNoop, reasonDuplicate)
}

// applyOne handles every activity type but Create.
func (c *Consumer) applyOne(ctx context.Context, tx *data.Store, it *item, effects *[]func()) error {
	switch it.act.Type {
	case "Update":
		return c.applyUpdate(ctx, tx, it, effects)
	case "Delete":
		return c.applyDelete(ctx, tx, it, effects)
	case "Announce":
		return c.applyAnnounce(ctx, tx, it)
	case "Like":
		return c.applyLike(ctx, tx, it)
	case "Follow":
		return c.applyFollow(ctx, tx, it)
	case "Accept", "Reject":
		return c.applyAnswer(ctx, tx, it)
	case "Undo":
		return c.applyUndo(ctx, tx, it)
	case "Block":
		return c.applyBlock(ctx, tx, it)
	case "Flag":
		return c.applyFlag(ctx, tx, it)
	case "Move":
		return c.applyMove(ctx, tx, it, effects)
	}
	return it.set(resultIgnored, reasonUnsupported)
}

func (c *Consumer) applyUpdate(ctx context.Context, tx *data.Store, it *item, effects *[]func()) error {
	act := it.act
	if act.ObjectActor != nil || act.Object == it.e.Actor {
		if act.Object != it.e.Actor {
			return refuse(reasonNotOwner, "%s may not update actor %s", it.e.Actor, act.Object)
		}
		if act.ObjectActor == nil {
			// A bare id: prepare re-fetched the actor already.
			return it.set(resultStored, reasonOK)
		}
		a, err := actorToAccount(act.ObjectActor, it.mods)
		if err != nil {
			return refuse(reasonMalformed, "%v", err)
		}
		if _, err := tx.UpsertRemoteAccount(ctx, a); err != nil {
			return err
		}
		uri := a.URI
		*effects = append(*effects, func() { c.forget(uri) })
		return it.set(resultStored, reasonOK)
	}
	o := it.obj
	cur, err := tx.GetStatusByURI(ctx, o.ID)
	if data.KindOf(err) == data.NotFound {
		return it.set(resultNoop, reasonUnknownObject)
	}
	if err != nil {
		return err
	}
	if cur.AccountID != it.actor.ID {
		return refuse(reasonNotOwner, "status %s belongs to another account", o.ID)
	}
	known := c.mentioned(o)
	st := NoteToStatus(o, it.actor, known, it.rec, it.e.Received)
	samePoll := sameOptions(cur.Poll, st.Poll)
	if samePoll && st.Content == cur.Content && st.SpoilerText == cur.SpoilerText && st.Sensitive == cur.Sensitive {
		// A Question's server sends an Update as votes come in and when
		// the poll closes (Mastodon does both): new counts, not an edit.
		// No history is recorded, and the votes of local members stay.
		if err := tx.SetRemotePoll(ctx, cur.ID, st.Poll); err != nil {
			if data.KindOf(err) == data.NotFound {
				return it.set(resultNoop, reasonUnknownObject)
			}
			return err
		}
		return it.set(resultStored, reasonOK)
	}
	edited := o.Updated
	if edited.IsZero() {
		edited = it.e.Received
	}
	applied, err := tx.EditStatus(ctx, cur.ID, it.actor.ID, data.StatusEdit{Content: st.Content, SpoilerText: st.SpoilerText,
		Sensitive: st.Sensitive, Poll: st.Poll, EditedAt: edited})
	switch data.KindOf(err) {
	case data.NotFound:
		return it.set(resultNoop, reasonUnknownObject) // deleted meanwhile
	case data.Forbidden:
		return refuse(reasonNotOwner, "%v", err)
	}
	if err != nil {
		return err
	}
	if !applied {
		return it.set(resultNoop, reasonStaleEdit)
	}
	if len(cur.Poll) > 0 && !samePoll {
		// The poll itself changed (Mastodon resets the votes when an
		// edit changes the options): votes cast here named the old ones.
		if err := tx.DeleteVotes(ctx, cur.ID); err != nil {
			return err
		}
	}
	// The edit replaces the hashtags and attachments and may mention
	// someone new, who is notified as for a new post.
	fresh, err := tx.ReplaceRemoteExtras(ctx, cur, data.EditExtras{Tags: st.Tags, Media: st.Media, Mentions: st.Mentions})
	if err != nil {
		return err
	}
	var notes []*data.Notification
	silenced := it.actor.SilencedAt != nil || it.mods&policy.ModSilence != 0
	for _, id := range fresh {
		local := false
		for _, a := range known {
			local = local || (a.ID == id && a.Local())
		}
		if !local || id == it.actor.ID {
			continue
		}
		if silenced {
			if _, err := tx.GetFollow(ctx, id, it.actor.ID); data.KindOf(err) == data.NotFound {
				continue
			} else if err != nil {
				return err
			}
		}
		notes = append(notes, &data.Notification{AccountID: id, FromAccountID: it.actor.ID,
			Type: data.NotifyMention, StatusID: cur.ID, CreatedAt: edited})
	}
	if err := tx.InsertNotifications(ctx, notes); err != nil {
		return err
	}
	return it.set(resultStored, reasonOK)
}

func (c *Consumer) applyDelete(ctx context.Context, tx *data.Store, it *item, effects *[]func()) error {
	obj := it.act.Object
	if obj == "" {
		return refuse(reasonMissingField, "the Delete has no object")
	}
	if obj == it.e.Actor {
		deleted, err := tx.DeleteRemoteAccount(ctx, obj)
		if err != nil {
			return err
		}
		*effects = append(*effects, func() { c.forget(obj) })
		if !deleted {
			return it.set(resultNoop, reasonUnknownActor)
		}
		return it.set(resultStored, reasonOK)
	}
	actorHost, _ := activity.Host(it.e.Actor)
	if h, err := activity.Host(obj); err != nil || h != actorHost {
		return refuse(reasonForeignObject, "%s may not delete %s of another host", it.e.Actor, obj)
	}
	_, deleted, err := tx.DeleteStatusByURI(ctx, obj, it.actor.ID)
	switch data.KindOf(err) {
	case data.NotFound:
		return it.set(resultNoop, reasonUnknownObject)
	case data.Forbidden:
		return refuse(reasonNotOwner, "status %s belongs to another account", obj)
	}
	if err != nil {
		return err
	}
	if !deleted {
		return it.set(resultNoop, reasonDuplicate)
	}
	return it.set(resultStored, reasonOK)
}

// statusRef looks a status up by uri; ok false when unknown or deleted.
func statusRef(ctx context.Context, tx *data.Store, uri string) (data.StatusRef, bool, error) {
	refs, err := tx.StatusRefsByURI(ctx, []string{uri})
	if err != nil {
		return data.StatusRef{}, false, err
	}
	r, ok := refs[uri]
	return r, ok && !r.Deleted, nil
}

func (c *Consumer) applyAnnounce(ctx context.Context, tx *data.Store, it *item) error {
	for _, ex := range it.extra {
		// The boosted post, fetched: stored first (idempotent by its uri).
		if _, err := tx.InsertStatus(ctx, NoteToStatus(ex.obj, ex.author, nil, ex.rec, it.e.Received)); err != nil {
			return err
		}
	}
	ref, ok, err := statusRef(ctx, tx, it.act.Object)
	if err != nil {
		return err
	}
	if !ok {
		return it.set(resultNoop, reasonUnknownObject)
	}
	if ref.Visibility == data.Private || ref.Visibility == data.Direct {
		return refuse(reasonNotPublic, "%s boosts %s, which is not public", it.e.Actor, it.act.Object)
	}
	if ref.ReblogOfID != 0 {
		return refuse(reasonMalformed, "%s boosts a boost (%s)", it.e.Actor, it.act.Object)
	}
	st := &data.Status{URI: it.act.ID, AccountID: it.actor.ID, ReblogOfID: ref.ID, CreatedAt: it.act.Published,
		DecisionRuleIDs: it.rec.Fired}
	if st.CreatedAt.IsZero() || st.CreatedAt.After(it.e.Received) {
		st.CreatedAt = it.e.Received
	}
	switch it.act.Visibility(it.actor.FollowersURL) {
	case activity.VisibilityPublic:
		st.Visibility = data.Public
	case activity.VisibilityUnlisted:
		st.Visibility = data.Unlisted
	default:
		st.Visibility = data.Private
	}
	if it.mods&policy.ModFollowersOnly != 0 {
		st.Visibility = data.Private
	}
	st.Delisted = it.mods&(policy.ModDelist|policy.ModSilence) != 0 || it.actor.SilencedAt != nil
	created, err := tx.InsertStatus(ctx, st)
	if err != nil {
		return err
	}
	if created && ref.Local && !c.muted(it) {
		if _, err := tx.InsertNotification(ctx, &data.Notification{AccountID: ref.AccountID, FromAccountID: it.actor.ID,
			Type: data.NotifyReblog, StatusID: ref.ID}); err != nil {
			return err
		}
	}
	return it.stored(created)
}

// muted reports whether the actor's notifications are filtered (silenced).
func (c *Consumer) muted(it *item) bool {
	return it.actor.SilencedAt != nil || it.mods&policy.ModSilence != 0
}

func (c *Consumer) applyLike(ctx context.Context, tx *data.Store, it *item) error {
	ref, ok, err := statusRef(ctx, tx, it.act.Object)
	if err != nil {
		return err
	}
	if !ok {
		return it.set(resultNoop, reasonUnknownObject)
	}
	created, err := tx.CreateFavourite(ctx, &data.Favourite{AccountID: it.actor.ID, StatusID: ref.ID, URI: it.act.ID})
	if err != nil {
		return err
	}
	if created && ref.Local && !c.muted(it) {
		if _, err := tx.InsertNotification(ctx, &data.Notification{AccountID: ref.AccountID, FromAccountID: it.actor.ID,
			Type: data.NotifyFavourite, StatusID: ref.ID}); err != nil {
			return err
		}
	}
	return it.stored(created)
}

func (c *Consumer) applyFollow(ctx context.Context, tx *data.Store, it *item) error {
	target, err := c.account(ctx, tx, it.act.Object)
	if err != nil {
		return err
	}
	if target == nil || !target.Local() {
		return it.set(resultIgnored, reasonNotLocalTarget)
	}
	if target.SuspendedAt != nil {
		return it.set(resultIgnored, reasonSuspended)
	}
	inboxes := []string{it.actor.InboxURL}
	if it.actor.InboxURL == "" {
		inboxes = []string{it.actor.SharedInboxURL}
	}
	blocked, err := tx.Blocked(ctx, target.ID, it.actor.ID)
	if err != nil {
		return err
	}
	if blocked {
		c.answer(it, "Reject", target, "#rejects/follows/"+ids.String(ids.Now()), inboxes)
		return it.set(resultNoop, reasonBlocked)
	}
	f := &data.Follow{AccountID: it.actor.ID, TargetAccountID: target.ID, URI: it.act.ID, ShowReblogs: true}
	if target.Locked || c.muted(it) {
		// Locked: the owner decides. Silenced: its follows become
		// requests (DESIGN.md, the silence action).
		created, err := tx.CreateFollowRequest(ctx, f)
		if data.KindOf(err) == data.Conflict {
			// Already following: tell the peer again.
			if cur, gerr := tx.GetFollow(ctx, it.actor.ID, target.ID); gerr == nil {
				c.answer(it, "Accept", target, "#accepts/follows/"+ids.String(cur.ID), inboxes)
			}
			return it.set(resultNoop, reasonDuplicate)
		}
		if err != nil {
			return err
		}
		if created {
			if _, err := tx.InsertNotification(ctx, &data.Notification{AccountID: target.ID, FromAccountID: it.actor.ID,
				Type: data.NotifyFollowRequest}); err != nil {
				return err
			}
		}
		return it.stored(created)
	}
	created, err := tx.CreateFollow(ctx, f)
	if err != nil {
		return err
	}
	if created {
		if _, err := tx.InsertNotification(ctx, &data.Notification{AccountID: target.ID, FromAccountID: it.actor.ID,
			Type: data.NotifyFollow}); err != nil {
			return err
		}
	}
	// Accepted every time, a replay included: a peer whose first Accept
	// was lost (or never sent, a crash before delivery) still gets one.
	c.answer(it, "Accept", target, "#accepts/follows/"+ids.String(f.ID), inboxes)
	return it.stored(created)
}

// answer queues an Accept or Reject of it's Follow, signed by the local
// account target, for after the commit.
func (c *Consumer) answer(it *item, typ string, target *data.Account, idSuffix string, inboxes []string) {
	var a *activity.Activity
	if typ == "Accept" {
		a = activity.NewAccept(target.URI+idSuffix, target.URI, it.act)
	} else {
		a = activity.NewReject(target.URI+idSuffix, target.URI, it.act)
	}
	body, err := activity.EncodeActivity(a)
	if err != nil {
		c.log.Error("encoding an answer to a Follow failed", "type", typ, "follow", it.act.ID, "err", err)
		return
	}
	it.out = append(it.out, outgoing{typ: typ, body: body, actor: target.URI, inboxes: inboxes})
}

// applyAnswer handles Accept and Reject of a Follow one of ours sent.
func (c *Consumer) applyAnswer(ctx context.Context, tx *data.Store, it *item) error {
	f, pending, err := tx.FollowByURI(ctx, it.act.Object)
	if data.KindOf(err) == data.NotFound {
		// Some peers answer with an id of their own: match the embedded
		// Follow by its actor and object instead.
		in := it.act.ObjectActivity
		if in == nil || in.Object != it.e.Actor {
			return it.set(resultNoop, reasonUnknownObject)
		}
		local, lerr := c.account(ctx, tx, in.Actor)
		if lerr != nil {
			return lerr
		}
		if local == nil || !local.Local() {
			return it.set(resultNoop, reasonUnknownObject)
		}
		f, pending, err = &data.Follow{AccountID: local.ID, TargetAccountID: it.actor.ID}, true, nil
	}
	if err != nil {
		return err
	}
	if f.TargetAccountID != it.actor.ID {
		return refuse(reasonNotOwner, "%s answers a follow of another account", it.e.Actor)
	}
	if it.act.Type == "Accept" {
		if !pending {
			return it.set(resultNoop, reasonDuplicate)
		}
		if _, err := tx.AcceptFollowRequest(ctx, f.AccountID, f.TargetAccountID); err != nil {
			if data.KindOf(err) == data.NotFound {
				return it.set(resultNoop, reasonUnknownObject)
			}
			return err
		}
		return it.set(resultStored, reasonOK)
	}
	if _, err := tx.DeleteFollow(ctx, f.AccountID, f.TargetAccountID); err != nil {
		if data.KindOf(err) == data.NotFound {
			return it.set(resultNoop, reasonUnknownObject)
		}
		return err
	}
	return it.set(resultStored, reasonOK)
}

func (c *Consumer) applyUndo(ctx context.Context, tx *data.Store, it *item) error {
	in := it.act.ObjectActivity
	id := it.act.Object
	if id == "" {
		return refuse(reasonMissingField, "the Undo has no object")
	}
	if in != nil && in.Actor != "" && in.Actor != it.e.Actor {
		return refuse(reasonNotOwner, "%s may not undo an activity of %s", it.e.Actor, in.Actor)
	}
	kinds := []string{"Follow", "Like", "Announce", "Block"}
	if it.act.ObjectType != "" {
		kinds = []string{it.act.ObjectType}
	}
	for _, k := range kinds {
		var err error
		switch k {
		case "Follow":
			_, err = tx.DeleteFollowByURI(ctx, id, it.actor.ID)
			if data.KindOf(err) == data.NotFound && in != nil && in.Object != "" {
				// Matched by the pair when the peer's Follow id changed.
				if target, terr := c.account(ctx, tx, in.Object); terr == nil && target != nil {
					_, err = tx.DeleteFollow(ctx, it.actor.ID, target.ID)
				}
			}
		case "Like":
			_, err = tx.DeleteFavouriteByURI(ctx, id, it.actor.ID)
		case "Announce":
			var ref data.StatusRef
			var ok bool
			if ref, ok, err = statusRef(ctx, tx, id); err == nil {
				if !ok || ref.ReblogOfID == 0 {
					err = &data.Error{Op: "undo announce", Kind: data.NotFound}
				} else {
					_, _, err = tx.DeleteStatusByURI(ctx, id, it.actor.ID)
				}
			}
		case "Block":
			_, err = tx.DeleteBlockByURI(ctx, id, it.actor.ID)
		default:
			return it.set(resultIgnored, reasonUnsupported)
		}
		switch data.KindOf(err) {
		case data.NotFound:
			continue
		case data.Forbidden:
			return refuse(reasonNotOwner, "%v", err)
		}
		if err != nil {
			return err
		}
		return it.set(resultStored, reasonOK)
	}
	return it.set(resultNoop, reasonUnknownObject)
}

func (c *Consumer) applyBlock(ctx context.Context, tx *data.Store, it *item) error {
	target, err := c.account(ctx, tx, it.act.Object)
	if err != nil {
		return err
	}
	if target == nil {
		return it.set(resultNoop, reasonUnknownObject)
	}
	created, err := tx.CreateBlock(ctx, &data.Block{AccountID: it.actor.ID, TargetAccountID: target.ID, URI: it.act.ID})
	if err != nil {
		return err
	}
	return it.stored(created)
}

// applyFlag files a report. Mastodon's Flag lists the reported account,
// then the reported statuses, and carries the comment as content.
func (c *Consumer) applyFlag(ctx context.Context, tx *data.Store, it *item) error {
	objs := it.act.Objects
	if len(objs) == 0 {
		return refuse(reasonMissingField, "the Flag has no object")
	}
	accts, err := tx.AccountsByURI(ctx, objs)
	if err != nil {
		return err
	}
	refs, err := tx.StatusRefsByURI(ctx, objs)
	if err != nil {
		return err
	}
	var target int64
	for _, o := range objs {
		if a := accts[o]; a != nil {
			target = a.ID
			break
		}
	}
	if target == 0 {
		for _, o := range objs {
			if r, ok := refs[o]; ok {
				target = r.AccountID
				break
			}
		}
	}
	if target == 0 {
		return it.set(resultNoop, reasonUnknownObject)
	}
	var statuses []int64
	for _, o := range objs {
		if r, ok := refs[o]; ok && r.AccountID == target {
			statuses = append(statuses, r.ID)
		}
	}
	comment := it.act.Content
	if len(comment) > 5000 {
		comment = comment[:5000]
	}
	created, err := tx.InsertReport(ctx, &data.Report{AccountID: it.actor.ID, TargetAccountID: target, StatusIDs: statuses,
		Comment: comment, URI: it.act.ID, Category: data.ReportOther})
	if err != nil {
		return err
	}
	return it.stored(created)
}

// applyMove records that the actor moved to its target, as Mastodon does
// only when the target lists the actor in alsoKnownAs. Local followers are
// not made to follow the new account (Mastodon does that; here the
// follower sees moved_to and decides).
func (c *Consumer) applyMove(ctx context.Context, tx *data.Store, it *item, effects *[]func()) error {
	if it.act.Object != it.e.Actor {
		return refuse(reasonNotOwner, "%s may not move %s", it.e.Actor, it.act.Object)
	}
	if !slices.Contains(it.target.AlsoKnownAs, it.e.Actor) {
		return refuse(reasonAliasMissing, "the target %s does not list %s in alsoKnownAs", it.target.URI, it.e.Actor)
	}
	if it.actor.MovedToAccountID == it.target.ID {
		return it.set(resultNoop, reasonDuplicate)
	}
	if err := tx.SetMoved(ctx, it.actor.ID, it.target.ID); err != nil {
		return err
	}
	a := *it.actor
	a.MovedToAccountID = it.target.ID
	*effects = append(*effects, func() { c.remember(&a) })
	return it.set(resultStored, reasonOK)
}
