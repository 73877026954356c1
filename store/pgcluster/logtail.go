package pgcluster

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// tailLines is how many lines of server output a startup error quotes.
const tailLines = 30

// logTail keeps the last lines of PostgreSQL's output for error messages
// and forwards every line to slog. The server writes its log to stderr (no
// logging_collector), so a private cluster's log lands with Palisade's own
// and nothing grows unrotated in the data directory.
type logTail struct {
	log   *slog.Logger
	mu    sync.Mutex
	lines []string
	next  int
}

func newLogTail(log *slog.Logger) *logTail {
	return &logTail{log: log, lines: make([]string, 0, tailLines)}
}

func (t *logTail) add(line string) {
	t.mu.Lock()
	if len(t.lines) < tailLines {
		t.lines = append(t.lines, line)
	} else {
		t.lines[t.next] = line
		t.next = (t.next + 1) % tailLines
	}
	t.mu.Unlock()
}

// String returns the remembered lines, oldest first, one per line.
func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.lines))
	out = append(out, t.lines[t.next:]...)
	out = append(out, t.lines[:t.next]...)
	return strings.Join(out, "\n")
}

// consume reads r line by line until EOF, remembering and logging each.
// Lines are logged at the level PostgreSQL gave them.
func (t *logTail) consume(r io.Reader, source string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t.add(line)
		level, severity, msg := classify(line)
		switch {
		case severity == "FATAL" && strings.Contains(msg, "the database system is starting up"):
			// Our own readiness probes, answered while the server recovers
			// or starts: expected, not an error an admin must act on.
			level = slog.LevelDebug
		case severity == "FATAL" && strings.Contains(msg, "terminating connection due to administrator command"):
			// Sent to each open connection when we stop the server.
			level = slog.LevelInfo
		}
		t.log.Log(context.Background(), level, msg, "source", source, "pg_severity", severity)
	}
}

var severities = []struct {
	tag   string
	level slog.Level
}{
	{"PANIC:  ", slog.LevelError},
	{"FATAL:  ", slog.LevelError},
	{"ERROR:  ", slog.LevelWarn},
	{"WARNING:  ", slog.LevelWarn},
	{"LOG:  ", slog.LevelInfo},
	{"DETAIL:  ", slog.LevelInfo},
	{"HINT:  ", slog.LevelInfo},
	{"CONTEXT:  ", slog.LevelInfo},
	{"STATEMENT:  ", slog.LevelInfo},
	{"DEBUG1:  ", slog.LevelDebug},
	{"DEBUG2:  ", slog.LevelDebug},
}

// classify maps a server log line ("FATAL:  role ... does not exist", with
// whatever log_line_prefix in front) to a slog level, PostgreSQL's severity
// and the message without the tag.
func classify(line string) (level slog.Level, severity, msg string) {
	for _, s := range severities {
		if i := strings.Index(line, s.tag); i >= 0 && i < 80 {
			return s.level, s.tag[:len(s.tag)-3], line[:i] + line[i+len(s.tag):]
		}
	}
	return slog.LevelInfo, "", line
}
