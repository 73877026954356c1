package local

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func scanAll(t *testing.T, l *Log, from, to time.Time) []string {
	t.Helper()
	var got []string
	err := l.Scan(from, to, func(at time.Time, rec []byte) bool {
		got = append(got, fmt.Sprintf("%s@%s", rec, at.UTC().Format("15:04")))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestLogScanNewestFirstWithinBounds(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	l, err := db.Log("decisions", LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, rec := range []string{"a", "b", "c", "d"} {
		if err := l.Append(t0.Add(time.Duration(i)*time.Minute), []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	// Same instant: both kept, in append order.
	l.Append(t0.Add(3*time.Minute), []byte("d2"))
	got := scanAll(t, l, t0.Add(time.Minute), t0.Add(3*time.Minute))
	if want := []string{"c@10:02", "b@10:01"}; !slices.Equal(got, want) {
		t.Fatalf("Scan [10:01, 10:03) = %q, want %q", got, want)
	}
	got = scanAll(t, l, t0, t0.Add(time.Hour))
	if want := []string{"d2@10:03", "d@10:03", "c@10:02", "b@10:01", "a@10:00"}; !slices.Equal(got, want) {
		t.Fatalf("Scan all = %q, want %q", got, want)
	}
	n := 0
	l.Scan(t0, t0.Add(time.Hour), func(time.Time, []byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("Scan visited %d records after fn returned false at 2", n)
	}
}

func TestLogTrimsByCountAndKeepsCountAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	db, err := Open(dir, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := db.Log("decisions", LogOptions{MaxCount: 10})
	for i := range 25 {
		l.Append(c.Now().Add(time.Duration(i)*time.Second), []byte(fmt.Sprint(i)))
	}
	db.maintainNow()
	if l.Len() != 10 {
		t.Fatalf("Len after trim = %d, want 10", l.Len())
	}
	var got []string
	l.Scan(c.Now().Add(-time.Hour), c.Now().Add(time.Hour), func(_ time.Time, rec []byte) bool {
		got = append(got, string(rec))
		return true
	})
	if want := []string{"24", "23", "22", "21", "20", "19", "18", "17", "16", "15"}; !slices.Equal(got, want) {
		t.Fatalf("kept %q, want the 10 newest %q", got, want)
	}
	db.Close()

	db = openT(t, dir, testOptions(c))
	l, _ = db.Log("decisions", LogOptions{MaxCount: 10})
	if l.Len() != 10 {
		t.Fatalf("Len after restart = %d, want 10", l.Len())
	}
	for i := range 5 {
		l.Append(c.Now().Add(time.Minute+time.Duration(i)*time.Second), []byte(fmt.Sprint("new", i)))
	}
	db.maintainNow()
	if got := rawCount(t, db, l.prefix); got != 10 || l.Len() != 10 {
		t.Fatalf("after restart and 5 more appends: %d stored, Len %d; want 10 and 10", got, l.Len())
	}
}

func TestLogTrimsByAge(t *testing.T) {
	c := newClock()
	db := openT(t, t.TempDir(), testOptions(c))
	l, _ := db.Log("decisions", LogOptions{MaxAge: time.Hour})
	for range 4 {
		l.Append(c.Now(), []byte(c.Now().UTC().Format("15:04")))
		c.Advance(30 * time.Minute)
	}
	// Now 14:00; records at 12:00, 12:30, 13:00, 13:30.
	db.maintainNow()
	got := scanAll(t, l, time.Time{}, c.Now().Add(time.Hour))
	if want := []string{"13:30@13:30", "13:00@13:00"}; !slices.Equal(got, want) {
		t.Fatalf("after age trim: %q, want %q", got, want)
	}
	if l.Len() != 2 {
		t.Fatalf("Len = %d, want 2", l.Len())
	}
	if err := db.pdb.Flush(); err != nil {
		t.Fatal(err)
	}
	checkNoPointDeletes(t, db)
}
