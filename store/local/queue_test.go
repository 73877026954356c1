package local

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

func checkNoPointDeletes(t *testing.T, db *DB) {
	t.Helper()
	levels, err := db.pdb.SSTables(pebble.WithProperties())
	if err != nil {
		t.Fatal(err)
	}
	var point, ranged uint64
	for _, level := range levels {
		for _, tbl := range level {
			point += tbl.Properties.NumPointDeletions()
			ranged += tbl.Properties.NumRangeDeletions
		}
	}
	if point != 0 || ranged == 0 {
		t.Fatalf("sstables hold %d point deletions and %d range deletions; want 0 and at least 1", point, ranged)
	}
}

// A seq allocated first but committed last must not be skipped by a reader
// that ran in between.
func TestClaimWaitsForOutOfOrderCommits(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")

	commit := func(seq uint64, v string) {
		b := db.pdb.NewBatch()
		defer b.Close()
		if err := q.setEntry(b, seq, time.Now(), []byte(v)); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		q.finish(seq, 1)
	}
	s1, err := q.reserve(1)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := q.reserve(1)
	commit(s2, "second")
	if items, _ := g.Claim(10, time.Minute); len(items) != 0 {
		t.Fatalf("Claim while seq %d is in flight returned %q; want nothing until it commits", s1, values(items))
	}
	commit(s1, "first")
	items, err := g.Claim(10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := values(items); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("after both commits Claim = %q, want [first second]", got)
	}
}

