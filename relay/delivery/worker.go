package delivery

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
)

// postHeaders is the signed header list of a delivery: what Mastodon signs
// (app/lib/request.rb), so every peer that verifies Mastodon verifies us.
var postHeaders = []string{"(request-target)", "host", "date", "digest", "content-type"}

const contentType = "application/activity+json"

// maxResponseRead bounds how much of a response body is read (and thrown
// away) so that the connection can be reused; a longer body closes it.
const maxResponseRead = 64 << 10

func (e *Engine) worker(ctx context.Context) {
	for t := range e.work {
		e.results <- e.run(ctx, t)
	}
}

// run delivers one task and records its end in the store.
func (e *Engine) run(ctx context.Context, t *task) result {
	now := e.o.Now()
	r := result{t: t, at: now, class: classSkipped}
	if ctx.Err() != nil {
		e.jobs.Release(t.job.ID)
		r.class = classReleased
		return r
	}
	p, err := decodePayload(t.job.Payload)
	if err != nil {
		e.o.Logger.Error(err.Error(), "job", t.job.ID, "host", t.job.Host)
		e.finish(t, -1)
		return r
	}
	if e.o.Allowed != nil && !e.o.Allowed(t.host.hostname) {
		e.finish(t, outcomeRefused)
		return r
	}
	if now.Sub(p.enqueued) >= e.o.MaxAge {
		e.finish(t, outcomeExpired)
		return r
	}
	keyID, key, err := e.key(p.actor, now)
	if err != nil {
		// Our own failure, not the host's: retry without blaming it.
		e.o.Logger.Error("delivery: no signing key for the sending actor; will retry", "actor", p.actor, "err", err)
		e.retry(t, p, now, 0, -1)
		return r
	}
	start := time.Now()
	status, retryAfter, err := e.post(ctx, t, p, keyID, key, now)
	e.m.sent(t.job.Host, time.Since(start).Seconds())
	if ctx.Err() != nil {
		e.jobs.Release(t.job.ID)
		r.class = classReleased
		return r
	}
	var oc outcome
	r.class = classFailed
	switch {
	case err != nil && isTimeout(err):
		oc = outcomeRetryTimeout
	case err != nil:
		var se *signature.Error
		if errors.As(err, &se) {
			e.o.Logger.Error("delivery: signing failed; will retry", "actor", p.actor, "err", err)
			r.class = classSkipped
			e.retry(t, p, now, 0, -1)
			return r
		}
		oc = outcomeRetryNetwork
	case status >= 200 && status < 300:
		r.class, r.success = classAlive, true
		e.finish(t, outcomeSuccess)
		return r
	case status == http.StatusGone:
		r.class = classAlive
		e.finish(t, outcomeGone)
		return r
	case status == http.StatusTooManyRequests:
		r.class = classAlive
		oc = outcomeRetry429
	case status == http.StatusRequestTimeout:
		oc = outcomeRetryTimeout
	case status >= 500:
		oc = outcomeRetry5xx
	default: // 3xx and the other 4xx: the peer will not take it
		r.class = classAlive
		e.o.Logger.Info("delivery: refused by the peer; job ended", "inbox", p.inbox, "status", status)
		e.finish(t, outcomeRejected)
		return r
	}
	e.retry(t, p, now, retryAfter, oc)
	return r
}

// finish counts a job's outcome (oc < 0: none) and hands it to the
// completer, which removes it from the store.
func (e *Engine) finish(t *task, oc outcome) {
	if oc >= 0 {
		e.m.attempt(t.job.Host, oc, 1)
		e.notify(t.job.Host, oc)
	}
	e.completed <- t.job.ID
}

