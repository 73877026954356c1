package ingress

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/store/local"
)

// EnginePolicy adapts the policy engine to the ingress seam.
type EnginePolicy struct {
	Engine *policy.Engine
}

// Gate consults the current snapshot's domain gate.
func (p *EnginePolicy) Gate(host string) (bool, string) {
	g := p.Engine.Gate(host)
	return g.Refuse, g.Reason
}

// Admit runs the engine's early rate rules. It needs only the envelope.
func (p *EnginePolicy) Admit(in *policy.Input) (time.Duration, string) {
	limited, retry, rule := p.Engine.RateLimit(in)
	if !limited {
		return 0, ""
	}
	return max(retry, time.Second), rule
}

// Decide evaluates the chain. The Input is built from the envelope the
// ingress already parsed, so rules on domains and types never parse the
// content; content rules parse it lazily.
func (p *EnginePolicy) Decide(in *policy.Input) Verdict {
	d := p.Engine.Evaluate(in)
	rec := policy.NewRecord(in.Now, in, &d)
	b, _ := rec.AppendBinary(nil)
	v := Verdict{Record: b}
	switch {
	case d.RateLimited:
		v.RetryAfter = max(d.RetryAfter, time.Second)
	case d.Action == policy.Reject:
		v.Reject = true
	}
	return v
}

// LogSink writes decision records to a store/local log in the background,
// in batches. Records are diagnostic: when the writer falls behind by more
// than the buffer, records are dropped and counted rather than slowing the
// ingress.
type LogSink struct {
	log     *local.Log
	ch      chan sinkRec
	dropped atomic.Int64
	wg      sync.WaitGroup
	logger  *slog.Logger
}

type sinkRec struct {
	at  time.Time
	rec []byte
}

// NewLogSink starts the writer. The caller MUST call Close before closing
// the store.
func NewLogSink(l *local.Log, logger *slog.Logger) *LogSink {
	s := &LogSink{log: l, ch: make(chan sinkRec, 16384), logger: logger}
	s.wg.Add(1)
	go s.run()
	return s
}

// Record implements DecisionSink. rec is retained: the caller must not
// reuse it.
func (s *LogSink) Record(at time.Time, rec []byte) {
	select {
	case s.ch <- sinkRec{at, rec}:
	default:
		s.dropped.Add(1)
	}
}

// Dropped is how many records were dropped because the writer was behind.
func (s *LogSink) Dropped() int64 { return s.dropped.Load() }

func (s *LogSink) run() {
	defer s.wg.Done()
	for r := range s.ch {
		if err := s.log.Append(r.at, r.rec); err != nil {
			s.logger.Warn("decision log append failed", "err", err)
		}
	}
}

// Close flushes what is buffered and stops the writer.
func (s *LogSink) Close() {
	close(s.ch)
	s.wg.Wait()
}
