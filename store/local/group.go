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

// Group is a consumer group of a queue: a persisted cursor shared by any
// number of workers. Each entry is handed to one worker at a time under a
// lease; entries not acked before the lease expires, or before a restart, are
// handed out again. Delivery is at-least-once: consumers MUST be idempotent.
type Group struct {
	q       *Queue
	name    string
	metaKey []byte

	// lw is the low-water mark: every seq below it is acked. Persisted.
	// Written under mu, read without (by the queue's floor computation).
	lw atomic.Uint64

	mu        sync.Mutex
	readPos   uint64    // next seq never handed out since open
	out       []outItem // handed out, sorted by seq; front is unacked
	nAcked    int       // acked items still in out
	nextSweep int64     // unix ns of the earliest lease expiry; 0 = none
	deleted   bool
}

type outItem struct {
	seq    uint64
	expiry int64 // unix ns
	acked  bool
}

// Item is one claimed queue entry.
type Item struct {
	Seq uint64
	// Value is the appended entry; the caller owns it.
	Value []byte
	// AppendedAt is when the entry was appended (for latency metrics).
	AppendedAt time.Time
}

func (q *Queue) newGroup(name string, lw uint64) *Group {
	g := &Group{q: q, name: name, metaKey: groupKey(q.name, name), readPos: lw}
	g.lw.Store(lw)
	return g
}

// Group returns the consumer group name (1 to 255 bytes) of q, registering
// it persistently on first use. A new group starts at the oldest entry the
// queue still retains, so entries appended before a consumer registered are
// not lost. Registered groups hold entries back from trimming until they ack
// them: delete a group that is no longer consumed with DeleteGroup.
func (q *Queue) Group(name string) (*Group, error) {
	if err := checkName("group", name); err != nil {
		return nil, err
	}
	db := q.db
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	q.mu.Lock()
	defer q.mu.Unlock()
	if g := q.groups[name]; g != nil {
		return g, nil
	}
	g := q.newGroup(name, q.floor)
	if err := db.pdb.Set(g.metaKey, binary.BigEndian.AppendUint64(nil, q.floor), db.wsync); err != nil {
		return nil, fmt.Errorf("local: register group %q of queue %q: %w", name, q.name, err)
	}
	q.groups[name] = g
	return g, nil
}

// DeleteGroup unregisters a group so its backlog no longer holds entries.
// Workers still holding the *Group get errors from Claim and Ack.
func (q *Queue) DeleteGroup(name string) error {
	db := q.db
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	q.mu.Lock()
	g := q.groups[name]
	if g == nil {
		q.mu.Unlock()
		return nil
	}
	delete(q.groups, name)
	if len(q.groups) > 0 {
		q.floor = q.minLowWater()
	}
	q.mu.Unlock()
	g.mu.Lock()
	g.deleted = true
	g.mu.Unlock()
	if err := db.pdb.Delete(g.metaKey, db.wsync); err != nil {
		return fmt.Errorf("local: delete group %q of queue %q: %w", name, q.name, err)
	}
	return nil
}

// Name returns the group's name.
func (g *Group) Name() string { return g.name }

// Claim hands out up to max entries, oldest first: first entries whose lease
// expired, then entries never handed out. Each is leased to the caller for
// lease; ack it with Ack before then or it goes to another Claim. An empty
// result means nothing is available: wait on Queue.Notify.
//
// Claim only reads below the queue's committed horizon, so an append that
// commits late is never skipped.
func (g *Group) Claim(max int, lease time.Duration) ([]Item, error) {
	if max <= 0 || lease <= 0 {
		return nil, fmt.Errorf("local: claim from group %q: %w: max %d and lease %v must be positive", g.name, ErrInvalid, max, lease)
	}
	db := g.q.db
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	now := db.now().UnixNano()
	expiry := now + int64(lease)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deleted {
		return nil, g.errDeleted()
	}
	var items []Item
	if g.nextSweep != 0 && now >= g.nextSweep {
		var err error
		if items, err = g.redeliver(now, expiry, max); err != nil {
			return nil, err
		}
	}
	if len(items) < max {
		h := g.q.horizon.Load()
		if g.readPos < h {
			more, err := g.readNew(h, expiry, max-len(items))
			if err != nil {
				return items, err
			}
			items = append(items, more...)
		}
	}
	return items, nil
}

