// Package relayactor is Palisade's ActivityPub relay: the relay actor
// (https://HOST/actor, which is also the instance actor), its subscribers
// in both styles, and the fan-out of accepted public posts to them.
//
// # Subscriptions
//
// Mastodon subscribes with a Follow of as:Public signed by its instance
// actor; LitePub (Pleroma, Akkoma) with a Follow of the relay actor, after
// which the relay follows back and tracks that Follow's Accept. Either is
// answered with an Accept (or Reject) delivered to the follower's own actor
// inbox, whose object is the Follow: its id is all Mastodon matches on.
// Modes: "open" accepts every instance the policy allows, "approval" keeps
// new instances pending until an admin approves them, "allowlist" accepts
// only instances an admin allowed beforehand. Instances the policy refuses
// (suspended, or not allowlisted) are refused and, when already
// subscribed, removed.
//
// # Fan-out
//
// The relay consumes the gateway's inbound queue (consumer group "relay"),
// so it sees only what the ingress verified and the policy engine
// accepted. From an active subscriber that may push, a public Create is
// wrapped in an Announce by the relay (relay-minted id, published, to the
// relay's followers) — Mastodon drops a forwarded Create without an LD
// signature — and a LitePub relay's Announce is re-announced the same way;
// Update and Delete are forwarded as the exact bytes received (their
// digest and LD signature cover those bytes). Nothing goes back to the
// sender's or the object's domain; a post is relayed at most once
// (store/pg RelayOnce) however many subscribers push it; activities the
// policy rejected, silenced, quarantined or otherwise changed are not
// relayed. Deliveries go through the shared delivery engine, signed by the
// relay actor.
//
// # Health
//
// Every delivery outcome to a subscriber's inbox host updates its row
// (deliveries sent, last success and failure, consecutive failures, failing
// since); a subscriber failing for Options.RemoveAfter is removed.
package relayactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg"
)

// Modes of subscription approval.
const (
	ModeOpen      = "open"
	ModeApproval  = "approval"
	ModeAllowlist = "allowlist"
)

// Directions of a subscriber.
const (
	DirBoth        = "both"
	DirReceiveOnly = "receive_only" // gets fan-out; its posts are not relayed
	DirPushOnly    = "push_only"    // its posts are relayed; gets nothing
)

// GroupName is the relay's consumer group on the inbound queue.
const GroupName = "relay"

// Sender queues outbound activities durably; *delivery.Engine implements it.
type Sender interface {
	EnqueueBatch(batch []delivery.Outgoing) error
}

// Options configure New. BaseURL, PublicKeyPEM and DB are required; Queue
// and Sender are required by Run.
type Options struct {
	// BaseURL is "https://HOST" (no trailing slash): the actor is
	// BaseURL+"/actor" and its inbox exactly BaseURL+"/inbox".
	BaseURL string
	// PublicKeyPEM is the relay (instance) actor's public key, PKIX PEM;
	// Sender signs as BaseURL+"/actor" with its private half.
	PublicKeyPEM string
	DB           *pg.DB
	// Queue is the gateway's inbound queue (relay/inbound entries).
	Queue  *local.Queue
	Sender Sender
	// Client fetches actors and NodeInfo. It MUST come from relay/netguard
	// (Guard.Client). Sign, if set, signs those GETs (authorized fetch).
	Client *http.Client
	Sign   func(*http.Request) error
	// Allowed is the policy's domain gate, given a host name without port.
	// Nil allows all.
	Allowed func(hostname string) bool
	// Mode is ModeOpen (default), ModeApproval or ModeAllowlist.
	Mode string
	// Languages, when not empty, relays only posts whose object declares
	// one of these languages (contentMap keys, or "language"); Hashtags,
	// when not empty, only posts carrying one of these hashtags (compared
	// without "#", case-insensitively). A post whose object is not
	// embedded (a LitePub Announce of a bare id) matches no filter.
	Languages, Hashtags []string
	// RemoveAfter removes an active subscriber whose deliveries have been
	// failing, without a success, for this long (default 7 days).
	RemoveAfter time.Duration
	// DropDeliveries, when set, removes the pending deliveries to a dead
	// subscriber's host when it is removed (delivery.Engine.DropHostOf),
	// so days of queued fan-out stop being retried at a host that is gone.
	DropDeliveries func(inbox string) (int, error)
	// StatusPage serves the public page and JSON list of subscribers.
	StatusPage bool
	// AllowHTTP accepts http:// actor ids and inboxes (test networks).
	AllowHTTP bool
	// Software is the relay's own NodeInfo-style name for its status page.
	Software string
	// Registerer receives the relay's metrics (default: a private registry).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
	// HealthEvery is how often delivery statistics are written and dead
	// subscribers looked for (default 30s); tests shorten it.
	HealthEvery time.Duration
}

// Relay is the relay actor. Create it with New; Run consumes the inbound
// queue; Handler serves its documents; the admin methods change
// subscribers.
type Relay struct {
	o        Options
	actorID  string
	inbox    string
	follower string // followers collection
	m        *metrics
	log      *slog.Logger

	subs atomic.Pointer[snapshot]
	// mu serialises subscription changes (inbox and admin), so a state
	// read, decided on and written is not interleaved with another.
	mu sync.Mutex

	stats *statsWindow
}

