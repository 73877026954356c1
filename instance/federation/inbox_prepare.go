package federation

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/palisade-fedi/palisade/instance/content"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/inbound"
)

// outgoing is an activity to deliver once the batch has committed.
type outgoing struct {
	typ     string
	body    []byte
	actor   string
	inboxes []string
}

// fetchedNote is a remote object fetched for an activity (a boosted post,
// a reply's parent), stored before the activity that needs it.
type fetchedNote struct {
	obj    *activity.Object
	author *data.Account
	rec    policy.Record // the policy's decision on it (Options.Screen)
}

// item is one queue entry on its way through a batch.
type item struct {
	seq  uint64
	e    inbound.Entry
	rec  policy.Record
	mods policy.Modifiers // the decision's modifiers plus its action's own
	act  *activity.Activity

	actor *data.Account    // the verified sender, resolved
	obj   *activity.Object // the note of a Create or Update
	extra []fetchedNote    // fetched parent or boosted object, stored first
	sts   []*data.Status   // a Create's rows: the fetched parent (if any), then its own
	// localMentions are the local accounts a Create mentions (notified).
	localMentions []int64
	target        *data.Account // a Move's new account
	vote          bool          // a Create of a vote on a local poll (obj is the vote's Note)
	quar          bool          // held for a moderator
	reled         bool          // being released from quarantine: do not hold again
	done          bool          // outcome decided before the transaction
	result        string
	reason        string
	detail        string
	out           []outgoing
}

func (it *item) finish(result, reason, detail string) {
	it.done, it.result, it.reason, it.detail = true, result, reason, detail
}

// refusal is returned by an activity's handler to roll back its savepoint
// and record the activity as refused.
type refusal struct{ reason, detail string }

func (r *refusal) Error() string { return r.reason + ": " + r.detail }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// actionModifier is the modifier each action implies, so that the handlers
// look at one set of bits whatever action won.
func actionModifier(a policy.Action) policy.Modifiers {
	switch a {
	case policy.StripMedia:
		return policy.ModStripMedia
	case policy.Sensitive:
		return policy.ModSensitive
	case policy.CW:
		return policy.ModCW
	case policy.Delist:
		return policy.ModDelist
	case policy.FollowersOnly:
		return policy.ModFollowersOnly
	case policy.Report:
		return policy.ModReport
	case policy.Silence:
		return policy.ModSilence
	case policy.Quarantine:
		return policy.ModQuarantine
	}
	return 0
}

// decode reads one queue entry. A malformed one is finished as refused.
func (c *Consumer) decode(seq uint64, value []byte) *item {
	it := &item{seq: seq}
	if err := it.e.Unmarshal(value); err != nil {
		it.finish(resultRefused, reasonMalformed, err.Error())
		return it
	}
	if len(it.e.Decision) > 0 {
		if err := it.rec.UnmarshalBinary(it.e.Decision); err != nil {
			it.finish(resultRefused, reasonMalformed, "decision record: "+err.Error())
			return it
		}
	}
	it.mods = it.rec.Modifiers | actionModifier(it.rec.Action)
	act, err := activity.DecodeActivity(it.e.Body)
	if err != nil {
		it.finish(resultRefused, reasonMalformed, err.Error())
		return it
	}
	it.act = act
	return it
}

// noteTypes are the object types stored as statuses. Question is a poll;
// Article and Page (blogs, Lemmy posts) are shown with their title and link.
var noteTypes = map[string]bool{"Note": true, "Question": true, "Article": true, "Page": true}

// isVote reports whether o is a vote on a local poll: Mastodon (and
// Palisade) send each choice as a Note whose name is the option's title,
// with no content, in reply to the Question. Such a Note is recorded as a
// vote, never stored as a status.
func (c *Consumer) isVote(o *activity.Object) bool {
	return o.Type == "Note" && strings.TrimSpace(o.Name) != "" && strings.TrimSpace(o.Content) == "" &&
		len(o.Attachments) == 0 && o.InReplyTo != "" && c.isLocal(o.InReplyTo)
}

// isLocal reports whether uri is one of this instance's actors or objects.
func (c *Consumer) isLocal(uri string) bool {
	return strings.HasPrefix(uri, c.o.BaseURL+"/")
}

