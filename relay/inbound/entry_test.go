package inbound

import (
	"bytes"
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
