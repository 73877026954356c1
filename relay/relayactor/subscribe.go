package relayactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/inbound"
	"github.com/palisade-fedi/palisade/store/pg"
)

// Errors of the admin operations; cmd maps them to HTTP statuses.
var (
	// ErrNotFound: the domain is not known to the relay.
	ErrNotFound = errors.New("not known to the relay")
	// ErrState: the operation does not apply to the subscriber's state.
	ErrState = errors.New("not applicable in this state")
)

// control handles the subscription activities addressed to the relay: a
// Follow of as:Public or of the relay actor, its Undo, and the Accept or
// Reject of the relay's own follow-back. Other activities of these types
// (follows of local users) are the instance's and are ignored. A returned
// error is transient (the database): the entry is handled again later.
func (r *Relay) control(ctx context.Context, e *inbound.Entry) error {
	switch e.Type {
	case "Follow":
		switch {
		case e.ObjectID == r.actorID:
			return r.follow(ctx, e, "litepub")
		case isPublic(e.ObjectID):
			return r.follow(ctx, e, "mastodon")
		}
	case "Undo":
		return r.undo(ctx, e)
	case "Accept", "Reject":
		return r.followBackAnswer(ctx, e)
	}
	return nil
}

// follow handles a subscription request.
func (r *Relay) follow(ctx context.Context, e *inbound.Entry, style string) error {
	dom, err := activity.Host(e.Actor)
	if err != nil {
		return nil
	}
	hostname, _ := activity.Hostname(e.Actor)
	r.mu.Lock()
	defer r.mu.Unlock()
	row, err := r.o.DB.RelaySubscriber(ctx, dom)
	exists := err == nil
	if err != nil && !errors.Is(err, pg.ErrNotFound) {
		return err
	}
	a, err := r.fetchActor(ctx, e.Actor)
	if err != nil {
		// Without its inbox we cannot even answer. The peer shows the
		// relay as pending; its admin re-adds it to try again.
		r.log.Warn("relay: cannot fetch a subscribing actor; Follow dropped", "actor", e.Actor, "err", err)
		r.m.subscriptions.WithLabelValues("actor_unreachable").Inc()
		return nil
	}
	f := followRef{ID: e.ActivityID, Type: "Follow", Actor: e.Actor, Object: e.ObjectID}
	// A person following @relay@HOST is not an instance subscribing:
	// LitePub relay actors are Application (Pleroma, Akkoma) or Service.
	notRelay := style == "litepub" && a.Type != "Application" && a.Type != "Service"
	refuse := notRelay || !r.allowed(hostname) || (exists && row.State == pg.RelayBlocked) ||
		(r.o.Mode == ModeAllowlist && !(exists && (row.State == pg.RelayAllowed || row.State == pg.RelayActive)))
	if refuse {
		r.m.subscriptions.WithLabelValues("refused").Inc()
		r.log.Info("relay: subscription refused", "domain", dom, "actor", e.Actor, "mode", r.o.Mode, "not_a_relay_actor", notRelay)
		if err := r.send(r.answerFollow("Reject", f), a.Inbox); err != nil {
			return err
		}
		if exists && row.State != pg.RelayBlocked && !notRelay {
			if err := r.o.DB.DeleteRelaySubscriber(ctx, dom); err != nil && !errors.Is(err, pg.ErrNotFound) {
				return err
			}
		}
		return r.refresh(ctx)
	}
	state := pg.RelayActive
	if r.o.Mode == ModeApproval && !(exists && (row.State == pg.RelayAllowed || row.State == pg.RelayActive)) {
		state = pg.RelayPending
	}
	sub := pg.RelaySubscriber{Domain: dom, State: state, Style: style, Actor: e.Actor, ActorInbox: a.Inbox,
		Inbox: a.deliveryInbox(), FollowID: e.ActivityID, SubscribedAt: r.o.Now()}
	if exists && row.State == pg.RelayActive && !row.SubscribedAt.IsZero() {
		sub.SubscribedAt = row.SubscribedAt // a repeated Follow keeps "subscribed since"
	}
	if exists && row.Actor == e.Actor {
		sub.FollowBackID, sub.FollowBackAccepted = row.FollowBackID, row.FollowBackAccepted
	}
	if err := r.o.DB.PutRelaySubscription(ctx, sub); err != nil {
		return err
	}
	if state == pg.RelayActive {
		if err := r.activate(ctx, sub); err != nil {
			return err
		}
		r.m.subscriptions.WithLabelValues("accepted").Inc()
		r.log.Info("relay: subscribed", "domain", dom, "style", style)
	} else {
		r.m.subscriptions.WithLabelValues("pending").Inc()
		r.log.Info("relay: subscription awaits approval", "domain", dom, "style", style)
	}
	if err := r.refresh(ctx); err != nil {
		return err
	}
	go r.updateSoftware(context.WithoutCancel(ctx), e.Actor, dom)
	return nil
}

