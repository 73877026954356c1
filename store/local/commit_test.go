package local

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	dto "github.com/prometheus/client_model/go"
)

// Concurrent accepts share commits, and sharing loses nothing: after a
// reopen every accepted id is in the queue once, at the seq Accept returned,
// and is known as seen.
func TestConcurrentAcceptsShareCommits(t *testing.T) {
	for _, synced := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%v", synced), func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(nil)
			o.NoSync = !synced
			db, err := Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			q := queueT(t, db, "inbound")
			const workers, each = 64, 40
			var mu sync.Mutex
			seqOf := map[string]uint64{}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						id := fmt.Sprintf("https://a.example/activities/%d-%d", w, i)
						seq, err := db.Accept(activity, id, q, entryFor(id))
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						seqOf[id] = seq
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			cs := db.CommitStats()
			if cs.Accepts != workers*each {
				t.Fatalf("commit stats count %d accepts (%+v), want %d", cs.Accepts, cs, workers*each)
			}
			if cs.Commits == 0 || cs.Commits >= cs.Accepts {
				t.Fatalf("%d accepts took %d commits: no commit was shared", cs.Accepts, cs.Commits)
			}
			t.Logf("%+v: %.1f accepts per commit", cs, float64(cs.Accepts)/float64(cs.Commits))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			db = openT(t, dir, o)
			q = queueT(t, db, "inbound")
			count := map[string]int{}
			for _, it := range drain(t, groupT(t, q, "check")) {
				id := idOf(it.Value)
				count[id]++
				if it.Seq != seqOf[id] {
					t.Errorf("%s: Accept returned seq %d, the queue holds it at %d", id, seqOf[id], it.Seq)
				}
			}
			for id := range seqOf {
				if count[id] != 1 {
					t.Errorf("%s is in the queue %d times, want once", id, count[id])
				}
				if seen, err := db.Seen(activity, id); err != nil || !seen {
					t.Errorf("%s not seen after reopen (%v)", id, err)
				}
			}
			if len(count) != len(seqOf) {
				t.Errorf("queue holds %d ids, %d were accepted", len(count), len(seqOf))
			}
		})
	}
}

// One accept with nothing else in flight commits alone, by itself.
func TestLoneAcceptCommitsAlone(t *testing.T) {
	db := openT(t, t.TempDir(), Options{Logger: quiet})
	q := queueT(t, db, "inbound")
	for i := range 3 {
		id := fmt.Sprintf("https://a.example/activities/%d", i)
		if _, err := db.Accept(activity, id, q, entryFor(id)); err != nil {
			t.Fatal(err)
		}
	}
	if cs := db.CommitStats(); cs != (CommitStats{Accepts: 3, Commits: 3}) {
		t.Fatalf("commit stats %+v, want 3 accepts in 3 commits", cs)
	}
}

