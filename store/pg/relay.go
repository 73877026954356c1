package pg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Relay subscriber states (relay_subscribers.state).
const (
	RelayPending = "pending" // asked to subscribe; the relay requires approval
	RelayActive  = "active"  // subscribed
	RelayAllowed = "allowed" // pre-approved by an admin, not subscribed
	RelayBlocked = "blocked" // refused by an admin
)

// RelaySubscriber is one row of relay_subscribers: an instance subscribed
// to (or known by) the relay. Zero times are NULL in the table.
type RelaySubscriber struct {
	// Domain is the key: the authority of the subscriber's actor id,
	// lowercased (host, or host:port when a port is given).
	Domain string
	State  string // RelayPending, RelayActive, RelayAllowed, RelayBlocked
	// Style is "mastodon" or "litepub"; "" for rows an admin made.
	Style string
	// Direction is "both", "receive_only" or "push_only".
	Direction string
	Actor     string // the actor that followed the relay
	// ActorInbox is the follower actor's own inbox, where Accept and
	// Reject go (Mastodon expects them there).
	ActorInbox string
	Inbox      string // where fan-out goes (its shared inbox when it has one)
	// FollowID is the id of the subscriber's Follow: Accept and Reject
	// carry it (Mastodon matches only on it) and Undo names it.
	FollowID string
	// FollowBackID is the id of the relay's own Follow of a LitePub
	// subscriber; FollowBackAccepted is set when its Accept arrived.
	FollowBackID       string
	FollowBackAccepted bool
	Software           string // NodeInfo software.name, "" until fetched
	SoftwareVersion    string // NodeInfo software.version
	SubscribedAt       time.Time
	LastSuccess        time.Time // last 2xx delivery
	LastFailure        time.Time // last failed delivery attempt
	// FailingSince is the first failure after the last success; zero
	// while the last attempt succeeded. Dead-subscriber removal reads it.
	FailingSince        time.Time
	ConsecutiveFailures int
	DeliveriesSent      int64
	Note                string // an admin's note (the reason of a block)
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

const relayColumns = `domain, state, style, direction, actor, actor_inbox, inbox, follow_id, follow_back_id,
	follow_back_accepted, software, software_version, subscribed_at, last_success, last_failure,
	failing_since, consecutive_failures, deliveries_sent, note, created_at, updated_at`

func scanRelaySubscriber(row pgx.Row) (RelaySubscriber, error) {
	var s RelaySubscriber
	var sub, ls, lf, fs *time.Time
	err := row.Scan(&s.Domain, &s.State, &s.Style, &s.Direction, &s.Actor, &s.ActorInbox, &s.Inbox, &s.FollowID, &s.FollowBackID,
		&s.FollowBackAccepted, &s.Software, &s.SoftwareVersion, &sub, &ls, &lf,
		&fs, &s.ConsecutiveFailures, &s.DeliveriesSent, &s.Note, &s.CreatedAt, &s.UpdatedAt)
	for _, p := range []struct {
		src *time.Time
		dst *time.Time
	}{{sub, &s.SubscribedAt}, {ls, &s.LastSuccess}, {lf, &s.LastFailure}, {fs, &s.FailingSince}} {
		if p.src != nil {
			*p.dst = p.src.UTC()
		}
	}
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// RelaySubscribers returns every row, sorted by domain.
func (db *DB) RelaySubscribers(ctx context.Context) ([]RelaySubscriber, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+relayColumns+` FROM relay_subscribers ORDER BY domain`)
	if err != nil {
		return nil, fmt.Errorf("pg: listing relay subscribers: %w", err)
	}
	defer rows.Close()
	var out []RelaySubscriber
	for rows.Next() {
		s, err := scanRelaySubscriber(rows)
		if err != nil {
			return nil, fmt.Errorf("pg: reading relay subscribers: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pg: listing relay subscribers: %w", err)
	}
	return out, nil
}

// RelaySubscriber returns the row of domain, or an error wrapping
// ErrNotFound.
func (db *DB) RelaySubscriber(ctx context.Context, domain string) (RelaySubscriber, error) {
	s, err := scanRelaySubscriber(db.pool.QueryRow(ctx, `SELECT `+relayColumns+` FROM relay_subscribers WHERE domain = $1`, domain))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("pg: %s is not known to the relay: %w", domain, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("pg: reading relay subscriber %s: %w", domain, err)
	}
	return s, nil
}

// PutRelaySubscription records a subscription request: the row of
// s.Domain is created or its state, style, actor, inbox, follow and
// subscription time replaced by s's. The delivery statistics, software,
// direction and note of an existing row are kept, so a subscriber that
// re-follows keeps its history.
func (db *DB) PutRelaySubscription(ctx context.Context, s RelaySubscriber) error {
	if s.Direction == "" {
		s.Direction = "both"
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO relay_subscribers
		(domain, state, style, direction, actor, inbox, follow_id, follow_back_id, follow_back_accepted, subscribed_at, actor_inbox)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (domain) DO UPDATE SET state = EXCLUDED.state, style = EXCLUDED.style,
			actor = EXCLUDED.actor, actor_inbox = EXCLUDED.actor_inbox, inbox = EXCLUDED.inbox, follow_id = EXCLUDED.follow_id,
			follow_back_id = EXCLUDED.follow_back_id, follow_back_accepted = EXCLUDED.follow_back_accepted,
			subscribed_at = EXCLUDED.subscribed_at, updated_at = now()`,
		s.Domain, s.State, s.Style, s.Direction, s.Actor, s.Inbox, s.FollowID, s.FollowBackID, s.FollowBackAccepted,
		nullTime(s.SubscribedAt), s.ActorInbox)
	if err != nil {
		return fmt.Errorf("pg: storing relay subscription of %s: %w", s.Domain, err)
	}
	return nil
}

// SetRelaySubscriberState sets the state of domain's row, creating the row
// when create is true (an admin allowing or blocking a domain that has not
// asked yet). subscribedAt, when not zero, replaces the subscription time.
// note, when not empty, replaces the note. Without create, an absent row is
// an error wrapping ErrNotFound.
func (db *DB) SetRelaySubscriberState(ctx context.Context, domain, state string, subscribedAt time.Time, note string, create bool) error {
	if create {
		_, err := db.pool.Exec(ctx, `INSERT INTO relay_subscribers (domain, state, subscribed_at, note)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (domain) DO UPDATE SET state = EXCLUDED.state,
				subscribed_at = coalesce(EXCLUDED.subscribed_at, relay_subscribers.subscribed_at),
				note = CASE WHEN EXCLUDED.note = '' THEN relay_subscribers.note ELSE EXCLUDED.note END,
				updated_at = now()`, domain, state, nullTime(subscribedAt), note)
		if err != nil {
			return fmt.Errorf("pg: setting relay subscriber %s to %s: %w", domain, state, err)
		}
		return nil
	}
	tag, err := db.pool.Exec(ctx, `UPDATE relay_subscribers SET state = $2,
		subscribed_at = coalesce($3, subscribed_at),
		note = CASE WHEN $4 = '' THEN note ELSE $4 END, updated_at = now() WHERE domain = $1`,
		domain, state, nullTime(subscribedAt), note)
	if err != nil {
		return fmt.Errorf("pg: setting relay subscriber %s to %s: %w", domain, state, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pg: %s is not known to the relay: %w", domain, ErrNotFound)
	}
	return nil
}

// SetRelayFollowBack records the relay's follow-back of a LitePub
// subscriber: its Follow id, and whether the subscriber accepted it.
func (db *DB) SetRelayFollowBack(ctx context.Context, domain, followBackID string, accepted bool) error {
	return db.updateRelay(ctx, domain, `follow_back_id = $2, follow_back_accepted = $3`, followBackID, accepted)
}

// SetRelaySoftware records what the subscriber's NodeInfo says it runs.
func (db *DB) SetRelaySoftware(ctx context.Context, domain, name, version string) error {
	return db.updateRelay(ctx, domain, `software = $2, software_version = $3`, name, version)
}

// SetRelayDirection sets "both", "receive_only" or "push_only".
func (db *DB) SetRelayDirection(ctx context.Context, domain, direction string) error {
	return db.updateRelay(ctx, domain, `direction = $2`, direction)
}

func (db *DB) updateRelay(ctx context.Context, domain, set string, args ...any) error {
	tag, err := db.pool.Exec(ctx, `UPDATE relay_subscribers SET `+set+`, updated_at = now() WHERE domain = $1`,
		append([]any{domain}, args...)...)
	if err != nil {
		return fmt.Errorf("pg: updating relay subscriber %s: %w", domain, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pg: %s is not known to the relay: %w", domain, ErrNotFound)
	}
	return nil
}

// DeleteRelaySubscriber removes domain's row; ErrNotFound when absent.
func (db *DB) DeleteRelaySubscriber(ctx context.Context, domain string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM relay_subscribers WHERE domain = $1`, domain)
	if err != nil {
		return fmt.Errorf("pg: removing relay subscriber %s: %w", domain, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pg: %s is not known to the relay: %w", domain, ErrNotFound)
	}
	return nil
}

// RelayDeliveries is what one node saw of its deliveries to one subscriber
// since it last reported, in order: Sent successes; Failures failed
// attempts after the last success of the window (all of them when there
// was none); the first of those failures; the times of the last success
// and failure (zero: none).
type RelayDeliveries struct {
	Domain       string
	Sent         int64
	Succeeded    bool // a success happened in the window
	Failures     int
	FirstFailure time.Time
	LastSuccess  time.Time
	LastFailure  time.Time
}

// RecordRelayDeliveries adds the windows to the rows' statistics: a
// success in the window resets the consecutive failures to those after
// it; failing_since is the first failure since the last success. Domains
// without a row are ignored.
func (db *DB) RecordRelayDeliveries(ctx context.Context, ds []RelayDeliveries) error {
	b := &pgx.Batch{}
	for _, d := range ds {
		b.Queue(`UPDATE relay_subscribers SET
			deliveries_sent = deliveries_sent + $2,
			consecutive_failures = CASE WHEN $3 THEN $4 ELSE consecutive_failures + $4 END,
			failing_since = CASE WHEN $4 = 0 AND $3 THEN NULL
				WHEN $4 = 0 THEN failing_since
				WHEN $3 THEN $5
				ELSE coalesce(failing_since, $5) END,
			last_success = greatest(last_success, $6),
			last_failure = greatest(last_failure, $7),
			updated_at = now()
			WHERE domain = $1`,
			d.Domain, d.Sent, d.Succeeded, d.Failures, nullTime(d.FirstFailure), nullTime(d.LastSuccess), nullTime(d.LastFailure))
	}
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pg: recording relay deliveries: %w", err)
	}
	return nil
}

// RelayOnce makes relaying idempotent across restarts and nodes. In one
// transaction it records keys not recorded before, calls send with those
// (in the order given, possibly none), and commits only if send returned
// nil; otherwise nothing is recorded and send's error is returned. A
// concurrent caller recording the same key waits for this transaction, so
// one key is sent by one caller. A crash after send and before the commit
// lets the key be sent again: at least once, never lost.
func (db *DB) RelayOnce(ctx context.Context, keys []string, send func(fresh []string) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pg: relay dedup: %w", err)
	}
	defer tx.Rollback(context.Background())
	rows, err := tx.Query(ctx, `INSERT INTO relay_relayed (key) SELECT unnest($1::text[])
		ON CONFLICT (key) DO NOTHING RETURNING key`, keys)
	if err != nil {
		return fmt.Errorf("pg: relay dedup: %w", err)
	}
	fresh := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fmt.Errorf("pg: relay dedup: %w", err)
		}
		fresh[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pg: relay dedup: %w", err)
	}
	var list []string
	for _, k := range keys {
		if fresh[k] {
			list = append(list, k)
			delete(fresh, k) // a key given twice is sent once
		}
	}
	if err := send(list); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pg: relay dedup commit: %w", err)
	}
	return nil
}

// PruneRelayed forgets relayed keys recorded before before, so the table
// stays bounded; a post pushed again after that is relayed again.
func (db *DB) PruneRelayed(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM relay_relayed WHERE relayed_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("pg: pruning relayed keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
