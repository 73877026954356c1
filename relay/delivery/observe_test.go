package delivery

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
)

func TestObserveSeesEveryCountedOutcome(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	a.setStatus(func(n int64) int {
		if n == 1 {
			return http.StatusBadGateway
		}
		return http.StatusAccepted
	})
	en := newEnv(t, "", fastOptions(t))
	var mu sync.Mutex
	var seen []Outcome
	en.e.Observe(func(o Outcome) {
		mu.Lock()
		seen = append(seen, o)
		mu.Unlock()
	})
	en.run()
	if err := en.e.Enqueue(activity(3), testActor, []string{a.url("/inbox")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery after a 502", func() bool { return en.outcome("success") == 1 })
	mu.Lock()
	defer mu.Unlock()
	u, _ := url.Parse(a.url("/"))
	if len(seen) != 2 || seen[0].Outcome != "retry_5xx" || seen[0].Success || seen[1].Outcome != "success" || !seen[1].Success ||
		seen[1].Host != u.Host || seen[1].At.IsZero() {
		t.Fatalf("observed %+v; want retry_5xx then success for %s", seen, u.Host)
	}
}
