package main

import (
	"os"
	"testing"

	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// TestMain doubles as the palisade binary: with PALISADE_TEST_MAIN set, the
// test binary runs the command line it was given instead of the tests, so
// tests can start real serving processes (and kill them) without a separate
// build step.
func TestMain(m *testing.M) {
	if os.Getenv("PALISADE_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	pgtest.Main(m)
}