// activate sends the Accept of sub's Follow and, for LitePub, the relay's
// follow-back (once: a repeated Follow does not follow back again while the
// first follow-back stands). r.mu held.
func (r *Relay) activate(ctx context.Context, sub pg.RelaySubscriber) error {
	object := activity.PublicCollection
	if sub.Style == "litepub" {
		object = r.actorID
	}
	out := []delivery.Outgoing{{Activity: r.answerFollow("Accept", followRef{ID: sub.FollowID, Type: "Follow", Actor: sub.Actor, Object: object}),
		Actor: r.actorID, Inboxes: []string{sub.ActorInbox}}}
	var backID string
	if sub.Style == "litepub" && sub.FollowBackID == "" {
		id, body := r.followBack(sub.Actor)
		backID = id
		out = append(out, delivery.Outgoing{Activity: body, Actor: r.actorID, Inboxes: []string{sub.ActorInbox}})
	}
	if err := r.o.Sender.EnqueueBatch(out); err != nil {
		return fmt.Errorf("relay: queueing the Accept to %s: %w", sub.Domain, err)
	}
	if backID != "" {
		if err := r.o.DB.SetRelayFollowBack(ctx, sub.Domain, backID, false); err != nil {
			return err
		}
	}
	return nil
}

// send queues one activity from the relay actor to inbox.
func (r *Relay) send(body []byte, inbox string) error {
	if inbox == "" {
		return nil
	}
	return r.o.Sender.EnqueueBatch([]delivery.Outgoing{{Activity: body, Actor: r.actorID, Inboxes: []string{inbox}}})
}

