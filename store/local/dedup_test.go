package local

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const activity = "activity"

func TestAcceptRecordsAndQueuesOnce(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	id := "https://a.example/activities/1"

	if seen, err := db.Seen(activity, id); err != nil || seen {
		t.Fatalf("Seen before Accept = %v, %v; want false", seen, err)
	}
	seq, err := db.Accept(activity, id, q, []byte("body-1"))
	if err != nil {
		t.Fatal(err)
	}
	if seen, err := db.Seen(activity, id); err != nil || !seen {
		t.Fatalf("Seen after Accept = %v, %v; want true", seen, err)
	}
	if _, err := db.Accept(activity, id, q, []byte("body-again")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Accept: err = %v, want ErrDuplicate", err)
	}
	if fresh, err := db.MarkSeen(activity, id); err != nil || fresh {
		t.Fatalf("MarkSeen of accepted id = %v, %v; want not fresh", fresh, err)
	}
	// Namespaces are separate sets: the relay's "relayed" ids do not collide.
	if seen, _ := db.Seen("relayed", id); seen {
		t.Fatal("id accepted in \"activity\" is seen in \"relayed\"")
	}
	if fresh, err := db.MarkSeen("relayed", id); err != nil || !fresh {
		t.Fatalf("MarkSeen in another namespace = %v, %v; want fresh", fresh, err)
	}
	items := drain(t, g)
	if len(items) != 1 || items[0].Seq != seq || string(items[0].Value) != "body-1" {
		t.Fatalf("queue holds %v, want exactly seq %d body-1", items, seq)
	}
}

func TestAcceptRejectsBadArguments(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	for _, c := range []struct{ ns, id string }{
		{"", "x"},
		{activity, ""},
		{activity, strings.Repeat("x", maxIDLen+1)},
		{strings.Repeat("n", 256), "x"},
	} {
		if _, err := db.Accept(c.ns, c.id, q, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("Accept(ns %d bytes, id %d bytes): err = %v, want ErrInvalid", len(c.ns), len(c.id), err)
		}
	}
	if _, err := db.Accept(activity, "x", nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Accept with nil queue: err = %v, want ErrInvalid", err)
	}
}

