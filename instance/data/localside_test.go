package data_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
)

// Two nodes sweeping the outbox at once claim disjoint entries; an entry
// is deleted only once accepted.
func TestOutboxClaimIsExclusive(t *testing.T) {
	s := newStore(t)
	for i := 0; i < 10; i++ {
		if err := s.InsertOutbox(ctx, &data.OutboxEntry{Actor: "https://here.example/users/a", Activity: []byte(`{}`),
			Inboxes: []string{"https://there.example/inbox"}}); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(time.Minute)
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var first int
	wg.Add(1)
	go func() {
		defer wg.Done()
		once := sync.Once{}
		n, err := s.ClaimOutbox(ctx, later, 100, func(data.OutboxEntry) error {
			once.Do(func() { close(started); <-release })
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		first = n
	}()
	<-started
	n, err := s.ClaimOutbox(ctx, later, 100, func(data.OutboxEntry) error { return nil })
	if err != nil || n != 0 {
		t.Errorf("a concurrent sweep claimed %d (%v), want 0: the entries are locked", n, err)
	}
	close(release)
	wg.Wait()
	if first != 10 {
		t.Errorf("the first sweep claimed %d, want 10", first)
	}
	if n, _ := s.ClaimOutbox(ctx, later, 100, func(data.OutboxEntry) error { return nil }); n != 0 {
		t.Errorf("%d entries left after a full sweep", n)
	}

	// A failing hand-off keeps the entry and everything after it.
	for i := 0; i < 3; i++ {
		if err := s.InsertOutbox(ctx, &data.OutboxEntry{Actor: "a", Activity: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	boom := errors.New("engine down")
	n, err = s.ClaimOutbox(ctx, later, 100, func(data.OutboxEntry) error {
		if calls++; calls == 2 {
			return boom
		}
		return nil
	})
	if n != 1 || !errors.Is(err, boom) {
		t.Errorf("claimed %d, %v; want 1 and the hand-off's error", n, err)
	}
	if n, _ := s.ClaimOutbox(ctx, later, 100, func(data.OutboxEntry) error { return nil }); n != 2 {
		t.Errorf("%d entries left after the failure, want 2", n)
	}
	// Entries newer than the cut-off belong to the request that wrote them.
	if err := s.InsertOutbox(ctx, &data.OutboxEntry{Actor: "a", Activity: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.ClaimOutbox(ctx, time.Now().Add(-time.Minute), 100, func(data.OutboxEntry) error { return nil }); n != 0 {
		t.Errorf("a fresh entry was claimed")
	}
}

func TestPublicAccountStatusesAndUsage(t *testing.T) {
	s := newStore(t)
	a := local(t, s, "alice")
	local(t, s, "quiet")
	r := remote(t, s, "bob", "there.example")
	now := time.Now()
	mk := func(uri string, v data.Visibility, quarantined bool) *data.Status {
		st := &data.Status{URI: uri, AccountID: a.ID, Visibility: v, Local: true, CreatedAt: now, Quarantined: quarantined}
		if _, err := s.InsertStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	pub := mk("https://here.example/s/1", data.Public, false)
	unl := mk("https://here.example/s/2", data.Unlisted, false)
	mk("https://here.example/s/3", data.Private, false)
	mk("https://here.example/s/4", data.Direct, false)
	mk("https://here.example/s/5", data.Public, true)
	gone := mk("https://here.example/s/6", data.Public, false)
	if _, _, err := s.DeleteStatusByURI(ctx, gone.URI, a.ID); err != nil {
		t.Fatal(err)
	}
	sts, err := s.PublicAccountStatuses(ctx, a.ID, data.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || sts[0].ID != unl.ID || sts[1].ID != pub.ID {
		t.Errorf("public statuses %v, want the unlisted then the public one", sts)
	}
	if n, err := s.CountPublicAccountStatuses(ctx, a.ID); n != 2 || err != nil {
		t.Errorf("count %d %v", n, err)
	}
	u, err := s.LocalUsage(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Users != 2 || u.ActiveMonth != 1 || u.ActiveHalfyear != 1 || u.LocalPosts != 5 {
		t.Errorf("usage %+v, want 2 users, 1 active, 5 posts", u)
	}
	if _, err := s.UpdateLocalProfile(ctx, r.ID, data.ProfileUpdate{}); !errors.Is(err, data.Forbidden) {
		t.Errorf("updating a remote profile: %v, want Forbidden", err)
	}
	name := "Alice"
	got, err := s.UpdateLocalProfile(ctx, a.ID, data.ProfileUpdate{DisplayName: &name, Fields: &[]data.Field{{Name: "a", Value: "b"}}})
	if err != nil || got.DisplayName != "Alice" || len(got.Fields) != 1 {
		t.Errorf("profile %+v %v", got, err)
	}
	if again, _ := s.GetAccount(ctx, a.ID); again.DisplayName != "Alice" || again.Fields[0].Value != "b" {
		t.Errorf("stored profile %+v", again)
	}
}
