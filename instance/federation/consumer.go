// Package federation is the instance core's inbound side: the Consumer
// drains the gateway's durable inbound queue (consumer group "instance")
// in batches into Postgres, turning each verified ActivityPub activity
// into rows of instance/data and applying the policy decision the ingress
// recorded with it (DESIGN.md, "Policy actions and what the instance does
// with them").
//
// Delivery from the queue is at-least-once, so everything here is
// idempotent by the activity's or object's URI: a batch is claimed,
// processed in one Postgres transaction, committed, and only then acked.
// A crash anywhere before the ack makes the queue hand the batch out again
// and the replay changes nothing that was committed. Within a batch every
// activity other than a Create runs under its own savepoint, so a refused
// or failing one is never stored half-way and does not take the others
// with it; runs of consecutive Creates are inserted together
// (data.Store.InsertRemoteStatuses: one multi-row INSERT), which is where
// the throughput comes from.
//
// Remote documents (unknown or stale actors, boosted posts, reply parents,
// Move targets) are fetched before the transaction opens, through
// relay/fetch, a bounded number per batch.
package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/store/local"
)

// GroupName is the consumer group of the inbound queue this package reads.
// The relay fan-out reads the same queue as group "relay".
const GroupName = "instance"

// Enqueuer queues an outgoing activity for delivery, signed as actor (a
// local account's actor id). relay/delivery.Engine implements it.
type Enqueuer interface {
	Enqueue(activity []byte, actor string, inboxes []string) error
}

// Fetcher fetches remote documents; relay/fetch.Fetcher implements it.
type Fetcher interface {
	Actor(ctx context.Context, id string) (*activity.Actor, error)
	Object(ctx context.Context, id string) (*activity.Object, error)
}

