package main

import (
	"context"
	"net"
	"testing"
	"time"
)

// servedNode is a node running serve in process for a test.
type servedNode struct {
	n             *node
	public, admin net.Addr
	// stop shuts the node down and waits for it (at most once; it also
	// runs when the test ends, after the cleanups registered later).
	stop func()
}

// startServe runs serve(cfg) in process until stop or the end of the test.
func startServe(t *testing.T, cfg Config) *servedNode {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *node, 1)
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, &serveHooks{
			node:  func(n *node) { got <- n },
			ready: func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} },
		})
	}()
	s := &servedNode{}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node %s: serve returned %v after stop", cfg.Host, err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("node %s did not stop", cfg.Host)
		}
	}
	select {
	case a := <-addrs:
		s.n, s.public, s.admin = <-got, a[0], a[1]
	case err := <-done:
		cancel()
		t.Fatalf("node %s: serve: %v", cfg.Host, err)
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatalf("node %s did not become ready", cfg.Host)
	}
	t.Cleanup(s.stop)
	return s
}
