package pg_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestRelaySubscriberLifecycle(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	sub := pg.RelaySubscriber{Domain: "m.example", State: pg.RelayPending, Style: "mastodon",
		Actor: "https://m.example/actor", ActorInbox: "https://m.example/actor/inbox", Inbox: "https://m.example/inbox", FollowID: "https://m.example/f/1", SubscribedAt: since}
	if err := db.PutRelaySubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if err := db.SetRelaySubscriberState(ctx, "m.example", pg.RelayActive, time.Time{}, "", false); err != nil {
		t.Fatal(err)
	}
	if err := db.SetRelaySoftware(ctx, "m.example", "mastodon", "4.3.0"); err != nil {
		t.Fatal(err)
	}
	t1 := since.Add(time.Hour)
	// A success then two failures: two consecutive failures, failing since
	// the first of them.
	if err := db.RecordRelayDeliveries(ctx, []pg.RelayDeliveries{{Domain: "m.example", Sent: 5, Succeeded: true,
		Failures: 2, FirstFailure: t1.Add(time.Minute), LastSuccess: t1, LastFailure: t1.Add(2 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	// Later window: only failures; they add up and failing_since stays.
	if err := db.RecordRelayDeliveries(ctx, []pg.RelayDeliveries{{Domain: "m.example", Failures: 3,
		FirstFailure: t1.Add(time.Hour), LastFailure: t1.Add(2 * time.Hour)}, {Domain: "unknown.example", Sent: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.RelaySubscriber(ctx, "m.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != pg.RelayActive || got.Software != "mastodon" || got.SoftwareVersion != "4.3.0" ||
		got.DeliveriesSent != 5 || got.ConsecutiveFailures != 5 || !got.FailingSince.Equal(t1.Add(time.Minute)) ||
		!got.LastSuccess.Equal(t1) || !got.LastFailure.Equal(t1.Add(2*time.Hour)) || !got.SubscribedAt.Equal(since) {
		t.Fatalf("after deliveries: %+v", got)
	}
	// A success clears the failure run.
	if err := db.RecordRelayDeliveries(ctx, []pg.RelayDeliveries{{Domain: "m.example", Sent: 1, Succeeded: true, LastSuccess: t1.Add(3 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	got, _ = db.RelaySubscriber(ctx, "m.example")
	if got.ConsecutiveFailures != 0 || !got.FailingSince.IsZero() || got.DeliveriesSent != 6 {
		t.Fatalf("after recovery: %+v", got)
	}
	// Re-following keeps the history.
	sub.State, sub.FollowID = pg.RelayActive, "https://m.example/f/2"
	if err := db.PutRelaySubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	got, _ = db.RelaySubscriber(ctx, "m.example")
	if got.DeliveriesSent != 6 || got.FollowID != "https://m.example/f/2" || got.Software != "mastodon" || got.ActorInbox != "https://m.example/actor/inbox" {
		t.Fatalf("after re-follow: %+v", got)
	}
	// Admin pre-allows and blocks domains that never asked.
	if err := db.SetRelaySubscriberState(ctx, "spam.example", pg.RelayBlocked, time.Time{}, "spam", true); err != nil {
		t.Fatal(err)
	}
	if err := db.SetRelaySubscriberState(ctx, "nope.example", pg.RelayActive, time.Time{}, "", false); !errors.Is(err, pg.ErrNotFound) {
		t.Fatalf("state of an unknown domain without create: %v, want ErrNotFound", err)
	}
	all, err := db.RelaySubscribers(ctx)
	if err != nil || len(all) != 2 || all[0].Domain != "m.example" || all[1].State != pg.RelayBlocked || all[1].Note != "spam" {
		t.Fatalf("list: %+v %v", all, err)
	}
	if err := db.DeleteRelaySubscriber(ctx, "m.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RelaySubscriber(ctx, "m.example"); !errors.Is(err, pg.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := db.DeleteRelaySubscriber(ctx, "m.example"); !errors.Is(err, pg.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestRelayOnceSendsEachKeyOnce(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	// A failing send records nothing.
	if err := db.RelayOnce(ctx, []string{"a", "b"}, func([]string) error { return errors.New("queue full") }); err == nil {
		t.Fatal("send's error was not returned")
	}
	var mu sync.Mutex
	sent := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := db.RelayOnce(ctx, []string{"a", "b", "a", "c"}, func(fresh []string) error {
				mu.Lock()
				defer mu.Unlock()
				for _, k := range fresh {
					sent[k]++
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(sent) != 3 || sent["a"] != 1 || sent["b"] != 1 || sent["c"] != 1 {
		t.Fatalf("sent %v; want a, b, c once each", sent)
	}
	if n, err := db.PruneRelayed(ctx, time.Now().Add(time.Hour)); err != nil || n != 3 {
		t.Fatalf("prune: %d %v", n, err)
	}
}
