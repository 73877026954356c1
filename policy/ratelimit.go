package policy

import (
	"hash/maphash"
	"sync"
	"time"
)

// rateSpec is a rule's token bucket: burst tokens, refilled at limit per
// window, one bucket per actor or per domain.
type rateSpec struct {
	per    ratePer
	limit  int
	burst  int
	window time.Duration
}

type ratePer uint8

const (
	perActor ratePer = iota
	perDomain
)

func (p ratePer) String() string {
	if p == perDomain {
		return "domain"
	}
	return "actor"
}

// rateLimiter holds the token buckets of all rate rules. It belongs to the
// Engine, not to a snapshot, so buckets survive reloads: a bucket is keyed
// by rule id and actor (or domain), and a reloaded rule with the same id
// keeps its buckets.
//
// Memory is bounded: at most maxBuckets buckets are kept, spread over
// shards. A shard that is full first drops buckets that have refilled
// completely (they are indistinguishable from a fresh bucket) and, if all
// are busy, an arbitrary eighth of its buckets, which errs towards letting
// traffic through rather than refusing it.
type rateLimiter struct {
	seed     maphash.Seed
	perShard int
	shards   [rateShards]rateShard
}

const rateShards = 64

type rateShard struct {
	mu sync.Mutex
	m  map[uint64]bucket
	_  [40]byte // keep shards on separate cache lines
}

type bucket struct {
	tokens float64
	last   int64 // unix nanos of the last update
	full   int64 // unix nanos when the bucket will be full again
}

// DefaultMaxBuckets is the default bound on rate-limit buckets (about
// 32 bytes each).
const DefaultMaxBuckets = 1 << 18

func newRateLimiter(maxBuckets int) *rateLimiter {
	if maxBuckets <= 0 {
		maxBuckets = DefaultMaxBuckets
	}
	rl := &rateLimiter{seed: maphash.MakeSeed(), perShard: max(maxBuckets/rateShards, 1)}
	for i := range rl.shards {
		rl.shards[i].m = make(map[uint64]bucket)
	}
	return rl
}

func (rl *rateLimiter) key(ruleID, k string) uint64 {
	var h maphash.Hash
	h.SetSeed(rl.seed)
	h.WriteString(ruleID)
	h.WriteByte(0)
	h.WriteString(k)
	return h.Sum64()
}

// take removes one token from the bucket. When none is left it returns
// false and how long until one is. With peek, nothing is changed (for
// explanations).
func (rl *rateLimiter) take(spec *rateSpec, ruleID, k string, now time.Time, peek bool) (ok bool, retry time.Duration, left float64) {
	h := rl.key(ruleID, k)
	sh := &rl.shards[h%rateShards]
	nowNs := now.UnixNano()
	perToken := float64(spec.window) / float64(spec.limit) // ns per token
	capacity := float64(spec.burst)

	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, found := sh.m[h]
	if !found {
		b = bucket{tokens: capacity, last: nowNs}
	} else if nowNs > b.last {
		b.tokens = min(capacity, b.tokens+float64(nowNs-b.last)/perToken)
		b.last = nowNs
	}
	b.tokens = min(b.tokens, capacity) // the rule's burst may have shrunk on reload
	if b.tokens < 1 {
		retry = time.Duration((1 - b.tokens) * perToken)
		return false, max(retry, time.Second), b.tokens
	}
	if peek {
		return true, 0, b.tokens
	}
	b.tokens--
	b.full = nowNs + int64((capacity-b.tokens)*perToken)
	if !found && len(sh.m) >= rl.perShard {
		sh.evict(nowNs)
	}
	sh.m[h] = b
	return true, 0, b.tokens
}

func (sh *rateShard) evict(nowNs int64) {
	before := len(sh.m)
	for k, b := range sh.m {
		if b.full <= nowNs {
			delete(sh.m, k)
		}
	}
	if len(sh.m) < before {
		return
	}
	n := max(before/8, 1)
	for k := range sh.m {
		delete(sh.m, k)
		if n--; n == 0 {
			break
		}
	}
}

// size returns the number of buckets held (for tests and metrics).
func (rl *rateLimiter) size() int {
	n := 0
	for i := range rl.shards {
		sh := &rl.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