// undo handles an Undo: of the subscriber's Follow, it unsubscribes.
func (r *Relay) undo(ctx context.Context, e *inbound.Entry) error {
	dom, err := activity.Host(e.Actor)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	row, err := r.o.DB.RelaySubscriber(ctx, dom)
	if errors.Is(err, pg.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if row.State == pg.RelayBlocked || row.Actor != e.Actor || !(row.FollowID == e.ObjectID || undoesRelayFollow(e.Body, r.actorID)) {
		return nil
	}
	r.unsubscribeLocked(row, false)
	if err := r.o.DB.DeleteRelaySubscriber(ctx, dom); err != nil && !errors.Is(err, pg.ErrNotFound) {
		return err
	}
	r.m.subscriptions.WithLabelValues("unsubscribed").Inc()
	r.log.Info("relay: unsubscribed", "domain", dom)
	return r.refresh(ctx)
}

// undoesRelayFollow reports whether an Undo (untrusted bytes) embeds a
// Follow of as:Public or of the relay actor: some peers send an Undo whose
// inner Follow has a fresh id, so the id alone does not always match.
func undoesRelayFollow(body []byte, actorID string) bool {
	var u struct {
		Object json.RawMessage `json:"object"`
	}
	if json.Unmarshal(body, &u) != nil {
		return false
	}
	var inner struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if json.Unmarshal(u.Object, &inner) != nil || inner.Type != "Follow" {
		return false
	}
	var obj string
	if json.Unmarshal(inner.Object, &obj) != nil {
		var o struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(inner.Object, &o) != nil {
			return false
		}
		obj = o.ID
	}
	return isPublic(obj) || obj == actorID
}

// unsubscribeLocked tells a subscriber it is no longer subscribed: with
// reject, a Reject of its Follow (Mastodon then shows the relay as
// rejected); for LitePub, the Undo of the relay's follow-back. r.mu held.
// Queueing errors are logged: the row goes anyway.
func (r *Relay) unsubscribeLocked(row pg.RelaySubscriber, reject bool) {
	var out []delivery.Outgoing
	if reject && row.FollowID != "" && row.ActorInbox != "" {
		object := activity.PublicCollection
		if row.Style == "litepub" {
			object = r.actorID
		}
		out = append(out, delivery.Outgoing{Activity: r.answerFollow("Reject", followRef{ID: row.FollowID, Type: "Follow", Actor: row.Actor, Object: object}),
			Actor: r.actorID, Inboxes: []string{row.ActorInbox}})
	}
	if row.FollowBackID != "" && row.ActorInbox != "" {
		out = append(out, delivery.Outgoing{Activity: r.undoFollowBack(row.FollowBackID, row.Actor), Actor: r.actorID, Inboxes: []string{row.ActorInbox}})
	}
	if len(out) == 0 {
		return
	}
	if err := r.o.Sender.EnqueueBatch(out); err != nil {
		r.log.Warn("relay: could not queue the goodbye to a removed subscriber", "domain", row.Domain, "err", err)
	}
}

// followBackAnswer records a LitePub subscriber's Accept or Reject of the
// relay's follow-back.
func (r *Relay) followBackAnswer(ctx context.Context, e *inbound.Entry) error {
	dom, err := activity.Host(e.Actor)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	row, err := r.o.DB.RelaySubscriber(ctx, dom)
	if errors.Is(err, pg.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if row.FollowBackID == "" || row.FollowBackID != e.ObjectID {
		return nil
	}
	accepted := e.Type == "Accept"
	if err := r.o.DB.SetRelayFollowBack(ctx, dom, row.FollowBackID, accepted); err != nil {
		return err
	}
	r.log.Info("relay: follow-back answered", "domain", dom, "accepted", accepted)
	return r.refresh(ctx)
}

// Subscribers returns every known instance (all states), sorted by domain.
func (r *Relay) Subscribers(ctx context.Context) ([]pg.RelaySubscriber, error) {
	return r.o.DB.RelaySubscribers(ctx)
}

func (r *Relay) row(ctx context.Context, domain string) (pg.RelaySubscriber, bool, error) {
	row, err := r.o.DB.RelaySubscriber(ctx, domain)
	if errors.Is(err, pg.ErrNotFound) {
		return row, false, nil
	}
	return row, err == nil, err
}

// Approve accepts a pending subscriber (sending its Accept, and for
// LitePub the follow-back), or allows a domain that has not asked yet (in
// allowlist mode only allowed domains may subscribe), or lifts a block
// (the domain becomes allowed). Approving an active or allowed domain
// changes nothing.
func (r *Relay) Approve(ctx context.Context, domain string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	row, ok, err := r.row(ctx, domain)
	if err != nil {
		return err
	}
	switch {
	case !ok || row.State == pg.RelayBlocked:
		if err := r.o.DB.SetRelaySubscriberState(ctx, domain, pg.RelayAllowed, time.Time{}, "", true); err != nil {
			return err
		}
	case row.State == pg.RelayPending:
		if err := r.o.DB.SetRelaySubscriberState(ctx, domain, pg.RelayActive, r.o.Now(), "", false); err != nil {
			return err
		}
		if err := r.activate(ctx, row); err != nil {
			return err
		}
		r.m.subscriptions.WithLabelValues("accepted").Inc()
	}
	return r.refresh(ctx)
}

// Reject refuses a pending subscriber (sending a Reject of its Follow) or
// withdraws an allowance. An active subscriber is removed with Remove.
func (r *Relay) Reject(ctx context.Context, domain string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	row, ok, err := r.row(ctx, domain)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is %w", domain, ErrNotFound)
	}
	switch row.State {
	case pg.RelayPending:
		r.unsubscribeLocked(row, true)
	case pg.RelayAllowed:
	default:
		return fmt.Errorf("%s is %s: %w (reject answers pending requests; use remove or block)", domain, row.State, ErrState)
	}
	if err := r.o.DB.DeleteRelaySubscriber(ctx, domain); err != nil {
		return err
	}
	r.m.subscriptions.WithLabelValues("rejected").Inc()
	return r.refresh(ctx)
}

// Remove ends a subscription (telling the subscriber with a Reject of its
// Follow) and forgets the domain; it may subscribe again.
func (r *Relay) Remove(ctx context.Context, domain string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removeLocked(ctx, domain, "removed")
}

func (r *Relay) removeLocked(ctx context.Context, domain, why string) error {
	row, ok, err := r.row(ctx, domain)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is %w", domain, ErrNotFound)
	}
	if row.State == pg.RelayActive || row.State == pg.RelayPending {
		r.unsubscribeLocked(row, true)
	}
	if err := r.o.DB.DeleteRelaySubscriber(ctx, domain); err != nil {
		return err
	}
	r.m.subscriptions.WithLabelValues(why).Inc()
	r.log.Info("relay: subscriber removed", "domain", domain, "why", why)
	return r.refresh(ctx)
}

// Block ends any subscription of domain and refuses its future Follows.
// note is kept with the block.
func (r *Relay) Block(ctx context.Context, domain, note string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	row, ok, err := r.row(ctx, domain)
	if err != nil {
		return err
	}
	if ok && (row.State == pg.RelayActive || row.State == pg.RelayPending) {
		r.unsubscribeLocked(row, true)
	}
	if err := r.o.DB.SetRelaySubscriberState(ctx, domain, pg.RelayBlocked, time.Time{}, note, true); err != nil {
		return err
	}
	r.m.subscriptions.WithLabelValues("blocked").Inc()
	return r.refresh(ctx)
}

// SetDirection makes a subscriber DirBoth, DirReceiveOnly or DirPushOnly.
func (r *Relay) SetDirection(ctx context.Context, domain, direction string) error {
	switch direction {
	case DirBoth, DirReceiveOnly, DirPushOnly:
	default:
		return fmt.Errorf("direction %q: want both, receive_only or push_only", direction)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.o.DB.SetRelayDirection(ctx, domain, direction); errors.Is(err, pg.ErrNotFound) {
		return fmt.Errorf("%s is %w", domain, ErrNotFound)
	} else if err != nil {
		return err
	}
	return r.refresh(ctx)
}
