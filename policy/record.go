package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Record is one entry of the decision log: enough to answer "why was this
// dropped?" later without the activity itself.
type Record struct {
	At         time.Time
	ActivityID string
	Actor      string
	Domain     string
	Action     Action
	Modifiers  Modifiers
	Fired      []string // rule ids that applied
	Shadow     []string // shadow rule ids that would have fired
	Reasons    []string // reason codes of Fired, same order
}

// NewRecord makes the log record of a decision on in.
func NewRecord(at time.Time, in *Input, d *Decision) Record {
	r := Record{At: at, ActivityID: in.ID, Actor: in.Actor, Domain: in.host(), Action: d.Action, Modifiers: d.Modifiers}
	if len(d.Fired) > 0 {
		r.Fired = make([]string, len(d.Fired))
		r.Reasons = make([]string, len(d.Fired))
		for i, f := range d.Fired {
			r.Fired[i], r.Reasons[i] = f.RuleID, f.Reason
		}
	}
	if len(d.Shadow) > 0 {
		r.Shadow = make([]string, len(d.Shadow))
		for i, f := range d.Shadow {
			r.Shadow[i] = f.RuleID
		}
	}
	return r
}

// recordVersion is the first byte of an encoded record; a decoder refuses
// versions it does not know instead of misreading them.
const recordVersion = 1

// maxRecordString bounds each string of a decoded record, so a corrupt
// log entry cannot make the decoder allocate gigabytes.
const maxRecordString = 1 << 16

// AppendBinary appends the compact binary form of r to dst: a version byte,
// the time as varint unix nanoseconds, the action and modifiers, then
// length-prefixed strings and string lists.
func (r *Record) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, recordVersion)
	dst = binary.AppendVarint(dst, r.At.UnixNano())
	dst = append(dst, byte(r.Action))
	dst = binary.AppendUvarint(dst, uint64(r.Modifiers))
	for _, s := range []string{r.ActivityID, r.Actor, r.Domain} {
		dst = appendString(dst, s)
	}
	for _, l := range [][]string{r.Fired, r.Shadow, r.Reasons} {
		dst = binary.AppendUvarint(dst, uint64(len(l)))
		for _, s := range l {
			dst = appendString(dst, s)
		}
	}
	return dst, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (r *Record) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, 64+len(r.ActivityID)+len(r.Actor)))
}

func appendString(dst []byte, s string) []byte {
	if len(s) > maxRecordString {
		s = s[:maxRecordString]
	}
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errRecord = errors.New("policy: corrupt decision record")

// UnmarshalBinary implements encoding.BinaryUnmarshaler. It does not keep
// references to b.
func (r *Record) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != recordVersion {
		if len(b) > 0 {
			return fmt.Errorf("policy: decision record version %d, want %d", b[0], recordVersion)
		}
		return errRecord
	}
	b = b[1:]
	ns, n := binary.Varint(b)
	if n <= 0 {
		return errRecord
	}
	b = b[n:]
	if len(b) < 1 {
		return errRecord
	}
	*r = Record{At: time.Unix(0, ns).UTC(), Action: Action(b[0])}
	b = b[1:]
	mods, n := binary.Uvarint(b)
	if n <= 0 {
		return errRecord
	}
	r.Modifiers = Modifiers(mods)
	b = b[n:]
	for _, p := range []*string{&r.ActivityID, &r.Actor, &r.Domain} {
		var err error
		if *p, b, err = readString(b); err != nil {
			return err
		}
	}
	for _, p := range []*[]string{&r.Fired, &r.Shadow, &r.Reasons} {
		cnt, n := binary.Uvarint(b)
		if n <= 0 || cnt > uint64(len(b)) {
			return errRecord
		}
		b = b[n:]
		if cnt == 0 {
			continue
		}
		l := make([]string, cnt)
		for i := range l {
			var err error
			if l[i], b, err = readString(b); err != nil {
				return err
			}
		}
		*p = l
	}
	if len(b) != 0 {
		return errRecord
	}
	return nil
}

func readString(b []byte) (string, []byte, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > maxRecordString || l > uint64(len(b)-n) {
		return "", nil, errRecord
	}
	return string(b[n : n+int(l)]), b[n+int(l):], nil
}

// Filter selects decision records, for `palisade decisions`. Zero fields
// match everything.
type Filter struct {
	// Domain matches the record's domain and its subdomains.
	Domain string
	// Rule matches records where the rule fired or would have fired in
	// shadow mode.
	Rule string
	// Actions, when non-empty, lists the decided actions wanted.
	Actions []Action
	// Since and Until bound At (Since inclusive, Until exclusive).
	Since, Until time.Time
}

// Match reports whether r passes the filter.
func (f *Filter) Match(r *Record) bool {
	if !f.Since.IsZero() && r.At.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.At.Before(f.Until) {
		return false
	}
	if f.Domain != "" {
		want := NormalizeHost(f.Domain)
		if r.Domain != want && !strings.HasSuffix(r.Domain, "."+want) {
			return false
		}
	}
	if len(f.Actions) > 0 {
		ok := false
		for _, a := range f.Actions {
			if a == r.Action {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if f.Rule != "" {
		found := false
		for _, l := range [][]string{r.Fired, r.Shadow} {
			for _, id := range l {
				if id == f.Rule {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}
