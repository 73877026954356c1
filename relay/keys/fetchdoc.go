package keys

import (
	"context"
	"fmt"
	"strings"

	"github.com/palisade-fedi/palisade/relay/activity"
)

// FetchDocument GETs the ActivityStreams document at id (fragment removed)
// under the same bounds as key fetches: the domain gate (Options.Allowed,
// refused with ErrBlocked before anything is sent), https only unless
// AllowHTTP, the SSRF-guarded client, the signer, the per-host
// concurrency cap shared with key fetches, FetchTimeout, MaxBody, a JSON
// content type, and no redirect to another host. 404 and 410 wrap
// ErrNotFound and ErrGone. Nothing is cached: relay/fetch decides that.
//
// It exists so that fetching remote actors and objects (the instance's
// relay/fetch) cannot become a second, weaker path out of the node.
func (r *Resolver) FetchDocument(ctx context.Context, id string) ([]byte, error) {
	u, _, _ := strings.Cut(id, "#")
	if !strings.HasPrefix(u, "https://") && !(r.o.AllowHTTP && strings.HasPrefix(u, "http://")) {
		return nil, fmt.Errorf("keys: document id %q is not an https URL", id)
	}
	host, err := activity.Host(u)
	if err != nil {
		return nil, fmt.Errorf("keys: document id %q: %w", id, err)
	}
	if r.o.Allowed != nil && !r.o.Allowed(host) {
		r.stats.blocked.Add(1)
		return nil, fmt.Errorf("%w: %s", ErrBlocked, host)
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.FetchTimeout)
	defer cancel()
	return r.get(ctx, host, u)
}