// Options configure a Consumer. Store, Queue and BaseURL are required.
type Options struct {
	Store *data.Store
	// Queue is the gateway's inbound queue (store/local DB.Queue("inbound")).
	Queue *local.Queue
	// BaseURL is this instance's origin, "https://HOST": local actors are
	// BaseURL/users/NAME (instance/accounts.URLsFor).
	BaseURL string
	// InstanceActor is the node's own actor, whose Follows belong to the
	// relay (default BaseURL + "/actor").
	InstanceActor string
	// Fetch fetches unknown actors and objects; nil never fetches (an
	// activity from an unknown actor is then refused).
	Fetch Fetcher
	// Screen runs the policy (domain table and content rules, no rate
	// tokens, no decision log) over an object fetched for an activity — a
	// boosted post, a reply's parent — as if its author had sent it in a
	// Create: refused or held ones are not stored (the boost is dropped),
	// other actions apply as to any post. nil stores them as their author's
	// standing allows.
	Screen func(in *policy.Input) policy.Record
	// Deliver sends the Accepts and Rejects of Follows; nil sends nothing
	// (logged once per Follow).
	Deliver Enqueuer
	// BatchSize is how many queue entries one transaction takes (default 500).
	BatchSize int
	// Lease is how long a claimed batch is ours before the queue hands it
	// out again (default 2m). It must exceed the time a batch takes.
	Lease time.Duration
	// MaxFetchesPerBatch bounds remote fetches per batch (default 32);
	// activities needing more are refused with reason fetch_budget and
	// counted.
	MaxFetchesPerBatch int
	// ActorTTL is how long a stored remote actor is trusted before it is
	// fetched again when it next sends something (default 24h).
	ActorTTL time.Duration
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Logger gets one line per refused activity and per failed batch
	// (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Consumer drains the inbound queue into Postgres. Create it with New,
// run it with Run, stop it by cancelling Run's context or with Close.
type Consumer struct {
	o     Options
	group *local.Group
	m     *metrics
	log   *slog.Logger

	cacheMu sync.Mutex
	cache   map[string]cacheEntry // actor uri → account (remote and local)

	closeOnce sync.Once
	closed    chan struct{}
	running   sync.WaitGroup

	// afterCommit, if set (tests), runs after a batch's commit and before
	// its deliveries and ack; an error abandons the batch there.
	afterCommit func() error
}

// cacheMax bounds the actor cache; past it the cache is simply cleared
// (actors are cheap to reload, one query per batch).
const cacheMax = 50_000

// cacheTTL is how long a cached account is used before it is read again:
// moderators suspend, silence and users lock accounts through the API,
// and the consumer must see that within seconds, not at its next restart.
const cacheTTL = 30 * time.Second

type cacheEntry struct {
	a  *data.Account
	at time.Time
}

// New returns a Consumer reading group GroupName of o.Queue. It registers
// the group (persistently) and the metrics.
func New(o Options) (*Consumer, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("federation: Options.Store is required")
	case o.Queue == nil:
		return nil, errors.New("federation: Options.Queue is required (the inbound queue)")
	case o.BaseURL == "":
		return nil, errors.New("federation: Options.BaseURL is required (https://HOST of this instance)")
	}
	if o.InstanceActor == "" {
		o.InstanceActor = o.BaseURL + "/actor"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.MaxFetchesPerBatch <= 0 {
		o.MaxFetchesPerBatch = 32
	}
	if o.ActorTTL <= 0 {
		o.ActorTTL = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	g, err := o.Queue.Group(GroupName)
	if err != nil {
		return nil, fmt.Errorf("federation: consumer group: %w", err)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Consumer{o: o, group: g, m: m, log: o.Logger.With("component", "federation"),
		cache: map[string]cacheEntry{}, closed: make(chan struct{})}, nil
}

// Run consumes until ctx is cancelled or Close is called, then returns nil.
// A batch that fails (Postgres unreachable) is left unacked and retried
// after its lease; Run keeps going, logging each failure, with a pause.
// Run may be called once at a time.
func (c *Consumer) Run(ctx context.Context) error {
	c.running.Add(1)
	defer c.running.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	// Two stages overlap: while one batch's transaction runs in Postgres,
	// the next is claimed, decoded and prepared (CPU here). Claiming ahead
	// is safe: the next batch's rows go in only after this one commits, and
	// everything is idempotent anyway.
	prepared := make(chan *batch, 1)
	go func() {
		defer close(prepared)
		for ctx.Err() == nil {
			notify := c.o.Queue.Notify() // before Claim: an append in between still wakes us
			b, err := c.claim(ctx)
			if err != nil {
				c.log.Error("claiming from the inbound queue failed", "err", err)
				sleep(ctx, time.Second)
				continue
			}
			if b != nil {
				select {
				case prepared <- b:
				case <-ctx.Done():
				}
				continue
			}
			select {
			case <-notify:
			case <-ctx.Done():
			case <-time.After(time.Second): // expired leases hand entries out again without a notify
			}
		}
	}()
	for b := range prepared {
		if err := c.commit(ctx, b); err != nil {
			if ctx.Err() != nil {
				break
			}
			c.log.Error("inbound batch failed; it will be retried after its lease", "err", err, "entries", len(b.items))
			sleep(ctx, time.Second)
		}
	}
	cancel()
	for range prepared { // let the claimer finish; its batch stays unacked
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Close stops Run and waits for it to return (the batch in hand is
// abandoned unacked, to be redone). Safe to call more than once.
func (c *Consumer) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	c.running.Wait()
	return nil
}

// Step claims one batch, processes it and acks it, and returns how many
// entries it took (0: the queue had nothing for us). Tests call it
// directly; Run pipelines the same two stages.
func (c *Consumer) Step(ctx context.Context) (int, error) {
	b, err := c.claim(ctx)
	if err != nil || b == nil {
		return 0, err
	}
	if err := c.commit(ctx, b); err != nil {
		return 0, err
	}
	return len(b.items), nil
}

// batch is a claimed and prepared batch waiting for its transaction.
type batch struct {
	items []*item
	seqs  []uint64
	start time.Time
}

// claim is the first stage: claim, decode and prepare (everything that
// needs no transaction, fetches included). nil: nothing to claim.
func (c *Consumer) claim(ctx context.Context) (*batch, error) {
	claimed, err := c.group.Claim(c.o.BatchSize, c.o.Lease)
	if err != nil {
		return nil, fmt.Errorf("federation: claim: %w", err)
	}
	if len(claimed) == 0 {
		return nil, nil
	}
	b := &batch{items: make([]*item, len(claimed)), seqs: make([]uint64, len(claimed)), start: c.o.Now()}
	parallel(len(claimed), func(i int) { b.items[i] = c.decode(claimed[i].Seq, claimed[i].Value) })
	for i, cl := range claimed {
		b.seqs[i] = cl.Seq
	}
	if err := c.prepare(ctx, b.items); err != nil {
		return nil, err // unacked: handed out again after the lease
	}
	return b, nil
}

// commit is the second stage: the transaction, then deliveries, then the
// ack. An error leaves the batch unacked, to be handed out again after its
// lease (and redone idempotently).
func (c *Consumer) commit(ctx context.Context, b *batch) error {
	if err := c.applyTx(ctx, b.items, nil); err != nil {
		return err
	}
	if c.afterCommit != nil {
		if err := c.afterCommit(); err != nil {
			return err
		}
	}
	c.deliver(b.items)
	if err := c.group.Ack(b.seqs...); err != nil {
		return fmt.Errorf("federation: ack after commit (the batch will be redone, idempotently): %w", err)
	}
	c.m.batch.Observe(c.o.Now().Sub(b.start).Seconds())
	c.report(b.items)
	return nil
}

// process prepares items and applies them in one transaction; inTx, if
// set, runs first inside it (ReleaseQuarantined records the release there).
func (c *Consumer) process(ctx context.Context, items []*item, inTx func(tx *data.Store) error) error {
	if err := c.prepare(ctx, items); err != nil {
		return err
	}
	return c.applyTx(ctx, items, inTx)
}

// applyTx applies prepared items in one transaction and, once it has
// committed, runs the cache updates the handlers registered.
func (c *Consumer) applyTx(ctx context.Context, items []*item, inTx func(tx *data.Store) error) error {
	var effects []func()
	err := c.o.Store.Tx(ctx, func(tx *data.Store) error {
		effects = effects[:0]
		if inTx != nil {
			if err := inTx(tx); err != nil {
				return err
			}
		}
		return c.apply(ctx, tx, items, &effects)
	})
	if err != nil {
		c.clearCache()
		for _, it := range items {
			it.out = nil
		}
		return fmt.Errorf("federation: batch transaction: %w", err)
	}
	for _, f := range effects {
		f()
	}
	return nil
}

// deliver queues the Accepts and Rejects the batch produced. It runs after
// the commit: a crash before it makes the queue redeliver the Follow, whose
// replay sends them again (peers take a repeated Accept as a no-op).
func (c *Consumer) deliver(items []*item) {
	for _, it := range items {
		for _, o := range it.out {
			if c.o.Deliver == nil {
				c.log.Warn("no delivery engine configured; not sending", "type", o.typ, "actor", o.actor)
				continue
			}
			if err := c.o.Deliver.Enqueue(o.body, o.actor, o.inboxes); err != nil {
				c.log.Error("queueing a delivery failed", "type", o.typ, "actor", o.actor, "err", err)
			}
		}
	}
}

// report counts and logs each item's outcome.
func (c *Consumer) report(items []*item) {
	for _, it := range items {
		c.m.count(it.e.Type, it.result, it.reason)
		switch it.result {
		case resultRefused, resultFailed:
			c.log.Warn("inbound activity refused", "activity", it.e.ActivityID, "type", it.e.Type, "actor", it.e.Actor,
				"result", it.result, "reason", it.reason, "detail", it.detail)
		case resultDropped:
			if it.reason == reasonVoteRefused {
				continue // a vote the poll does not take: logged at debug by applyVote
			}
			c.log.Info("inbound activity dropped by policy", "activity", it.e.ActivityID, "actor", it.e.Actor, "rules", it.rec.Fired)
		}
	}
}

func (c *Consumer) cached(uri string) *data.Account {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	e, ok := c.cache[uri]
	if !ok {
		return nil
	}
	if c.o.Now().Sub(e.at) > cacheTTL {
		delete(c.cache, uri)
		return nil
	}
	return e.a
}

func (c *Consumer) remember(a *data.Account) {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if len(c.cache) >= cacheMax {
		clear(c.cache)
	}
	c.cache[a.URI] = cacheEntry{a: a, at: c.o.Now()}
}

func (c *Consumer) forget(uri string) {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	delete(c.cache, uri)
}

func (c *Consumer) clearCache() {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	clear(c.cache)
}
