// Package inbound defines the record the ingress appends to the durable
// inbound queue for every accepted activity, and its binary encoding. The
// consumers (the instance core and the relay fan-out) decode it.
//
// The raw body is kept byte for byte: forwarding must reuse the exact bytes
// the sender signed, because a re-serialised JSON document breaks the digest
// (PROTOCOL.md, "Digest").
package inbound

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/klauspost/compress/s2"
)

// Entry is one accepted activity as queued by the ingress.
type Entry struct {
	Received time.Time
	// Inbox is the path the activity was posted to: "/inbox" (shared) or
	// "/users/NAME/inbox".
	Inbox string
	// ActivityID, Type and Actor are the verified envelope fields.
	ActivityID string
	Type       string
	Actor      string
	// ObjectID is the object's id (or the object itself when it is a bare
	// URI); ObjectType is set when the object was embedded.
	ObjectID   string
	ObjectType string
	// KeyID is the key that signed the request; its owner is Actor.
	KeyID string
	// Decision is the policy engine's encoded decision record.
	Decision []byte
	// Body is the raw request body, exactly as received.
	Body []byte
}

// Entry encodings. Version 1 holds the body raw; version 2 (written since
// December 2026) holds it as an S2 block, which halves a Mastodon
// Create(Note) (2.5 KiB to 1.1 KiB in 2 µs) and with it the bytes every
// accepted activity costs the WAL, the memtable and the flush. Both are read.
const (
	versionRaw = 1
	versionS2  = 2
	version    = versionS2
)

// MaxBodySize is the largest body an entry holds; a version-2 entry claiming
// more is refused as corrupt rather than inflated. The ingress's max_body
// cannot be set above it.
const MaxBodySize = 64 << 20

// Marshal appends the encoding of e to dst and returns the extended slice.
func (e *Entry) Marshal(dst []byte) []byte {
	dst = append(dst, version)
	dst = binary.AppendVarint(dst, e.Received.UnixNano())
	for _, s := range [...]string{e.Inbox, e.ActivityID, e.Type, e.Actor, e.ObjectID, e.ObjectType, e.KeyID} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Decision)))
	dst = append(dst, e.Decision...)
	// The S2 block is appended in place after a length prefix reserved at
	// its largest, so no second buffer is needed.
	maxEnc := s2.MaxEncodedLen(len(e.Body))
	if maxEnc < 0 || len(e.Body) > MaxBodySize {
		// The ingress refuses such bodies (max_body is capped at MaxBodySize).
		panic(fmt.Sprintf("inbound: a %d-byte body is over MaxBodySize", len(e.Body)))
	}
	lenAt := len(dst)
	dst = binary.AppendUvarint(dst, uint64(maxEnc))
	width := len(dst) - lenAt
	dst = slices.Grow(dst, maxEnc)
	room := dst[len(dst) : len(dst)+maxEnc]
	enc := s2.Encode(room, e.Body)
	if len(enc) > 0 && &enc[0] != &room[0] {
		copy(room, enc) // not expected: s2 encodes into a large enough dst
	}
	// Rewrite the length prefix with the real length, in the same width
	// (a padded uvarint), and trim.
	putPaddedUvarint(dst[lenAt:lenAt+width], uint64(len(enc)))
	return dst[:len(dst)+len(enc)]
}

// putPaddedUvarint writes v as a uvarint filling exactly len(b) bytes
// (continuation bits on every byte but the last; binary.Uvarint reads it).
func putPaddedUvarint(b []byte, v uint64) {
	for i := 0; i < len(b)-1; i++ {
		b[i] = byte(v) | 0x80
		v >>= 7
	}
	b[len(b)-1] = byte(v)
}

// Size is an upper bound of the encoded size, for sizing buffers.
func (e *Entry) Size() int {
	n := 1 + binary.MaxVarintLen64 + len(e.Decision) + s2.MaxEncodedLen(len(e.Body)) + 9*binary.MaxVarintLen64
	for _, s := range [...]string{e.Inbox, e.ActivityID, e.Type, e.Actor, e.ObjectID, e.ObjectType, e.KeyID} {
		n += len(s)
	}
	return n
}

var errTruncated = errors.New("inbound: entry truncated")

// Unmarshal decodes b into e. Decision (and Body of a version-1 entry)
// alias b: the caller must not modify b while e is in use. A version-2 body
// is inflated into a new slice.
func (e *Entry) Unmarshal(b []byte) error {
	if len(b) == 0 {
		return errTruncated
	}
	v := b[0]
	if v != versionRaw && v != versionS2 {
		return fmt.Errorf("inbound: entry version %d, this binary reads %d and %d", v, versionRaw, versionS2)
	}
	b = b[1:]
	ns, n := binary.Varint(b)
	if n <= 0 {
		return errTruncated
	}
	b = b[n:]
	e.Received = time.Unix(0, ns).UTC()
	next := func() ([]byte, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, errTruncated
		}
		v := b[n : n+int(l)]
		b = b[n+int(l):]
		return v, nil
	}
	for _, p := range [...]*string{&e.Inbox, &e.ActivityID, &e.Type, &e.Actor, &e.ObjectID, &e.ObjectType, &e.KeyID} {
		v, err := next()
		if err != nil {
			return err
		}
		*p = string(v)
	}
	var err error
	if e.Decision, err = next(); err != nil {
		return err
	}
	if e.Body, err = next(); err != nil {
		return err
	}
	if len(b) != 0 {
		return fmt.Errorf("inbound: %d trailing bytes after entry", len(b))
	}
	if v == versionS2 {
		n, err := s2.DecodedLen(e.Body)
		if err != nil || n > MaxBodySize {
			return fmt.Errorf("inbound: entry body is not a valid S2 block")
		}
		body, err := s2.Decode(make([]byte, n), e.Body)
		if err != nil {
			return fmt.Errorf("inbound: entry body: %w", err)
		}
		e.Body = body
	}
	return nil
}