// relayBound reports whether act belongs to the relay's consumer: a
// Follow (or the Undo of one) of as:Public (Mastodon's relay subscription)
// or of this node's own actor (LitePub's).
func (c *Consumer) relayBound(act *activity.Activity) bool {
	relayObject := func(o string) bool {
		return o == c.o.InstanceActor || o == "https://www.w3.org/ns/activitystreams#Public" || o == "as:Public" || o == "Public"
	}
	switch act.Type {
	case "Follow":
		return relayObject(act.Object)
	case "Undo":
		in := act.ObjectActivity
		return in != nil && in.Type == "Follow" && relayObject(in.Object)
	case "Accept", "Reject":
		// The relay follows LitePub relays back as the instance actor; an
		// answer may embed that Follow or name it by id only (its ids are
		// the instance actor's, BASE/actor#follows/…).
		in := act.ObjectActivity
		if in == nil {
			return strings.HasPrefix(act.Object, c.o.InstanceActor+"#follows/")
		}
		return in.Actor == c.o.InstanceActor
	}
	return false
}

// noFetchTypes are activities that never make us fetch their actor: an
// unknown actor withdrawing or answering something cannot concern
// anything stored here (and a deleted actor's document is gone anyway).
var noFetchTypes = map[string]bool{"Delete": true, "Undo": true, "Accept": true, "Reject": true}

// prepare does everything that may touch the network, before the
// transaction: envelope checks, actor resolution (and fetches of unknown
// or stale actors), embedded-object checks, and fetches of unknown boosted
// posts, reply parents and Move targets, at most MaxFetchesPerBatch. An
// error (Postgres unreachable) fails the whole batch, to be retried:
// nothing may be refused for want of a database.
func (c *Consumer) prepare(ctx context.Context, items []*item) error {
	budget := c.o.MaxFetchesPerBatch
	for _, it := range items {
		if it.done {
			continue
		}
		switch {
		case it.act.Actor != it.e.Actor:
			it.finish(resultRefused, reasonActorMismatch, fmt.Sprintf("activity actor %q is not the verified signer %q", it.act.Actor, it.e.Actor))
		case it.rec.Action == policy.Reject:
			it.finish(resultDropped, reasonPolicy, strings.Join(it.rec.Fired, ","))
		case c.relayBound(it.act):
			it.finish(resultIgnored, reasonRelay, "")
		case c.isLocal(it.e.Actor):
			it.finish(resultRefused, reasonLocalActor, "an inbound activity claims a local actor")
		case !it.reled && it.rec.Action == policy.Quarantine:
			it.quar = true
		}
	}

	// Actors: one query for those not cached, fetches for unknown or stale ones.
	var uris []string
	for _, it := range items {
		if !it.done && !it.quar && c.cached(it.e.Actor) == nil {
			uris = append(uris, it.e.Actor)
		}
	}
	if err := c.loadAccounts(ctx, uris); err != nil {
		return err
	}
	for _, it := range items {
		if it.done || it.quar {
			continue
		}
		a := c.cached(it.e.Actor)
		selfUpdate := it.act.Type == "Update" && it.act.Object == it.e.Actor && it.act.ObjectActor == nil
		switch {
		case a == nil && noFetchTypes[it.act.Type]:
			it.finish(resultNoop, reasonUnknownActor, "")
			continue
		case a == nil || selfUpdate || (c.stale(a) && !noFetchTypes[it.act.Type]):
			fresh, reason, err := c.fetchActor(ctx, it.e.Actor, &budget)
			switch {
			case reason == reasonDatabase:
				return err
			case err == nil:
				a = fresh
			case a == nil:
				it.finish(resultRefused, reason, err.Error())
				continue
			}
		}
		if a.SuspendedAt != nil {
			it.finish(resultDropped, reasonSuspended, "")
			continue
		}
		it.actor = a
	}

	// Objects.
	var wanted []string
	for _, it := range items {
		if it.done || it.quar {
			continue
		}
		switch it.act.Type {
		case "Create", "Update":
			if it.act.ObjectActor != nil || it.act.Object == it.e.Actor {
				continue // an actor update
			}
			o := it.act.ObjectObject
			if o == nil && it.act.Type == "Create" && it.act.Object != "" && it.act.ObjectType == "" {
				// A bare id: the peer did not embed its note (Mastodon
				// always does; some relays' re-posts do not).
				var err error
				if o, err = c.fetchObject(ctx, it.act.Object, &budget); err != nil {
					it.finish(resultRefused, reasonObjectUnavailable, err.Error())
					continue
				}
			}
			if o == nil {
				if it.act.Object == "" {
					it.finish(resultRefused, reasonMissingField, "the activity has no object")
				} else {
					it.finish(resultIgnored, reasonUnsupported, "object of type "+it.act.ObjectType)
				}
				continue
			}
			if err := c.checkNote(it, o); err != nil {
				r := err.(*refusal)
				it.finish(resultRefused, r.reason, r.detail)
				continue
			}
			if !noteTypes[o.Type] {
				it.finish(resultIgnored, reasonUnsupported, "object of type "+o.Type)
				continue
			}
			it.obj = o
			if it.act.Type == "Create" && c.isVote(o) {
				it.vote = true
				continue
			}
			if it.act.Type == "Create" && o.InReplyTo != "" {
				wanted = append(wanted, o.InReplyTo)
			}
		case "Announce":
			if it.act.Object == "" {
				it.finish(resultRefused, reasonMissingField, "the Announce has no object")
				continue
			}
			wanted = append(wanted, it.act.Object)
		case "Move":
			if it.act.Target == "" {
				it.finish(resultRefused, reasonMissingField, "the Move has no target")
				continue
			}
			// Always fetched: the target's alsoKnownAs must be current.
			t, reason, err := c.fetchActor(ctx, it.act.Target, &budget)
			if reason == reasonDatabase {
				return err
			}
			if err != nil {
				it.finish(resultRefused, reason, err.Error())
				continue
			}
			it.target = t
		}
	}
	if err := c.fetchReferenced(ctx, items, wanted, &budget); err != nil {
		return err
	}
	return c.buildStatuses(ctx, items)
}