// redeliver re-leases expired items; g.mu held.
func (g *Group) redeliver(now, expiry int64, max int) ([]Item, error) {
	var items []Item
	next := int64(0)
	for i := range g.out {
		o := &g.out[i]
		if o.acked {
			continue
		}
		if o.expiry <= now && len(items) < max {
			v, closer, err := g.q.db.pdb.Get(g.q.key(o.seq))
			if errors.Is(err, pebble.ErrNotFound) {
				// Cannot happen while the floor protects it; drop rather than loop.
				g.q.db.log.Error("local: leased queue entry vanished; skipping it", "queue", g.q.name, "group", g.name, "seq", o.seq)
				o.acked = true
				g.nAcked++
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("local: redeliver seq %d of queue %q: %w", o.seq, g.q.name, err)
			}
			items = append(items, makeItem(o.seq, v))
			closer.Close()
			o.expiry = expiry
		}
		if next == 0 || o.expiry < next {
			next = o.expiry
		}
	}
	g.nextSweep = next
	g.popAcked()
	return items, nil
}

// readNew hands out entries in [readPos, horizon); g.mu held.
func (g *Group) readNew(horizon uint64, expiry int64, max int) ([]Item, error) {
	q := g.q
	it, err := q.db.pdb.NewIter(&pebble.IterOptions{LowerBound: q.key(g.readPos), UpperBound: q.key(horizon)})
	if err != nil {
		return nil, fmt.Errorf("local: read queue %q: %w", q.name, err)
	}
	var items []Item
	valid := it.First()
	for ; valid && len(items) < max; valid = it.Next() {
		seq := q.seqOf(it.Key())
		items = append(items, makeItem(seq, it.Value()))
		g.out = append(g.out, outItem{seq: seq, expiry: expiry})
		g.readPos = seq + 1
	}
	if !valid {
		// Everything below the horizon has been read; holes left by failed
		// appends are skipped for good.
		g.readPos = horizon
	}
	if err := it.Close(); err != nil {
		return items, fmt.Errorf("local: read queue %q: %w", q.name, err)
	}
	if len(items) > 0 && (g.nextSweep == 0 || expiry < g.nextSweep) {
		g.nextSweep = expiry
	}
	if len(g.out) == 0 {
		// Nothing outstanding: holes at the front can move the mark.
		return items, g.advance()
	}
	return items, nil
}

func makeItem(seq uint64, v []byte) Item {
	it := Item{Seq: seq}
	if len(v) >= 8 {
		it.AppendedAt = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		it.Value = append([]byte(nil), v[8:]...)
	}
	return it
}

// Ack acknowledges claimed entries; they will not be handed out again (in
// this process; a crash before the low-water mark is flushed can redeliver
// them). Acks may come in any order. Acking a seq already acked is a no-op;
// acking one never claimed is an error and acks nothing.
//
// The low-water mark is written without sync: losing it in a crash only
// causes redelivery.
func (g *Group) Ack(seqs ...uint64) error {
	db := g.q.db
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deleted {
		return g.errDeleted()
	}
	lw := g.lw.Load()
	for _, s := range seqs {
		if s >= g.readPos {
			return fmt.Errorf("local: ack seq %d in group %q of queue %q: %w: it was never claimed", s, g.name, g.q.name, ErrInvalid)
		}
	}
	for _, s := range seqs {
		if s < lw {
			continue
		}
		i := sort.Search(len(g.out), func(i int) bool { return g.out[i].seq >= s })
		if i < len(g.out) && g.out[i].seq == s && !g.out[i].acked {
			g.out[i].acked = true
			g.nAcked++
		}
		// Otherwise it was acked already, or is a hole: nothing to do.
	}
	g.popAcked()
	return g.advance()
}

// popAcked drops acked items from the front of out, and compacts out when
// acked items stuck behind a slow one make up most of it.
func (g *Group) popAcked() {
	k := 0
	for k < len(g.out) && g.out[k].acked {
		k++
	}
	if k > 0 {
		g.out = append(g.out[:0], g.out[k:]...)
		g.nAcked -= k
	}
	if len(g.out) > 64 && g.nAcked > len(g.out)/2 {
		kept := g.out[:0]
		for _, o := range g.out {
			if !o.acked {
				kept = append(kept, o)
			}
		}
		g.out = kept
		g.nAcked = 0
	}
	if len(g.out) == 0 {
		g.nextSweep = 0
	}
}

// advance moves and persists the low-water mark to the oldest outstanding
// item (or the read position if none); g.mu held.
func (g *Group) advance() error {
	lw := g.readPos
	if len(g.out) > 0 {
		lw = g.out[0].seq
	}
	if lw <= g.lw.Load() {
		return nil
	}
	if err := g.q.db.pdb.Set(g.metaKey, binary.BigEndian.AppendUint64(nil, lw), pebble.NoSync); err != nil {
		return fmt.Errorf("local: save low-water mark of group %q of queue %q: %w", g.name, g.q.name, err)
	}
	g.lw.Store(lw)
	g.q.updateFloor()
	return nil
}

func (g *Group) errDeleted() error {
	return fmt.Errorf("local: group %q of queue %q: %w: it was deleted", g.name, g.q.name, ErrInvalid)
}