// complete removes finished jobs from the store, many per synced commit:
// the worker goes on to its next delivery instead of waiting for an fsync
// (on a busy disk a synced commit took 5–25 ms here, longer than the
// delivery). A crash before the commit sends those jobs again, which the
// at-least-once contract allows. If the store fails the jobs are released
// and will be sent again.
func (e *Engine) complete() {
	ids := make([]string, 0, 256)
	for id := range e.completed {
		ids = append(ids[:0], id)
		for more := true; more && len(ids) < 1024; {
			select {
			case id, ok := <-e.completed:
				if !ok {
					more = false
					break
				}
				ids = append(ids, id)
			default:
				more = false
			}
		}
		if err := e.jobs.Done(ids...); err != nil {
			e.o.Logger.Error("delivery: recording finished jobs failed; they will be sent again", "jobs", len(ids), "err", err)
			e.jobs.Release(ids...)
		}
	}
}

// retry counts the attempt's outcome (oc < 0: none) and reschedules the job
// after its back-off (no earlier than retryAfter), or ends it as expired
// when that would pass MaxAge.
func (e *Engine) retry(t *task, p payload, now time.Time, retryAfter time.Duration, oc outcome) {
	if oc >= 0 {
		e.m.attempt(t.job.Host, oc, 1)
		e.notify(t.job.Host, oc)
	}
	n := t.job.Attempts + 1
	d := backoff(e.o.BackoffBase, e.o.BackoffMax, n)
	if retryAfter > d {
		d = min(retryAfter, e.o.BackoffMax)
	}
	due := now.Add(d)
	if due.Sub(p.enqueued) >= e.o.MaxAge {
		e.o.Logger.Warn("delivery: giving up after MaxAge", "inbox", p.inbox, "attempts", n, "enqueued", p.enqueued)
		e.finish(t, outcomeExpired)
		return
	}
	if err := e.jobs.Reschedule(t.job.ID, due, n); errors.Is(err, local.ErrNoJob) {
		// Dropped meanwhile (Jobs.DropHost for a removed subscriber).
		e.jobs.Release(t.job.ID)
	} else if err != nil {
		e.o.Logger.Error("delivery: rescheduling a job failed; it is due again now", "job", t.job.ID, "err", err)
		e.jobs.Release(t.job.ID)
	}
}

// post sends one signed delivery and returns the status and Retry-After.
func (e *Engine) post(ctx context.Context, t *task, p payload, keyID string, key crypto.PrivateKey, now time.Time) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.inbox, bytes.NewReader(p.body))
	if err != nil {
		return 0, 0, err
	}
	req.Header = http.Header{
		"Content-Type": {contentType},
		"Digest":       {p.digest},
		"Date":         {now.UTC().Format(http.TimeFormat)},
		"User-Agent":   {e.o.UserAgent},
		"Accept":       {contentType},
	}
	if err := signature.Sign(http.MethodPost, req.URL.RequestURI(), req.URL.Host, req.Header, keyID, key, postHeaders, now); err != nil {
		return 0, 0, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
	resp.Body.Close()
	var ra time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		ra = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return resp.StatusCode, ra, nil
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// GetSigner returns a function that signs an outbound GET for authorized
// fetch (peers in secure mode refuse unsigned fetches of actors and
// objects), usable as relay/keys Options.Signer. It signs
// "(request-target) host date" plus "accept" when the request has an Accept
// header, and sets Date. key is the instance actor's (or a local actor's)
// private key; keyID its key URL.
func GetSigner(keyID string, key crypto.PrivateKey) func(*http.Request) error {
	return func(req *http.Request) error {
		if req.Header == nil {
			req.Header = http.Header{}
		}
		now := time.Now()
		req.Header.Set("Date", now.UTC().Format(http.TimeFormat))
		headers := []string{"(request-target)", "host", "date"}
		if req.Header.Get("Accept") != "" {
			headers = append(headers, "accept")
		}
		host := req.Host
		if host == "" {
			host = req.URL.Host
		}
		method := req.Method
		if method == "" {
			method = http.MethodGet
		}
		return signature.Sign(method, req.URL.RequestURI(), host, req.Header, keyID, key, headers, now)
	}
}
