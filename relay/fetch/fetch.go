// Package fetch retrieves remote ActivityStreams documents (actors and
// objects) for the instance: a boosted post it has never seen, the parent
// of a reply, the profile of an unknown or stale actor, the target of a
// Move.
//
// It adds no network path of its own: every GET goes through a Getter,
// which in a node is the relay/keys Resolver (FetchDocument), so fetches
// pass the same domain gate, SSRF guard, signer, size cap and per-host
// concurrency cap as key fetches. What this package adds is the authority
// check a fetched document must pass before anything believes it, and
// one fetch per id at a time (singleflight).
package fetch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/singleflight"

	"github.com/palisade-fedi/palisade/relay/activity"
)

// Getter GETs one document. relay/keys.Resolver implements it.
type Getter interface {
	FetchDocument(ctx context.Context, id string) ([]byte, error)
}

// ErrNotAuthoritative is wrapped when a fetched document does not vouch
// for itself: its id is not the id asked for, or its author lives on
// another host than the document.
var ErrNotAuthoritative = errors.New("fetch: document is not authoritative for the id asked")

// ErrWrongType is wrapped when an actor was asked for and an object came
// back, or the other way round.
var ErrWrongType = errors.New("fetch: document has an unexpected type")

// Fetcher fetches and checks documents. It is safe for concurrent use.
type Fetcher struct {
	g      Getter
	flight singleflight.Group
}

// New returns a Fetcher over g.
func New(g Getter) *Fetcher { return &Fetcher{g: g} }

// Actor fetches the actor document id and returns it decoded. The document's
// own id must equal id (fragment ignored) and its type must be an actor type.
func (f *Fetcher) Actor(ctx context.Context, id string) (*activity.Actor, error) {
	body, err := f.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return ParseActor(body, id)
}

// Object fetches the object id (a Note, Article, ...) and returns it
// decoded. Its id must equal id and its attributedTo must be on id's host:
// a server answers only for its own users' posts.
func (f *Fetcher) Object(ctx context.Context, id string) (*activity.Object, error) {
	body, err := f.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return ParseObject(body, id)
}

func (f *Fetcher) get(ctx context.Context, id string) ([]byte, error) {
	ch := f.flight.DoChan(strip(id), func() (any, error) {
		return f.g.FetchDocument(context.WithoutCancel(ctx), id)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("fetch: gave up waiting for %s: %w", id, ctx.Err())
	}
}

func strip(id string) string {
	u, _, _ := strings.Cut(id, "#")
	return u
}

// ParseActor decodes body as the actor document fetched for id and checks
// that it is one: an actor type whose id is id (fragment ignored).
func ParseActor(body []byte, id string) (*activity.Actor, error) {
	a, err := activity.DecodeActor(body)
	if err != nil {
		return nil, fmt.Errorf("fetch: actor %s: %w", id, err)
	}
	if !activity.IsActorType(a.Type) {
		return nil, fmt.Errorf("%w: %s is a %q, not an actor", ErrWrongType, id, a.Type)
	}
	if strip(a.ID) != strip(id) {
		return nil, fmt.Errorf("%w: asked for %s, got a document with id %q", ErrNotAuthoritative, id, a.ID)
	}
	return a, nil
}

// ParseObject decodes body as the object fetched for id and checks it: not
// an actor or activity, its id is id, and its attributedTo is on the same
// host as id.
func ParseObject(body []byte, id string) (*activity.Object, error) {
	o, err := activity.DecodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("fetch: object %s: %w", id, err)
	}
	if activity.IsActorType(o.Type) || activity.IsActivityType(o.Type) {
		return nil, fmt.Errorf("%w: %s is a %q, not an object", ErrWrongType, id, o.Type)
	}
	if strip(o.ID) != strip(id) {
		return nil, fmt.Errorf("%w: asked for %s, got a document with id %q", ErrNotAuthoritative, id, o.ID)
	}
	idHost, err := activity.Host(o.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: object id %q: %v", ErrNotAuthoritative, o.ID, err)
	}
	if o.AttributedTo == "" {
		return nil, fmt.Errorf("%w: object %s has no attributedTo", ErrNotAuthoritative, id)
	}
	if h, err := activity.Host(o.AttributedTo); err != nil || h != idHost {
		return nil, fmt.Errorf("%w: object %s is attributed to %q on another host", ErrNotAuthoritative, id, o.AttributedTo)
	}
	return o, nil
}
