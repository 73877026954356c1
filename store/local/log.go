package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// LogOptions bound a Log. Zero means unbounded.
type LogOptions struct {
	// MaxAge drops records whose time is older than now-MaxAge.
	MaxAge time.Duration
	// MaxCount keeps at most this many records, dropping the oldest.
	MaxCount int64
}

// Log is a bounded, time-ordered log of opaque records (the policy decision
// log). Appends are not synced: records are diagnostic, and the next synced
// commit of the node (every accepted activity) flushes them anyway. Retention
// is applied by the maintenance goroutine, which drops the oldest records
// with one range deletion per pass, so bounds may be exceeded by up to one
// MaintenanceInterval of appends.
type Log struct {
	db      *DB
	name    string
	prefix  []byte
	metaKey []byte

	mu    sync.Mutex
	opts  LogOptions
	count int64  // records stored
	n     uint64 // last tie-breaker used in a key
}

// Log returns the log with the given name (1 to 255 bytes), loading it on
// first use. A later call with the same name returns the same *Log with its
// options replaced by o.
func (db *DB) Log(name string, o LogOptions) (*Log, error) {
	if err := checkName("log", name); err != nil {
		return nil, err
	}
	if o.MaxAge < 0 || o.MaxCount < 0 {
		return nil, fmt.Errorf("local: log %q: %w: MaxAge %v and MaxCount %d must not be negative", name, ErrInvalid, o.MaxAge, o.MaxCount)
	}
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	db.mu.Lock()
	defer db.mu.Unlock()
	if l := db.logs[name]; l != nil {
		l.mu.Lock()
		l.opts = o
		l.mu.Unlock()
		return l, nil
	}
	l := &Log{db: db, name: name, prefix: logPrefix(name), metaKey: logMetaKey(name), opts: o}
	v, closer, err := db.pdb.Get(l.metaKey)
	switch {
	case err == nil:
		if len(v) != 16 {
			closer.Close()
			return nil, fmt.Errorf("local: log %q: meta value is %d bytes, want 16: the store is corrupt; move the data directory aside to rebuild it", name, len(v))
		}
		l.count = int64(binary.BigEndian.Uint64(v))
		l.n = binary.BigEndian.Uint64(v[8:])
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return nil, fmt.Errorf("local: load log %q: %w", name, err)
	}
	db.logs[name] = l
	return l, nil
}

func (l *Log) key(at uint64, n uint64) []byte {
	b := make([]byte, len(l.prefix), len(l.prefix)+16)
	copy(b, l.prefix)
	b = binary.BigEndian.AppendUint64(b, at)
	return binary.BigEndian.AppendUint64(b, n)
}

func (l *Log) meta() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(l.count))
	return binary.BigEndian.AppendUint64(b, l.n)
}

// Append adds rec at time at (records with equal times keep append order).
// rec is copied. The write is not synced.
func (l *Log) Append(at time.Time, rec []byte) error {
	db := l.db
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := db.pdb.NewBatch()
	defer b.Close()
	l.n++
	l.count++
	err := b.Set(l.key(unixNanos(at.UnixNano()), l.n), rec, nil)
	if err == nil {
		err = b.Set(l.metaKey, l.meta(), nil)
	}
	if err == nil {
		err = b.Commit(pebble.NoSync)
	}
	if err != nil {
		l.count--
		return fmt.Errorf("local: append to log %q: %w", l.name, err)
	}
	return nil
}

// Len returns the number of records stored.
func (l *Log) Len() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// Scan calls fn for each record with from <= at < to, NEWEST FIRST (the
// order an admin reading recent decisions wants), until fn returns false.
// rec is only valid until fn returns: copy it to keep it. Scan sees a
// consistent snapshot; appends during the scan are not visited. To page,
// call again with to set to the last at seen (records sharing that exact
// nanosecond on a page boundary are then skipped).
func (l *Log) Scan(from, to time.Time, fn func(at time.Time, rec []byte) bool) error {
	if !from.Before(to) {
		return nil
	}
	db := l.db
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	lo := l.key(unixNanos(from.UnixNano()), 0)
	hi := l.key(unixNanos(to.UnixNano()), 0)
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("local: scan log %q: %w", l.name, err)
	}
	for valid := it.Last(); valid; valid = it.Prev() {
		k := it.Key()[len(l.prefix):]
		at := time.Unix(0, int64(binary.BigEndian.Uint64(k)))
		if !fn(at, it.Value()) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("local: scan log %q: %w", l.name, err)
	}
	return nil
}

// trim drops records beyond MaxCount or older than MaxAge with one range
// deletion; it runs on the maintenance goroutine. It walks only the records
// it drops, to count them.
func (l *Log) trim(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.MaxAge == 0 && l.opts.MaxCount == 0 {
		return nil
	}
	var cutoff uint64
	if l.opts.MaxAge > 0 {
		cutoff = unixNanos(now.Add(-l.opts.MaxAge).UnixNano())
	}
	excess := int64(0)
	if l.opts.MaxCount > 0 {
		excess = l.count - l.opts.MaxCount
	}
	end := prefixEnd(l.prefix)
	it, err := l.db.pdb.NewIter(&pebble.IterOptions{LowerBound: l.prefix, UpperBound: end})
	if err != nil {
		return err
	}
	var dropped int64
	stop := end
	for valid := it.First(); valid; valid = it.Next() {
		at := binary.BigEndian.Uint64(it.Key()[len(l.prefix):])
		if dropped < excess || at < cutoff {
			dropped++
			continue
		}
		stop = append([]byte(nil), it.Key()...)
		break
	}
	if err := it.Close(); err != nil {
		return err
	}
	if dropped == 0 {
		return nil
	}
	b := l.db.pdb.NewBatch()
	defer b.Close()
	l.count -= dropped
	if err := b.DeleteRange(l.prefix, stop, nil); err != nil {
		l.count += dropped
		return err
	}
	if err := b.Set(l.metaKey, l.meta(), nil); err != nil {
		l.count += dropped
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		l.count += dropped
		return err
	}
	return nil
}