// snapshot is the subscriber table as the fan-out reads it.
type snapshot struct {
	rows    []pg.RelaySubscriber
	byDom   map[string]*pg.RelaySubscriber
	byInbox map[string]string // inbox authority → domain
	at      time.Time
}

// New checks o and returns a Relay. It registers the metrics.
func New(o Options) (*Relay, error) {
	if o.BaseURL == "" || o.PublicKeyPEM == "" || o.DB == nil {
		return nil, errors.New("relayactor: Options.BaseURL, PublicKeyPEM and DB are required")
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	switch o.Mode {
	case "":
		o.Mode = ModeOpen
	case ModeOpen, ModeApproval, ModeAllowlist:
	default:
		return nil, fmt.Errorf("relayactor: mode %q: want open, approval or allowlist", o.Mode)
	}
	if o.RemoveAfter <= 0 {
		o.RemoveAfter = 7 * 24 * time.Hour
	}
	if o.HealthEvery <= 0 {
		o.HealthEvery = 30 * time.Second
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: refuseAll{}}
	}
	for i, l := range o.Languages {
		o.Languages[i] = strings.ToLower(l)
	}
	for i, h := range o.Hashtags {
		o.Hashtags[i] = strings.ToLower(strings.TrimPrefix(h, "#"))
	}
	r := &Relay{
		o:        o,
		actorID:  ActorURL(o.BaseURL),
		inbox:    o.BaseURL + "/inbox",
		follower: o.BaseURL + "/actor/followers",
		log:      o.Logger,
		stats:    newStatsWindow(),
	}
	m, err := newMetrics(o.Registerer, r)
	if err != nil {
		return nil, err
	}
	r.m = m
	r.subs.Store(&snapshot{byDom: map[string]*pg.RelaySubscriber{}, byInbox: map[string]string{}})
	return r, nil
}

type refuseAll struct{}

func (refuseAll) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("relayactor: no HTTP client configured")
}

// ActorURL is the relay (and instance) actor of a node whose base URL is
// base ("https://HOST"): what WebFinger acct:relay@HOST resolves to.
func ActorURL(base string) string { return strings.TrimSuffix(base, "/") + "/actor" }

// ActorID returns the relay actor's id, BaseURL+"/actor": what WebFinger
// acct:relay@HOST resolves to.
func (r *Relay) ActorID() string { return r.actorID }

// Observe is the delivery engine observer (delivery.Engine.Observe) that
// feeds per-subscriber statistics and the deliveries metric.
func (r *Relay) Observe(o delivery.Outcome) {
	s := r.subs.Load()
	dom, ok := s.byInbox[o.Host]
	if !ok {
		return
	}
	r.m.deliveries.WithLabelValues(o.Outcome).Inc()
	r.stats.add(dom, o)
}

// refresh reloads the subscriber table from Postgres.
func (r *Relay) refresh(ctx context.Context) error {
	rows, err := r.o.DB.RelaySubscribers(ctx)
	if err != nil {
		return err
	}
	s := &snapshot{rows: rows, byDom: make(map[string]*pg.RelaySubscriber, len(rows)), byInbox: map[string]string{}, at: r.o.Now()}
	for i := range rows {
		row := &rows[i]
		s.byDom[row.Domain] = row
		if row.State == pg.RelayActive && row.Inbox != "" {
			if h, err := activity.Host(row.Inbox); err == nil {
				s.byInbox[h] = row.Domain
			}
		}
	}
	r.subs.Store(s)
	r.m.setStates(rows, r.o.Now())
	return nil
}

// Run consumes the inbound queue and keeps the subscriber statistics until
// ctx is done. It returns nil then, or an error if it cannot start.
func (r *Relay) Run(ctx context.Context) error {
	if r.o.Queue == nil || r.o.Sender == nil {
		return errors.New("relayactor: Run needs Options.Queue and Options.Sender")
	}
	g, err := r.o.Queue.Group(GroupName)
	if err != nil {
		return err
	}
	if err := r.refresh(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("relayactor: loading subscribers: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.healthLoop(ctx) })
	r.consume(ctx, g)
	wg.Wait()
	return nil
}

// consume claims inbound entries and handles them until ctx is done.
func (r *Relay) consume(ctx context.Context, g *local.Group) {
	const batch = 256
	const lease = 2 * time.Minute
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		notify := r.o.Queue.Notify()
		items, err := g.Claim(batch, lease)
		if err != nil {
			r.log.Error("relay: claiming inbound entries", "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		if len(items) == 0 {
			select {
			case <-ctx.Done():
			case <-notify:
			case <-time.After(time.Second): // expired leases come back without a notification
			}
			continue
		}
		acks, err := r.handle(ctx, items)
		if len(acks) > 0 {
			if aerr := g.Ack(acks...); aerr != nil {
				r.log.Error("relay: acknowledging inbound entries; they will be handled again", "err", aerr)
			}
		}
		if err != nil {
			// What was not acked comes back when its lease ends.
			r.log.Error("relay: handling inbound entries; will retry", "err", err, "unacked", len(items)-len(acks))
			sleep(ctx, backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
