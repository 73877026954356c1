// Package social is the instance's local side as a service layer: what a
// local account does (post, edit, delete, follow, favourite, boost, vote,
// block, report, approve followers, edit its profile) turned into rows
// through instance/data and into ActivityPub activities delivered to the
// peers that must see them, and the node's own jobs on them (RunRedeliver,
// RunPolls). The Mastodon client API and the web console are thin
// layers over Service; so are the ActivityStreams documents of
// instance/web, which use the conversions of convert.go.
//
// # Durability of the intent
//
// Every method writes its rows and, in the same Postgres transaction, one
// federation_outbox row per activity to send (migration 0006). After the
// commit it hands each activity to the delivery engine (Deliverer.Enqueue,
// durable when it returns) and deletes the outbox row. A crash after the
// commit and before the hand-off leaves the outbox row behind; Redeliver,
// which the node runs at start-up and then every minute, enqueues whatever
// is older than RedeliverAfter. So once a method has returned (indeed once
// its transaction has committed) the activity will be delivered at least
// once; a crash in the narrow window after Enqueue and before the outbox
// row's deletion sends it twice, which peers absorb by deduplicating
// activity ids. Nothing is ever delivered for rows that did not commit.
//
// # Addressing
//
// Deliveries go to shared inboxes where peers have them (one per shared
// inbox, not one per follower), to a personal inbox otherwise. Local
// recipients get nothing over HTTP: the rows are already here.
package social

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/delivery"
)

// Deliverer queues an activity for signed delivery as a local actor to
// some inboxes; relay/delivery.Engine implements it. Enqueue must be
// durable when it returns nil.
type Deliverer interface {
	Enqueue(activity []byte, actor string, inboxes []string) error
}

// Options configure New.
type Options struct {
	// Store is the data layer. Required.
	Store *data.Store
	// BaseURL is the instance's origin, "https://HOST" (or "http://HOST"
	// on test networks): config's BaseURL(). Required.
	BaseURL string
	// Delivery sends what the methods produce. Required.
	Delivery Deliverer
	// InstanceActor is the node's instance (and relay) actor, BASE/actor
	// by default: reports are sent as it, as Mastodon sends Flags, so the
	// reporter stays anonymous to the reported server.
	InstanceActor string
	// RedeliverAfter is how old an outbox entry must be before Redeliver
	// takes it over from the request that wrote it (default 1 minute).
	RedeliverAfter time.Duration
	// Logger gets one line per failed hand-off (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MinPollExpiry lowers the shortest poll members may create (default
	// and floor in production: MinPollExpiry, Mastodon's 5 minutes). Only
	// tests that must see a poll end set it.
	MinPollExpiry time.Duration
}

// Service is the local side. It is safe for concurrent use.
type Service struct {
	store   *data.Store
	base    string
	host    string // BaseURL's host[:port]
	deliver Deliverer
	iactor  string
	after   time.Duration
	log     *slog.Logger
	now     func() time.Time
	// minPoll is the shortest poll accepted (Options.MinPollExpiry).
	minPoll time.Duration
	// pollsChanged wakes RunPolls when a poll may need handling sooner
	// than it planned (a new local poll, a vote).
	pollsChanged chan struct{}
}

