package local

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// At debug level the store logs each flush with its size and duration, so
// a latency tail can be lined up with the store's background work; at the
// default level it logs none of that chatter.
func TestDebugLevelLogsFlushes(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			// slog's handler serialises writes, and the log is read after Close
			// has stopped Pebble's background work.
			var out bytes.Buffer
			o := testOptions(newClock())
			o.Logger = slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))
			db, err := Open(t.TempDir(), o)
			if err != nil {
				t.Fatal(err)
			}
			q, err := db.Queue("inbound")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				if _, err := db.Accept("activity", fmt.Sprintf("https://a.example/%d", i), q, []byte("{}")); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Pebble().Flush(); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			logged := strings.Contains(out.String(), "flushed 1 memtable")
			if want := level == slog.LevelDebug; logged != want {
				t.Fatalf("level %v: flush logged %v, want %v; log:\n%s", level, logged, want, out.String())
			}
		})
	}
}
