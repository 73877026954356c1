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
	"time"
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

const version = 1

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
	dst = binary.AppendUvarint(dst, uint64(len(e.Body)))
	return append(dst, e.Body...)
}

// Size is an upper bound of the encoded size, for sizing buffers.
func (e *Entry) Size() int {
	n := 1 + binary.MaxVarintLen64 + len(e.Decision) + len(e.Body) + 9*binary.MaxVarintLen64
	for _, s := range [...]string{e.Inbox, e.ActivityID, e.Type, e.Actor, e.ObjectID, e.ObjectType, e.KeyID} {
		n += len(s)
	}
	return n
}

var errTruncated = errors.New("inbound: entry truncated")

// Unmarshal decodes b into e. Decision and Body alias b: the caller must not
// modify b while e is in use.
func (e *Entry) Unmarshal(b []byte) error {
	if len(b) == 0 {
		return errTruncated
	}
	if b[0] != version {
		return fmt.Errorf("inbound: entry version %d, this binary reads %d", b[0], version)
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
	return nil
}
