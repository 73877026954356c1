package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Queue is a durable, named, append-only queue read by consumer groups. Every
// registered group sees every entry; entries are kept until all registered
// groups acked them. Sequence numbers start at 1, increase, and are never
// reused, but may have holes (an append whose commit failed).
type Queue struct {
	db     *DB
	name   string
	prefix []byte // 'q' len name

	// horizon: every seq below it has finished committing (or failed), so
	// readers may scan up to it. Written under mu, read without.
	horizon atomic.Uint64

	mu      sync.Mutex
	next    uint64     // next seq to allocate
	pending []seqRange // allocated, not finished, in allocation order
	floor   uint64     // lowest seq any group still needs (min low-water mark)
	groups  map[string]*Group
	notify  chan struct{}
	armed   bool // someone holds notify; close it at the next horizon move
	closed  bool // DB closed: notify stays closed

	trimmed uint64 // seqs below are range-deleted; maintenance goroutine only
}

type seqRange struct {
	first, n uint64
	done     bool
}

// Queue returns the queue with the given name (1 to 255 bytes), loading its
// state on first use. Later calls with the same name return the same *Queue.
func (db *DB) Queue(name string) (*Queue, error) {
	if err := checkName("queue", name); err != nil {
		return nil, err
	}
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	db.mu.Lock()
	defer db.mu.Unlock()
	if q := db.queues[name]; q != nil {
		return q, nil
	}
	q, err := db.loadQueue(name)
	if err != nil {
		return nil, err
	}
	db.queues[name] = q
	return q, nil
}

func (db *DB) loadQueue(name string) (*Queue, error) {
	q := &Queue{
		db:     db,
		name:   name,
		prefix: queuePrefix(name),
		groups: map[string]*Group{},
		notify: make(chan struct{}),
	}
	fail := func(err error) (*Queue, error) {
		return nil, fmt.Errorf("local: load queue %q: %w", name, err)
	}
	if v, closer, err := db.pdb.Get(queueTrimKey(name)); err == nil {
		q.trimmed, err = u64(v, "queue trim mark")
		closer.Close()
		if err != nil {
			return fail(err)
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fail(err)
	}
	// next continues after the largest seq ever used: the last stored entry,
	// the trim mark, or a group's low-water mark, whichever is highest.
	next := max(q.trimmed, 1)
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: q.prefix, UpperBound: prefixEnd(q.prefix)})
	if err != nil {
		return fail(err)
	}
	var first uint64
	if it.Last() {
		next = max(next, q.seqOf(it.Key())+1)
		it.First()
		first = q.seqOf(it.Key())
	}
	if err := it.Close(); err != nil {
		return fail(err)
	}
	gp := groupPrefix(name)
	it, err = db.pdb.NewIter(&pebble.IterOptions{LowerBound: gp, UpperBound: prefixEnd(gp)})
	if err != nil {
		return fail(err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()[len(gp):]
		if len(k) == 0 || int(k[0]) != len(k)-1 {
			it.Close()
			return fail(fmt.Errorf("malformed group key %q: the store is corrupt", it.Key()))
		}
		lw, err := u64(it.Value(), "group low-water mark")
		if err != nil {
			it.Close()
			return fail(err)
		}
		g := q.newGroup(string(k[1:]), lw)
		q.groups[g.name] = g
		next = max(next, lw)
	}
	if err := it.Close(); err != nil {
		return fail(err)
	}
	q.next = next
	q.horizon.Store(next)
	switch {
	case len(q.groups) > 0:
		q.floor = q.minLowWater()
	case first > 0:
		q.floor = first
	default:
		q.floor = next
	}
	return q, nil
}

func (q *Queue) seqOf(key []byte) uint64 {
	return binary.BigEndian.Uint64(key[len(q.prefix):])
}

func (q *Queue) key(seq uint64) []byte { return seqKey(q.prefix, seq) }

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// reserve allocates n consecutive seqs, refusing with ErrQueueFull when the
// depth is at or over the high-water mark. The caller MUST call finish with
// the same range whether or not its commit succeeds.
func (q *Queue) reserve(n uint64) (uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if depth := int64(q.next - q.floor); depth >= q.db.opts.QueueHighWater {
		return 0, fmt.Errorf("local: queue %q holds %d entries: %w (%d); its consumers are behind", q.name, depth, ErrQueueFull, q.db.opts.QueueHighWater)
	}
	first := q.next
	q.next += n
	q.pending = append(q.pending, seqRange{first: first, n: n})
	return first, nil
}

// finish marks a reserved range as finished (committed or failed) and moves
// the horizon over the finished prefix, waking consumers if it moved.
func (q *Queue) finish(first, n uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := sort.Search(len(q.pending), func(i int) bool { return q.pending[i].first >= first })
	if i == len(q.pending) || q.pending[i].first != first || q.pending[i].n != n {
		panic(fmt.Sprintf("local: queue %q: finish of unreserved range %d+%d", q.name, first, n))
	}
	q.pending[i].done = true
	k := 0
	for k < len(q.pending) && q.pending[k].done {
		k++
	}
	if k == 0 {
		return
	}
	q.pending = append(q.pending[:0], q.pending[k:]...)
	h := q.next
	if len(q.pending) > 0 {
		h = q.pending[0].first
	}
	q.horizon.Store(h)
	if q.armed && !q.closed {
		close(q.notify)
		q.notify = make(chan struct{})
		q.armed = false
	}
}

