package inbound

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEntryRoundTrip(t *testing.T) {
	in := Entry{
		Received:   time.Date(2026, 11, 22, 3, 0, 0, 123, time.UTC),
		Inbox:      "/users/alice/inbox",
		ActivityID: "https://m.example/users/bob/statuses/1/activity",
		Type:       "Create",
		Actor:      "https://m.example/users/bob",
		ObjectID:   "https://m.example/users/bob/statuses/1",
		ObjectType: "Note",
		KeyID:      "https://m.example/users/bob#main-key",
		Decision:   []byte{1, 2, 3},
		Body:       []byte(`{"id":"x"}`),
	}
	b := in.Marshal(nil)
	if len(b) > in.Size() {
		t.Errorf("Size %d < encoded %d", in.Size(), len(b))
	}
	var out Entry
	if err := out.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if out.Received != in.Received || out.Inbox != in.Inbox || out.ActivityID != in.ActivityID || out.Type != in.Type ||
		out.Actor != in.Actor || out.ObjectID != in.ObjectID || out.ObjectType != in.ObjectType || out.KeyID != in.KeyID ||
		!bytes.Equal(out.Decision, in.Decision) || !bytes.Equal(out.Body, in.Body) {
		t.Errorf("round trip: got %+v want %+v", out, in)
	}
	for i := 0; i < len(b); i++ {
		if err := out.Unmarshal(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
	if err := out.Unmarshal(append(b, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}

func FuzzUnmarshal(f *testing.F) {
	e := Entry{Inbox: "/inbox", ActivityID: "a", Body: []byte("{}")}
	f.Add(e.Marshal(nil))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Entry
		if e.Unmarshal(b) == nil {
			again := e.Marshal(nil)
			var e2 Entry
			if err := e2.Unmarshal(again); err != nil {
				t.Fatalf("re-encoding does not decode: %v", err)
			}
		}
	})
}

// A queue written by an older binary (version 1, raw body) must still be
// read after an upgrade.
func TestEntryReadsVersion1(t *testing.T) {
	in := Entry{Received: time.Unix(0, 42).UTC(), Inbox: "/inbox", ActivityID: "https://m.example/a", Type: "Create",
		Actor: "https://m.example/u", KeyID: "https://m.example/u#k", Decision: []byte{7}, Body: []byte(`{"id":"https://m.example/a"}`)}
	v1 := rawEntry(versionRaw, &in, in.Body)
	var out Entry
	if err := out.Unmarshal(v1); err != nil {
		t.Fatal(err)
	}
	if out.ActivityID != in.ActivityID || out.Received != in.Received || !bytes.Equal(out.Body, in.Body) || !bytes.Equal(out.Decision, in.Decision) {
		t.Errorf("version 1 entry read as %+v", out)
	}
}

// The body is stored compressed: a realistic Create(Note) takes well under
// its raw size, comes back byte for byte, and a damaged block is an error.
func TestEntryCompressesBody(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("..", "activity", "testdata", "mastodon-create-note.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{ActivityID: "https://m.example/a", Body: body}
	b := e.Marshal(make([]byte, 0, 16))
	if len(b) >= len(body)*3/4 {
		t.Errorf("entry %d bytes for a %d-byte body: not compressed", len(b), len(body))
	}
	var out Entry
	if err := out.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Body, body) {
		t.Fatal("body changed in the round trip")
	}
	bad := bytes.Clone(b)
	bad[len(bad)-3] ^= 0xff
	if err := out.Unmarshal(bad); err == nil && bytes.Equal(out.Body, body) {
		t.Error("a damaged body block decoded to the original")
	}
	// A block claiming a huge body is refused without allocating it.
	huge := rawEntry(versionS2, &e, binary.AppendUvarint(nil, 1<<40))
	if err := out.Unmarshal(huge); err == nil || !strings.Contains(err.Error(), "S2") {
		t.Errorf("huge claimed length: %v", err)
	}
}

// rawEntry encodes e by hand with the given version byte and body field.
func rawEntry(v byte, e *Entry, bodyField []byte) []byte {
	b := []byte{v}
	b = binary.AppendVarint(b, e.Received.UnixNano())
	for _, s := range []string{e.Inbox, e.ActivityID, e.Type, e.Actor, e.ObjectID, e.ObjectType, e.KeyID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Decision)))
	b = append(b, e.Decision...)
	b = binary.AppendUvarint(b, uint64(len(bodyField)))
	return append(b, bodyField...)
}
