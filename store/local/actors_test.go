package local

import (
	"testing"
	"time"
)

func TestActorFirstSeenKeepsTheFirstTimeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, ok, _ := db.ActorFirstSeen("https://a.example/u"); ok {
		t.Fatal("unknown actor reported as seen")
	}
	if err := db.NoteActor("https://a.example/u", first); err != nil {
		t.Fatal(err)
	}
	if err := db.NoteActor("https://a.example/u", first.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A fresh process has no memo: a later note must still not overwrite.
	if err := db.NoteActor("https://a.example/u", first.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	at, ok, err := db.ActorFirstSeen("https://a.example/u")
	if err != nil || !ok || !at.Equal(first) {
		t.Fatalf("first seen %v %v %v, want %v", at, ok, err, first)
	}
}
