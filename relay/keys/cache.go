package keys

import (
	"hash/maphash"
	"sync"
	"time"
)

const shardCount = 64

// cache is a sharded LRU of positive and negative key lookups. Each shard
// has its own mutex and list, so concurrent lookups of different keys
// rarely contend.
type cache struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type entry struct {
	keyID      string
	key        *Key      // nil for a negative entry
	err        error     // the failure, for a negative entry
	until      time.Time // negative entries expire at until
	prev, next *entry
}

type shard struct {
	mu    sync.Mutex
	m     map[string]*entry
	head  entry // sentinel: head.next is most recent
	limit int
	// refetched records when each key was last force-refetched.
	refetched map[string]time.Time
}

func newCache(entries int) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	per := max(entries/shardCount, 1)
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[string]*entry)
		s.head.prev, s.head.next = &s.head, &s.head
		s.limit = per
		s.refetched = make(map[string]time.Time)
	}
	return c
}

func (c *cache) shard(keyID string) *shard {
	return &c.shards[maphash.String(c.seed, keyID)%shardCount]
}

// get returns the entry's key or negative error; ok is false on a miss.
func (s *shard) get(keyID string) (k *Key, err error, until time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[keyID]
	if e == nil {
		return nil, nil, time.Time{}, false
	}
	s.unlink(e)
	s.pushFront(e)
	return e.key, e.err, e.until, true
}

func (s *shard) put(keyID string, k *Key, err error, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[keyID]; e != nil {
		e.key, e.err, e.until = k, err, until
		s.unlink(e)
		s.pushFront(e)
		return
	}
	e := &entry{keyID: keyID, key: k, err: err, until: until}
	s.m[keyID] = e
	s.pushFront(e)
	for len(s.m) > s.limit {
		old := s.head.prev
		s.unlink(old)
		delete(s.m, old.keyID)
	}
}

func (s *shard) remove(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[keyID]; e != nil {
		s.unlink(e)
		delete(s.m, keyID)
	}
}

// allowRefetch reports whether keyID may be force-refetched at now, and if
// so records it. Old records are swept when the map grows.
func (s *shard) allowRefetch(keyID string, now time.Time, every time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.refetched[keyID]; ok && now.Sub(last) < every {
		return false
	}
	if len(s.refetched) >= 1024 {
		for id, t := range s.refetched {
			if now.Sub(t) >= every {
				delete(s.refetched, id)
			}
		}
	}
	s.refetched[keyID] = now
	return true
}

func (s *shard) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (s *shard) pushFront(e *entry) {
	e.prev = &s.head
	e.next = s.head.next
	s.head.next.prev = e
	s.head.next = e
}
