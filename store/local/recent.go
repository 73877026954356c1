package local

import (
	"hash/maphash"
	"sync"
)

// recentIDs remembers the dedup records written since Open, most recent
// first out, so that a duplicate of something accepted lately is answered
// from memory instead of a Pebble read. Federation duplicates come mostly
// within minutes of the original (the same post pushed by a relay and by
// its author's server, a retry after a lost 202), which this covers; older
// ones and everything after a restart fall through to Pebble, which stays
// the truth. Entries are 128-bit fingerprints of (namespace, id) with two
// independent seeds, so a false "seen" is about n/2^128: never in practice.
type recentIDs struct {
	seeds  [2]maphash.Seed
	shards [recentShards]recentShard
}

const recentShards = 64

type recentShard struct {
	mu   sync.Mutex
	m    map[[2]uint64]uint64 // fingerprint → dedup bucket number
	ring [][2]uint64          // insertion order, for eviction
	next int
}

// newRecentIDs returns a set of about capacity entries (resident memory is
// roughly 60 bytes an entry); capacity <= 0 returns nil, which remembers
// nothing.
func newRecentIDs(capacity int) *recentIDs {
	if capacity <= 0 {
		return nil
	}
	per := max(1, capacity/recentShards)
	r := &recentIDs{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range r.shards {
		r.shards[i].m = make(map[[2]uint64]uint64, per)
		r.shards[i].ring = make([][2]uint64, per)
	}
	return r
}

func (r *recentIDs) fingerprint(ns, id string) [2]uint64 {
	var h maphash.Hash
	var fp [2]uint64
	for i, seed := range r.seeds {
		h.SetSeed(seed)
		h.WriteString(ns)
		h.WriteByte(0)
		h.WriteString(id)
		fp[i] = h.Sum64()
	}
	return fp
}

// add records that (ns, id) was written in dedup bucket b.
func (r *recentIDs) add(ns, id string, b uint64) {
	if r == nil {
		return
	}
	fp := r.fingerprint(ns, id)
	s := &r.shards[fp[0]%recentShards]
	s.mu.Lock()
	if _, ok := s.m[fp]; !ok {
		if old := s.ring[s.next]; old != ([2]uint64{}) {
			delete(s.m, old)
		}
		s.ring[s.next] = fp
		s.next = (s.next + 1) % len(s.ring)
	}
	s.m[fp] = b
	s.mu.Unlock()
}

// seen reports whether (ns, id) was recorded in a bucket from oldest to
// newest; false means "not known here", not "never seen".
func (r *recentIDs) seen(ns, id string, newest, oldest uint64) bool {
	if r == nil {
		return false
	}
	fp := r.fingerprint(ns, id)
	s := &r.shards[fp[0]%recentShards]
	s.mu.Lock()
	b, ok := s.m[fp]
	s.mu.Unlock()
	return ok && b >= oldest && b <= newest
}
