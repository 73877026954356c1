package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/palisade-fedi/palisade/relay/inbound"
)

// Config is the whole appliance configuration. Every key has a default
// (see palisade.example.yaml, which documents each one and is checked by a
// test to match Default()); environment variables override the file:
// PALISADE_ followed by the key path in upper case joined by underscores,
// e.g. PALISADE_INGRESS_MAX_BODY=2MiB or PALISADE_DATABASE_URL=postgres://….
// Lists take comma-separated values in the environment.
type Config struct {
	// Host is the public host name of this appliance: actor ids, the relay
	// actor and WebFinger are minted under https://Host/.
	Host     string         `yaml:"host"`
	DataDir  string         `yaml:"data_dir"`
	Listen   ListenConfig   `yaml:"listen"`
	TLS      TLSConfig      `yaml:"tls"`
	Proxy    ProxyConfig    `yaml:"proxy"`
	Log      LogConfig      `yaml:"log"`
	Database DatabaseConfig `yaml:"database"`
	Ingress  IngressConfig  `yaml:"ingress"`
	Keys     KeysConfig     `yaml:"keys"`
	Fed      FedConfig      `yaml:"federation"`
	Policy   PolicyConfig   `yaml:"policy"`
	Relay    RelayConfig    `yaml:"relay"`
	Instance InstanceConfig `yaml:"instance"`
}

type ListenConfig struct {
	// Public serves federation (inboxes, actors) and, later, the client API.
	Public string `yaml:"public"`
	// Admin serves /metrics, /healthz and /readyz; keep it off the internet.
	Admin string `yaml:"admin"`
}

type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

type ProxyConfig struct {
	// Trusted lists the addresses (CIDR or single IP) of reverse proxies
	// whose X-Forwarded-For / X-Forwarded-Host / X-Forwarded-Proto headers
	// are believed. From anyone else those headers are ignored.
	Trusted []string `yaml:"trusted"`
}

type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

type DatabaseConfig struct {
	// URL of the shared Postgres. Empty: run a private cluster in
	// DataDir/postgres from the machine's PostgreSQL binaries.
	URL      string `yaml:"url"`
	MaxConns int    `yaml:"max_conns"`
}

type IngressConfig struct {
	MaxBody ByteSize `yaml:"max_body"`
	// BlockedStatus answers requests from suspended (or, in allowlist mode,
	// unknown) domains. 202 leaks nothing and stops the sender's retries.
	BlockedStatus  int      `yaml:"blocked_status"`
	DedupRetention Duration `yaml:"dedup_retention"`
	// DedupFilterSize is the memory of the in-memory filter kept per day
	// of dedup records; about 10 bits per activity id a day receives.
	DedupFilterSize ByteSize `yaml:"dedup_filter_size"`
	QueueHighWater  int64    `yaml:"queue_high_water"`
	// CommitWindow is the least time between two syncs of the local
	// store's log (local.Options.CommitWindow); 0 syncs at once.
	CommitWindow Duration `yaml:"commit_window"`
	// Admission rate limits (token buckets), checked before any crypto.
	DomainRate  float64 `yaml:"domain_rate"`
	DomainBurst int     `yaml:"domain_burst"`
	ActorRate   float64 `yaml:"actor_rate"`
	ActorBurst  int     `yaml:"actor_burst"`
}

type KeysConfig struct {
	CacheEntries       int      `yaml:"cache_entries"`
	TTL                Duration `yaml:"ttl"`
	NegativeTTL        Duration `yaml:"negative_ttl"`
	FetchTimeout       Duration `yaml:"fetch_timeout"`
	MaxBody            ByteSize `yaml:"max_body"`
	PerHostConcurrency int      `yaml:"per_host_concurrency"`
}