// buildStatuses converts the notes of the batch's Creates into rows (the
// sanitiser is most of the cost), on all cores.
func (c *Consumer) buildStatuses(ctx context.Context, items []*item) error {
	var hrefs []string
	var creates []*item
	for _, it := range items {
		if !it.done && !it.quar && it.act.Type == "Update" && it.obj != nil {
			// An edit may mention someone new: know them when applying it.
			for _, h := range it.obj.Mentions() {
				if c.cached(h) == nil {
					hrefs = append(hrefs, h)
				}
			}
			continue
		}
		if it.done || it.quar || it.act.Type != "Create" || it.obj == nil || it.vote {
			continue
		}
		creates = append(creates, it)
		for _, o := range append([]*activity.Object{it.obj}, extraObjects(it)...) {
			for _, h := range o.Mentions() {
				if c.cached(h) == nil {
					hrefs = append(hrefs, h)
				}
			}
		}
	}
	if err := c.loadAccounts(ctx, hrefs); err != nil {
		return err
	}
	parallel(len(creates), func(i int) {
		it := creates[i]
		it.sts = it.sts[:0]
		for _, ex := range it.extra {
			// Fetched to link a reply: the policy engine never saw it, so
			// it is stored as its author's standing (silenced) allows.
			it.sts = append(it.sts, NoteToStatus(ex.obj, ex.author, c.mentioned(ex.obj), ex.rec, it.e.Received))
		}
		known := c.mentioned(it.obj)
		it.sts = append(it.sts, NoteToStatus(it.obj, it.actor, known, it.rec, it.e.Received))
		it.localMentions = it.localMentions[:0]
		for _, a := range known {
			if a.Local() {
				it.localMentions = append(it.localMentions, a.ID)
			}
		}
	})
	return nil
}

func extraObjects(it *item) []*activity.Object {
	var out []*activity.Object
	for _, ex := range it.extra {
		out = append(out, ex.obj)
	}
	return out
}

