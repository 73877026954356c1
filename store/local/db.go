package local

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Errors callers branch on. Returned errors wrap them (use errors.Is) and add
// what was being done.
var (
	// ErrDuplicate: the id was already recorded as seen in the namespace.
	// The ingress answers 202 without queueing again.
	ErrDuplicate = errors.New("already seen")
	// ErrQueueFull: the queue holds QueueHighWater or more unacknowledged
	// entries. Nothing was written; the ingress answers 429 so the sender
	// retries later (back-pressure, never silent loss).
	ErrQueueFull = errors.New("queue over its high-water mark")
	// ErrInvalid: an argument is empty or too long (ids and key ids are
	// capped at 4096 bytes, names at 255).
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the DB was closed.
	ErrClosed = errors.New("local store closed")
	// ErrLocked: another process (or another DB in this process) has the
	// directory open.
	ErrLocked = errors.New("data directory is locked by another process")
)

// Options configure Open. The zero value is usable: every field has a default.
type Options struct {
	// DedupRetention is how long an id stays seen: at least this long and
	// less than DedupRetention+DedupBucket. Default 7 days.
	DedupRetention time.Duration
	// DedupBucket is the width of a dedup time bucket; expiry drops whole
	// buckets with one range deletion. Lookups probe every live bucket
	// (DedupRetention/DedupBucket+1 of them, at most 64), so buckets are
	// coarse. Default 24h, or DedupRetention/7 rounded up to the hour if
	// that is longer: at most 8 probes. Changing the width (or the
	// retention, when the width is derived) is safe, but ids recorded
	// under the old width are no longer found until they expire.
	DedupBucket time.Duration
	// QueueHighWater is the queue depth (entries not yet acked by the slowest
	// group) at or above which Accept and Append return ErrQueueFull.
	// Default 1,000,000.
	QueueHighWater int64
	// CacheSize is Pebble's block cache for sstable blocks, in bytes.
	// Default 64 MiB. The cache is created 2*MemTableSize larger, since
	// Pebble charges memtables to it.
	CacheSize int64
	// MemTableSize is Pebble's memtable size in bytes. Default 16 MiB, which
	// absorbs ~8 s of 2 KiB activities at 1,000/s between flushes. Against
	// 32 MiB, palisade bench at 5,000/s open loop (5 alternating runs of
	// 100,000): p99 median 21.8 ms against 24.9 ms, peak RSS ~210 MiB
	// against ~240 MiB, the same closed-loop throughput. A flush takes one
	// of the two cores from requests for half as long; 8 MiB flushed and
	// compacted so often that the tail grew again.
	MemTableSize uint64
	// CommitWindow is the least time from the end of one WAL sync to the
	// start of the next. Accepts arriving meanwhile wait and share the next
	// sync, so a node at a moderate rate syncs once per several accepts
	// instead of once per one or two: less CPU per accept (every fsync and
	// every hand-off to the WAL goroutine costs CPU) at the price of a
	// little more latency, up to about two windows. An accept arriving
	// when no sync happened within the window does not wait. Default 1ms;
	// negative syncs as soon as asked. palisade bench at 5,000/s for 60 s
	// (2 alternating runs each): node CPU 130 against 195 µs per accept,
	// p99 10-12 against 17 ms, p50 3.6 against 0.7 ms, one WAL sync per
	// ~9.5 accepts against one per ~1.5.
	CommitWindow time.Duration
	// NoSync commits without waiting for fsync. Tests and benchmarks only:
	// with it a 202 no longer survives a power cut.
	NoSync bool
	// Logger receives maintenance events and Pebble's warnings. Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
	// DedupFilterBits sizes the in-memory Bloom filter kept per live dedup
	// bucket (rounded up to a power of two; the memory is resident). The
	// default 2^24 bits (2 MiB per bucket, at most
	// DedupRetention/DedupBucket+1 buckets) holds about 1.7 million ids a
	// bucket near 1% false positives; beyond that lookups read the store
	// more often but stay correct. Size it at about 10 bits per id a bucket
	// receives. Negative disables the filters.
	DedupFilterBits int64
	// DedupRecent is how many of the latest dedup records are also kept in
	// memory (about 60 bytes each), so that duplicates of recent accepts
	// are answered without reading Pebble. Default 131072; negative
	// disables it.
	DedupRecent int
	// MaintenanceInterval is how often the background goroutine expires
	// dedup buckets and trims queues and logs. Default 1s.
	MaintenanceInterval time.Duration
}

