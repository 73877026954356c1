package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// bucketOf returns the dedup bucket number of t.
func (db *DB) bucketOf(t time.Time) uint64 {
	return unixNanos(t.UnixNano()) / uint64(db.bucket)
}

// bucketStart is what keys hold for bucket number b: its start time in unix
// nanoseconds, not the number, so that records stay correctly placed in time
// (and expire on time) if DedupBucket changes between runs.
func (db *DB) bucketStart(b uint64) uint64 { return b * uint64(db.bucket) }

// Seen reports whether id was recorded in namespace ns (by Accept or
// MarkSeen) within the retention. It is the ingress's cheap pre-check before
// any crypto; it takes only a short shard lock and allocates nothing itself (Pebble
// allocates 16 bytes when the record is read from an sstable). A false
// answer is advisory: only Accept decides atomically. A caller that will
// Accept a new id should use Probe and AcceptProbed instead.
func (db *DB) Seen(ns, id string) (bool, error) {
	if err := checkDedupArgs(ns, id); err != nil {
		return false, err
	}
	if err := db.enter(); err != nil {
		return false, err
	}
	defer db.leave()
	return db.probe(ns, id, db.now())
}

func checkDedupArgs(ns, id string) error {
	if err := checkName("dedup namespace", ns); err != nil {
		return err
	}
	return checkID("dedup id", id)
}

// dedupBounds confine probe iterators to dedup keys.
var dedupBounds = pebble.IterOptions{LowerBound: []byte{tagDedup}, UpperBound: []byte{tagDedup + 1}}

// probe looks id up in every live bucket.
func (db *DB) probe(ns, id string, now time.Time) (bool, error) {
	newest := db.bucketOf(now)
	return db.probeRange(ns, id, newest, newest-min(uint64(db.nprobe-1), newest))
}

// probeRange looks id up in buckets newest down to oldest. The newest bucket
// gets a point Get: retries and second deliveries land there, and a Get is
// the cheapest hit. Older buckets share one iterator and SeekPrefixGE, which
// consults the same bloom filters as Get but builds the per-level iterators
// once rather than once per bucket (BenchmarkAcceptParallel: about a third
// less CPU per accept than eight Gets).
//
// The in-memory filters are asked first (see dedupFilters): a bucket whose
// filter is ready and does not know the id is not read at all.
func (db *DB) probeRange(ns, id string, newest, oldest uint64) (bool, error) {
	if db.recent.seen(ns, id, newest, oldest) {
		return true, nil
	}
	bp := db.keyBufs.Get().(*[]byte)
	defer db.keyBufs.Put(bp)
	k := appendDedupKey((*bp)[:0], db.bucketStart(newest), ns, id)
	*bp = k
	var h uint64
	if db.filters != nil {
		h = db.filters.hash(k)
	}
	maybe := func(b uint64) bool { return db.filters == nil || db.filters.mayContain(db.bucketStart(b), h) }
	if maybe(newest) {
		_, closer, err := db.pdb.Get(k)
		if err == nil {
			closer.Close()
			return true, nil
		}
		if !errors.Is(err, pebble.ErrNotFound) {
			return false, fmt.Errorf("local: dedup lookup in %q: %w", ns, err)
		}
	}
	if oldest >= newest {
		return false, nil
	}
	var it *pebble.Iterator
	found := false
	for b := newest - 1; !found; b-- {
		if maybe(b) {
			if it == nil {
				var err error
				if it, err = db.pdb.NewIter(&dedupBounds); err != nil {
					return false, fmt.Errorf("local: dedup lookup in %q: %w", ns, err)
				}
			}
			binary.BigEndian.PutUint64(k[1:9], db.bucketStart(b))
			found = it.SeekPrefixGE(k)
		}
		if b == oldest {
			break
		}
	}
	if it != nil {
		if err := it.Close(); err != nil {
			return false, fmt.Errorf("local: dedup lookup in %q: %w", ns, err)
		}
	}
	return found, nil
}

// Probe is the answer of DB.Probe: whether an id was seen, and which buckets
// that lookup covered, so that AcceptProbed need not read them again.
type Probe struct {
	Seen   bool
	ns, id string
	newest uint64 // the newest bucket the lookup read
	valid  bool
}

// Probe is Seen for a caller that will Accept the id if it is new (the
// ingress pre-check). Pass the result to AcceptProbed: dedup records are
// only ever written into the current time bucket, so the buckets this
// lookup found empty stay empty, and AcceptProbed re-reads only the buckets
// that were current since (normally one point Get instead of a probe of
// every bucket). That relies on the clock not stepping back by a whole
// bucket between the two calls; if it does, a duplicate may be queued
// twice, which consumers tolerate (they are idempotent).
func (db *DB) Probe(ns, id string) (Probe, error) {
	if err := checkDedupArgs(ns, id); err != nil {
		return Probe{}, err
	}
	if err := db.enter(); err != nil {
		return Probe{}, err
	}
	defer db.leave()
	newest := db.bucketOf(db.now())
	seen, err := db.probeRange(ns, id, newest, newest-min(uint64(db.nprobe-1), newest))
	if err != nil {
		return Probe{}, err
	}
	return Probe{Seen: seen, ns: ns, id: id, newest: newest, valid: true}, nil
}

func (db *DB) stripe(id string) *sync.Mutex {
	return &db.stripes[maphash.String(db.seed, id)%nStripes]
}

