package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// tagActor keys hold, per remote actor, when this node first accepted an
// activity from it: tagActor | actor id → varint unix seconds.
const tagActor = 'a'

// actorMemo remembers which actors were noted since Open, so NoteActor
// costs a map lookup, not a Pebble read, for actors already recorded. It
// is bounded: past maxMemo entries it is cleared and refills.
type actorMemo struct {
	mu sync.Mutex
	m  map[string]struct{}
}

const maxMemo = 1 << 20

func (db *DB) memo() *actorMemo {
	db.actorsOnce.Do(func() { db.actors = &actorMemo{m: map[string]struct{}{}} })
	return db.actors
}

func actorKey(actor string) []byte {
	k := make([]byte, 0, 1+len(actor))
	return append(append(k, tagActor), actor...)
}

// ActorFirstSeen returns when this node first accepted an activity from
// actor; ok is false for an actor never recorded.
func (db *DB) ActorFirstSeen(actor string) (at time.Time, ok bool, err error) {
	if err := checkID("actor id", actor); err != nil {
		return time.Time{}, false, err
	}
	if err := db.enter(); err != nil {
		return time.Time{}, false, err
	}
	defer db.leave()
	v, closer, err := db.pdb.Get(actorKey(actor))
	if errors.Is(err, pebble.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("local: actor first-seen lookup: %w", err)
	}
	defer closer.Close()
	s, n := binary.Varint(v)
	if n <= 0 {
		return time.Time{}, false, fmt.Errorf("local: actor first-seen record of %q is corrupt", truncate(actor))
	}
	return time.Unix(s, 0).UTC(), true, nil
}

// NoteActor records at as actor's first-seen time unless one is recorded
// already. The write is not synced: losing it in a crash only makes the
// actor look newer to the policy, never older.
func (db *DB) NoteActor(actor string, at time.Time) error {
	if err := checkID("actor id", actor); err != nil {
		return err
	}
	m := db.memo()
	m.mu.Lock()
	_, known := m.m[actor]
	m.mu.Unlock()
	if known {
		return nil
	}
	if _, ok, err := db.ActorFirstSeen(actor); err != nil {
		return err
	} else if !ok {
		if err := db.enter(); err != nil {
			return err
		}
		err := db.pdb.Set(actorKey(actor), binary.AppendVarint(nil, at.Unix()), pebble.NoSync)
		db.leave()
		if err != nil {
			return fmt.Errorf("local: recording actor first-seen: %w", err)
		}
	}
	m.mu.Lock()
	if len(m.m) >= maxMemo {
		clear(m.m)
	}
	m.m[actor] = struct{}{}
	m.mu.Unlock()
	return nil
}
