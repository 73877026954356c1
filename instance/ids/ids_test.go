package ids

import (
	"errors"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestIDsCarryTheirTimeAndSortByIt(t *testing.T) {
	var g Generator
	base := time.Date(2024, 2, 15, 12, 0, 0, 0, time.UTC)
	a := g.New(base)
	b := g.New(base.Add(time.Millisecond))
	c := g.New(base.Add(time.Hour))
	if !(a < b && b < c) {
		t.Fatalf("ids out of order: %d %d %d", a, b, c)
	}
	if got := Time(c); !got.Equal(base.Add(time.Hour)) {
		t.Fatalf("Time(id) = %v, want %v", got, base.Add(time.Hour))
	}
	if id := g.New(base.Add(-24 * time.Hour)); Time(id) != base.Add(-24*time.Hour) || id >= a {
		t.Fatalf("a backfilled id (%d, time %v) must carry its own time and sort before newer ones (%d)", id, Time(id), a)
	}
	if MinForTime(base) > a || MaxForTime(base) < a {
		t.Fatalf("id %d not within [MinForTime, MaxForTime] of its time", a)
	}
}

func TestSameMillisecondIsMonotonicAndOverflowsIntoNext(t *testing.T) {
	var g Generator
	at := time.UnixMilli(1_700_000_000_000)
	prev := g.New(at)
	for i := 0; i < 70_000; i++ { // more than 2^16: must borrow the next millisecond
		id := g.New(at)
		if id <= prev {
			t.Fatalf("id %d after %d at the same millisecond: not increasing (i=%d)", id, prev, i)
		}
		prev = id
	}
	if Time(prev) == at {
		t.Fatalf("70,000 ids in one millisecond did not move to the next")
	}
	// A clock read slightly before the newest issued time (a goroutine
	// that waited for the lock) still gets a sequence id.
	if id := g.New(at.Add(-10 * time.Millisecond)); id <= prev {
		t.Fatalf("id for a lagging clock %d <= newest %d", id, prev)
	}
}

func TestUniqueUnderConcurrency(t *testing.T) {
	const goroutines, each = 8, 20_000
	var g Generator
	out := make([][]int64, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				out[i] = append(out[i], g.New(time.Now()))
			}
		}()
	}
	wg.Wait()
	var all []int64
	for _, ids := range out {
		// Each goroutine sees its own ids increase.
		if !sort.SliceIsSorted(ids, func(a, b int) bool { return ids[a] < ids[b] }) {
			t.Fatal("one goroutine's ids are not increasing")
		}
		all = append(all, ids...)
	}
	seen := make(map[int64]bool, len(all))
	for _, id := range all {
		if seen[id] {
			t.Fatalf("duplicate id %d among %d", id, len(all))
		}
		seen[id] = true
	}
}

func TestStringParse(t *testing.T) {
	id := MinForTime(time.Now()) | 42
	got, err := Parse(String(id))
	if err != nil || got != id {
		t.Fatalf("Parse(String(%d)) = %d, %v", id, got, err)
	}
	for _, bad := range []string{"", "0", "-5", "+5", "12a", "1e9", "99999999999999999999"} {
		if _, err := Parse(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1", "109876543210987654", "-1", "", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if id <= 0 {
			t.Fatalf("Parse(%q) = %d, not positive", s, id)
		}
		if back, err := Parse(String(id)); err != nil || back != id {
			t.Fatalf("Parse(%q) = %d, which does not round-trip (%d, %v)", s, id, back, err)
		}
	})
}

// A future time (a peer's skewed clock) does not take the sequence with it.
func TestFutureTimeLeavesTheSequenceAlone(t *testing.T) {
	var g Generator
	now := time.Now()
	a := g.New(now)
	if f := g.New(now.Add(24 * time.Hour)); Time(f).Before(now.Add(23 * time.Hour)) {
		t.Fatalf("future id carries time %v", Time(f))
	}
	b := g.New(now)
	if b != a+1 {
		t.Fatalf("after a future id, the next id for now is %d, want %d (the sequence)", b, a+1)
	}
}
