// Package local is Palisade's per-node Pebble storage: activity dedup records
// with time-bucketed expiry, the actor-key cache, durable multi-consumer
// queues, and bounded diagnostic logs (the decision log). Values are opaque
// bytes; nothing here knows what an activity means.
//
// Everything in this package is a cache or a hand-off buffer: the node's
// Pebble can be rebuilt from Postgres or re-fetched if lost. What it must not
// do is lose or duplicate a request the ingress already answered 202, which
// is why DB.Accept writes the dedup record and the queue entry in one synced
// batch.
//
// # Key layout
//
// One Pebble keyspace, partitioned by a one-byte tag. Names (queues, groups,
// logs, dedup namespaces) are length-prefixed so that no name is a key prefix
// of another; sequence numbers and times are big-endian so that byte order is
// numeric order.
//
//	'v'                                       format version
//	'd' bucketStart:8 len(ns):1 ns id         dedup record (empty value)
//	'k' keyID                                 actor key: storedAt:8 rec
//	'q' len(q):1 q seq:8                      queue entry: appendedAt:8 value
//	'Q' len(q):1 q                            queue trim mark: seq:8
//	'g' len(q):1 q len(g):1 g                 consumer group low-water mark: seq:8
//	'l' len(log):1 log at:8 n:8               log record
//	'L' len(log):1 log                        log count:8 last n:8
//	'a' actor                                 actor first-seen: unix seconds varint
//	'j' len(n):1 n 'h' len(h):1 h due:8 id    scheduled job: attempts:4 payload
//	'j' len(n):1 n 'i' id                     job id index: due:8 len(h):1 h
//
// # Dedup: why day buckets, and how lookups stay cheap
//
// Expiry must drop whole time buckets with one range deletion, so the bucket
// has to lead the key; a lookup then has to probe every live bucket. The
// alternatives each break one requirement: keying by ns|id with the bucket
// in the value makes Seen one Get but expiry a point delete per id (the
// tombstones readers then scan over); keying by ns|id|bucket gives a single
// seek but no contiguous range to drop.
//
// So the bucket is coarse: Options.DedupBucket defaults to 24h (longer for
// retentions over 7 days), so a full lookup reads at most 8 buckets, newest
// first. Keys hold the bucket's start time rather than its number, so a
// changed width never misplaces old records in time. The newest bucket gets a point Get (a duplicate is usually a retry
// or a second delivery minutes after the first, so hits end there); the
// older ones share one iterator and SeekPrefixGE. Every level, L0 included,
// carries a 10-bit-per-key bloom filter, so learning that a key is absent
// from an sstable reads no data block. An id stays "seen" for at least
// DedupRetention and less than DedupRetention+DedupBucket.
//
// Records are only ever written into the current bucket, so buckets that a
// lookup found empty stay empty. DB.Probe (the ingress pre-check) returns
// which buckets it covered and DB.AcceptProbed re-reads only the current
// one: a fresh activity costs one full lookup plus one Get, not two full
// lookups. BenchmarkSeenHit, BenchmarkSeenMiss and BenchmarkAcceptParallel
// measure these paths.
//
// Pebble charges memtables to the block cache, so Open sizes the cache at
// CacheSize plus two memtables; sized at CacheSize alone, 32 MiB memtables
// emptied a 64 MiB cache and every probe read from disk under load.
//
// # Queues: committed horizon, low-water marks, range deletions
//
// Sequence numbers are allocated in memory and committed by concurrent
// batches, which Pebble may finish in any order. A queue tracks the
// allocated-but-unfinished ranges and exposes only the contiguous finished
// prefix (the horizon) to readers, so a consumer never moves past a seq
// whose batch is still in flight. Each consumer group persists a low-water
// mark (every seq below it is acked); acks above it may arrive in any order.
// Entries below the minimum low-water mark of all groups are removed by the
// background maintenance goroutine with one DeleteRange per queue per pass,
// and readers seek straight to their low-water mark, so a busy queue never
// makes them step over point tombstones.
package local
