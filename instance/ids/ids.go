// Package ids makes the instance's row ids: time-sortable 64-bit integers
// shaped like Mastodon's snowflakes, a 48-bit Unix millisecond timestamp
// shifted left 16 bits, or'd with 16 low bits that keep ids of the same
// millisecond apart.
//
// Timelines sort by id, so a status's id carries its publish time: a remote
// status gets the id of its `published` time (New(published)), and a post
// fetched late still sorts where it was written. APIs render ids as decimal
// strings (String, Parse): JavaScript clients lose precision above 2^53.
//
// Within one process, ids for the same or a later millisecond are strictly
// increasing and unique (a sequence; after 65,536 ids in one millisecond
// the millisecond is borrowed from the next one). Ids for a time more than
// Lag behind the newest one issued (old posts being backfilled), or more
// than Lag ahead of the clock, take 16 random low bits instead: unique with high probability, never guaranteed,
// so writers insert them with a retry on a primary-key collision (as
// instance/data does). Several nodes sharing one database are in that case
// too: each node's ids are unique only among its own.
package ids

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Lag is how far behind the newest issued millisecond a requested time may
// be and still be served from the sequence (moved up to that millisecond):
// goroutines that read the clock and then wait for the lock arrive slightly
// out of order, and must not fall back to random bits.
const Lag = time.Second

const seqBits = 16

// maxMillis is the largest timestamp 48 bits hold (year 10889).
const maxMillis = 1<<48 - 1

// Generator issues ids. The zero value is ready to use and safe for
// concurrent use.
type Generator struct {
	mu     sync.Mutex
	lastMs int64  // newest millisecond issued from the sequence
	seq    uint32 // last sequence value used in lastMs
}

// New returns an id for time t (see the package comment for uniqueness).
// Times before the Unix epoch are clamped to it.
func (g *Generator) New(t time.Time) int64 {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	if ms > maxMillis {
		ms = maxMillis
	}
	// A time ahead of the clock (a peer's skewed or forged `published`)
	// must not drag the sequence into the future: every id after it
	// would lose its ordering guarantee until the clock caught up.
	if ms > time.Now().Add(Lag).UnixMilli() {
		return ms<<seqBits | int64(rand.Uint32N(1<<seqBits))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case ms > g.lastMs:
		g.lastMs = ms
		// Start low in the range, at a random point, so ids of one
		// millisecond are not guessable from each other and a second
		// node rarely starts where this one did.
		g.seq = rand.Uint32N(1 << (seqBits - 1))
	case g.lastMs-ms <= Lag.Milliseconds():
		g.seq++
		if g.seq == 1<<seqBits {
			g.lastMs++
			g.seq = 0
		}
	default:
		return ms<<seqBits | int64(rand.Uint32N(1<<seqBits))
	}
	return g.lastMs<<seqBits | int64(g.seq)
}

var std Generator

// New returns an id for time t from the process's generator.
func New(t time.Time) int64 { return std.New(t) }

// Now is New(time.Now()).
func Now() int64 { return std.New(time.Now()) }

// Time returns the millisecond an id was made for.
func Time(id int64) time.Time { return time.UnixMilli(id >> seqBits).UTC() }

// MinForTime is the smallest id of time t's millisecond: with MaxForTime,
// the bounds of "statuses published between" queries on id.
func MinForTime(t time.Time) int64 { return t.UnixMilli() << seqBits }

// MaxForTime is the largest id of time t's millisecond.
func MaxForTime(t time.Time) int64 { return t.UnixMilli()<<seqBits | (1<<seqBits - 1) }

// String renders id as the decimal string APIs send.
func String(id int64) string { return strconv.FormatInt(id, 10) }

// ErrSyntax is returned by Parse for anything but a positive decimal id.
var ErrSyntax = errors.New("ids: not an id")

// Parse reads an id as APIs receive it: a positive decimal integer. Errors
// wrap ErrSyntax and quote the input (truncated), so a handler can show it.
func Parse(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] == '+' {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return 0, fmt.Errorf("%w: %q (want a positive decimal number)", ErrSyntax, s)
	}
	return id, nil
}
