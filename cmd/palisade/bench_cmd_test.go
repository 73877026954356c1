package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// palisade bench end to end, small: it starts its own node (this test
// binary as "palisade serve"), warms the store, drives every request kind,
// and its report adds up: each kind answered as it must be, and the node's
// queue holds exactly the key warm-up, the store warm-up and the accepted.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and signs ~700 RSA requests")
	}
	timeline := filepath.Join(t.TempDir(), "latency.csv")
	cmd := exec.Command(os.Args[0], "bench", "--requests", "400", "--warmup", "150", "--actors", "4", "--domains", "2",
		"--dup", "0.1", "--blocked", "0.1", "--badsig", "0.1", "--concurrency", "16", "--database-url", pgtest.URL(t),
		"--latency-log", timeline)
	cmd.Env = append(os.Environ(), "PALISADE_TEST_MAIN=1", "PALISADE_CONFIG=")
	before := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	after := time.Now()
	report := string(out)
	for _, want := range []string{"warming the store with 150 activities", "running 400 requests, closed loop, 16 concurrent",
		"sent 400 requests", "node: CPU", "peak RSS"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	kinds := map[string]*regexp.Regexp{
		"accept":    regexp.MustCompile(`(?m)^\s+accept\s+(\d+) sent .*statuses map\[202:(\d+)\]$`),
		"duplicate": regexp.MustCompile(`(?m)^\s+duplicate\s+(\d+) sent .*statuses map\[202:(\d+)\]$`),
		// ingress.blocked_status defaults to 202: a suspended domain is not told.
		"blocked": regexp.MustCompile(`(?m)^\s+blocked\s+(\d+) sent .*statuses map\[202:(\d+)\]$`),
		"badsig":  regexp.MustCompile(`(?m)^\s+badsig\s+(\d+) sent .*statuses map\[401:(\d+)\]$`),
	}
	sent := map[string]int{}
	for k, re := range kinds {
		m := re.FindStringSubmatch(report)
		if m == nil || m[1] != m[2] || m[1] == "0" {
			t.Errorf("%s: every request answered with its one status? %v\n%s", k, m, report)
			continue
		}
		sent[k], _ = strconv.Atoi(m[1])
	}
	if total := sent["accept"] + sent["duplicate"] + sent["blocked"] + sent["badsig"]; total != 400 {
		t.Errorf("kinds add up to %d, want 400", total)
	}
	m := regexp.MustCompile(`inbound queue depth (\d+) \(warm-up (\d+) \+ accepted (\d+)\)`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no queue depth line:\n%s", report)
	}
	depth, _ := strconv.Atoi(m[1])
	if warm, _ := strconv.Atoi(m[2]); warm != 4+150 || depth != warm+sent["accept"] {
		t.Errorf("queue depth %d, warm-up %s (want 154), accepted %d", depth, m[2], sent["accept"])
	}
	// Every accepted activity waited for a WAL sync, several sharing one
	// in a group commit: at least one sync, at most one per accepted.
	m = regexp.MustCompile(`node: WAL syncs over the run (\d+) \(mean [0-9.]+ ms; over 5 ms: \d+;`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no WAL sync line:\n%s", report)
	}
	if syncs, _ := strconv.Atoi(m[1]); syncs < 1 || syncs > sent["accept"] {
		t.Errorf("%d WAL syncs over the run for %d accepted activities", syncs, sent["accept"])
	}
	// The report says when the latency log's time 0 was, in the node's
	// log time format, to line the two up.
	m = regexp.MustCompile(`at_ms 0 is (\S+), to line up`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no latency log start time:\n%s", report)
	}
	if t0, err := time.Parse("2006-01-02T15:04:05.000Z", m[1]); err != nil || t0.Before(before.Truncate(time.Millisecond)) || t0.After(after) {
		t.Errorf("latency log starts %s (%v), not between %s and %s", m[1], err, before.UTC(), after.UTC())
	}
	// The latency log has a line per request, each with its status.
	csv, err := os.ReadFile(timeline)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 401 || lines[0] != "at_ms,latency_ms,status,kind" {
		t.Fatalf("latency log has %d lines (want 401), header %q", len(lines), lines[0])
	}
	byKind := map[string]int{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != 4 {
			t.Fatalf("latency log line %q", l)
		}
		byKind[f[3]]++
	}
	for k, n := range sent {
		if byKind[k] != n {
			t.Errorf("latency log has %d %s lines, the report %d", byKind[k], k, n)
		}
	}
}
