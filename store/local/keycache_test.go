package local

import (
	"testing"
	"time"
)

func TestKeyCache(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	db, err := Open(dir, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	const id = "https://a.example/users/alice#main-key"
	if _, _, ok, err := db.GetKey(id); ok || err != nil {
		t.Fatalf("GetKey before PutKey: ok %v err %v", ok, err)
	}
	rec := []byte("pem-v1")
	if err := db.PutKey(id, rec); err != nil {
		t.Fatal(err)
	}
	rec[0] = 'X' // PutKey copied it
	got, at, ok, err := db.GetKey(id)
	if err != nil || !ok || string(got) != "pem-v1" || !at.Equal(c.Now()) {
		t.Fatalf("GetKey = %q, %v, %v, %v; want pem-v1 stored at %v", got, at, ok, err, c.Now())
	}
	got[0] = 'Y' // the caller owns the copy
	c.Advance(time.Hour)
	db.PutKey(id, []byte("pem-v2")) // rotation replaces
	db.Close()

	db = openT(t, dir, testOptions(c))
	got, at, ok, _ = db.GetKey(id)
	if !ok || string(got) != "pem-v2" || !at.Equal(c.Now()) {
		t.Fatalf("after rotation and restart GetKey = %q at %v, want pem-v2 at %v", got, at, c.Now())
	}
	if err := db.DeleteKey(id); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := db.GetKey(id); ok {
		t.Fatal("key still cached after DeleteKey")
	}
}
