package ingress

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterBurstThenRate(t *testing.T) {
	l := newLimiter(10, 5, 1000)
	now := time.Unix(1000, 0)
	for i := 0; i < 5; i++ {
		if ok, _ := l.allow([]byte("a.example"), now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, retry := l.allow([]byte("a.example"), now)
	if ok || retry <= 0 || retry > 100*time.Millisecond {
		t.Fatalf("6th request: ok=%v retry=%v, want refused with ~100ms", ok, retry)
	}
	if ok, _ := l.allow([]byte("b.example"), now); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := l.allow([]byte("a.example"), now.Add(100*time.Millisecond)); !ok {
		t.Fatal("no token after refill time")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := newLimiter(1, 1, 64*16)
	now := time.Unix(1000, 0)
	for i := 0; i < 100000; i++ {
		l.allow([]byte(fmt.Sprint("k", i)), now)
	}
	total := 0
	for i := range l.shards {
		total += len(l.shards[i].buckets)
	}
	if total > 64*16 {
		t.Fatalf("%d buckets kept, bound is %d", total, 64*16)
	}
}

func TestNilLimiterAllows(t *testing.T) {
	var l *limiter = newLimiter(0, 0, 0)
	if ok, _ := l.allow([]byte("x"), time.Now()); !ok {
		t.Fatal("disabled limiter refused")
	}
}
