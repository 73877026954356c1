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

// Seen reports whether id was recorded in namespace ns (by Accept or
// MarkSeen) within the retention. It is the ingress's cheap pre-check before
// any crypto; it takes no lock and does not allocate on the hit path. A false
// answer is advisory: only Accept decides atomically.
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

// probe looks id up in every live bucket, newest first. The newest bucket
// gets a point Get: retries and second deliveries land there, and a Get is
// the cheapest hit. Older buckets share one iterator and SeekPrefixGE, which
// consults the same bloom filters as Get but builds the per-level iterators
// once rather than once per bucket (BenchmarkAcceptParallel: about a third
// less CPU per accept than eight Gets).
func (db *DB) probe(ns, id string, now time.Time) (bool, error) {
	bp := db.keyBufs.Get().(*[]byte)
	defer db.keyBufs.Put(bp)
	newest := db.bucketOf(now)
	k := appendDedupKey((*bp)[:0], newest, ns, id)
	*bp = k
	_, closer, err := db.pdb.Get(k)
	if err == nil {
		closer.Close()
		return true, nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return false, fmt.Errorf("local: dedup lookup in %q: %w", ns, err)
	}
	older := min(uint64(db.nprobe-1), newest)
	if older == 0 {
		return false, nil
	}
	it, err := db.pdb.NewIter(&dedupBounds)
	if err != nil {
		return false, fmt.Errorf("local: dedup lookup in %q: %w", ns, err)
	}
	found := false
	for i := uint64(1); i <= older && !found; i++ {
		binary.BigEndian.PutUint64(k[1:9], newest-i)
		found = it.SeekPrefixGE(k)
	}
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("local: dedup lookup in %q: %w", ns, err)
	}
	return found, nil
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
	return db.record(ns, id, q, entry)
}

// MarkSeen records id as seen in ns without queueing anything, in a synced
// batch, and reports whether it was new. The relay uses it for the object
// ids it has already forwarded.
func (db *DB) MarkSeen(ns, id string) (fresh bool, err error) {
	if err := checkDedupArgs(ns, id); err != nil {
		return false, err
	}
	_, err = db.record(ns, id, nil, nil)
	if errors.Is(err, ErrDuplicate) {
		return false, nil
	}
	return err == nil, err
}

// record is Accept (q != nil) and MarkSeen (q == nil).
func (db *DB) record(ns, id string, q *Queue, entry []byte) (uint64, error) {
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
	seen, err := db.probe(ns, id, now)
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
	b := db.pdb.NewBatch()
	bp := db.keyBufs.Get().(*[]byte)
	*bp = appendDedupKey((*bp)[:0], db.bucketOf(now), ns, id)
	err = b.Set(*bp, nil, nil)
	db.keyBufs.Put(bp)
	if err == nil && q != nil {
		err = q.setEntry(b, seq, now, entry)
	}
	if err == nil {
		err = b.Commit(db.wsync)
	}
	b.Close()
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
	if err := db.pdb.DeleteRange(dedupBucketKey(db.expiredBelow), dedupBucketKey(firstLive), pebble.NoSync); err != nil {
		return err
	}
	db.log.Debug("local: expired dedup buckets", "below", time.Unix(0, int64(firstLive)*db.bucket).UTC())
	db.expiredBelow = firstLive
	return nil
}
