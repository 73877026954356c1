package delivery

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseRetryAfter: Retry-After comes from remote peers. It must never
// panic, never return a negative delay, and read delay-seconds exactly.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", " 7 ", "Thu, 01 Jan 2026 00:10:00 GMT", "Monday, 02-Jan-06 15:04:05 MST", "Mon Jan  2 15:04:05 2006", "-5", "1e3", "99999999999999999999", "", "\x00"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, negative", v, d)
		}
	})
}

// FuzzDecodePayload: stored payloads may be corrupt (a torn disk, another
// version's format). Decoding must never panic, and must invert encoding.
func FuzzDecodePayload(f *testing.F) {
	at := time.Unix(1767225600, 5)
	f.Add(encodePayload(at, testActor, "https://remote.example/inbox", "SHA-256=abc=", []byte(`{"type":"Create"}`)), "", "", "")
	f.Add([]byte{payloadVersion, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, "a", "b", "c")
	f.Add([]byte{2}, "actor", "https://x.example/inbox", "")
	f.Fuzz(func(t *testing.T, raw []byte, actor, inbox, digest string) {
		decodePayload(raw)
		enc := encodePayload(at, actor, inbox, digest, raw)
		p, err := decodePayload(enc)
		if err != nil {
			t.Fatalf("decoding what was encoded: %v", err)
		}
		if p.actor != actor || p.inbox != inbox || p.digest != digest || !bytes.Equal(p.body, raw) || !p.enqueued.Equal(at) {
			t.Fatalf("round trip changed the payload: %+v", p)
		}
	})
}
