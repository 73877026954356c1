package main

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/federation"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/instance/web"
	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/fetch"
)

// engineRef hands the social service's deliveries to the node's engine,
// which is built after the service (the engine signs through it).
type engineRef struct{ n *node }

func (r engineRef) Enqueue(activity []byte, actor string, inboxes []string) error {
	if r.n.engine == nil {
		return errors.New("the delivery engine is not running")
	}
	return r.n.engine.Enqueue(activity, actor, inboxes)
}

// pollMinExpiry lowers the shortest poll members may create. Zero (the
// default, and the only value outside tests) keeps Mastodon's 5 minutes;
// the federation test sets it in an init to see a poll end.
var pollMinExpiry time.Duration

// newSocial builds the local side over the node's database. It runs before
// the delivery engine starts, so the engine can sign as local accounts.
func (n *node) newSocial() error {
	n.data = data.New(n.db.Pool())
	svc, err := social.New(social.Options{
		Store:         n.data,
		BaseURL:       n.cfg.BaseURL(),
		Delivery:      engineRef{n},
		InstanceActor: n.instance.id,
		Logger:        n.log.With("component", "social"),
		MinPollExpiry: pollMinExpiry,
	})
	if err != nil {
		return err
	}
	n.social = svc
	return nil
}

// startInstance runs the instance core once the engine and the key
// resolver exist: the inbound consumer draining the gateway's queue into
// Postgres, the outbox sweep redelivering what a crash interrupted, the
// job ending polls, and
// the public documents (actors, statuses, WebFinger, NodeInfo) on
// n.public. stop closes the consumer and waits for the sweep; the caller
// MUST call it before closing the engine and the stores.
func (n *node) startInstance(ctx context.Context, eng *delivery.Engine) (stop func(), err error) {
	cfg := n.cfg
	n.fetcher = fetch.New(n.keys)
	c, err := federation.New(federation.Options{
		Store:         n.data,
		Queue:         n.inbound,
		BaseURL:       cfg.BaseURL(),
		InstanceActor: n.instance.id,
		Fetch:         n.fetcher,
		// Fetched posts pass the current policy like any other post.
		Screen: func(in *policy.Input) policy.Record {
			d := n.policy.engine.Current().Evaluate(in)
			return policy.NewRecord(time.Now(), in, &d)
		},
		Deliver:    eng,
		Registerer: n.reg,
		Logger:     n.log.With("component", "instance"),
	})
	if err != nil {
		return nil, err
	}
	n.consumer = c
	h, err := web.New(web.Options{
		Social:            n.social,
		Keys:              n.keys,
		AuthorizedFetch:   cfg.Instance.AuthorizedFetch,
		Suspended:         func(host string) bool { return !n.policy.allowedHost(host) },
		Version:           versionString(),
		NodeName:          cfg.Instance.Name,
		OpenRegistrations: cfg.Instance.Registrations == "open",
		Logger:            n.log.With("component", "web"),
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	h.Register(n.public)
	// The /@NAME profile and status pages: h answers 404 for what it
	// does not own, and every more specific pattern wins over "/".
	n.public.Handle("/", h)

	ictx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 3)
	if cfg.Instance.Enabled {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := c.Run(ictx); err != nil {
				n.log.Error("the instance consumer stopped", "err", err)
			}
		}()
	} else {
		// An idle group would hold the queue's entries back from trimming
		// forever. Its metrics stay registered (and flat).
		if err := n.inbound.DeleteGroup(federation.GroupName); err != nil {
			cancel()
			c.Close()
			return nil, err
		}
		n.log.Info("instance consumer off (instance.enabled: false): accepted activities are not stored in Postgres")
		done <- struct{}{}
	}
	go func() {
		defer func() { done <- struct{}{} }()
		n.social.RunRedeliver(ictx, time.Minute)
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		n.social.RunPolls(ictx, time.Minute)
	}()
	return func() {
		cancel()
		c.Close()
		<-done
		<-done
		<-done
	}, nil
}

// resolveAccount finds the account of a handle ("user@host", "@user@host")
// or an actor id: local and fresh remote accounts from the database, others
// through WebFinger and an actor fetch (the gateway's gate, guard and caps
// apply), stored before they are returned.
func (n *node) resolveAccount(ctx context.Context, handleOrURI string) (*data.Account, error) {
	uri := handleOrURI
	if !strings.HasPrefix(uri, "https://") && !strings.HasPrefix(uri, "http://") {
		user, host, err := fetch.SplitAcct(handleOrURI)
		if err != nil {
			return nil, err
		}
		if host == strings.ToLower(n.cfg.Host) {
			return n.data.GetAccountByUsername(ctx, user, "")
		}
		if uri, err = n.fetcher.WebFinger(ctx, user+"@"+host, n.cfg.Fed.Scheme); err != nil {
			return nil, err
		}
	}
	return n.consumer.ResolveActor(ctx, uri)
}

// mount is a part of the node started after the core (stores, policy,
// delivery, relay, instance): it registers its routes on n.public and
// adminMux and may start goroutines. The stop it returns runs at shutdown,
// before the core stops.
type mount func(ctx context.Context, n *node, adminMux *http.ServeMux) (stop func(), err error)

// mounts are started by ascending order, then name (files register in
// init, whose order Go does not promise across files).
var mounts []namedMount

type namedMount struct {
	name  string
	order int
	fn    mount
}

// Mount orders: the OAuth server first, as the APIs and the console
// authenticate through it.
const (
	mountOAuth   = 10
	mountAPI     = 20
	mountAdmin   = 30
	mountConsole = 40
)

// registerMount adds a part to every node; call it from init.
func registerMount(name string, order int, fn mount) {
	mounts = append(mounts, namedMount{name, order, fn})
	sort.SliceStable(mounts, func(i, j int) bool {
		if mounts[i].order != mounts[j].order {
			return mounts[i].order < mounts[j].order
		}
		return mounts[i].name < mounts[j].name
	})
}