// setEntry adds the entry at seq to b, stamped with its append time.
func (q *Queue) setEntry(b *pebble.Batch, seq uint64, at time.Time, entry []byte) error {
	op := b.SetDeferred(len(q.prefix)+8, 8+len(entry))
	copy(op.Key, q.prefix)
	binary.BigEndian.PutUint64(op.Key[len(q.prefix):], seq)
	binary.BigEndian.PutUint64(op.Value, unixNanos(at.UnixNano()))
	copy(op.Value[8:], entry)
	return op.Finish()
}

// Append appends entries in one synced batch and returns the seq of the
// first; the others follow consecutively. It returns ErrQueueFull when the
// queue is at or over the high-water mark. Entries are copied.
func (q *Queue) Append(entries ...[]byte) (firstSeq uint64, err error) {
	if len(entries) == 0 {
		return 0, fmt.Errorf("local: append to queue %q: %w: no entries", q.name, ErrInvalid)
	}
	db := q.db
	if err := db.enter(); err != nil {
		return 0, err
	}
	defer db.leave()
	first, err := q.reserve(uint64(len(entries)))
	if err != nil {
		return 0, err
	}
	now := db.now()
	b := db.pdb.NewBatch()
	for i, e := range entries {
		if err = q.setEntry(b, first+uint64(i), now, e); err != nil {
			break
		}
	}
	if err == nil {
		err = b.Commit(db.wsync)
	}
	b.Close()
	q.finish(first, uint64(len(entries)))
	if err != nil {
		return 0, fmt.Errorf("local: append to queue %q: %w", q.name, err)
	}
	return first, nil
}

// Notify returns a channel that is closed the next time entries become
// readable (after an append commits) or when the DB closes. Take it before
// Claim so a wakeup between an empty Claim and the wait is not lost:
//
//	for {
//		wake := q.Notify()
//		items, err := g.Claim(100, time.Minute)
//		...
//		if len(items) == 0 {
//			select { case <-wake: case <-time.After(time.Second): }
//		}
//	}
//
// Every caller holding the channel wakes; the channel is never sent on.
func (q *Queue) Notify() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.armed = true
	return q.notify
}

func (q *Queue) closeNotify() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.notify)
	}
}

// minLowWater is the minimum group low-water mark; q.mu held, groups exist.
func (q *Queue) minLowWater() uint64 {
	m := ^uint64(0)
	for _, g := range q.groups {
		m = min(m, g.lw.Load())
	}
	return m
}

// updateFloor recomputes the floor after a group's low-water mark moved.
func (q *Queue) updateFloor() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.groups) > 0 {
		q.floor = q.minLowWater()
	}
}

// trim range-deletes entries every group has acked. It runs on the
// maintenance goroutine: one range tombstone per queue per pass at most.
func (q *Queue) trim() error {
	q.mu.Lock()
	if len(q.groups) == 0 {
		q.mu.Unlock()
		return nil
	}
	to := q.floor
	q.mu.Unlock()
	if to <= q.trimmed {
		return nil
	}
	b := q.db.pdb.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(q.key(q.trimmed), q.key(to), nil); err != nil {
		return err
	}
	if err := b.Set(queueTrimKey(q.name), binary.BigEndian.AppendUint64(nil, to), nil); err != nil {
		return err
	}
	// Unsynced: losing a trim on crash only means deleting it again.
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	q.trimmed = to
	return nil
}

// QueueStats describes a queue at one instant, for metrics.
type QueueStats struct {
	// Next is the seq the next append will get.
	Next uint64
	// Depth counts seqs not yet acked by the slowest group (or, with no
	// group registered, all retained seqs), including appends in flight.
	// It is what QueueHighWater is compared against.
	Depth int64
	// OldestAge is how long ago the oldest entry counted in Depth was
	// appended; zero when Depth is zero.
	OldestAge time.Duration
	Groups    []GroupStats // sorted by name
}

// GroupStats describes one consumer group.
type GroupStats struct {
	Name string
	// LowWater: every seq below it is acked by this group.
	LowWater uint64
	// Lag counts seqs this group has not acked.
	Lag int64
	// Leased counts entries claimed and not acked (including expired leases
	// awaiting redelivery).
	Leased int
}

// Stats returns the queue's depth, the age of its oldest unacked entry and
// per-group lag as of now. An I/O error reading the oldest entry is logged and
// leaves OldestAge zero.
func (q *Queue) Stats(now time.Time) QueueStats {
	q.mu.Lock()
	s := QueueStats{Next: q.next, Depth: int64(q.next - q.floor)}
	floor, horizon := q.floor, q.horizon.Load()
	groups := make([]*Group, 0, len(q.groups))
	for _, g := range q.groups {
		groups = append(groups, g)
	}
	q.mu.Unlock()
	sort.Slice(groups, func(i, j int) bool { return groups[i].name < groups[j].name })
	for _, g := range groups {
		g.mu.Lock()
		lw := g.lw.Load()
		s.Groups = append(s.Groups, GroupStats{Name: g.name, LowWater: lw, Lag: int64(s.Next - lw), Leased: len(g.out) - g.nAcked})
		g.mu.Unlock()
	}
	if floor < horizon && q.db.enter() == nil {
		defer q.db.leave()
		it, err := q.db.pdb.NewIter(&pebble.IterOptions{LowerBound: q.key(floor), UpperBound: q.key(horizon)})
		if err == nil {
			if it.First() && len(it.Value()) >= 8 {
				at := int64(binary.BigEndian.Uint64(it.Value()))
				s.OldestAge = max(0, now.Sub(time.Unix(0, at)))
			}
			err = it.Close()
		}
		if err != nil {
			q.db.log.Error("local: queue stats: read oldest entry", "queue", q.name, "err", err)
		}
	}
	return s
}