// mentioned returns the known accounts o mentions, by actor id.
func (c *Consumer) mentioned(o *activity.Object) map[string]*data.Account {
	hrefs := o.Mentions()
	if len(hrefs) == 0 {
		return nil
	}
	m := make(map[string]*data.Account, len(hrefs))
	for _, h := range hrefs {
		if a := c.cached(h); a != nil {
			m[h] = a
		}
	}
	return m
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// fetchReferenced fetches the boosted posts and reply parents (one level)
// the batch refers to and that are not stored here.
func (c *Consumer) fetchReferenced(ctx context.Context, items []*item, wanted []string, budget *int) error {
	if len(wanted) == 0 {
		return nil
	}
	known, err := c.o.Store.StatusRefsByURI(ctx, wanted)
	if err != nil {
		return fmt.Errorf("federation: looking up referenced statuses: %w", err)
	}
	fetched := map[string]*fetchedNote{}
	for _, it := range items {
		if it.done || it.quar {
			continue
		}
		var uri string
		switch {
		case it.act.Type == "Announce":
			uri = it.act.Object
		case it.act.Type == "Create" && it.obj != nil && it.obj.InReplyTo != "":
			uri = it.obj.InReplyTo
		default:
			continue
		}
		if _, ok := known[uri]; ok || c.isLocal(uri) {
			continue
		}
		f, seen := fetched[uri]
		if !seen {
			f = c.fetchNote(ctx, uri, budget)
			fetched[uri] = f
		}
		if f != nil && (f.rec.Action == policy.Reject || f.rec.Action == policy.Quarantine) {
			// The policy refuses the fetched post: not stored, and not
			// brought in by a boost either (a reply stays unlinked).
			if it.act.Type == "Announce" {
				it.finish(resultDropped, reasonPolicy, "the boosted post "+uri+" is refused by the policy ("+strings.Join(f.rec.Fired, ",")+")")
			}
			continue
		}
		if f != nil {
			it.extra = append(it.extra, *f)
		} else if it.act.Type == "Announce" {
			it.finish(resultRefused, reasonObjectUnavailable, "could not fetch the boosted object "+uri)
		}
		// A reply whose parent cannot be fetched is stored unlinked
		// (in_reply_to_uri keeps the link for when the parent arrives).
	}
	return nil
}

// checkNote refuses a note whose id or author contradicts the activity:
// its id must be on the actor's host and its attributedTo must be the actor
// (a server speaks only for its own users' posts).
func (c *Consumer) checkNote(it *item, o *activity.Object) error {
	if o.ID == "" {
		return refuse(reasonMissingField, "the %s's object has no id", it.act.Type)
	}
	actorHost, _ := activity.Host(it.e.Actor)
	if h, err := activity.Host(o.ID); err != nil || h != actorHost {
		return refuse(reasonForeignObject, "object %s is not on the actor's host %s", o.ID, actorHost)
	}
	if o.AttributedTo == "" {
		return refuse(reasonMissingField, "object %s has no attributedTo", o.ID)
	}
	if o.AttributedTo != it.e.Actor {
		return refuse(reasonAttributionMismatch, "object %s is attributed to %s, not to the actor", o.ID, o.AttributedTo)
	}
	return nil
}

// loadAccounts puts the stored accounts among uris into the cache.
func (c *Consumer) loadAccounts(ctx context.Context, uris []string) error {
	if len(uris) == 0 {
		return nil
	}
	slices.Sort(uris)
	uris = slices.Compact(uris)
	got, err := c.o.Store.AccountsByURI(ctx, uris)
	if err != nil {
		return fmt.Errorf("federation: looking up actors: %w", err)
	}
	for _, a := range got {
		c.remember(a)
	}
	return nil
}

func (c *Consumer) stale(a *data.Account) bool {
	return !a.Local() && (a.LastFetchedAt == nil || c.o.Now().Sub(*a.LastFetchedAt) > c.o.ActorTTL)
}

// dbReason is reasonDatabase for a database failure (which fails the
// batch, to be retried), else the given reason (the activity is refused).
func dbReason(err error, otherwise string) string {
	if data.KindOf(err) == data.Other {
		return reasonDatabase
	}
	return otherwise
}

// fetchActor fetches actor uri, stores it and returns the stored row. The
// reason is for the metric when it fails.
func (c *Consumer) fetchActor(ctx context.Context, uri string, budget *int) (*data.Account, string, error) {
	if c.isLocal(uri) {
		if a := c.cached(uri); a != nil {
			return a, "", nil
		}
		a, err := c.o.Store.GetAccountByURI(ctx, uri)
		if err != nil {
			return nil, dbReason(err, reasonUnknownActor), err
		}
		c.remember(a)
		return a, "", nil
	}
	if c.o.Fetch == nil {
		return nil, reasonUnknownActor, errors.New("actor " + uri + " is unknown and fetching is off")
	}
	if *budget <= 0 {
		c.m.fetches.WithLabelValues("actor", "budget").Inc()
		return nil, reasonFetchBudget, errors.New("this batch's fetch budget is spent")
	}
	*budget--
	doc, err := c.o.Fetch.Actor(ctx, uri)
	if err != nil {
		c.m.fetches.WithLabelValues("actor", "error").Inc()
		return nil, reasonActorUnavailable, err
	}
	c.m.fetches.WithLabelValues("actor", "ok").Inc()
	a, err := actorToAccount(doc, 0)
	if err != nil {
		return nil, reasonActorUnavailable, err
	}
	if _, err := c.o.Store.UpsertRemoteAccount(ctx, a); err != nil {
		// Conflict: another actor holds username@domain (re-created on
		// its server); Forbidden: a peer serving one of our uris.
		return nil, dbReason(err, reasonActorUnavailable), err
	}
	// Re-read: the stored row carries moderation state the document does not.
	if a, err = c.o.Store.GetAccountByURI(ctx, a.URI); err != nil {
		return nil, dbReason(err, reasonActorUnavailable), err
	}
	c.remember(a)
	return a, "", nil
}

func (c *Consumer) fetchObject(ctx context.Context, uri string, budget *int) (*activity.Object, error) {
	if c.o.Fetch == nil {
		return nil, errors.New("object " + uri + " is unknown and fetching is off")
	}
	if *budget <= 0 {
		c.m.fetches.WithLabelValues("object", "budget").Inc()
		return nil, errors.New("this batch's fetch budget is spent")
	}
	*budget--
	o, err := c.o.Fetch.Object(ctx, uri)
	if err != nil {
		c.m.fetches.WithLabelValues("object", "error").Inc()
		return nil, err
	}
	c.m.fetches.WithLabelValues("object", "ok").Inc()
	return o, nil
}

// fetchNote fetches a note and its author (one level: the note's own
// parent is not followed). nil when either cannot be had.
func (c *Consumer) fetchNote(ctx context.Context, uri string, budget *int) *fetchedNote {
	o, err := c.fetchObject(ctx, uri, budget)
	if err != nil || !noteTypes[o.Type] {
		return nil
	}
	author := c.cached(o.AttributedTo)
	if author == nil {
		if a, _, err := c.fetchActor(ctx, o.AttributedTo, budget); err == nil {
			author = a
		}
	}
	if author == nil || author.SuspendedAt != nil {
		return nil
	}
	return &fetchedNote{obj: o, author: author, rec: c.screen(o)}
}

// screen is Options.Screen's decision on a fetched object, as if its
// author had sent it in a public Create; Accept without a Screen.
func (c *Consumer) screen(o *activity.Object) policy.Record {
	if c.o.Screen == nil {
		return policy.Record{}
	}
	raw, err := activity.EncodeObject(o)
	if err != nil {
		return policy.Record{}
	}
	wrapped := make([]byte, 0, len(raw)+256)
	wrapped = append(wrapped, `{"@context":"https://www.w3.org/ns/activitystreams","type":"Create","id":`...)
	wrapped = strconv.AppendQuote(wrapped, o.ID+"#fetched")
	wrapped = append(wrapped, `,"actor":`...)
	wrapped = strconv.AppendQuote(wrapped, o.AttributedTo)
	wrapped = append(wrapped, `,"object":`...)
	wrapped = append(wrapped, raw...)
	wrapped = append(wrapped, '}')
	return c.o.Screen(&policy.Input{ID: o.ID + "#fetched", Type: "Create", Actor: o.AttributedTo,
		ObjectID: o.ID, ObjectType: o.Type, Raw: wrapped, Now: c.o.Now()})
}

// actorToAccount converts an actor document to a remote account row.
// mods may strip the avatar or header (policy strip_avatar/strip_header).
func actorToAccount(a *activity.Actor, mods policy.Modifiers) (*data.Account, error) {
	host, err := activity.Host(a.ID)
	if err != nil {
		return nil, fmt.Errorf("actor id %q: %w", a.ID, err)
	}
	name := a.PreferredUsername
	if name == "" {
		// Some actors (PeerTube channels, old Pleroma) omit it; the last
		// path segment is what WebFinger would give.
		name = a.ID[strings.LastIndexByte(strings.TrimRight(a.ID, "/"), '/')+1:]
	}
	acct := &data.Account{
		URI: a.ID, Username: name, Domain: host, DisplayName: a.Name, Note: content.Sanitize(a.Summary),
		URL: a.URL, InboxURL: a.Inbox, SharedInboxURL: a.SharedInbox, OutboxURL: a.Outbox,
		FollowersURL: a.Followers, FollowingURL: a.Following, FeaturedURL: a.Featured, ActorType: a.Type,
		AvatarRemoteURL: a.Icon.URL, HeaderRemoteURL: a.Image.URL,
		Locked: a.ManuallyApprovesFollowers, Bot: a.Type == "Service" || a.Type == "Application",
		Discoverable: a.Discoverable, AlsoKnownAs: a.AlsoKnownAs,
	}
	if !a.Published.IsZero() {
		p := a.Published
		acct.PublishedAt = &p
	}
	if k := a.PublicKey(""); k != nil {
		acct.PublicKeyPEM, acct.KeyID = k.PublicKeyPem, k.ID
	}
	for _, f := range a.Fields {
		acct.Fields = append(acct.Fields, data.Field{Name: f.Name, Value: content.Sanitize(f.Value)})
	}
	if mods&policy.ModStripAvatar != 0 {
		acct.AvatarRemoteURL = ""
	}
	if mods&policy.ModStripHeader != 0 {
		acct.HeaderRemoteURL = ""
	}
	return acct, nil
}