// Many appenders and many claiming workers: every appended entry reaches the
// group exactly once (leases never expire here).
func TestConcurrentAppendClaimAck(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	const appenders, per = 8, 300
	var wg sync.WaitGroup
	for a := range appenders {
		wg.Go(func() {
			for i := range per {
				if _, err := q.Append([]byte(fmt.Sprintf("%d/%d", a, i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	got := map[string]int{}
	done := make(chan struct{})
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() {
			for {
				wake := q.Notify()
				items, err := g.Claim(16, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				for _, it := range items {
					mu.Lock()
					got[string(it.Value)]++
					mu.Unlock()
					if err := g.Ack(it.Seq); err != nil {
						t.Error(err)
					}
				}
				if len(items) == 0 {
					select {
					case <-done:
						// Every append has finished, so an empty Claim
						// now means this worker has nothing left.
						return
					default:
					}
					select {
					case <-wake:
					case <-done:
					}
				}
			}
		})
	}
	wg.Wait()
	close(done)
	workers.Wait()
	if len(got) != appenders*per {
		t.Errorf("%d distinct entries delivered, want %d", len(got), appenders*per)
	}
	for v, n := range got {
		if n != 1 {
			t.Errorf("entry %s delivered %d times", v, n)
		}
	}
	if st := q.Stats(time.Now()); st.Depth != 0 {
		t.Errorf("depth %d after everything was acked, want 0", st.Depth)
	}
}

func TestEveryGroupSeesEveryEntry(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	inst, relay := groupT(t, q, "instance"), groupT(t, q, "relay")
	for i := range 5 {
		if _, err := q.Append([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"0", "1", "2", "3", "4"}
	if got := values(drain(t, inst)); !slices.Equal(got, want) {
		t.Fatalf("instance got %q, want %q", got, want)
	}
	if got := values(drain(t, relay)); !slices.Equal(got, want) {
		t.Fatalf("relay got %q, want %q", got, want)
	}
}

func TestLeaseExpiryRedelivers(t *testing.T) {
	c := newClock()
	db := openT(t, t.TempDir(), testOptions(c))
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	if _, err := q.Append([]byte("a"), []byte("b"), []byte("c")); err != nil {
		t.Fatal(err)
	}
	first, err := g.Claim(2, time.Minute)
	if err != nil || len(first) != 2 {
		t.Fatalf("Claim = %v, %v", first, err)
	}
	// A second worker gets only what is not leased.
	if got, _ := g.Claim(10, time.Minute); !slices.Equal(values(got), []string{"c"}) {
		t.Fatalf("second worker got %q, want [c]", values(got))
	}
	if got, _ := g.Claim(10, time.Minute); len(got) != 0 {
		t.Fatalf("with everything leased Claim = %q, want nothing", values(got))
	}
	if err := g.Ack(first[1].Seq); err != nil { // b done; a's worker died
		t.Fatal(err)
	}
	c.Advance(59 * time.Second)
	if got, _ := g.Claim(10, time.Minute); len(got) != 0 {
		t.Fatalf("before the lease ends Claim = %q, want nothing", values(got))
	}
	c.Advance(2 * time.Second)
	got, err := g.Claim(10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// a and c (whose lease also lapsed) come back, b does not.
	if !slices.Equal(values(got), []string{"a", "c"}) {
		t.Fatalf("after the lease ended Claim = %q, want [a c]", values(got))
	}
	if got[0].Seq != first[0].Seq {
		t.Fatalf("redelivered seq %d, want %d", got[0].Seq, first[0].Seq)
	}
}

func TestUnackedRedeliveredAfterRestart(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	for i := 1; i <= 5; i++ {
		if _, err := q.Append([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	items, _ := g.Claim(5, time.Hour)
	if len(items) != 5 {
		t.Fatalf("claimed %d, want 5", len(items))
	}
	// Out of order: 1 and 3 acked, 2, 4, 5 not.
	if err := g.Ack(items[2].Seq, items[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, testOptions(nil))
	q = queueT(t, db, "inbound")
	g = groupT(t, q, "instance")
	got := values(drain(t, g))
	// 1 is below the low-water mark and never comes back; 3 was acked above
	// it, so it may (at-least-once); 2, 4 and 5 must.
	if !slices.Equal(got, []string{"2", "3", "4", "5"}) {
		t.Fatalf("after restart the group got %q, want [2 3 4 5]", got)
	}
}

func TestSeqContinuesAfterRestartEvenWhenTrimmed(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	q := queueT(t, db, "out")
	g := groupT(t, q, "delivery")
	last, _ := q.Append([]byte("1"), []byte("2"), []byte("3"))
	last += 2
	drain(t, g)
	db.maintainNow()
	if n := rawCount(t, db, q.prefix); n != 0 {
		t.Fatalf("%d entries left after all were acked and trimmed", n)
	}
	db.Close()

	db = openT(t, dir, testOptions(nil))
	q = queueT(t, db, "out")
	seq, err := q.Append([]byte("4"))
	if err != nil {
		t.Fatal(err)
	}
	if seq != last+1 {
		t.Fatalf("first seq after restart = %d, want %d (seqs are never reused)", seq, last+1)
	}
	if got := values(drain(t, groupT(t, q, "delivery"))); !slices.Equal(got, []string{"4"}) {
		t.Fatalf("after restart the group got %q, want [4]", got)
	}
}

func TestTrimUsesRangeDeletionsOnly(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	fast, slow := groupT(t, q, "instance"), groupT(t, q, "relay")
	for i := range 100 {
		if _, err := q.Append([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, fast)
	items, _ := slow.Claim(40, time.Hour)
	seqs := make([]uint64, len(items))
	for i, it := range items {
		seqs[i] = it.Seq
	}
	if err := slow.Ack(seqs...); err != nil {
		t.Fatal(err)
	}
	db.maintainNow()
	// The slow group holds the rest back.
	if n := rawCount(t, db, q.prefix); n != 60 {
		t.Fatalf("%d entries stored, want the 60 the slow group has not acked", n)
	}
	drain(t, slow)
	db.maintainNow()
	if n := rawCount(t, db, q.prefix); n != 0 {
		t.Fatalf("%d entries stored after every group acked all, want 0", n)
	}
	if err := db.pdb.Flush(); err != nil {
		t.Fatal(err)
	}
	checkNoPointDeletes(t, db)
}

func TestNewGroupGetsRetainedEntries(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	// Appended before any consumer registered (the ingress may start first).
	q.Append([]byte("early"))
	g := groupT(t, q, "instance")
	if got := values(drain(t, g)); !slices.Equal(got, []string{"early"}) {
		t.Fatalf("first group got %q, want [early]", got)
	}
	q.Append([]byte("later"))
	// A group registered after trimming starts at what is still retained.
	db.maintainNow()
	if got := values(drain(t, groupT(t, q, "relay"))); !slices.Equal(got, []string{"later"}) {
		t.Fatalf("second group got %q, want [later]", got)
	}
}

func TestDeleteGroupReleasesBacklog(t *testing.T) {
	o := testOptions(nil)
	o.QueueHighWater = 3
	db := openT(t, t.TempDir(), o)
	q := queueT(t, db, "inbound")
	live := groupT(t, q, "instance")
	gone := groupT(t, q, "relay")
	q.Append([]byte("1"), []byte("2"), []byte("3"))
	drain(t, live)
	if _, err := q.Append([]byte("4")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("append with an idle group's backlog at high water: err = %v, want ErrQueueFull", err)
	}
	if err := q.DeleteGroup("relay"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Append([]byte("4")); err != nil {
		t.Fatalf("append after deleting the idle group: %v", err)
	}
	if _, err := gone.Claim(1, time.Minute); err == nil {
		t.Fatal("Claim on a deleted group succeeded")
	}
}

func TestAckOfUnclaimedSeqFails(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	seq, _ := q.Append([]byte("x"))
	if err := g.Ack(seq); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Ack of an unclaimed seq: err = %v, want ErrInvalid", err)
	}
	items, _ := g.Claim(1, time.Minute)
	if err := g.Ack(items[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := g.Ack(items[0].Seq); err != nil {
		t.Fatalf("second Ack of the same seq: %v, want no-op", err)
	}
}

func TestNotifyWakesAfterAppend(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	a, b := q.Notify(), q.Notify()
	select {
	case <-a:
		t.Fatal("Notify channel closed before any append")
	default:
	}
	q.Append([]byte("x"))
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("Notify channel still open after an append committed")
		}
	}
	if ch := q.Notify(); isClosed(ch) {
		t.Fatal("a fresh Notify channel is already closed")
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestCloseWakesConsumers(t *testing.T) {
	db, err := Open(t.TempDir(), testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	wake := q.Notify()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !isClosed(wake) {
		t.Fatal("Close left a consumer's Notify channel open")
	}
	if _, err := g.Claim(1, time.Minute); !errors.Is(err, ErrClosed) {
		t.Fatalf("Claim after Close: err = %v, want ErrClosed", err)
	}
}

func TestQueueStats(t *testing.T) {
	c := newClock()
	db := openT(t, t.TempDir(), testOptions(c))
	q := queueT(t, db, "inbound")
	inst, relay := groupT(t, q, "instance"), groupT(t, q, "relay")
	q.Append([]byte("1"))
	c.Advance(time.Minute)
	q.Append([]byte("2"), []byte("3"))
	c.Advance(time.Minute)
	drain(t, inst)
	items, _ := relay.Claim(1, time.Hour)
	st := q.Stats(c.Now())
	if st.Depth != 3 || st.OldestAge != 2*time.Minute {
		t.Fatalf("Depth %d OldestAge %v, want 3 and 2m0s", st.Depth, st.OldestAge)
	}
	want := []GroupStats{{Name: "instance", LowWater: 4, Lag: 0}, {Name: "relay", LowWater: 1, Lag: 3, Leased: 1}}
	if !slices.Equal(st.Groups, want) {
		t.Fatalf("groups %+v, want %+v", st.Groups, want)
	}
	relay.Ack(items[0].Seq)
	if st := q.Stats(c.Now()); st.Depth != 2 || st.OldestAge != time.Minute {
		t.Fatalf("after relay acked seq 1: Depth %d OldestAge %v, want 2 and 1m0s", st.Depth, st.OldestAge)
	}
}
