package local

import (
	"bytes"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// dedupFilters keeps, per live dedup bucket, an in-memory Bloom filter of
// the (namespace, id) pairs recorded in it. A lookup asks the filters first
// and reads Pebble only for the buckets whose filter answers "maybe": a new
// activity (the common case at the ingress) is then decided without any
// Pebble read, where probing eight buckets cost about 40% of an accept's
// CPU. A duplicate still reads Pebble, which is the authority; a false
// positive only costs that read.
//
// Filters are memory only. At Open every bucket that may already hold
// records gets a filter that is not ready (lookups skip nothing for it)
// until a background scan of the bucket's keys has filled it; records made
// meanwhile are added as they commit, so nothing is missed. A bucket first
// written after Open starts empty and is ready at once.
//
// Concurrency: bits are set with atomic OR and read with atomic loads, so
// adds and lookups never lock. An id is added after its batch commits and
// before its stripe lock is released, so a second Accept of the same id,
// which takes that lock first, always sees it.
type dedupFilters struct {
	seed  maphash.Seed
	nbits uint64 // power of two

	mu sync.RWMutex
	m  map[uint64]*bucketFilter // bucket start → filter
}

type bucketFilter struct {
	words []atomic.Uint64
	ready atomic.Bool
}

// filterHashes is the number of bit positions per entry: about 10 bits per
// id keep false positives near 1% (see Options.DedupFilterBits).
const filterHashes = 7

func newDedupFilters(nbits uint64) *dedupFilters {
	if nbits < 1<<16 {
		nbits = 1 << 16 // at least 128 blocks of 512 bits
	}
	nbits = 1 << (64 - bits.LeadingZeros64(nbits-1)) // round up to a power of two
	return &dedupFilters{seed: maphash.MakeSeed(), nbits: nbits, m: map[uint64]*bucketFilter{}}
}

// hash returns the filter hash of a dedup key's (namespace, id) suffix.
func (f *dedupFilters) hash(key []byte) uint64 { return maphash.Bytes(f.seed, key[9:]) }

// get returns bucket start's filter, creating it (ready when created
// empty) if create is set.
func (f *dedupFilters) get(start uint64, create, ready bool) *bucketFilter {
	f.mu.RLock()
	bf := f.m[start]
	f.mu.RUnlock()
	if bf != nil || !create {
		return bf
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if bf = f.m[start]; bf == nil {
		bf = &bucketFilter{words: make([]atomic.Uint64, f.nbits/64)}
		// Touch every page now: otherwise the first adds each fault in a
		// fresh page (or a huge page) on the ingress's critical path.
		for i := 0; i < len(bf.words); i += 512 {
			bf.words[i].Store(0)
		}
		bf.ready.Store(ready)
		f.m[start] = bf
	}
	return bf
}

// positions visits the filter bits of hash h. The filter is blocked: all
// of an entry's bits fall in one 512-bit block (one cache line), so an add
// or a lookup costs one cache miss rather than seven; the price is a
// slightly higher false-positive rate for the same size.
func (f *dedupFilters) positions(h uint64, fn func(word uint64, bit uint64) bool) bool {
	nblocks := f.nbits / 512
	block, _ := bits.Mul64(h, nblocks) // h's high bits pick the block
	h2 := h*0x9E3779B97F4A7C15 | 1     // a second, independent-enough hash
	base := block * 8
	for i := uint64(0); i < filterHashes; i++ {
		p := (h2 >> (i * 9)) & 511
		if !fn(base+p/64, 1<<(p%64)) {
			return false
		}
	}
	return true
}

func (f *dedupFilters) add(bf *bucketFilter, h uint64) {
	f.positions(h, func(w, b uint64) bool {
		if bf.words[w].Load()&b == 0 {
			bf.words[w].Or(b)
		}
		return true
	})
}

// mayContain reports whether bucket start may hold the key with hash h:
// false only when its filter is ready and lacks h.
func (f *dedupFilters) mayContain(start, h uint64) bool {
	bf := f.get(start, false, false)
	if bf == nil || !bf.ready.Load() {
		return true
	}
	return f.positions(h, func(w, b uint64) bool { return bf.words[w].Load()&b != 0 })
}

// drop forgets the filters of buckets that start before start.
func (f *dedupFilters) drop(before uint64) {
	f.mu.Lock()
	for s := range f.m {
		if s < before {
			delete(f.m, s)
		}
	}
	f.mu.Unlock()
}

// fillFilters scans the live buckets that existed at Open into their
// filters, newest first, and marks each ready. It runs in the background;
// lookups read Pebble for a bucket until its filter is ready.
func (db *DB) fillFilters(starts []uint64) {
	defer db.filterWG.Done()
	for _, start := range starts {
		bf := db.filters.get(start, false, false)
		if bf == nil {
			continue
		}
		if db.enter() != nil {
			return
		}
		lower := dedupBucketKey(start)
		upper := dedupBucketKey(start + 1)
		it, err := db.pdb.NewIter(nil)
		if err == nil {
			it.SetBounds(lower, upper)
			for ok := it.First(); ok; ok = it.Next() {
				k := it.Key()
				if len(k) > 9 && bytes.HasPrefix(k, lower) {
					db.filters.add(bf, db.filters.hash(k))
				}
			}
			err = it.Close()
		}
		db.leave()
		if err != nil {
			db.log.Error("local: building the dedup filter failed; lookups in that bucket read the store", "bucket", start, "err", err)
			continue
		}
		bf.ready.Store(true)
	}
}

// liveBucketStarts lists the start of every bucket a lookup may read now,
// newest first.
func (db *DB) liveBucketStarts() []uint64 {
	newest := db.bucketOf(db.now())
	oldest := newest - min(uint64(db.nprobe-1), newest)
	var out []uint64
	for b := newest; ; b-- {
		out = append(out, db.bucketStart(b))
		if b == oldest {
			break
		}
	}
	return out
}
