package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/store/local"
)

// BenchmarkOverviewStats measures the overview's scan of a day of the
// decision log (100,000 decisions over 24 hours, one in five refused).
func BenchmarkOverviewStats(b *testing.B) {
	db, err := local.Open(filepath.Join(b.TempDir(), "pebble"), local.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l, err := db.Log("decisions", local.LogOptions{MaxAge: 48 * time.Hour, MaxCount: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	const n = 100_000
	for i := range n {
		at := now.Add(-time.Duration(n-i) * (24 * time.Hour / n))
		rec := policy.Record{At: at, ActivityID: fmt.Sprintf("https://d%d.example/a/%d", i%40, i),
			Actor: fmt.Sprintf("https://d%d.example/users/u%d", i%40, i%500), Domain: fmt.Sprintf("d%d.example", i%40), Action: policy.Accept}
		if i%5 == 0 {
			rec.Action, rec.Fired, rec.Reasons = policy.Reject, []string{fmt.Sprintf("rule-%d", i%7)}, []string{"spam"}
		}
		buf, _ := rec.AppendBinary(nil)
		if err := l.Append(at, buf); err != nil {
			b.Fatal(err)
		}
	}
	c := &console{n: &node{policy: &policyRuntime{decisions: l}}}
	b.ResetTimer()
	for b.Loop() {
		st := c.scanStats(now)
		if st.Scanned != n {
			b.Fatalf("scanned %d of %d", st.Scanned, n)
		}
	}
}
