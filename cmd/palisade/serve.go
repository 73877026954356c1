package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/palisade-fedi/palisade/instance/api"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/federation"
	"github.com/palisade-fedi/palisade/instance/oauth"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/fetch"
	"github.com/palisade-fedi/palisade/relay/ingress"
	"github.com/palisade-fedi/palisade/relay/keys"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pgcluster"
)

func init() {
	register(command{name: "serve", summary: "run the appliance (gateway, relay, instance)", run: cmdServe})
}

func cmdServe(args []string) error {
	fs := newFlagSet("serve", "", "Run the appliance. With no configuration it serves a working local appliance for\n"+
		"localhost, with a private PostgreSQL cluster in its data directory.\n\n"+
		"The configuration file is YAML (see \"palisade config defaults\"); PALISADE_* environment\n"+
		"variables override it. SIGTERM or SIGINT shut down gracefully; SIGHUP reloads the policy.")
	configPath := fs.String("config", os.Getenv("PALISADE_CONFIG"), "configuration `file` (YAML); default: none, or $PALISADE_CONFIG")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg, err := LoadConfig(*configPath, os.Environ())
	if err != nil {
		return err
	}
	applyGCDefault(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, cfg, nil)
}

// servingGCPercent is the collector's target for a serving node when GOGC
// is not set (see ingress.ServingGCPercent for why).
const servingGCPercent = ingress.ServingGCPercent

// applyGCDefault sets servingGCPercent unless the operator set GOGC (the
// runtime has applied it already; GOMEMLIMIT works as usual either way).
// It reports the percent in effect.
func applyGCDefault(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(servingGCPercent)
	return servingGCPercent
}

// newLogger builds the structured logger the config asks for.
func newLogger(c LogConfig) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// serveHooks lets tests learn the bound addresses (ports may be ":0").
type serveHooks struct {
	ready func(public, admin net.Addr)
	// node, when set, is called with the running node just before ready
	// (tests drive its services directly).
	node func(*node)
}

// node is one running appliance: its stores, pipeline and listeners.
type node struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	local    *local.DB
	inbound  *local.Queue
	cluster  *pgcluster.Cluster
	db       *pg.DB
	policy   *policyRuntime
	instance *instanceActor
	keys     *keys.Resolver
	ingress  *ingress.Ingress
	// public serves every public route that is not an inbox POST (actors,
	// collections, pages); register net/http handlers on it before the
	// listener starts.
	public     *http.ServeMux
	publicHTTP fasthttp.RequestHandler
	// The instance core (cmd/palisade/instance.go).
	data     *data.Store
	social   *social.Service
	consumer *federation.Consumer
	fetcher  *fetch.Fetcher
	engine   *delivery.Engine
	oauth    *oauth.Server
	// clientAPI is the Mastodon client API, once mounted (tests wait on
	// its streaming state).
	clientAPI *api.API
	ready     atomic.Bool
	shutdown  atomic.Bool
}

