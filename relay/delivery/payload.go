package delivery

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// payloadVersion leads every stored job payload:
//
//	version:1 enqueuedAt:8 uvarint(len) actor uvarint(len) inbox uvarint(len) digest body
//
// The Digest header is computed once per activity at Enqueue, not per
// delivery; the body is the activity's exact bytes.
const payloadVersion = 1

type payload struct {
	enqueued time.Time
	actor    string
	inbox    string
	digest   string
	body     []byte // aliases the job's payload
}

func encodePayload(at time.Time, actor, inbox, digest string, body []byte) []byte {
	b := make([]byte, 0, 1+8+3*binary.MaxVarintLen16+len(actor)+len(inbox)+len(digest)+len(body))
	b = append(b, payloadVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	for _, s := range []string{actor, inbox, digest} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, body...)
}

var errPayload = errors.New("delivery: stored job payload is malformed (written by another version, or corrupt); the job is dropped")

func decodePayload(b []byte) (payload, error) {
	var p payload
	if len(b) < 9 || b[0] != payloadVersion {
		return p, errPayload
	}
	p.enqueued = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9])))
	b = b[9:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return p, errPayload
		}
		fields[i] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	p.actor, p.inbox, p.digest = fields[0], fields[1], fields[2]
	p.body = b
	return p, nil
}

// backoff returns the delay before attempt n+1 after n failures (n ≥ 1):
// base·2^(n-1) capped at max, times a jitter factor in [0.75, 1.25).
func backoff(base, max time.Duration, n int) time.Duration {
	d := max
	if n < 1 {
		n = 1
	}
	if n <= 40 {
		if s := base << (n - 1); s > 0 && s < max {
			d = s
		}
	}
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// parseRetryAfter reads a Retry-After value (RFC 9110 10.2.3): delay
// seconds or an HTTP date. It returns 0 when the value is absent or
// unusable; the peer's word is then replaced by our own back-off.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	return t.Sub(now)
}