// Accepts arriving within the commit window of the last sync wait for it to
// pass and share the next sync: 16 accepts released together right after a
// sync take at most two more commits (the first arrival's, then everyone
// else's), and the first of them waits out the window.
func TestCommitWindowGathersAccepts(t *testing.T) {
	const window = 200 * time.Millisecond
	db := openT(t, t.TempDir(), Options{Logger: quiet, CommitWindow: window})
	q := queueT(t, db, "inbound")
	accept := func(id string) {
		if _, err := db.Accept(activity, id, q, entryFor(id)); err != nil {
			t.Error(err)
		}
	}
	accept("https://a.example/activities/first") // a sync: the window starts
	before := db.CommitStats()
	start := time.Now()
	release := make(chan struct{})
	var wg sync.WaitGroup
	const n = 16
	for i := range n {
		wg.Go(func() {
			<-release
			accept(fmt.Sprintf("https://a.example/activities/%d", i))
		})
	}
	close(release)
	wg.Wait()
	took := time.Since(start)
	after := db.CommitStats()
	if got := after.Accepts - before.Accepts; got != n {
		t.Fatalf("%d accepts committed, want %d", got, n)
	}
	if commits := after.Commits - before.Commits; commits > 2 {
		t.Errorf("%d accepts released together took %d commits, want at most 2 with a %v window", n, commits, window)
	}
	if took < window*9/10 {
		t.Errorf("the accepts took %v, less than the %v window since the last sync", took, window)
	}
	h := db.Pebble().Metrics().LogWriter.FsyncLatency
	if h == nil {
		t.Fatal("Pebble exposes no WAL sync histogram to count syncs with")
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	if syncs := m.GetHistogram().GetSampleCount(); syncs > 4 {
		t.Errorf("%d WAL syncs for %d commits (plus Open's), want at most 4", syncs, after.Commits)
	}
}

// A write that fails half-way poisons the batch it wrote into: nothing in
// that batch is committed, and the other requests in it get an error
// instead of a false promise of durability.
func TestFailedWritePoisonsItsBatch(t *testing.T) {
	db := openT(t, t.TempDir(), Options{Logger: quiet})
	c := db.committer
	// A leader is in flight (as under load), so requests join the open batch.
	c.mu.Lock()
	c.leading = true
	c.mu.Unlock()
	joined := make(chan error, 1)
	go func() {
		joined <- c.submit(func(b *pebble.Batch) error { return b.Set([]byte("zz-good"), []byte("1"), nil) })
	}()
	for {
		c.mu.Lock()
		n := int64(0)
		if c.open != nil {
			n = c.open.n
		}
		c.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	bad := errors.New("disk on fire")
	err := c.submit(func(b *pebble.Batch) error {
		if err := b.Set([]byte("zz-half"), []byte("1"), nil); err != nil {
			return err
		}
		return bad
	})
	if !errors.Is(err, bad) {
		t.Fatalf("failing write: submit = %v, want %v", err, bad)
	}
	// The leader finishes its own (empty) batch and moves on to the open one.
	c.lead(c.newPending())
	if err := <-joined; err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("request sharing the poisoned batch: submit = %v, want an error naming the failed write", err)
	}
	for _, k := range []string{"zz-good", "zz-half"} {
		if _, closer, err := db.pdb.Get([]byte(k)); err == nil {
			closer.Close()
			t.Errorf("%s was committed from a poisoned batch", k)
		}
	}
	if c.leading || c.open != nil {
		t.Fatalf("committer left leading=%v open=%v", c.leading, c.open)
	}
	// And it still works.
	if err := c.submit(func(b *pebble.Batch) error { return b.Set([]byte("zz-after"), []byte("1"), nil) }); err != nil {
		t.Fatal(err)
	}
}

// A write that fails in a batch nobody else has joined drops that batch:
// nothing of it is committed, and the next request is not left waiting for
// a leader that will never come.
func TestFailedLoneWriteIsDropped(t *testing.T) {
	db := openT(t, t.TempDir(), Options{Logger: quiet})
	c := db.committer
	c.mu.Lock()
	c.leading = true // a leader in flight: the failed batch would be next
	c.mu.Unlock()
	bad := errors.New("no room")
	if err := c.submit(func(b *pebble.Batch) error { b.Set([]byte("zz-half"), nil, nil); return bad }); !errors.Is(err, bad) {
		t.Fatalf("submit = %v, want %v", err, bad)
	}
	if c.open != nil {
		t.Fatal("the failed lone write's batch is still open")
	}
	c.lead(c.newPending())
	done := make(chan error, 1)
	go func() { done <- c.submit(func(b *pebble.Batch) error { return b.Set([]byte("zz-after"), nil, nil) }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a submit after a dropped batch never returned")
	}
	if _, closer, err := db.pdb.Get([]byte("zz-half")); err == nil {
		closer.Close()
		t.Error("the failed write was committed")
	}
	if _, closer, err := db.pdb.Get([]byte("zz-after")); err != nil {
		t.Errorf("the next write is not there: %v", err)
	} else {
		closer.Close()
	}
}
