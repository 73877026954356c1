package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// The instance gauges read a real database on their own schedule, never
// during a scrape; before the first read they are absent, and a failed
// read keeps the last values and counts an error.
func TestInstanceCollector(t *testing.T) {
	db, err := pg.Open(context.Background(), pgtest.URL(t), pg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Migrate(context.Background(), db.Pool()); err != nil {
		t.Fatal(err)
	}
	store := data.New(db.Pool())
	a := &data.Account{URI: "https://far.example/users/bob", Username: "bob", Domain: "far.example"}
	if _, err := store.UpsertRemoteAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	count := func(ctx context.Context) (data.InstanceCounts, error) {
		calls.Add(1)
		return store.InstanceCounts(ctx)
	}
	c := newInstanceCollector(count, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	if n, err := testutil.GatherAndCount(reg, "palisade_instance_accounts"); err != nil || n != 0 {
		t.Fatalf("before the first read: %d account series, %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for calls.Load() == 0 || !c.ready() {
		if time.Now().After(deadline) {
			t.Fatal("no first read")
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := `
# HELP palisade_instance_accounts Accounts in the instance's database: origin local (the instance and relay actors excepted) or remote.
# TYPE palisade_instance_accounts gauge
palisade_instance_accounts{origin="local"} 0
palisade_instance_accounts{origin="remote"} 1
`
	for range 20 { // scrapes do not query
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "palisade_instance_accounts"); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d reads of Postgres for 20 scrapes within the interval, want 1", n)
	}
	cancel()
	<-done

	// A failing read (the pool closed) counts an error and keeps the values.
	db.Close()
	c.refresh(context.Background())
	if v := testutil.ToFloat64(c.errors); v != 1 {
		t.Fatalf("errors_total = %v after a failed read", v)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "palisade_instance_accounts"); err != nil {
		t.Fatalf("after a failed read: %v", err)
	}
}