func (o *Options) setDefaults() error {
	if o.DedupRetention == 0 {
		o.DedupRetention = 7 * 24 * time.Hour
	}
	if o.DedupBucket == 0 {
		o.DedupBucket = max(24*time.Hour, (o.DedupRetention/7 + time.Hour - 1).Truncate(time.Hour))
	}
	if o.DedupRetention < 0 || o.DedupBucket < 0 {
		return fmt.Errorf("local: DedupRetention %v and DedupBucket %v must be positive", o.DedupRetention, o.DedupBucket)
	}
	if p := probes(o.DedupRetention, o.DedupBucket); p > 64 {
		return fmt.Errorf("local: DedupRetention %v / DedupBucket %v needs %d bucket probes per lookup; raise DedupBucket so at most 64 remain", o.DedupRetention, o.DedupBucket, p)
	}
	if o.DedupFilterBits == 0 {
		o.DedupFilterBits = 1 << 24
	}
	if o.DedupRecent == 0 {
		o.DedupRecent = 1 << 17
	}
	if o.QueueHighWater <= 0 {
		o.QueueHighWater = 1_000_000
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 64 << 20
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 16 << 20
	}
	if o.CommitWindow == 0 {
		o.CommitWindow = time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaintenanceInterval <= 0 {
		o.MaintenanceInterval = time.Second
	}
	return nil
}

// probes is the number of live dedup buckets: ceil(retention/bucket)+1, which
// guarantees an id recorded at t is found at any time up to t+retention.
func probes(retention, bucket time.Duration) int64 {
	return (int64(retention)+int64(bucket)-1)/int64(bucket) + 1
}

// nStripes is the number of dedup locks. Accepts of ids hashing to the same
// stripe wait for each other's commit; with a few hundred requests in flight
// that is rare, and it never serializes unrelated ids globally.
const nStripes = 4096

// DB is one node's local store. It is safe for concurrent use. Close it when
// done: Close stops the maintenance goroutine and releases the directory lock.
type DB struct {
	pdb   *pebble.DB
	lock  *pebble.Lock
	opts  Options
	log   *slog.Logger
	wsync *pebble.WriteOptions // pebble.Sync unless Options.NoSync
	// committer merges concurrent Accepts into one synced batch (commit.go).
	committer *committer
	now       func() time.Time
	bucket    int64 // dedup bucket width in ns
	nprobe    int64 // live dedup buckets

	// closeMu is read-held by every operation and write-held by Close, so
	// Close waits for operations in flight and none reaches a closed Pebble.
	closeMu sync.RWMutex
	closed  bool

	seed    maphash.Seed
	stripes [nStripes]sync.Mutex

	// filters answer most dedup lookups without reading Pebble (nil when
	// disabled); filterWG waits for the background fill at Close.
	filters  *dedupFilters
	filterWG sync.WaitGroup
	// recent answers duplicates of recent accepts from memory (nil when
	// disabled).
	recent *recentIDs

	events *eventCounts // Pebble events, for metrics

	actorsOnce sync.Once
	actors     *actorMemo // actors noted since Open (actors.go)
	keyBufs    sync.Pool  // *[]byte scratch for dedup keys

	mu     sync.Mutex // guards queues, logs
	queues map[string]*Queue
	logs   map[string]*Log

	// Maintenance goroutine.
	stop         chan struct{}
	done         chan struct{}
	kick         chan chan struct{}
	expiredBelow uint64 // dedup buckets below this are deleted; maintenance only
}

// Open opens (creating if needed) the store in dir. It fails with an error
// wrapping ErrLocked if another process holds dir.
func Open(dir string, o Options) (*DB, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("local: create data directory: %w", err)
	}
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		// The LOCK file could not even be created (permissions, read-only
		// disk): not a second process.
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w (%v); stop the other palisade process using it, or give this one its own data directory", dir, ErrLocked, err)
	}
	// Pebble reserves each memtable's memory from the block cache; without
	// room for them, two 32 MiB memtables (the default then) left a 64 MiB
	// cache empty and every dedup probe read from disk under load. So the
	// cache holds CacheSize for blocks plus two memtables (the mutable one
	// and one flushing).
	cache := pebble.NewCache(o.CacheSize + 2*int64(o.MemTableSize))
	defer cache.Unref() // Pebble holds its own reference while open.
	pl := pebbleLogger{o.Logger}
	ev := &eventCounts{}
	popts := &pebble.Options{
		Cache:                       cache,
		Lock:                        lock,
		Logger:                      pl,
		MemTableSize:                o.MemTableSize,
		MemTableStopWritesThreshold: 4,
		FormatMajorVersion:          pebble.FormatNewest,
		// Two cores: one compaction normally, a second when L0 backs up.
		CompactionConcurrencyRange: func() (int, int) { return 1, 2 },
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) {
				ev.backgroundErrors.Add(1)
				o.Logger.Error("pebble background error", "err", err)
			},
			WriteStallBegin: func(i pebble.WriteStallBeginInfo) {
				ev.stallBegin()
				o.Logger.Warn("pebble write stall: writes wait for flushes or compactions", "reason", i.Reason)
			},
			WriteStallEnd: func() {
				ev.stallEnd()
				o.Logger.Warn("pebble write stall ended")
			},
			DiskSlow: func(i pebble.DiskSlowInfo) {
				ev.diskSlow.Add(1)
				o.Logger.Warn("pebble disk slow", "path", i.Path, "op", i.OpType.String(), "duration", i.Duration)
			},
		},
	}
	// At debug level every flush, compaction, WAL and table event is logged
	// with its sizes and duration, to line a latency tail up with the
	// store's background work.
	if o.Logger.Enabled(context.Background(), slog.LevelDebug) {
		tee := pebble.TeeEventListener(*popts.EventListener, pebble.MakeLoggingEventListener(pl))
		popts.EventListener = &tee
	}
	// Bloom filters on every level (L1+ inherit L0's): dedup misses probe
	// several buckets and must not read data blocks to learn a key is absent.
	popts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	if w := o.CommitWindow; w > 0 {
		popts.WALMinSyncInterval = func() time.Duration { return w }
	}
	pdb, err := pebble.Open(dir, popts)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("local: open pebble in %s: %w", dir, err)
	}
	db := &DB{
		events: ev,
		pdb:    pdb,
		lock:   lock,
		opts:   o,
		log:    o.Logger,
		wsync:  pebble.Sync,
		now:    o.Now,
		bucket: int64(o.DedupBucket),
		nprobe: probes(o.DedupRetention, o.DedupBucket),
		seed:   maphash.MakeSeed(),
		queues: map[string]*Queue{},
		logs:   map[string]*Log{},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		kick:   make(chan chan struct{}),
	}
	if o.NoSync {
		db.wsync = pebble.NoSync
	}
	db.keyBufs.New = func() any { b := make([]byte, 0, 64); return &b }
	if err := db.checkVersion(); err != nil {
		pdb.Close()
		lock.Close()
		return nil, err
	}
	db.recent = newRecentIDs(o.DedupRecent)
	if o.DedupFilterBits > 0 {
		db.filters = newDedupFilters(uint64(o.DedupFilterBits))
		starts := db.liveBucketStarts()
		for _, st := range starts {
			db.filters.get(st, true /* create */, false /* ready after the scan */)
		}
		db.filterWG.Add(1)
		go db.fillFilters(starts)
	}
	db.committer = newCommitter(pdb, o.NoSync)
	go db.maintainLoop()
	return db, nil
}