type FedConfig struct {
	// AllowPrivateAddresses lets key and object fetches reach loopback and
	// private networks (the SSRF guard refuses them otherwise). For tests
	// and closed networks only.
	AllowPrivateAddresses bool `yaml:"allow_private_addresses"`
	// AllowHTTP accepts http:// actor and key ids. For tests only.
	AllowHTTP bool `yaml:"allow_http"`
	// Scheme is the scheme of the ids this node mints: "https", or "http"
	// (requires AllowHTTP) for test networks of nodes without TLS.
	Scheme string `yaml:"scheme"`
}

type PolicyConfig struct {
	// Mode is "blocklist" (federate with everyone not suspended) or
	// "allowlist" (federate only with the domains in Allow).
	Mode    string        `yaml:"mode"`
	Domains []DomainEntry `yaml:"domains"`
	// DomainFiles are YAML lists of domain entries in the same shape as
	// Domains (what "palisade blocks import --to FILE" writes).
	DomainFiles []string `yaml:"domain_files"`
	Allow       []string `yaml:"allow"`
	RuleFiles   []string `yaml:"rule_files"`
	Packs       []string `yaml:"packs"`
	// PollInterval is how often a node checks the cluster's policy version
	// (a change made on another node, through the API or the CLI, reaches
	// this one within it; a notification usually brings it sooner).
	PollInterval  Duration            `yaml:"poll_interval"`
	Subscriptions SubscriptionsConfig `yaml:"subscriptions"`
	// The decision log ("why was this dropped?") keeps records this long,
	// and at most this many.
	DecisionLogMaxAge   Duration `yaml:"decision_log_max_age"`
	DecisionLogMaxCount int64    `yaml:"decision_log_max_count"`
}

// SubscriptionsConfig governs blocklist subscriptions and how their lists
// merge (FediBlockHole's practice).
type SubscriptionsConfig struct {
	SyncInterval Duration `yaml:"sync_interval"`
	// A domain is applied when at least MinSources lists (and MinPercent
	// of them) carry it; 0 means any one list.
	MinSources int     `yaml:"min_sources"`
	MinPercent float64 `yaml:"min_percent"`
	// Plan: max takes the strictest severity of the lists, min the mildest.
	Plan string `yaml:"plan"`
	// MaxSeverityForFollowed caps domains local users follow, so a shared
	// list never suspends them without a moderator deciding it.
	MaxSeverityForFollowed string `yaml:"max_severity_for_followed"`
	// MaxAutoRetract holds an auto-applied update as a draft when it would
	// retract more than this fraction of a list's domains (an empty or
	// truncated file must not unblock everything).
	MaxAutoRetract float64 `yaml:"max_auto_retract"`
}

// RelayConfig governs the ActivityPub relay (docs/relay.md).
type RelayConfig struct {
	// Enabled runs the relay: subscriptions are answered and accepted
	// public posts fanned out. Off, the actor is still served (it is also
	// the instance actor) and relay Follows go unanswered.
	Enabled bool `yaml:"enabled"`
	// Mode is "open" (every instance the policy allows), "approval" (new
	// instances wait for an admin) or "allowlist" (only instances an admin
	// approved beforehand).
	Mode string `yaml:"mode"`
	// StatusPage serves /relay and /relay/subscribers.json publicly.
	StatusPage bool `yaml:"status_page"`
	// RemoveAfter is the number of days a subscriber may fail every
	// delivery before it is removed.
	RemoveAfter int               `yaml:"remove_after"`
	Filters     RelayFilterConfig `yaml:"filters"`
}

// InstanceConfig describes the bundled instance core: what NodeInfo and
// the client API say about it, and how it serves its documents.
type InstanceConfig struct {
	// Enabled stores what the gateway accepts in Postgres (the inbound
	// consumer). Off, the appliance is a gateway and relay only: local
	// accounts, WebFinger and NodeInfo are still served.
	Enabled bool `yaml:"enabled"`
	// Name is the instance's title (NodeInfo nodeName, the API's title);
	// empty: the host.
	Name string `yaml:"name"`
	// Description is a short plain-text description shown by apps.
	Description string `yaml:"description"`
	// ContactEmail is the administrators' address shown by apps.
	ContactEmail string `yaml:"contact_email"`
	// Registrations is "closed" (accounts made by admins only), "approval"
	// (sign-ups wait for a moderator) or "open".
	Registrations string `yaml:"registrations"`
	// AuthorizedFetch requires an HTTP signature on every ActivityStreams
	// GET of local actors and statuses (Mastodon's secure mode).
	AuthorizedFetch bool `yaml:"authorized_fetch"`
}

