package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// GetKey returns the actor-key record stored for keyID and when it was
// stored. ok is false when none is stored. rec is a copy the caller owns.
func (db *DB) GetKey(keyID string) (rec []byte, storedAt time.Time, ok bool, err error) {
	if err := checkID("key id", keyID); err != nil {
		return nil, time.Time{}, false, err
	}
	if err := db.enter(); err != nil {
		return nil, time.Time{}, false, err
	}
	defer db.leave()
	v, closer, err := db.pdb.Get(keyCacheKey(keyID))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("local: get key %q: %w", truncate(keyID), err)
	}
	defer closer.Close()
	at, err := u64(v, "key cache")
	if err != nil {
		return nil, time.Time{}, false, err
	}
	return append([]byte(nil), v[8:]...), time.Unix(0, int64(at)), true, nil
}

// PutKey stores rec for keyID, stamped with the current time, replacing any
// earlier record. The write is not synced: the cache can always be
// re-fetched. rec is copied.
func (db *DB) PutKey(keyID string, rec []byte) error {
	if err := checkID("key id", keyID); err != nil {
		return err
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	v := make([]byte, 8, 8+len(rec))
	binary.BigEndian.PutUint64(v, unixNanos(db.now().UnixNano()))
	v = append(v, rec...)
	if err := db.pdb.Set(keyCacheKey(keyID), v, pebble.NoSync); err != nil {
		return fmt.Errorf("local: put key %q: %w", truncate(keyID), err)
	}
	return nil
}

// DeleteKey removes the record for keyID, if any.
func (db *DB) DeleteKey(keyID string) error {
	if err := checkID("key id", keyID); err != nil {
		return err
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	if err := db.pdb.Delete(keyCacheKey(keyID), pebble.NoSync); err != nil {
		return fmt.Errorf("local: delete key %q: %w", truncate(keyID), err)
	}
	return nil
}
