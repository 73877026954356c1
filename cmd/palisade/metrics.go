package main

import (
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/palisade-fedi/palisade/store/local"
)

// localCollector exports, at scrape time, the durable queues' state, the
// Pebble store's health and the space left where the data directory is.
type localCollector struct {
	db      *local.DB
	dataDir string
	queues  []*local.Queue

	depth, oldest, lag, highWater                       *prometheus.Desc
	diskUse, compactions, compactDebt, flushes, readAmp *prometheus.Desc
	cacheHits, cacheMisses, stalls, stallTime           *prometheus.Desc
	diskSlow, bgErrors, dirFree, dirSize                *prometheus.Desc
	walFsync, accepts, acceptCommits                    *prometheus.Desc
}

func newLocalCollector(db *local.DB, dataDir string, queues ...*local.Queue) *localCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &localCollector{
		db: db, dataDir: dataDir, queues: queues,
		depth:       d("palisade_queue_depth", "Entries in a durable queue not yet acknowledged by its slowest consumer group.", "queue"),
		oldest:      d("palisade_queue_oldest_age_seconds", "Age of the oldest unacknowledged entry in a durable queue (0 when empty).", "queue"),
		lag:         d("palisade_queue_group_lag", "Entries a consumer group has yet to acknowledge.", "queue", "group"),
		highWater:   d("palisade_queue_high_water", "Depth at which a durable queue refuses appends (the ingress answers 429).", "queue"),
		diskUse:     d("palisade_pebble_disk_usage_bytes", "Bytes the local Pebble store occupies on disk (sstables, WAL, manifests)."),
		compactions: d("palisade_pebble_compactions_total", "Compactions the local Pebble store has run since start."),
		compactDebt: d("palisade_pebble_compaction_debt_bytes", "Estimated bytes the local store must still compact to reach a stable shape."),
		flushes:     d("palisade_pebble_flushes_total", "Memtable flushes of the local Pebble store since start."),
		readAmp:     d("palisade_pebble_read_amplification", "Sorted runs a point read may consult (memtables plus L0 sublevels plus non-empty levels)."),
		cacheHits:   d("palisade_pebble_block_cache_hits_total", "Block cache hits of the local Pebble store."),
		cacheMisses: d("palisade_pebble_block_cache_misses_total", "Block cache misses of the local Pebble store."),
		stalls:      d("palisade_pebble_write_stalls_total", "Times writes to the local store were stalled waiting for flushes or compactions."),
		stallTime:   d("palisade_pebble_write_stall_seconds_total", "Time writes to the local store spent stalled."),
		diskSlow:    d("palisade_pebble_disk_slow_total", "Disk operations of the local store that took unusually long."),
		bgErrors:    d("palisade_pebble_background_errors_total", "Errors in the local store's background work (flushes, compactions)."),
		dirFree:     d("palisade_data_dir_free_bytes", "Bytes available to Palisade on the file system holding data_dir."),
		dirSize:     d("palisade_data_dir_size_bytes", "Size of the file system holding data_dir."),
		accepts:     d("palisade_local_accepts_committed_total", "Accepted activities (and relay seen-marks) durably committed to the local store."),
		acceptCommits: d("palisade_local_accept_commits_total", "Pebble commits that carried the accepts: concurrent accepts share one, so accepts divided by commits "+
			"is the mean number per commit."),
		walFsync: d("palisade_pebble_wal_fsync_seconds", "Duration of the local store's WAL syncs: every accepted activity waits for one "+
			"(many share each). Slow syncs here with idle CPU mean a slow or contended disk."),
	}
}

func (c *localCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.oldest, c.lag, c.highWater, c.diskUse, c.compactions, c.compactDebt,
		c.flushes, c.readAmp, c.cacheHits, c.cacheMisses, c.stalls, c.stallTime, c.diskSlow, c.bgErrors, c.dirFree, c.dirSize, c.walFsync,
		c.accepts, c.acceptCommits} {
		ch <- d
	}
}

func (c *localCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	for _, q := range c.queues {
		s := q.Stats(now)
		gauge(c.depth, float64(s.Depth), q.Name())
		gauge(c.oldest, s.OldestAge.Seconds(), q.Name())
		gauge(c.highWater, float64(q.HighWater()), q.Name())
		for _, g := range s.Groups {
			gauge(c.lag, float64(g.Lag), q.Name(), g.Name)
		}
	}
	m := c.db.Pebble().Metrics()
	gauge(c.diskUse, float64(m.DiskSpaceUsage()))
	counter(c.compactions, float64(m.Compact.Count))
	gauge(c.compactDebt, float64(m.Compact.EstimatedDebt))
	counter(c.flushes, float64(m.Flush.Count))
	gauge(c.readAmp, float64(m.ReadAmp()))
	counter(c.cacheHits, float64(m.BlockCache.Hits))
	counter(c.cacheMisses, float64(m.BlockCache.Misses))
	if h := m.LogWriter.FsyncLatency; h != nil {
		if hm, err := walFsyncHistogram(c.walFsync, h); err == nil {
			ch <- hm
		}
	}
	ev := c.db.Events()
	counter(c.stalls, float64(ev.WriteStalls))
	counter(c.stallTime, ev.WriteStallTime.Seconds())
	counter(c.diskSlow, float64(ev.DiskSlow))
	counter(c.bgErrors, float64(ev.BackgroundErrors))
	cs := c.db.CommitStats()
	counter(c.accepts, float64(cs.Accepts))
	counter(c.acceptCommits, float64(cs.Commits))
	var fs syscall.Statfs_t
	if syscall.Statfs(c.dataDir, &fs) == nil {
		gauge(c.dirFree, float64(fs.Bavail)*float64(fs.Bsize))
		gauge(c.dirSize, float64(fs.Blocks)*float64(fs.Bsize))
	}
}

// walFsyncBounds are the bucket bounds palisade_pebble_wal_fsync_seconds
// reports, in seconds. Pebble's own histogram has 100 buckets in
// nanoseconds; each of these is mapped to the largest of Pebble's bounds not
// above it, so the counts are exact for the bound reported.
var walFsyncBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}

// walFsyncHistogram re-exports Pebble's WAL fsync histogram (nanoseconds,
// 100 buckets) in seconds on fewer buckets.
func walFsyncHistogram(desc *prometheus.Desc, h prometheus.Histogram) (prometheus.Metric, error) {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		return nil, err
	}
	ph := m.GetHistogram()
	buckets := make(map[float64]uint64, len(walFsyncBounds))
	pb := ph.GetBucket()
	j := -1 // index of the largest Pebble bound <= the wanted bound
	for _, want := range walFsyncBounds {
		for j+1 < len(pb) && pb[j+1].GetUpperBound()/1e9 <= want*(1+1e-9) {
			j++
		}
		if j < 0 {
			continue
		}
		b := pb[j].GetUpperBound() / 1e9
		buckets[b] = pb[j].GetCumulativeCount()
	}
	return prometheus.NewConstHistogram(desc, ph.GetSampleCount(), ph.GetSampleSum()/1e9, buckets)
}