// serve runs the appliance until ctx is cancelled, then shuts down
// gracefully: stop accepting, finish in-flight requests, sync the stores.
func serve(ctx context.Context, cfg Config, hooks *serveHooks) (err error) {
	log := newLogger(cfg.Log)
	slog.SetDefault(log)
	n := &node{cfg: cfg, log: log, reg: prometheus.NewRegistry(), public: http.NewServeMux()}
	n.publicHTTP = fasthttpadaptor.NewFastHTTPHandler(n.instrumentPublic(n.public))
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Others may traverse the data directory but not list it: the private
	// PostgreSQL cluster runs as the postgres user when we are root, and
	// must reach its own directory inside.
	if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	// Admin listener first: /healthz answers while the rest starts.
	adminLn, err := net.Listen("tcp", cfg.Listen.Admin)
	if err != nil {
		return fmt.Errorf("listen.admin %s: %w", cfg.Listen.Admin, err)
	}
	adminMux := n.adminMux()
	admin := &http.Server{Handler: adminMux, ReadHeaderTimeout: 10 * time.Second}
	go admin.Serve(adminLn)
	defer admin.Close()

	if err := n.openLocal(); err != nil {
		return err
	}
	defer func() {
		if cerr := n.local.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the local store: %w", cerr)
		}
	}()
	if err := n.openDatabase(ctx); err != nil {
		return err
	}
	defer n.closeDatabase()

	if n.policy, err = newPolicyRuntime(ctx, cfg, n.db, n.local, n.reg, log); err != nil {
		return err
	}
	defer n.policy.close()
	if n.instance, err = loadInstanceActor(ctx, n); err != nil {
		return err
	}
	if err := n.newSocial(); err != nil {
		return err
	}
	// Deferred after the local store's Close, so it runs before it.
	eng, err := startDelivery(ctx, n)
	if err != nil {
		return err
	}
	n.engine = eng
	defer eng.Close()
	stopRelay, err := n.startRelay(ctx, eng, adminMux)
	if err != nil {
		return err
	}
	defer stopRelay() // before the engine and the stores close
	guard := &netguard.Guard{AllowPrivate: cfg.Fed.AllowPrivateAddresses}
	n.keys = keys.New(keys.Options{
		Store:              n.local,
		Client:             guard.Client(cfg.Keys.FetchTimeout.D()),
		MemEntries:         cfg.Keys.CacheEntries,
		TTL:                cfg.Keys.TTL.D(),
		NegativeTTL:        cfg.Keys.NegativeTTL.D(),
		FetchTimeout:       cfg.Keys.FetchTimeout.D(),
		MaxBody:            int64(cfg.Keys.MaxBody),
		PerHostConcurrency: cfg.Keys.PerHostConcurrency,
		Allowed:            n.policy.allowedHost,
		AllowHTTP:          cfg.Fed.AllowHTTP,
		Signer:             delivery.GetSigner(n.instance.keyID, n.instance.key),
	})
	n.policy.routes(adminMux)
	n.deliveryRoutes(adminMux, eng)
	accountsRoutes(adminMux, n.policy, n.db, cfg.BaseURL(), log)
	go n.policy.run(ctx)
	stopInstance, err := n.startInstance(ctx, eng)
	if err != nil {
		return err
	}
	defer stopInstance() // before the engine and the stores close
	for _, m := range mounts {
		stopMount, err := m.fn(ctx, n, adminMux)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		defer stopMount()
	}

	n.reg.MustRegister(n.keys.Collector())
	var trusted []netip.Prefix
	for _, p := range cfg.Proxy.Trusted {
		pfx, _ := parsePrefix(p) // validated by Config.Validate
		trusted = append(trusted, pfx)
	}
	n.ingress, err = ingress.New(ingress.Options{
		Hosts:          []string{cfg.Host},
		MaxBody:        int(cfg.Ingress.MaxBody),
		BlockedStatus:  cfg.Ingress.BlockedStatus,
		TrustedProxies: trusted,
		DomainRate:     cfg.Ingress.DomainRate,
		DomainBurst:    cfg.Ingress.DomainBurst,
		ActorRate:      cfg.Ingress.ActorRate,
		ActorBurst:     cfg.Ingress.ActorBurst,
		Logger:         log,
		Registerer:     n.reg,
	}, ingress.Deps{
		Store:     n.local,
		Queue:     n.inbound,
		Keys:      n.keys,
		Policy:    n.policy,
		Decisions: n.policy.decisionSink(),
	})
	if err != nil {
		return err
	}

	srv := &fasthttp.Server{
		Name:         "palisade",
		Handler:      n.ingress.Handler(n.publicFallback),
		ErrorHandler: n.ingress.ErrorHandler,
		// Media uploads of the client API need more than an inbox POST;
		// the ingress still refuses inbox bodies over ingress.max_body.
		MaxRequestBodySize:            max(int(cfg.Ingress.MaxBody), publicMaxBody),
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  30 * time.Second,
		IdleTimeout:                   2 * time.Minute,
		ReadBufferSize:                8 << 10,
		DisableHeaderNamesNormalizing: false,
		NoDefaultServerHeader:         false,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{log},
	}
	publicLn, err := net.Listen("tcp", cfg.Listen.Public)
	if err != nil {
		return fmt.Errorf("listen.public %s: %w", cfg.Listen.Public, err)
	}
	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLS.CertFile != "" {
			serveErr <- srv.ServeTLS(publicLn, cfg.TLS.CertFile, cfg.TLS.KeyFile)
		} else {
			serveErr <- srv.Serve(publicLn)
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	n.ready.Store(true)
	log.Info("palisade serving", "version", versionString(), "host", cfg.Host,
		"public", publicLn.Addr().String(), "admin", adminLn.Addr().String(), "tls", cfg.TLS.CertFile != "")
	if hooks != nil && hooks.node != nil {
		hooks.node(n)
	}
	if hooks != nil && hooks.ready != nil {
		hooks.ready(publicLn.Addr(), adminLn.Addr())
	}
	for {
		select {
		case <-hup:
			n.policy.reload(ctx)
			continue
		case err := <-serveErr:
			if err != nil {
				return fmt.Errorf("public listener: %w", err)
			}
		case <-ctx.Done():
		}
		break
	}
	n.ready.Store(false)
	n.shutdown.Store(true)
	log.Info("shutting down: no new connections, finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.ShutdownWithContext(sctx); err != nil {
		log.Warn("in-flight requests did not finish in time", "err", err)
	}
	log.Info("stopped")
	return nil
}

