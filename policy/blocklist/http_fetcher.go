package blocklist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// HTTPFetcher fetches blocklists over HTTP with conditional requests. It is
// the package's only network code.
type HTTPFetcher struct {
	// Client does the requests. The appliance passes its SSRF-guarded
	// client; nil means http.DefaultClient (tests only: it reaches any
	// address).
	Client *http.Client
	// MaxBytes caps a body; a larger one is an error, not a truncated
	// list. 0 means 16 MiB (Oliphant's largest lists are under 1 MiB).
	MaxBytes int64
	// Timeout bounds one fetch, body included; 0 means 30 s.
	Timeout time.Duration
	// UserAgent is sent as User-Agent; "" means "Palisade blocklist".
	UserAgent string
}

// Fetch implements Fetcher: GET url with If-None-Match and
// If-Modified-Since from the previous validators. A 304 is notModified (the
// old validators are returned when the response repeats none); a 200 body
// is returned with the new validators; any other status is an error naming
// it.
func (f *HTTPFetcher) Fetch(ctx context.Context, url, etag, lastModified string) ([]byte, string, string, bool, error) {
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	limit := f.MaxBytes
	if limit <= 0 {
		limit = 16 << 20
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", "", false, err
	}
	ua := f.UserAgent
	if ua == "" {
		ua = "Palisade blocklist"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "text/csv, application/json;q=0.9, text/plain;q=0.8, */*;q=0.5")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", "", false, err
	}
	defer resp.Body.Close()
	newETag, newLM := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	switch resp.StatusCode {
	case http.StatusNotModified:
		if newETag == "" {
			newETag = etag
		}
		if newLM == "" {
			newLM = lastModified
		}
		return nil, newETag, newLM, true, nil
	case http.StatusOK:
	default:
		return nil, "", "", false, fmt.Errorf("GET %s: server answered %s", url, resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, "", "", false, fmt.Errorf("GET %s: body of %d bytes is over the %d-byte limit", url, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, "", "", false, fmt.Errorf("GET %s: not complete within %s", url, timeout)
		}
		return nil, "", "", false, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	if int64(len(body)) > limit {
		return nil, "", "", false, fmt.Errorf("GET %s: body is over the %d-byte limit", url, limit)
	}
	return body, newETag, newLM, false, nil
}