// RelayFilterConfig limits what the relay fans out; empty lists relay all.
type RelayFilterConfig struct {
	Languages []string `yaml:"languages"`
	Hashtags  []string `yaml:"hashtags"`
}

// DomainEntry is one domain policy in the config file.
type DomainEntry struct {
	Domain         string `yaml:"domain"`
	Severity       string `yaml:"severity"` // suspend, silence, noop
	RejectMedia    bool   `yaml:"reject_media"`
	RejectReports  bool   `yaml:"reject_reports"`
	StripAvatar    bool   `yaml:"strip_avatar"`
	StripHeader    bool   `yaml:"strip_header"`
	ForceSensitive bool   `yaml:"force_sensitive"`
	Delist         bool   `yaml:"delist"`
	FollowersOnly  bool   `yaml:"followers_only"`
	RejectDeletes  bool   `yaml:"reject_deletes"`
	PublicComment  string `yaml:"public_comment"`
	PrivateComment string `yaml:"private_comment"`
	Obfuscate      bool   `yaml:"obfuscate"`
}

//go:embed palisade.example.yaml
var exampleConfig []byte

// Default returns the configuration used when no file and no environment
// variable says otherwise: a working local appliance for localhost.
func Default() Config {
	return Config{
		Host:    "localhost",
		DataDir: "data",
		Fed:     FedConfig{Scheme: "https"},
		Listen:  ListenConfig{Public: "127.0.0.1:8080", Admin: "127.0.0.1:9090"},
		Log:     LogConfig{Level: "info", Format: "text"},
		Database: DatabaseConfig{
			MaxConns: 16,
		},
		Ingress: IngressConfig{
			MaxBody:         1 << 20,
			BlockedStatus:   202,
			DedupRetention:  Duration(7 * 24 * time.Hour),
			DedupFilterSize: 2 << 20,
			QueueHighWater:  1_000_000,
			CommitWindow:    Duration(time.Millisecond),
			DomainRate:      500,
			DomainBurst:     2000,
			ActorRate:       20,
			ActorBurst:      100,
		},
		Keys: KeysConfig{
			CacheEntries:       100_000,
			TTL:                Duration(24 * time.Hour),
			NegativeTTL:        Duration(5 * time.Minute),
			FetchTimeout:       Duration(10 * time.Second),
			MaxBody:            256 << 10,
			PerHostConcurrency: 4,
		},
		Policy: PolicyConfig{
			Mode:                "blocklist",
			PollInterval:        Duration(2 * time.Second),
			DecisionLogMaxAge:   Duration(7 * 24 * time.Hour),
			DecisionLogMaxCount: 5_000_000,
			Subscriptions: SubscriptionsConfig{
				SyncInterval:           Duration(6 * time.Hour),
				Plan:                   "max",
				MaxSeverityForFollowed: "silence",
				MaxAutoRetract:         0.5,
			},
		},
		Relay:    RelayConfig{Enabled: true, Mode: "open", StatusPage: true, RemoveAfter: 7},
		Instance: InstanceConfig{Enabled: true, Registrations: "closed"},
	}
}

