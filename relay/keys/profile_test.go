package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"
)

func TestRecordKeepsTheOwnersProfile(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k := &Key{ID: "https://a.example/u#k", Owner: "https://a.example/u", Public: pub,
		Profile: Profile{Published: time.Date(2024, 2, 15, 1, 2, 3, 0, time.UTC), Username: "spam1", DisplayName: "spam1"}}
	rec, err := EncodeRecord(k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecord(k.ID, rec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != k.Owner || got.Profile != k.Profile {
		t.Fatalf("round trip: %+v, want %+v", got, k)
	}
	for i := 1; i < len(rec)-len(pub); i++ {
		if _, err := DecodeRecord(k.ID, rec[:i], time.Now()); err == nil {
			t.Fatalf("record truncated to %d bytes decoded", i)
		}
	}
}

func TestParseProfile(t *testing.T) {
	p := ParseProfile([]byte(`{"id":"https://a.example/u","type":"Person","preferredUsername":"bob","name":"Bob B","published":"2023-05-01T10:00:00Z"}`))
	if p.Username != "bob" || p.DisplayName != "Bob B" || !p.Published.Equal(time.Date(2023, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v", p)
	}
	if (ParseProfile([]byte(`{"published":"yesterday"}`)) != Profile{}) {
		t.Fatal("an unparseable date must read as unknown")
	}
}
