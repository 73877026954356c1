package local

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// clock is an injectable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testOptions: unsynced (fsync proves nothing here; the durability test
// syncs), maintenance only when a test kicks it (plus once at Open).
func testOptions(c *clock) Options {
	o := Options{NoSync: true, Logger: quiet, MaintenanceInterval: time.Hour}
	if c != nil {
		o.Now = c.Now
	}
	return o
}

func openT(t testing.TB, dir string, o Options) *DB {
	t.Helper()
	db, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queueT(t testing.TB, db *DB, name string) *Queue {
	t.Helper()
	q, err := db.Queue(name)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func groupT(t testing.TB, q *Queue, name string) *Group {
	t.Helper()
	g, err := q.Group(name)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// drain claims until nothing is left, acking everything, and returns the
// values in claim order.
func drain(t testing.TB, g *Group) []Item {
	t.Helper()
	var all []Item
	for {
		items, err := g.Claim(100, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			return all
		}
		seqs := make([]uint64, len(items))
		for i, it := range items {
			seqs[i] = it.Seq
		}
		if err := g.Ack(seqs...); err != nil {
			t.Fatal(err)
		}
		all = append(all, items...)
	}
}

// rawCount counts live keys with the given prefix straight from Pebble.
func rawCount(t testing.TB, db *DB, prefix []byte) int {
	t.Helper()
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

func values(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it.Value)
	}
	return out
}
