package local

import (
	"encoding/binary"
	"fmt"
)

// Key tags: the first byte of every key says which structure owns it. See the
// package documentation for the full layout.
const (
	tagVersion    = 'v'
	tagDedup      = 'd'
	tagKey        = 'k'
	tagQueue      = 'q'
	tagQueueTrim  = 'Q'
	tagGroup      = 'g'
	tagLog        = 'l'
	tagLogMeta    = 'L'
	formatVersion = "palisade-local-1"
)

// Limits on caller-supplied strings. Names are chosen by our own code; ids
// and key ids come from remote peers, so they are bounded to keep a hostile
// peer from making us store huge keys.
const (
	maxNameLen = 255
	maxIDLen   = 4096
)

func checkName(kind, name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("local: %s name %q: %w: want 1 to %d bytes", kind, truncate(name), ErrInvalid, maxNameLen)
	}
	return nil
}

func checkID(kind, id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("local: %s of %d bytes: %w: want 1 to %d bytes", kind, len(id), ErrInvalid, maxIDLen)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// appendName appends a length-prefixed name; callers have checked its length.
func appendName(b []byte, name string) []byte {
	b = append(b, byte(len(name)))
	return append(b, name...)
}

// appendDedupKey appends 'd' start ns id, start being the bucket's start
// time. It sits at b[1:9] of the returned key (when b was empty) so probes
// can overwrite it in place.
func appendDedupKey(b []byte, start uint64, ns, id string) []byte {
	b = append(b, tagDedup)
	b = binary.BigEndian.AppendUint64(b, start)
	b = appendName(b, ns)
	return append(b, id...)
}

func dedupBucketKey(start uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{tagDedup}, start)
}

func keyCacheKey(keyID string) []byte {
	b := make([]byte, 0, 1+len(keyID))
	b = append(b, tagKey)
	return append(b, keyID...)
}

// queuePrefix is 'q' len(q) q; entry keys append the seq.
func queuePrefix(q string) []byte { return appendName([]byte{tagQueue}, q) }

func queueTrimKey(q string) []byte { return appendName([]byte{tagQueueTrim}, q) }

func groupPrefix(q string) []byte { return appendName([]byte{tagGroup}, q) }

func groupKey(q, g string) []byte { return appendName(groupPrefix(q), g) }

func logPrefix(name string) []byte { return appendName([]byte{tagLog}, name) }

func logMetaKey(name string) []byte { return appendName([]byte{tagLogMeta}, name) }

// seqKey returns prefix followed by the big-endian seq, in a new slice.
func seqKey(prefix []byte, seq uint64) []byte {
	b := make([]byte, len(prefix), len(prefix)+8)
	copy(b, prefix)
	return binary.BigEndian.AppendUint64(b, seq)
}

// prefixEnd returns the smallest key greater than every key with the prefix.
// Our prefixes never consist only of 0xff bytes.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	panic("local: prefixEnd of an all-0xff prefix")
}

// u64 decodes a big-endian uint64 stored value; short values are corrupt.
func u64(v []byte, what string) (uint64, error) {
	if len(v) < 8 {
		return 0, fmt.Errorf("local: %s value is %d bytes, want 8: the store is corrupt; delete the data directory's pebble folder to rebuild it", what, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// unixNanos maps a time to the non-negative nanoseconds we store; times
// before 1970 clamp to zero (no peer sends them for anything we keep).
func unixNanos(t int64) uint64 {
	if t < 0 {
		return 0
	}
	return uint64(t)
}
