package pg_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestInstanceKeyConcurrentCallersAgreeOnOneKey(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)

	// Every caller generates a distinct pair, as real RSA generation would;
	// a barrier makes them all miss the first SELECT before any inserts.
	const callers = 8
	var generated atomic.Int32
	var barrier sync.WaitGroup
	barrier.Add(callers)
	type pair struct{ priv, pub string }
	got := make([]pair, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			got[i].priv, got[i].pub, errs[i] = db.InstanceKey(ctx, "instance", func() (string, string, error) {
				generated.Add(1)
				barrier.Done()
				barrier.Wait()
				return fmt.Sprintf("PRIVATE %d", i), fmt.Sprintf("PUBLIC %d", i), nil
			})
		})
	}
	wg.Wait()
	if generated.Load() != callers {
		t.Fatalf("%d of %d callers generated a key; the test wants all of them racing to insert", generated.Load(), callers)
	}
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("caller %d got %+v, caller 0 got %+v: nodes would sign with different keys", i, got[i], got[0])
		}
	}
	var want int
	if _, err := fmt.Sscanf(got[0].priv, "PRIVATE %d", &want); err != nil || got[0].pub != fmt.Sprintf("PUBLIC %d", want) {
		t.Fatalf("stored pair %+v mixes two generated pairs", got[0])
	}

	// Later callers read the stored key and never generate.
	priv, pub, err := db.InstanceKey(ctx, "instance", func() (string, string, error) {
		t.Error("generate called although a key is stored")
		return "x", "y", nil
	})
	if err != nil || priv != got[0].priv || pub != got[0].pub {
		t.Fatalf("second call: %q %q %v; want the stored pair", priv, pub, err)
	}
	var rows int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM instance_keys`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("instance_keys has %d rows (err %v); want 1", rows, err)
	}

	// Another name is another key.
	priv2, _, err := db.InstanceKey(ctx, "other", func() (string, string, error) { return "P2", "U2", nil })
	if err != nil || priv2 != "P2" {
		t.Fatalf("other name: %q %v; want its own generated key", priv2, err)
	}
}

func TestInstanceKeyGeneratorErrorStoresNothing(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	if _, _, err := db.InstanceKey(ctx, "instance", func() (string, string, error) { return "", "", fmt.Errorf("no entropy") }); err == nil {
		t.Fatal("want the generator's error")
	}
	priv, _, err := db.InstanceKey(ctx, "instance", func() (string, string, error) { return "P", "U", nil })
	if err != nil || priv != "P" {
		t.Fatalf("after a failed generation: %q %v; want a fresh key", priv, err)
	}
}