// publicMaxBody is the largest request body the public listener reads: a
// 16 MiB media upload (the client API's limit) and its multipart framing.
const publicMaxBody = 17 << 20

// publicFallback serves what is not an inbox from n.public.
func (n *node) publicFallback(ctx *fasthttp.RequestCtx) { n.publicHTTP(ctx) }

// commitWindow maps the config's commit window, where 0 means none, to the
// store's option, where 0 means its default and negative none.
func commitWindow(w time.Duration) time.Duration {
	if w == 0 {
		return -1
	}
	return w
}

func (n *node) openLocal() error {
	db, err := local.Open(filepath.Join(n.cfg.DataDir, "pebble"), local.Options{
		DedupRetention:  n.cfg.Ingress.DedupRetention.D(),
		DedupFilterBits: int64(n.cfg.Ingress.DedupFilterSize) * 8,
		QueueHighWater:  n.cfg.Ingress.QueueHighWater,
		CommitWindow:    commitWindow(n.cfg.Ingress.CommitWindow.D()),
		Logger:          n.log,
	})
	if err != nil {
		return fmt.Errorf("opening the local store in %s: %w", filepath.Join(n.cfg.DataDir, "pebble"), err)
	}
	n.local = db
	if n.inbound, err = db.Queue("inbound"); err != nil {
		return err
	}
	n.reg.MustRegister(newLocalCollector(db, n.cfg.DataDir, n.inbound))
	return nil
}

func (n *node) openDatabase(ctx context.Context) error {
	url := n.cfg.Database.URL
	if url == "" {
		dir := filepath.Join(n.cfg.DataDir, "postgres")
		n.log.Info("no database.url: starting the private PostgreSQL cluster", "dir", dir)
		c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Database: "palisade", Logger: n.log.With("component", "postgres")})
		if err != nil {
			return fmt.Errorf("embedded PostgreSQL: %w", err)
		}
		n.cluster = c
		go c.Supervise(ctx)
		url = c.URL()
	}
	db, err := pg.Open(ctx, url, pg.Options{MaxConns: int32(n.cfg.Database.MaxConns)})
	if err != nil {
		return err
	}
	n.db = db
	applied, err := pg.Migrate(ctx, db.Pool())
	if err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	if len(applied) > 0 {
		n.log.Info("database migrated", "applied", applied)
	}
	n.reg.MustRegister(pg.NewStatsCollector(db.Pool()))
	return nil
}

func (n *node) closeDatabase() {
	if n.db != nil {
		n.db.Close()
	}
	if n.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.cluster.Stop(ctx); err != nil {
			n.log.Warn("stopping PostgreSQL", "err", err)
		}
	}
}

// adminMux serves /metrics, /healthz (the process is alive) and /readyz
// (the node accepts traffic: stores open, database reachable, not stopping).
func (n *node) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	// Profiling for operators chasing CPU or memory; the admin listener is
	// private by configuration.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := n.readiness(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

func (n *node) readiness(ctx context.Context) error {
	switch {
	case n.shutdown.Load():
		return errors.New("shutting down")
	case !n.ready.Load():
		return errors.New("starting")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := n.db.Pool().Ping(ctx); err != nil {
		return fmt.Errorf("database: %v", err)
	}
	return nil
}

// fasthttpLogger routes fasthttp's own messages into slog.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}
