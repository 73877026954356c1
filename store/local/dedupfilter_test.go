package local

import (
	"fmt"
	"testing"
	"time"
)

// After a restart the filters are rebuilt from the store: every id recorded
// before is still found (before and after the background fill), and new ids
// are answered by the filters alone almost always.
func TestDedupFiltersSurviveRestartAndRarelyMiss(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	db, err := Open(dir, Options{Now: now, NoSync: true, DedupFilterBits: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := 0; i < n; i++ {
		if i == n/2 {
			clock = clock.Add(36 * time.Hour) // spread over two buckets
		}
		if fresh, err := db.MarkSeen("activity", fmt.Sprintf("https://a.example/%d", i)); err != nil || !fresh {
			t.Fatalf("MarkSeen %d: %v %v", i, fresh, err)
		}
	}
	db.Close()

	db, err = Open(dir, Options{Now: now, NoSync: true, DedupFilterBits: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < n; i += 97 { // possibly before the fill finished
		if seen, err := db.Seen("activity", fmt.Sprintf("https://a.example/%d", i)); err != nil || !seen {
			t.Fatalf("id %d lost across restart (before fill): %v %v", i, seen, err)
		}
	}
	db.filterWG.Wait()
	for i := 0; i < n; i++ {
		if seen, err := db.Seen("activity", fmt.Sprintf("https://a.example/%d", i)); err != nil || !seen {
			t.Fatalf("id %d lost across restart: %v %v", i, seen, err)
		}
		if _, err := db.Accept("activity", fmt.Sprintf("https://a.example/%d", i), mustQueue(t, db), []byte("x")); err == nil {
			t.Fatalf("id %d accepted twice", i)
		}
	}
	// New ids: the filters should rule out (nearly) every bucket.
	maybes := 0
	for i := 0; i < 10000; i++ {
		k := appendDedupKey(nil, 0, "activity", fmt.Sprintf("https://b.example/%d", i))
		h := db.filters.hash(k)
		for _, st := range db.liveBucketStarts() {
			if db.filters.mayContain(st, h) {
				maybes++
			}
		}
	}
	if maybes > 10000*8/100 {
		t.Errorf("%d of 80000 bucket lookups for new ids would read the store; the filters are not working", maybes)
	}
	// Expiry drops the filters with their buckets.
	clock = clock.Add(10 * 24 * time.Hour)
	db.maintainNow()
	if seen, _ := db.Seen("activity", "https://a.example/1"); seen {
		t.Error("expired id still seen")
	}
	db.filters.mu.RLock()
	left := len(db.filters.m)
	db.filters.mu.RUnlock()
	if left > 2 {
		t.Errorf("%d filters kept after expiry", left)
	}
}

func mustQueue(t *testing.T, db *DB) *Queue {
	q, err := db.Queue("inbound")
	if err != nil {
		t.Fatal(err)
	}
	return q
}
