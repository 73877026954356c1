package ingress

import (
	"strconv"
	"time"
)

// ending is how a request left the pipeline. Reason is a stable code (a
// Prometheus label value); Msg is the short text sent to the client, safe to
// show; Detail is logged, never sent.
type ending struct {
	stage      string
	reason     string
	code       int
	msg        string
	detail     string
	retryAfter time.Duration
}

func end(stage, reason string, code int, msg string) *ending {
	return &ending{stage: stage, reason: reason, code: code, msg: msg}
}

func (e *ending) withDetail(d string) *ending { e.detail = d; return e }

func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