// Accept atomically records id as seen in ns and appends entry to q, in one
// synced batch: when Accept returns nil the entry survives a crash and is in
// q exactly once, and any later Accept or MarkSeen of the same id in ns
// returns ErrDuplicate (or fresh=false) for the retention period.
//
// Of concurrent Accepts of one id exactly one succeeds; the others wait for
// it and get ErrDuplicate. If the winner fails (ErrQueueFull, I/O error)
// nothing was recorded and the waiters try for themselves. A duplicate is
// reported even when q is full. The returned seq is entry's position in q.
// entry is copied; the caller keeps ownership.
func (db *DB) Accept(ns, id string, q *Queue, entry []byte) (seq uint64, err error) {
	if err := checkDedupArgs(ns, id); err != nil {
		return 0, err
	}
	if q == nil || q.db != db {
		return 0, fmt.Errorf("local: Accept: %w: queue is nil or from another DB", ErrInvalid)
	}
	return db.record(ns, id, q, entry, nil)
}

// AcceptProbed is Accept after a Probe of the same ns and id: it has the
// same contract, and reads only the dedup buckets that became current after
// p was taken. A p for another id, or the zero Probe, is ignored (a full
// lookup is done).
func (db *DB) AcceptProbed(p Probe, ns, id string, q *Queue, entry []byte) (seq uint64, err error) {
	if err := checkDedupArgs(ns, id); err != nil {
		return 0, err
	}
	if q == nil || q.db != db {
		return 0, fmt.Errorf("local: Accept: %w: queue is nil or from another DB", ErrInvalid)
	}
	if !p.valid || p.ns != ns || p.id != id {
		return db.record(ns, id, q, entry, nil)
	}
	if p.Seen {
		return 0, fmt.Errorf("local: %s %q: %w", ns, truncate(id), ErrDuplicate)
	}
	return db.record(ns, id, q, entry, &p)
}

// MarkSeen records id as seen in ns without queueing anything, in a synced
// batch, and reports whether it was new. The relay uses it for the object
// ids it has already forwarded.
func (db *DB) MarkSeen(ns, id string) (fresh bool, err error) {
	if err := checkDedupArgs(ns, id); err != nil {
		return false, err
	}
	_, err = db.record(ns, id, nil, nil, nil)
	if errors.Is(err, ErrDuplicate) {
		return false, nil
	}
	return err == nil, err
}

// record is Accept (q != nil) and MarkSeen (q == nil). With p, only the
// buckets from p.newest on are read (see Probe).
func (db *DB) record(ns, id string, q *Queue, entry []byte, p *Probe) (uint64, error) {
	if err := db.enter(); err != nil {
		return 0, err
	}
	defer db.leave()
	// The stripe lock is held across the commit so that a second Accept of
	// the same id sees the first one's record; it only delays ids that hash
	// to the same stripe.
	mu := db.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	now := db.now()
	newest := db.bucketOf(now)
	oldest := newest - min(uint64(db.nprobe-1), newest)
	if p != nil && p.newest > oldest {
		// Buckets older than p.newest were found empty and cannot have
		// gained records since; p.newest itself may have. If the clock
		// went back, p.newest > newest: probe just the current bucket.
		oldest = min(p.newest, newest)
	}
	seen, err := db.probeRange(ns, id, newest, oldest)
	if err != nil {
		return 0, err
	}
	if seen {
		return 0, fmt.Errorf("local: %s %q: %w", ns, truncate(id), ErrDuplicate)
	}
	var seq uint64
	if q != nil {
		if seq, err = q.reserve(1); err != nil {
			return 0, err
		}
	}
	bp := db.keyBufs.Get().(*[]byte)
	start := db.bucketStart(db.bucketOf(now))
	*bp = appendDedupKey((*bp)[:0], start, ns, id)
	var h uint64
	if db.filters != nil {
		h = db.filters.hash(*bp)
	}
	// The dedup record and the entry go into one batch, shared with the
	// accepts in flight (commit.go), and are synced before this returns.
	err = db.committer.submit(func(b *pebble.Batch) error {
		if err := b.Set(*bp, nil, nil); err != nil {
			return err
		}
		if q != nil {
			return q.setEntry(b, seq, now, entry)
		}
		return nil
	})
	db.keyBufs.Put(bp)
	if err == nil && db.filters != nil {
		// Before the stripe lock is released: the next Accept of this id
		// must find it.
		db.filters.add(db.filters.get(start, true /* create */, true /* a bucket first written now starts empty */), h)
	}
	if err == nil {
		db.recent.add(ns, id, db.bucketOf(now))
	}
	if q != nil {
		q.finish(seq, 1)
	}
	if err != nil {
		return 0, fmt.Errorf("local: record %s id: %w", ns, err)
	}
	return seq, nil
}

// expireDedup drops every bucket older than the live window with one range
// deletion. It runs on the maintenance goroutine.
func (db *DB) expireDedup(now time.Time) error {
	newest := db.bucketOf(now)
	if newest+1 < uint64(db.nprobe) {
		return nil
	}
	firstLive := newest + 1 - uint64(db.nprobe)
	if firstLive <= db.expiredBelow {
		return nil
	}
	if err := db.pdb.DeleteRange(dedupBucketKey(db.bucketStart(db.expiredBelow)), dedupBucketKey(db.bucketStart(firstLive)), pebble.NoSync); err != nil {
		return err
	}
	if db.filters != nil {
		db.filters.drop(db.bucketStart(firstLive))
	}
	db.log.Debug("local: expired dedup buckets", "below", time.Unix(0, int64(db.bucketStart(firstLive))).UTC())
	db.expiredBelow = firstLive
	return nil
}