// LoadConfig reads path (if not empty) over the defaults, then applies the
// environment. Unknown keys are errors, so a typo never silently falls back
// to a default.
func LoadConfig(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := decodeConfig(path, data, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func decodeConfig(name string, data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, errEOF) {
		return fmt.Errorf("config %s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

var errEOF = func() error { // yaml.v3 returns io.EOF for an empty document
	var c Config
	return yaml.NewDecoder(bytes.NewReader(nil)).Decode(&c)
}()

// BaseURL is the origin under which this node mints ids:
// "https://<host>" (or "http://<host>" on a test network).
func (c *Config) BaseURL() string { return c.Fed.Scheme + "://" + c.Host }

// Validate checks values the types cannot, naming the key and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.Host == "" || strings.ContainsAny(c.Host, "/ @") {
		bad("host", "%q is not a host name (want e.g. social.example.org)", c.Host)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	switch c.Fed.Scheme {
	case "https":
	case "http":
		if !c.Fed.AllowHTTP {
			bad("federation.scheme", `"http" mints ids peers cannot verify over TLS; it needs federation.allow_http: true and is for test networks only`)
		}
	default:
		bad("federation.scheme", "%q: want https (or http for test networks)", c.Fed.Scheme)
	}
	if c.Listen.Public == "" {
		bad("listen.public", "must not be empty (e.g. :8080)")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "set both cert_file and key_file, or neither")
	}
	for _, p := range c.Proxy.Trusted {
		if _, err := parsePrefix(p); err != nil {
			bad("proxy.trusted", "%q: want an IP address or CIDR", p)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q (want one of debug, info, warn, error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q (want text or json)", c.Log.Format)
	}
	switch c.Relay.Mode {
	case "open", "approval", "allowlist":
	default:
		bad("relay.mode", "%q (want open, approval or allowlist)", c.Relay.Mode)
	}
	switch c.Instance.Registrations {
	case "closed", "approval", "open":
	default:
		bad("instance.registrations", "%q (want closed, approval or open)", c.Instance.Registrations)
	}
	if c.Relay.RemoveAfter < 1 {
		bad("relay.remove_after", "%d days: want at least 1 (default 7)", c.Relay.RemoveAfter)
	}
	if c.Ingress.MaxBody < 1024 {
		bad("ingress.max_body", "%d bytes is too small (want at least 1KiB; default 1MiB)", c.Ingress.MaxBody)
	} else if c.Ingress.MaxBody > inbound.MaxBodySize {
		bad("ingress.max_body", "%d bytes is more than the inbound queue holds per activity (at most 64MiB; default 1MiB)", c.Ingress.MaxBody)
	}
	if c.Ingress.BlockedStatus < 200 || c.Ingress.BlockedStatus > 599 {
		bad("ingress.blocked_status", "%d is not an HTTP status (want 202, 403, …)", c.Ingress.BlockedStatus)
	}
	if c.Ingress.DedupFilterSize < 8<<10 {
		bad("ingress.dedup_filter_size", "%d bytes is too small (want at least 8KiB; default 2MiB)", c.Ingress.DedupFilterSize)
	}
	if c.Ingress.QueueHighWater <= 0 {
		bad("ingress.queue_high_water", "must be positive")
	}
	if w := c.Ingress.CommitWindow.D(); w < 0 || w > 50*time.Millisecond {
		bad("ingress.commit_window", "%s: want 0 (sync at once) up to 50ms (default 1ms); every accept may wait up to about twice this", w)
	}
	if c.Ingress.DomainRate <= 0 || c.Ingress.ActorRate <= 0 || c.Ingress.DomainBurst <= 0 || c.Ingress.ActorBurst <= 0 {
		bad("ingress", "domain_rate, domain_burst, actor_rate and actor_burst must be positive")
	}
	switch c.Policy.Mode {
	case "blocklist", "allowlist":
	default:
		bad("policy.mode", "%q (want blocklist or allowlist)", c.Policy.Mode)
	}
	if c.Policy.PollInterval.D() < 100*time.Millisecond {
		bad("policy.poll_interval", "%s is too short (want at least 100ms; default 2s)", c.Policy.PollInterval.D())
	}
	if c.Policy.DecisionLogMaxAge.D() <= 0 || c.Policy.DecisionLogMaxCount <= 0 {
		bad("policy", "decision_log_max_age and decision_log_max_count must be positive (the log is bounded)")
	}
	sc := c.Policy.Subscriptions
	if sc.SyncInterval.D() < time.Minute {
		bad("policy.subscriptions.sync_interval", "%s is too short (want at least 1m; default 6h)", sc.SyncInterval.D())
	}
	switch sc.Plan {
	case "max", "min":
	default:
		bad("policy.subscriptions.plan", "%q (want max or min)", sc.Plan)
	}
	switch sc.MaxSeverityForFollowed {
	case "suspend", "silence", "noop":
	default:
		bad("policy.subscriptions.max_severity_for_followed", "%q (want suspend, silence or noop)", sc.MaxSeverityForFollowed)
	}
	if sc.MinPercent < 0 || sc.MinPercent > 100 || sc.MinSources < 0 {
		bad("policy.subscriptions", "min_sources must be >= 0 and min_percent within 0..100")
	}
	if sc.MaxAutoRetract < 0 || sc.MaxAutoRetract > 1 {
		bad("policy.subscriptions.max_auto_retract", "%v (want a fraction from 0 to 1)", sc.MaxAutoRetract)
	}
	for i, d := range c.Policy.Domains {
		switch d.Severity {
		case "", "suspend", "silence", "noop":
		default:
			bad(fmt.Sprintf("policy.domains[%d]", i), "%s: severity %q (want suspend, silence or noop)", d.Domain, d.Severity)
		}
		if d.Domain == "" {
			bad(fmt.Sprintf("policy.domains[%d]", i), "domain is empty")
		}
	}
	return errors.Join(errs...)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// applyEnv sets every scalar or list key named by a PALISADE_* variable.
func applyEnv(cfg *Config, environ []string) error {
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "PALISADE_") {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	known := map[string]bool{}
	var errs []error
	walkConfig(reflect.ValueOf(cfg).Elem(), "", func(path string, v reflect.Value) {
		name := envName(path)
		known[name] = true
		s, ok := vars[name]
		if !ok {
			return
		}
		if err := setFromString(v, s); err != nil {
			errs = append(errs, fmt.Errorf("config: environment %s=%q: %v", name, s, err))
		}
	})
	for k := range vars {
		// PALISADE_CONFIG names the file; PALISADE_TEST_* belong to the test
		// helpers (e.g. PALISADE_TEST_DATABASE_URL), PALISADE_ARTIFACTS to
		// CI (where tests write screenshots).
		if !known[k] && k != "PALISADE_CONFIG" && k != "PALISADE_ARTIFACTS" && !strings.HasPrefix(k, "PALISADE_TEST_") {
			errs = append(errs, fmt.Errorf("config: environment %s names no configuration key (see palisade config defaults)", k))
		}
	}
	return errors.Join(errs...)
}

func envName(path string) string {
	return "PALISADE_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// walkConfig calls fn for every leaf key (scalars and lists of scalars) with
// its dotted yaml path.
func walkConfig(v reflect.Value, prefix string, fn func(path string, v reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			walkConfig(fv, path, fn)
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct {
			continue // structured lists (policy.domains) come from the file only
		}
		fn(path, fv)
	}
}

func setFromString(v reflect.Value, s string) error {
	switch x := v.Addr().Interface().(type) {
	case *Duration:
		return x.set(s)
	case *ByteSize:
		return x.set(s)
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errors.New("want a whole number")
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New("want a number")
		}
		v.SetFloat(f)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported kind %s", v.Kind())
	}
	return nil
}

// Duration is a time.Duration written as "90s", "1h30m" or "7d" in config.
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return fmt.Errorf("%q is not a duration (want e.g. 30s, 5m, 24h, 7d)", s)
		}
		*d = Duration(days * float64(24*time.Hour))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (want e.g. 30s, 5m, 24h, 7d)", s)
	}
	*d = Duration(v)
	return nil
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if err := d.set(n.Value); err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ByteSize is a size in bytes written as 1048576, "512KiB", "1MiB" or "2GiB".
type ByteSize int64

func (b *ByteSize) set(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (want e.g. 65536, 512KiB, 1MiB)", s)
	}
	*b = ByteSize(n * mult)
	return nil
}

func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if err := b.set(n.Value); err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	return nil
}
