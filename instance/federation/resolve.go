package federation

import (
	"context"
	"fmt"

	"github.com/palisade-fedi/palisade/instance/data"
)

// ResolveActor returns the account of actor uri for local callers (search,
// follow by handle): the stored row while it is fresh, otherwise the actor
// fetched through the consumer's fetcher — the same domain gate, SSRF
// guard, signer and size caps as the ingress — stored, and returned. A
// local uri is looked up, never fetched.
func (c *Consumer) ResolveActor(ctx context.Context, uri string) (*data.Account, error) {
	a, err := c.o.Store.GetAccountByURI(ctx, uri)
	switch {
	case err == nil && (a.Local() || !c.stale(a)):
		return a, nil
	case err != nil && data.KindOf(err) != data.NotFound:
		return nil, err
	case err != nil && c.isLocal(uri):
		return nil, err
	}
	budget := 1
	fetched, _, ferr := c.fetchActor(ctx, uri, &budget)
	if ferr != nil {
		if a != nil {
			// A stale copy beats none when its server is down.
			return a, nil
		}
		return nil, fmt.Errorf("resolving %s: %w", uri, ferr)
	}
	return fetched, nil
}