func TestConcurrentAcceptsOfOneIDExactlyOneWins(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	const racers = 64
	for round := range 20 {
		id := fmt.Sprintf("https://a.example/activities/%d", round)
		var wins, dups atomic.Int32
		var wg sync.WaitGroup
		for range racers {
			wg.Go(func() {
				_, err := db.Accept(activity, id, q, []byte(id))
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrDuplicate):
					dups.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || dups.Load() != racers-1 {
			t.Fatalf("round %d: %d wins, %d duplicates; want 1 and %d", round, wins.Load(), dups.Load(), racers-1)
		}
	}
	items := drain(t, g)
	if len(items) != 20 {
		t.Fatalf("queue holds %d entries after 20 contested ids, want 20: %q", len(items), values(items))
	}
}

func TestQueueFullRecordsNothing(t *testing.T) {
	o := testOptions(nil)
	o.QueueHighWater = 2
	db := openT(t, t.TempDir(), o)
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	for i := range 2 {
		if _, err := db.Accept(activity, fmt.Sprint(i), q, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Accept(activity, "late", q, nil); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Accept over high water: err = %v, want ErrQueueFull", err)
	}
	// The refused id must not count as seen, or the sender's retry would be
	// answered "duplicate" and the activity lost.
	if seen, _ := db.Seen(activity, "late"); seen {
		t.Fatal("an id refused with ErrQueueFull is recorded as seen")
	}
	// A duplicate needs no room: it is still reported as such.
	if _, err := db.Accept(activity, "0", q, nil); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate on a full queue: err = %v, want ErrDuplicate", err)
	}
	items, err := g.Claim(1, time.Minute)
	if err != nil || len(items) != 1 {
		t.Fatalf("Claim = %v, %v", items, err)
	}
	if err := g.Ack(items[0].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Accept(activity, "late", q, nil); err != nil {
		t.Fatalf("Accept after the consumer caught up: %v", err)
	}
}

func TestDedupSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	db, err := Open(dir, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.MarkSeen(activity, "x"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, dir, testOptions(c))
	if seen, err := db.Seen(activity, "x"); err != nil || !seen {
		t.Fatalf("Seen after reopen = %v, %v; want true", seen, err)
	}
}

func TestDedupRetentionWindow(t *testing.T) {
	c := newClock()
	o := testOptions(c)
	o.DedupRetention = 7 * 24 * time.Hour
	o.DedupBucket = 24 * time.Hour
	db := openT(t, t.TempDir(), o)
	if _, err := db.MarkSeen(activity, "old"); err != nil {
		t.Fatal(err)
	}
	// Just short of the retention the id must still be a duplicate, across
	// every bucket boundary in between.
	for range 7 * 24 {
		c.Advance(time.Hour)
		if c.Now().Sub(newClock().Now()) >= o.DedupRetention {
			break
		}
		if seen, _ := db.Seen(activity, "old"); !seen {
			t.Fatalf("id forgotten %v after it was seen; retention is %v", c.Now().Sub(newClock().Now()), o.DedupRetention)
		}
	}
	// Past retention plus one bucket it must be forgotten, even before the
	// expiry pass has deleted anything.
	c.Advance(o.DedupBucket + time.Hour)
	if seen, _ := db.Seen(activity, "old"); seen {
		t.Fatalf("id still seen %v after it was recorded", c.Now().Sub(newClock().Now()))
	}
	if fresh, _ := db.MarkSeen(activity, "old"); !fresh {
		t.Fatal("expired id is not fresh again")
	}
}

func TestBackgroundExpiryDropsWholeBuckets(t *testing.T) {
	c := newClock()
	o := testOptions(c)
	o.DedupRetention = 3 * 24 * time.Hour
	o.DedupBucket = 24 * time.Hour
	db := openT(t, t.TempDir(), o)
	// One id per day for 6 days.
	for day := range 6 {
		for i := range 10 {
			if _, err := db.MarkSeen(activity, fmt.Sprintf("day%d-%d", day, i)); err != nil {
				t.Fatal(err)
			}
		}
		c.Advance(24 * time.Hour)
	}
	if n := rawCount(t, db, []byte{tagDedup}); n != 60 {
		t.Fatalf("%d dedup records stored before expiry, want 60", n)
	}
	db.maintainNow()
	// Live: the current (empty) day and the 3 before it: days 3, 4, 5.
	if n := rawCount(t, db, []byte{tagDedup}); n != 30 {
		t.Fatalf("%d dedup records after expiry, want 30 (days 3-5)", n)
	}
	for day := range 6 {
		seen, _ := db.Seen(activity, fmt.Sprintf("day%d-0", day))
		if want := day >= 3; seen != want {
			t.Errorf("day %d id seen = %v, want %v", day, seen, want)
		}
	}
	// The expiry removes records with range deletions, not point tombstones.
	if err := db.pdb.Flush(); err != nil {
		t.Fatal(err)
	}
	checkNoPointDeletes(t, db)
}

func TestOptionsRefuseTooManyProbes(t *testing.T) {
	o := testOptions(nil)
	o.DedupBucket = time.Hour // 7 days of hourly buckets: 169 probes
	if _, err := Open(t.TempDir(), o); err == nil || !strings.Contains(err.Error(), "DedupBucket") {
		t.Fatalf("Open with hourly buckets and 7-day retention: err = %v, want advice to raise DedupBucket", err)
	}
}

// FuzzDedupIsolation checks that ids and namespaces from untrusted input
// never alias: recording (ns1, id1) makes (ns2, id2) seen only if equal.
func FuzzDedupIsolation(f *testing.F) {
	f.Add("activity", "https://a.example/1", "activity", "https://a.example/1")
	f.Add("activity", "https://a.example/1", "activity", "https://a.example/10")
	f.Add("a", "\x01b", "a\x01", "b")
	f.Add("activity", "x", "relayed", "x")
	f.Add("n", "\x00\xff", "n", "\x00")
	db := openT(f, f.TempDir(), testOptions(nil))
	f.Fuzz(func(t *testing.T, ns1, id1, ns2, id2 string) {
		if checkDedupArgs(ns1, id1) != nil || checkDedupArgs(ns2, id2) != nil {
			if _, err := db.Seen(ns1, id1); checkDedupArgs(ns1, id1) != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Seen(%q, %q) on invalid input: err = %v, want ErrInvalid", ns1, id1, err)
			}
			return
		}
		// Each input gets its own namespace suffix so earlier runs don't leak in.
		salt := fmt.Sprintf("#%d", fuzzRun.Add(1))
		if len(ns1)+len(salt) > maxNameLen || len(ns2)+len(salt) > maxNameLen {
			return
		}
		ns1, ns2 = ns1+salt, ns2+salt
		if _, err := db.MarkSeen(ns1, id1); err != nil {
			t.Fatal(err)
		}
		seen, err := db.Seen(ns2, id2)
		if err != nil {
			t.Fatal(err)
		}
		if want := ns1 == ns2 && id1 == id2; seen != want {
			t.Fatalf("after recording (%q, %q), Seen(%q, %q) = %v, want %v", ns1, id1, ns2, id2, seen, want)
		}
	})
}

var fuzzRun atomic.Int64

func TestProbeThenAccept(t *testing.T) {
	c := newClock()
	db := openT(t, t.TempDir(), testOptions(c))
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")

	p, err := db.Probe(activity, "a")
	if err != nil || p.Seen {
		t.Fatalf("Probe of a fresh id = %+v, %v", p, err)
	}
	if _, err := db.AcceptProbed(p, activity, "a", q, []byte("a")); err != nil {
		t.Fatal(err)
	}
	p, _ = db.Probe(activity, "a")
	if !p.Seen {
		t.Fatal("Probe after AcceptProbed: not seen")
	}
	if _, err := db.AcceptProbed(p, activity, "a", q, []byte("a")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("AcceptProbed with a Seen probe: err = %v, want ErrDuplicate", err)
	}

	// Two requests for one id pass the pre-check together; one wins.
	p1, _ := db.Probe(activity, "b")
	p2, _ := db.Probe(activity, "b")
	var wg sync.WaitGroup
	var wins atomic.Int32
	for _, p := range []Probe{p1, p2} {
		wg.Go(func() {
			if _, err := db.AcceptProbed(p, activity, "b", q, []byte("b")); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, ErrDuplicate) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of two racing AcceptProbed calls won, want 1", wins.Load())
	}

	// Recorded by another request after the probe, then the bucket turned
	// over before this request got to accept: still a duplicate.
	p, _ = db.Probe(activity, "c")
	if fresh, _ := db.MarkSeen(activity, "c"); !fresh {
		t.Fatal("c not fresh")
	}
	c.Advance(24 * time.Hour)
	if _, err := db.AcceptProbed(p, activity, "c", q, []byte("c")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("AcceptProbed after the id was recorded in the probe's bucket: err = %v, want ErrDuplicate", err)
	}

	// A probe of another id does not vouch for this one: full lookup.
	if _, err := db.MarkSeen(activity, "old"); err != nil {
		t.Fatal(err)
	}
	c.Advance(3 * 24 * time.Hour)
	other, _ := db.Probe(activity, "unrelated")
	if _, err := db.AcceptProbed(other, activity, "old", q, []byte("old")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("AcceptProbed with another id's probe: err = %v, want ErrDuplicate from a full lookup", err)
	}
	if _, err := db.AcceptProbed(Probe{}, activity, "old", q, []byte("old")); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("AcceptProbed with the zero Probe: err = %v, want ErrDuplicate from a full lookup", err)
	}
	if got := values(drain(t, g)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("queue holds %q, want [a b]", got)
	}
}

// Keys hold bucket start times, so a width change between runs neither
// resurrects nor strands old records: they still expire on time.
func TestDedupBucketWidthChangeStillExpires(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	o := testOptions(c)
	o.DedupRetention = 3 * 24 * time.Hour
	o.DedupBucket = 24 * time.Hour
	db, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	for day := range 3 {
		db.MarkSeen(activity, fmt.Sprint("day", day))
		c.Advance(24 * time.Hour)
	}
	db.Close()

	o.DedupBucket = 48 * time.Hour
	c.Advance(o.DedupRetention + o.DedupBucket)
	db = openT(t, dir, o)
	db.maintainNow()
	if n := rawCount(t, db, []byte{tagDedup}); n != 0 {
		t.Fatalf("%d dedup records left after retention passed under a new bucket width, want 0", n)
	}
}

func TestDefaultBucketKeepsProbesBounded(t *testing.T) {
	for _, r := range []time.Duration{time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour} {
		o := Options{DedupRetention: r}
		if err := o.setDefaults(); err != nil {
			t.Fatalf("retention %v: %v", r, err)
		}
		if p := probes(o.DedupRetention, o.DedupBucket); p > 8 {
			t.Errorf("retention %v: default bucket %v needs %d probes, want at most 8", r, o.DedupBucket, p)
		}
	}
}
