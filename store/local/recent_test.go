package local

import (
	"fmt"
	"testing"
	"time"
)

func TestRecentIDs(t *testing.T) {
	r := newRecentIDs(64 * 4) // 4 per shard
	r.add("activity", "https://a.example/1", 10)
	if !r.seen("activity", "https://a.example/1", 10, 4) {
		t.Error("an id added in bucket 10 is not seen in 4..10")
	}
	if r.seen("activity", "https://a.example/1", 12, 11) {
		t.Error("an id of bucket 10 is seen in 11..12 (expired)")
	}
	if r.seen("object", "https://a.example/1", 10, 4) {
		t.Error("namespaces are not kept apart")
	}
	if r.seen("activity", "https://a.example/2", 10, 4) {
		t.Error("an id never added is seen")
	}
	// Eviction: far more ids than room; the newest stay, the oldest go.
	for i := range 10_000 {
		r.add("activity", fmt.Sprintf("https://b.example/%d", i), 10)
	}
	if r.seen("activity", "https://a.example/1", 10, 4) {
		t.Error("the oldest id survived 10,000 newer ones in a set of 256")
	}
	kept := 0
	for i := 9_900; i < 10_000; i++ {
		if r.seen("activity", fmt.Sprintf("https://b.example/%d", i), 10, 4) {
			kept++
		}
	}
	if kept < 50 {
		t.Errorf("only %d of the newest 100 ids are remembered", kept)
	}
	total := 0
	for i := range r.shards {
		if len(r.shards[i].m) > len(r.shards[i].ring) {
			t.Fatalf("shard %d holds %d ids in a ring of %d", i, len(r.shards[i].m), len(r.shards[i].ring))
		}
		total += len(r.shards[i].m)
	}
	if total > 256 {
		t.Errorf("%d ids held, capacity 256", total)
	}
	var off *recentIDs // disabled
	off.add("activity", "x", 1)
	if off.seen("activity", "x", 1, 0) {
		t.Error("a disabled set remembers")
	}
}

// Duplicates of recent accepts are refused from memory, and after a
// restart (memory empty) from Pebble: the memory never changes an answer.
func TestRecentAcceptsAndRestart(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	o := testOptions(c)
	db := openT(t, dir, o)
	q := queueT(t, db, "inbound")
	if _, err := db.Accept(activity, "https://a.example/x", q, []byte("e")); err != nil {
		t.Fatal(err)
	}
	if !db.recent.seen(activity, "https://a.example/x", db.bucketOf(c.Now()), 0) {
		t.Fatal("an accept is not remembered")
	}
	p, err := db.Probe(activity, "https://a.example/x")
	if err != nil || !p.Seen {
		t.Fatalf("probe of an accepted id: %+v, %v", p, err)
	}
	if _, err := db.Accept(activity, "https://a.example/x", q, []byte("e")); err == nil {
		t.Fatal("a duplicate was accepted")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, o)
	q = queueT(t, db, "inbound")
	if db.recent.seen(activity, "https://a.example/x", db.bucketOf(c.Now()), 0) {
		t.Fatal("memory survived a restart")
	}
	if _, err := db.Accept(activity, "https://a.example/x", q, []byte("e")); err == nil {
		t.Fatal("a duplicate was accepted after a restart")
	}
	// Past the retention the id is forgotten by both.
	c.Advance(9 * 24 * time.Hour) // default retention 7 days, buckets of a day
	if _, err := db.Accept(activity, "https://a.example/x", q, []byte("e")); err != nil {
		t.Fatalf("an id past the retention: %v", err)
	}
}
