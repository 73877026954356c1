package local

import (
	"fmt"
	"sync"
	"testing"
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
			if got := cs.Direct + cs.Merged; got != workers*each {
				t.Fatalf("commit stats count %d accepts (%+v), want %d", got, cs, workers*each)
			}
			if cs.MergedBatches == 0 || cs.MergedBatches >= cs.Merged {
				t.Fatalf("%d merged accepts went in %d commits: no commit was shared (%+v)", cs.Merged, cs.MergedBatches, cs)
			}
			t.Logf("%+v: %.1f accepts per merged commit", cs, float64(cs.Merged)/float64(cs.MergedBatches))
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

// One accept with nothing else in flight is committed directly, without the
// merging goroutines' hand-offs (an idle node's latency).
func TestLoneAcceptCommitsDirectly(t *testing.T) {
	db := openT(t, t.TempDir(), Options{Logger: quiet})
	q := queueT(t, db, "inbound")
	for i := range 3 {
		id := fmt.Sprintf("https://a.example/activities/%d", i)
		if _, err := db.Accept(activity, id, q, entryFor(id)); err != nil {
			t.Fatal(err)
		}
	}
	if cs := db.CommitStats(); cs != (CommitStats{Direct: 3}) {
		t.Fatalf("commit stats %+v, want 3 direct", cs)
	}
}
