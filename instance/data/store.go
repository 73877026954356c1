// Package data is the instance's data-access layer: plain Go types for the
// rows of migration 0004_instance (accounts, statuses, follows, …) and the
// operations the inbound consumer, the local side and the client API run on
// them, over one pgx pool.
//
// Contracts that hold for every method:
//   - Everything learnt from a peer is idempotent by its ActivityPub id
//     (uri): a second insert of the same uri changes nothing and reports
//     created == false with the stored row's id.
//   - Counters (followers_count, statuses_count, replies_count, …) move in
//     the same transaction as the rows they count, and only when a row is
//     really created or removed, so redelivery never skews them.
//   - Errors carry a Kind (NotFound, Conflict, Invalid, Forbidden) that
//     callers test with errors.Is(err, data.NotFound).
//   - Nullable id and text columns map to 0 and "" in Go; nullable times to
//     nil pointers.
//
// Store.Tx runs several operations in one transaction, which is how the
// inbound consumer batches thousands of rows per commit.
package data

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Store is the data layer over one pool (or, inside Tx, one transaction).
// It is safe for concurrent use, except a Store handed to a Tx callback,
// which belongs to that callback only and MUST NOT be used after it returns.
type Store struct {
	q    querier
	inTx bool
	// Now is the clock for created_at/updated_at values set by Go code;
	// tests may replace it. nil means time.Now.
	Now func() time.Time
}

// New returns a Store over pool (e.g. store/pg.DB.Pool()). The pool stays
// the caller's to close.
func New(pool *pgxpool.Pool) *Store { return &Store{q: pool} }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Tx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise (fn's error is returned). Inside a Tx, Tx makes a savepoint.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	return pgx.BeginFunc(ctx, s.q, func(tx pgx.Tx) error {
		return fn(&Store{q: tx, inTx: true, Now: s.Now})
	})
}

// tx runs fn in a transaction unless s already is one (then fn runs on s:
// the caller's transaction gives the atomicity).
func (s *Store) tx(ctx context.Context, fn func(tx *Store) error) error {
	if s.inTx {
		return fn(s)
	}
	return s.Tx(ctx, fn)
}

// Page selects a window of an id-ordered list as the Mastodon API's
// max_id, since_id and min_id do: rows with id < MaxID (when set) and id >
// max(SinceID, MinID) (when set). Without MinID the page is the newest
// Limit rows of that range; with MinID it is the oldest Limit rows just
// above MinID. Either way rows come newest first. Limit <= 0 means 20; it
// is capped at 200.
type Page struct {
	MaxID, SinceID, MinID int64
	Limit                 int
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 20
	case p.Limit > 200:
		return 200
	}
	return p.Limit
}

// where appends the page's bounds on column col to the argument list and
// returns the SQL condition (starting with " AND") and the ORDER BY/LIMIT
// tail. Results of a MinID page come oldest first from SQL and are
// reversed by the caller with reverseIfMin.
func (p Page) where(col string, args []any) (cond, tail string, _ []any) {
	if p.MaxID > 0 {
		args = append(args, p.MaxID)
		cond += fmt.Sprintf(" AND %s < $%d", col, len(args))
	}
	lower := p.SinceID
	if p.MinID > lower {
		lower = p.MinID
	}
	if lower > 0 {
		args = append(args, lower)
		cond += fmt.Sprintf(" AND %s > $%d", col, len(args))
	}
	dir := "DESC"
	if p.MinID > 0 {
		dir = "ASC"
	}
	args = append(args, p.limit())
	return cond, fmt.Sprintf(" ORDER BY %s %s LIMIT $%d", col, dir, len(args)), args
}

func reverseIfMin[T any](p Page, xs []T) []T {
	if p.MinID > 0 {
		for i, j := 0, len(xs)-1; i < j; i, j = i+1, j-1 {
			xs[i], xs[j] = xs[j], xs[i]
		}
	}
	return xs
}

// insertOnce inserts a row idempotently. ins runs the row's INSERT ... ON
// CONFLICT DO NOTHING with a fresh id from mk and reports whether a row
// went in; when none did, find looks the conflicting row up by its natural
// key (uri, or the pair it is unique on). Found: that row's id, created
// false. Not found: the conflict was on the id itself (ids for old times
// have random low bits, see instance/ids), so it tries again with a new
// id. DO NOTHING (rather than catching the unique violation) keeps the
// caller's transaction usable, which a batching consumer depends on.
func insertOnce(mk func() int64, ins func(id int64) (bool, error), find func() (int64, bool, error)) (id int64, created bool, err error) {
	for attempt := 0; attempt < 5; attempt++ {
		id = mk()
		ok, err := ins(id)
		if err != nil {
			return 0, false, err
		}
		if ok {
			return id, true, nil
		}
		existing, found, err := find()
		if err != nil || found {
			return existing, false, err
		}
	}
	return 0, false, errors.New("data: five fresh ids in a row collided with existing rows; the id generator is broken")
}

// newID makes ids for a row of time t. A time in the future (a peer's
// clock ahead, or a forged `published`) gets an id of now instead, as
// Mastodon does, so it cannot pin itself to the top of every timeline.
func newID(t time.Time) func() int64 {
	return func() int64 {
		if now := time.Now(); t.After(now) {
			return ids.New(now)
		}
		return ids.New(t)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
