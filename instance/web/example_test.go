package web_test

import (
	"context"
	"crypto"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/instance/web"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/keys"
)

// Example_wiring is how a node assembles the local side: one social
// Service over the data layer and the delivery engine, the engine signing
// as local accounts through Service.SigningKey (and as the instance actor
// with its own key), the outbox sweep running in the background, and the
// web Handler on the public listener.
func Example_wiring() {
	var (
		ctx       = context.Background()
		pool      *pgxpool.Pool        // the node's Postgres pool
		engine    *delivery.Engine     // built with Signer: signer (below)
		resolver  *keys.Resolver       // the node's key resolver
		suspended func(string) bool    // the policy's domain gate
		instKeyID string               // BASE/actor#main-key
		instKey   crypto.PrivateKey    // the instance actor's key
		public    = http.NewServeMux() // the public listener's mux
	)
	svc, err := social.New(social.Options{Store: data.New(pool), BaseURL: "https://social.example",
		Delivery: engine, Logger: slog.Default()})
	if err != nil {
		panic(err)
	}
	// The engine's delivery.Options.Signer:
	signer := func(actor string) (string, crypto.PrivateKey, error) {
		if actor == svc.InstanceActor() {
			return instKeyID, instKey, nil
		}
		return svc.SigningKey(actor)
	}
	_ = signer
	go svc.RunRedeliver(ctx, time.Minute)

	h, err := web.New(web.Options{Social: svc, Keys: resolver, AuthorizedFetch: false, Suspended: suspended,
		Version: "1.0.0", NodeName: "Example social"})
	if err != nil {
		panic(err)
	}
	h.Register(public)
}
