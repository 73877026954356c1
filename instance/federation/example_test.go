package federation_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/federation"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/fetch"
	"github.com/palisade-fedi/palisade/relay/keys"
	"github.com/palisade-fedi/palisade/store/local"
)

// The node's parts fit the consumer's interfaces.
var (
	_ federation.Enqueuer = (*delivery.Engine)(nil)
	_ federation.Fetcher  = (*fetch.Fetcher)(nil)
	_ fetch.Getter        = (*keys.Resolver)(nil)
)

// How a node wires the consumer: the ingress's key resolver doubles as the
// fetcher's transport (same guard, gate, signer and caps), the delivery
// engine sends the Accepts, and Run goes until the node shuts down.
func Example() {
	var (
		ctx      context.Context       // the node's lifetime
		store    *data.Store           // data.New(pgDB.Pool())
		ldb      *local.DB             // the node's Pebble store
		resolver *keys.Resolver        // the ingress's key resolver
		engine   federation.Enqueuer   // *delivery.Engine
		reg      prometheus.Registerer // the admin listener's registry
	)
	if ctx == nil {
		return // this example only compiles
	}
	q, err := ldb.Queue("inbound")
	if err != nil {
		panic(err)
	}
	c, err := federation.New(federation.Options{
		Store:      store,
		Queue:      q,
		BaseURL:    "https://social.example",
		Fetch:      fetch.New(resolver),
		Deliver:    engine,
		Registerer: reg,
		Logger:     slog.Default(),
		Lease:      2 * time.Minute,
	})
	if err != nil {
		panic(err)
	}
	go c.Run(ctx) // returns nil when ctx ends or Close is called
	// ... at shutdown, before closing ldb and the pool:
	c.Close()
}