func (db *DB) checkVersion() error {
	v, closer, err := db.pdb.Get([]byte{tagVersion})
	if errors.Is(err, pebble.ErrNotFound) {
		return db.pdb.Set([]byte{tagVersion}, []byte(formatVersion), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("local: read format version: %w", err)
	}
	defer closer.Close()
	if string(v) != formatVersion {
		return fmt.Errorf("local: data directory holds format %q, this binary reads %q; the local store is a cache, so move the directory aside to rebuild it", v, formatVersion)
	}
	return nil
}

// Pebble returns the underlying Pebble DB for metrics (compactions, disk
// use). Callers MUST NOT write to it, and MUST NOT use it after Close.
func (db *DB) Pebble() *pebble.DB { return db.pdb }

// Close stops the maintenance goroutine, waits for operations in flight,
// wakes consumers blocked on Queue.Notify (their next Claim returns
// ErrClosed), closes Pebble and releases the directory lock.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return ErrClosed
	}
	db.closed = true
	db.closeMu.Unlock()
	close(db.stop)
	<-db.done
	db.filterWG.Wait()
	db.mu.Lock()
	for _, q := range db.queues {
		q.closeNotify()
	}
	db.mu.Unlock()
	err := db.pdb.Close()
	if lerr := db.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("local: close: %w", err)
	}
	return nil
}

// enter read-locks closeMu for one operation; on success the caller MUST
// call db.leave.
func (db *DB) enter() error {
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (db *DB) leave() { db.closeMu.RUnlock() }

// pebbleLogger routes Pebble's logging to slog. Pebble's Infof carries
// routine flush and compaction chatter, so it goes to Debug.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf is called on broken invariants; like Pebble's default logger it
// does not return.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic(msg)
}

// maintainLoop runs maintenance every MaintenanceInterval until Close.
func (db *DB) maintainLoop() {
	defer close(db.done)
	t := time.NewTicker(db.opts.MaintenanceInterval)
	defer t.Stop()
	db.maintain()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			db.maintain()
		case reply := <-db.kick:
			db.maintain()
			close(reply)
		}
	}
}

// maintainNow runs one maintenance pass on the maintenance goroutine and
// waits for it (tests use it to avoid sleeping).
func (db *DB) maintainNow() {
	reply := make(chan struct{})
	db.kick <- reply
	<-reply
}

func (db *DB) maintain() {
	now := db.now()
	if err := db.expireDedup(now); err != nil {
		db.log.Error("local: dedup expiry failed; will retry", "err", err)
	}
	db.mu.Lock()
	queues := make([]*Queue, 0, len(db.queues))
	for _, q := range db.queues {
		queues = append(queues, q)
	}
	logs := make([]*Log, 0, len(db.logs))
	for _, l := range db.logs {
		logs = append(logs, l)
	}
	db.mu.Unlock()
	for _, q := range queues {
		if err := q.trim(); err != nil {
			db.log.Error("local: queue trim failed; will retry", "queue", q.name, "err", err)
		}
	}
	for _, l := range logs {
		if err := l.trim(now); err != nil {
			db.log.Error("local: log trim failed; will retry", "log", l.name, "err", err)
		}
	}
}
