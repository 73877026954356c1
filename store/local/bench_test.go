package local

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAcceptParallel is the ingress hand-off: many concurrent requests,
// each a synced Accept of a fresh id with a 2 KiB entry, sharing fsyncs
// through Pebble's commit pipeline. A consumer group drains the queue as the
// instance would, so trimming and the high-water check run as in production.
//
// "accept" is Accept alone; "seen+accept" and "probe+acceptProbed" add the
// ingress's dedup pre-check, the second the cheap way. "bucket=168h" is
// Accept with weekly buckets (2 probes instead of 8).
func BenchmarkAcceptParallel(b *testing.B) {
	day := 24 * time.Hour
	b.Run("accept", func(b *testing.B) { benchmarkAccept(b, day, accept) })
	b.Run("seen+accept", func(b *testing.B) { benchmarkAccept(b, day, seenAccept) })
	b.Run("probe+acceptProbed", func(b *testing.B) { benchmarkAccept(b, day, probeAccept) })
	b.Run("bucket=168h", func(b *testing.B) { benchmarkAccept(b, 7*day, accept) })
}

func accept(db *DB, id string, q *Queue, entry []byte) error {
	_, err := db.Accept(activity, id, q, entry)
	return err
}

func seenAccept(db *DB, id string, q *Queue, entry []byte) error {
	if seen, err := db.Seen(activity, id); err != nil || seen {
		return fmt.Errorf("fresh id seen: %v", err)
	}
	_, err := db.Accept(activity, id, q, entry)
	return err
}

func probeAccept(db *DB, id string, q *Queue, entry []byte) error {
	p, err := db.Probe(activity, id)
	if err != nil || p.Seen {
		return fmt.Errorf("fresh id seen: %v", err)
	}
	_, err = db.AcceptProbed(p, activity, id, q, entry)
	return err
}

func benchmarkAccept(b *testing.B, bucket time.Duration, do func(*DB, string, *Queue, []byte) error) {
	o := Options{Logger: quiet, QueueHighWater: 1 << 40, DedupBucket: bucket}
	db := openT(b, b.TempDir(), o)
	q := queueT(b, db, "inbound")
	g := groupT(b, q, "instance")
	stop := make(chan struct{})
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for {
			wake := q.Notify()
			items, err := g.Claim(256, time.Minute)
			if err != nil {
				return
			}
			seqs := make([]uint64, len(items))
			for i, it := range items {
				seqs[i] = it.Seq
			}
			if len(seqs) > 0 {
				g.Ack(seqs...)
				continue
			}
			select {
			case <-wake:
			case <-stop:
				return
			}
		}
	}()
	entry := make([]byte, 2048)
	var n atomic.Int64
	b.SetParallelism(64) // 128 requests in flight on 2 cores
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("https://a.example/activities/%d", n.Add(1))
			if err := do(db, id, q, entry); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "accepts/s")
	// The machine is shared: CPU time per accept (this process, all
	// threads) says what two idle cores could sustain, whatever else runs.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/accept")
	close(stop)
	<-consumed
	if testing.Verbose() {
		b.Logf("%s", db.pdb.Metrics())
	}
}

// BenchmarkAcceptSerial is one request at a time: each Accept waits for its
// own fsync, so ns/op is the disk's sync latency plus the store's work. With
// N requests in flight Pebble shares each fsync among them, which is what
// BenchmarkAcceptParallel measures.
func BenchmarkAcceptSerial(b *testing.B) {
	db := openT(b, b.TempDir(), Options{Logger: quiet, QueueHighWater: 1 << 40})
	q := queueT(b, db, "inbound")
	entry := make([]byte, 2048)
	for i := 0; b.Loop(); i++ {
		if _, err := db.Accept(activity, fmt.Sprintf("https://a.example/activities/%d", i), q, entry); err != nil {
			b.Fatal(err)
		}
	}
}

// seedDedup records perBucket ids in each of the live buckets (one per day
// with the defaults) and flushes, so lookups go through sstables and their
// bloom filters as they would after a week of traffic.
func seedDedup(b *testing.B, perBucket, recent int) (*DB, *clock) {
	c := newClock()
	o := testOptions(c)
	o.DedupRecent = recent
	db := openT(b, b.TempDir(), o)
	for day := range int(db.nprobe) {
		for i := range perBucket {
			if _, err := db.MarkSeen(activity, fmt.Sprintf("https://a.example/activities/%d/%d", day, i)); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.pdb.Flush(); err != nil {
			b.Fatal(err)
		}
		if day < int(db.nprobe)-1 {
			c.Advance(o.DedupRetention / time.Duration(db.nprobe-1))
		}
	}
	return db, c
}

// BenchmarkSeenHit looks up ids recorded today (first probe) and ids
// recorded a week ago (last probe), with the recent-ids memory (today's
// ids are in it, the week-old ones were evicted) and without it (every
// hit reads Pebble).
func BenchmarkSeenHit(b *testing.B) {
	for _, mem := range []struct {
		name   string
		recent int
	}{{"recent", 0}, {"pebble", -1}} {
		b.Run(mem.name, func(b *testing.B) { benchSeenHit(b, mem.recent) })
	}
}

func benchSeenHit(b *testing.B, recent int) {
	db, _ := seedDedup(b, 20000, recent)
	for _, c := range []struct {
		name string
		day  int
	}{{"today", int(db.nprobe) - 1}, {"weekOld", 0}} {
		ids := make([]string, 1024)
		for i := range ids {
			ids[i] = fmt.Sprintf("https://a.example/activities/%d/%d", c.day, i*19)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if seen, err := db.Seen(activity, ids[i%len(ids)]); err != nil || !seen {
					b.Fatal("miss", err)
				}
			}
		})
	}
}

// BenchmarkSeenMiss looks up fresh ids: every live bucket is probed.
func BenchmarkSeenMiss(b *testing.B) {
	db, _ := seedDedup(b, 20000, 0)
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("https://b.example/activities/%d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if seen, err := db.Seen(activity, ids[i%len(ids)]); err != nil || seen {
			b.Fatal("hit", err)
		}
	}
}

// BenchmarkClaimAck is one worker claiming batches of 100 entries of 2 KiB
// and acking them, with a backlog of up to 10,000 entries; per-op figures are
// per entry.
func BenchmarkClaimAck(b *testing.B) {
	db := openT(b, b.TempDir(), testOptions(nil))
	q := queueT(b, db, "inbound")
	g := groupT(b, q, "instance")
	entry := make([]byte, 2048)
	batch := make([][]byte, 10000)
	for i := range batch {
		batch[i] = entry
	}
	seqs := make([]uint64, 0, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		items, err := g.Claim(min(100, b.N-done), time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(items) == 0 {
			b.StopTimer()
			if _, err := q.Append(batch...); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			continue
		}
		seqs = seqs[:0]
		for _, it := range items {
			seqs = append(seqs, it.Seq)
		}
		if err := g.Ack(seqs...); err != nil {
			b.Fatal(err)
		}
		done += len(items)
	}
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
