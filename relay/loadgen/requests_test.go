package loadgen

import (
	"math"
	"testing"
)

func TestPresignHonoursTheMix(t *testing.T) {
	f, err := NewFleet(1, 2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reqs, err := Presign(f, Mix{Host: "node.test", N: 400, Dup: 0.45, Blocked: 0.45})
	if err != nil {
		t.Fatal(err)
	}
	var n [numKinds]int
	for _, r := range reqs {
		n[r.Kind]++
	}
	for k, want := range map[Kind]float64{KindDuplicate: 0.45, KindBlocked: 0.45, KindAccept: 0.10} {
		if got := float64(n[k]) / 400; math.Abs(got-want) > 0.02 {
			t.Errorf("%s: %.3f of requests, want %.2f", k, got, want)
		}
	}
}