// New returns the service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Delivery == nil {
		return nil, errors.New("social: Options.Store and Options.Delivery are required")
	}
	base := strings.TrimRight(o.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" {
		return nil, fmt.Errorf("social: BaseURL %q is not an origin like https://social.example", o.BaseURL)
	}
	s := &Service{store: o.Store, base: base, host: u.Host, deliver: o.Delivery, iactor: o.InstanceActor,
		after: o.RedeliverAfter, log: o.Logger, now: o.Now, minPoll: o.MinPollExpiry, pollsChanged: make(chan struct{}, 1)}
	if s.minPoll <= 0 || s.minPoll > MinPollExpiry {
		s.minPoll = MinPollExpiry
	}
	if s.iactor == "" {
		s.iactor = base + "/actor"
	}
	if s.after <= 0 {
		s.after = time.Minute
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// BaseURL is the instance's origin, without a trailing slash.
func (s *Service) BaseURL() string { return s.base }

// Host is the instance's host (with a port when the base URL has one).
func (s *Service) Host() string { return s.host }

// InstanceActor is the id of the node's instance actor.
func (s *Service) InstanceActor() string { return s.iactor }

// Store is the data layer the service writes to.
func (s *Service) Store() *data.Store { return s.store }

// outgoing is one activity a method will deliver after its commit.
type outgoing struct {
	actor   string
	doc     []byte
	inboxes []string
	entry   data.OutboxEntry
}

// write runs fn in one transaction; fn returns the activities to deliver,
// which are recorded in the outbox inside that transaction and handed to
// the delivery engine after the commit (see the package comment).
func (s *Service) write(ctx context.Context, fn func(tx *data.Store) ([]outgoing, error)) error {
	var outs []outgoing
	err := s.store.Tx(ctx, func(tx *data.Store) error {
		var err error
		outs, err = fn(tx)
		if err != nil {
			return err
		}
		for i := range outs {
			o := &outs[i]
			if len(o.inboxes) == 0 {
				continue
			}
			o.entry = data.OutboxEntry{Actor: o.actor, Activity: o.doc, Inboxes: o.inboxes}
			if err := tx.InsertOutbox(ctx, &o.entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range outs {
		if len(o.inboxes) == 0 {
			continue
		}
		if err := enqueueErr(s.deliver.Enqueue(o.doc, o.actor, o.inboxes)); err != nil {
			// The outbox row stays; Redeliver retries it.
			s.log.Warn("social: handing an activity to delivery failed; Redeliver will retry",
				"actor", o.actor, "outbox_id", o.entry.ID, "err", err)
			continue
		}
		if err := s.store.DeleteOutbox(context.WithoutCancel(ctx), o.entry.ID); err != nil {
			s.log.Warn("social: removing a delivered outbox entry failed; it may be delivered twice",
				"outbox_id", o.entry.ID, "err", err)
		}
	}
	return nil
}

// Redeliver hands to the delivery engine every outbox entry older than
// RedeliverAfter (left behind by a crash or a failed Enqueue) and returns
// how many it handed over. The node calls it at start-up and then
// periodically; several nodes may run it at once (each entry is claimed by
// one).
func (s *Service) Redeliver(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.ClaimOutbox(ctx, s.now().Add(-s.after), 100, func(e data.OutboxEntry) error {
			return enqueueErr(s.deliver.Enqueue(e.Activity, e.Actor, e.Inboxes))
		})
		total += n
		if err != nil || n < 100 {
			return total, err
		}
	}
}

// enqueueErr drops delivery.ErrInvalidInbox: Enqueue queued the valid
// inboxes and retrying cannot make the others valid.
func enqueueErr(err error) error {
	if errors.Is(err, delivery.ErrInvalidInbox) {
		return nil
	}
	return err
}

// RunRedeliver calls Redeliver now and then every interval until ctx ends.
func (s *Service) RunRedeliver(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Redeliver(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("social: redelivering outbox entries failed", "handed_over", n, "err", err)
		} else if n > 0 {
			s.log.Info("social: redelivered outbox entries left by an earlier run", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SigningKey is a delivery.KeySource for local accounts: the keyId and
// private key of the local actor with id actor. The instance actor's key
// lives elsewhere (store/pg instance_keys): the node's KeySource asks it
// first and falls back to this.
func (s *Service) SigningKey(actor string) (string, crypto.PrivateKey, error) {
	a, err := s.store.GetAccountByURI(context.Background(), actor)
	if err != nil {
		return "", nil, err
	}
	if !a.Local() || a.PrivateKeyPEM == "" {
		return "", nil, fmt.Errorf("social: %s is not a local actor with a key", actor)
	}
	blk, _ := pem.Decode([]byte(a.PrivateKeyPEM))
	if blk == nil {
		return "", nil, fmt.Errorf("social: the private key of %s is not PEM", actor)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return "", nil, fmt.Errorf("social: the private key of %s: %w", actor, err)
	}
	keyID := a.KeyID
	if keyID == "" {
		keyID = a.URI + "#main-key"
	}
	return keyID, k, nil
}

// URLs returns the addresses of local account username.
func (s *Service) URLs(username string) accounts.URLs { return accounts.URLsFor(s.base, username) }

// inboxOf is where to deliver to a remote account: its shared inbox when
// it has one, else its own. "" for local accounts.
func inboxOf(a *data.Account) string {
	if a == nil || a.Local() || a.SuspendedAt != nil {
		return ""
	}
	if a.SharedInboxURL != "" {
		return a.SharedInboxURL
	}
	return a.InboxURL
}

// personalInbox is a remote account's own inbox (Follow, Accept, Block and
// their Undo go there, as Mastodon sends them). "" for local accounts.
func personalInbox(a *data.Account) string {
	if a == nil || a.Local() || a.SuspendedAt != nil {
		return ""
	}
	if a.InboxURL != "" {
		return a.InboxURL
	}
	return a.SharedInboxURL
}

// inboxSet collects distinct non-empty inboxes, sorted.
func inboxSet(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, x := range l {
			if x != "" && !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	sort.Strings(out)
	return out
}

// mustLocal loads accountID and checks it is a local account in good
// standing (the actor of every method).
func mustLocal(ctx context.Context, st *data.Store, op string, accountID int64) (*data.Account, error) {
	a, err := st.GetAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if !a.Local() {
		return nil, &data.Error{Op: op, Kind: data.Forbidden, Msg: "account " + a.Acct() + " is not local"}
	}
	if a.SuspendedAt != nil {
		return nil, &data.Error{Op: op, Kind: data.Forbidden, Msg: "account " + a.Acct() + " is suspended"}
	}
	return a, nil
}

func encode(a *activity.Activity) ([]byte, error) { return activity.EncodeActivity(a) }
