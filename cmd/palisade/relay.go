package main

import (
	"context"
	"net/http"
	"time"

	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/relayactor"
)

// startRelay builds the relay actor, serves its documents on n.public and
// its admin API on adminMux and, when relay.enabled, consumes the inbound
// queue and feeds on eng's outcomes. stop cancels the consumer and waits
// for it; the caller MUST call it before closing eng and n.local.
func (n *node) startRelay(ctx context.Context, eng *delivery.Engine, adminMux *http.ServeMux) (stop func(), err error) {
	cfg := n.cfg
	guard := &netguard.Guard{AllowPrivate: cfg.Fed.AllowPrivateAddresses}
	r, err := relayactor.New(relayactor.Options{
		BaseURL:        cfg.BaseURL(),
		PublicKeyPEM:   n.instance.pubPEM,
		DB:             n.db,
		Queue:          n.inbound,
		Sender:         eng,
		Client:         guard.Client(15 * time.Second),
		Sign:           delivery.GetSigner(n.instance.keyID, n.instance.key),
		Allowed:        n.policy.allowedHost,
		Mode:           cfg.Relay.Mode,
		Languages:      append([]string(nil), cfg.Relay.Filters.Languages...),
		Hashtags:       append([]string(nil), cfg.Relay.Filters.Hashtags...),
		RemoveAfter:    time.Duration(cfg.Relay.RemoveAfter) * 24 * time.Hour,
		DropDeliveries: eng.DropHostOf,
		StatusPage:     cfg.Relay.StatusPage,
		AllowHTTP:      cfg.Fed.AllowHTTP,
		Registerer:     n.reg,
		Logger:         n.log.With("component", "relay"),
	})
	if err != nil {
		return nil, err
	}
	r.Routes(n.public)
	n.relayRoutes(adminMux, r)
	if !cfg.Relay.Enabled {
		// A registered but idle group would hold the inbound queue's
		// entries back from trimming forever.
		if err := n.inbound.DeleteGroup(relayactor.GroupName); err != nil {
			return nil, err
		}
		n.log.Info("relay disabled (relay.enabled: false): relay Follows go unanswered")
		return func() {}, nil
	}
	eng.Observe(r.Observe)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(rctx); err != nil {
			n.log.Error("the relay stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
