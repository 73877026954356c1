package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/policy/blocklist"
	"github.com/palisade-fedi/palisade/relay/ingress"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/rules"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg"
)

// adminTokenFile is the name, in the data directory, of the bearer token
// the admin API requires.
const adminTokenFile = "admin.token"

// policyRuntime owns the policy engine of a serving node: it compiles the
// configured sources together with the database's, reloads them on SIGHUP
// and whenever the cluster's policy version moves, syncs blocklist
// subscriptions, records decisions and serves the admin API.
type policyRuntime struct {
	cfg    Config
	log    *slog.Logger
	db     *pg.DB
	local  *local.DB
	engine *policy.Engine
	*ingress.EnginePolicy
	decisions *local.Log
	sink      *ingress.LogSink

	// metrics is a private registry holding only the engine's collector,
	// for per-rule hit counts in the admin API.
	metrics *prometheus.Registry
	token   string
	syncer  *blocklist.Syncer
	impact  impactSource

	pollEvery, syncEvery time.Duration

	// reloadMu serializes reloads (poll, SIGHUP, admin API).
	reloadMu sync.Mutex
	// version is the policy version the current snapshot was compiled at
	// (-1 before the first read, or without a database).
	version atomic.Int64
	status  atomic.Pointer[reloadStatus]
	// syncMu lets one sync run at a time on this node; syncNow asks run to
	// sync at once.
	syncMu  sync.Mutex
	syncNow chan struct{}
}

// reloadStatus is the outcome of the latest reload, for the admin status
// endpoint.
type reloadStatus struct {
	At      time.Time `json:"at"`
	Version int64     `json:"version"`
	Err     string    `json:"error,omitempty"`
	// OK is when a reload last succeeded.
	OK time.Time `json:"ok_at,omitzero"`
}

// newPolicyRuntime compiles the configured policy, with the database's rows
// when db is set. db and ldb may be nil in tools that only evaluate. A
// broken policy at start is an error: the node must not serve without one.
func newPolicyRuntime(ctx context.Context, cfg Config, db *pg.DB, ldb *local.DB, reg prometheus.Registerer, log *slog.Logger) (*policyRuntime, error) {
	p := &policyRuntime{cfg: cfg, log: log, db: db, local: ldb, pollEvery: cfg.Policy.PollInterval.D(), syncEvery: cfg.Policy.Subscriptions.SyncInterval.D(),
		syncNow: make(chan struct{}, 1), metrics: prometheus.NewRegistry()}
	p.version.Store(-1)
	src, version, err := p.source(ctx)
	if err != nil {
		return nil, err
	}
	snap, skipped, err := p.compileAtStart(src)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	e := policy.NewEngine(snap)
	reg.MustRegister(e.Collector())
	p.metrics.MustRegister(e.Collector())
	p.engine, p.EnginePolicy = e, &ingress.EnginePolicy{Engine: e}
	p.version.Store(version)
	now := time.Now()
	st := &reloadStatus{At: now, OK: now, Version: version}
	if len(skipped) > 0 {
		st.Err = "started without the database rule files that do not compile (fix them with palisade rules add): " + strings.Join(skipped, "; ")
		log.Error("policy: database rule files left out at start; the rest of the policy is in force", "errors", strings.Join(skipped, "; "))
	}
	p.status.Store(st)
	log.Info("policy loaded", "mode", snap.Mode().String(), "domains", snap.Domains(), "rules", len(snap.Rules()), "version", version)
	if ldb != nil {
		l, err := ldb.Log("decisions", local.LogOptions{MaxAge: cfg.Policy.DecisionLogMaxAge.D(), MaxCount: cfg.Policy.DecisionLogMaxCount})
		if err != nil {
			return nil, fmt.Errorf("decision log: %w", err)
		}
		p.decisions = l
		p.sink = ingress.NewLogSink(l, log)
	}
	p.impact = &decisionLogImpact{log: p.decisions}
	guard := &netguard.Guard{AllowPrivate: cfg.Fed.AllowPrivateAddresses}
	p.syncer = &blocklist.Syncer{
		Fetcher: &blocklist.HTTPFetcher{Client: guard.Client(60 * time.Second), UserAgent: "Palisade blocklist (+https://" + cfg.Host + "/)"},
		Logger:  log.With("component", "blocklist"),
		Merge:   mergeOptions(cfg),
		// MaxAutoRetract 0 means the package default; the config's 0
		// means "hold every retraction", so map it to the smallest fraction.
		MaxAutoRetract: max(cfg.Policy.Subscriptions.MaxAutoRetract, 1e-9),
	}
	if db != nil && cfg.DataDir != "" {
		if p.token, err = loadAdminToken(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// compileAtStart compiles the policy a node starts with. A broken file
// from the configuration stops the start (the admin is at the console), but
// a database rule file that does not compile is left out, with its error
// returned in skipped: one stored file, perhaps written by a newer node
// during a rolling upgrade, must not keep every node of the cluster down.
// The domain table is never left out.
func (p *policyRuntime) compileAtStart(in policyInputs) (*policy.Snapshot, []string, error) {
	var skipped []string
	for {
		snap, err := p.compile(in)
		if err == nil {
			return snap, skipped, nil
		}
		var le *policy.LoadError
		if !errors.As(err, &le) || !strings.HasPrefix(le.File, "db:") || len(skipped) >= 64 {
			return nil, skipped, err
		}
		skipped = append(skipped, err.Error())
		files := in.src.RuleFiles[:0:0]
		for _, f := range in.src.RuleFiles {
			if f.Name != le.File {
				files = append(files, f)
			}
		}
		in.src.RuleFiles = files
	}
}

// loadAdminToken reads <dataDir>/admin.token, creating it (0600, 32 random
// bytes in hex) when missing.
func loadAdminToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, adminTokenFile)
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("%s holds %d characters; a token needs at least 32 (delete the file to have a new one generated)", path, len(tok))
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("admin token: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	tok := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it meanwhile
		return loadAdminToken(dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok, f.Close()
}

// run does the policy's background work until ctx ends: it reloads when the
// cluster's policy version moves (so every node converges on a change made
// through any node), and syncs blocklist subscriptions every syncEvery and
// when asked.
func (p *policyRuntime) run(ctx context.Context) {
	if p.db == nil {
		return
	}
	poll := time.NewTicker(p.pollEvery)
	defer poll.Stop()
	wake := make(chan struct{}, 1)
	listening := make(chan struct{})
	go func() { defer close(listening); p.listen(ctx, wake) }()
	defer func() { <-listening }() // its connection is closed when run returns
	nextSync := time.NewTimer(p.firstSyncDelay(ctx))
	defer nextSync.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			p.poll(ctx)
		case <-wake:
			p.poll(ctx)
		case <-nextSync.C:
			// Every node keeps this schedule; the first to come syncs
			// for all (the others find the lists fresh and wait).
			if d := p.firstSyncDelay(ctx); d < p.syncEvery/2 {
				p.syncLogged(ctx, "schedule")
			}
			nextSync.Reset(p.firstSyncDelay(ctx))
		case <-p.syncNow:
			p.syncLogged(ctx, "request")
		}
	}
}

// listen wakes run as soon as another node bumps the policy version, by
// LISTENing on pg.PolicyVersionChannel on a connection of its own; the
// poll stays as the fallback (notifications are lost while disconnected,
// and some Postgres-compatible servers have none). It reconnects until ctx
// ends.
func (p *policyRuntime) listen(ctx context.Context, wake chan<- struct{}) {
	for {
		err := p.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		p.log.Debug("policy version notifications interrupted; polling meanwhile", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

func (p *policyRuntime) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	pc, err := p.db.Pool().Acquire(ctx)
	if err != nil {
		return err
	}
	// Out of the pool: the connection waits for notifications for as long
	// as the node runs, and must not count against queries.
	c := pc.Hijack()
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, "LISTEN "+pg.PolicyVersionChannel); err != nil {
		return err
	}
	for {
		if _, err := c.WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// firstSyncDelay is how long to wait before the next scheduled sync: at
// once (1s) when some subscription is overdue (the node was down, or no
// node synced it), else the rest of the interval of the most overdue one.
func (p *policyRuntime) firstSyncDelay(ctx context.Context) time.Duration {
	subs, err := p.db.ListSubscriptions(ctx)
	if err != nil || len(subs) == 0 {
		return p.syncEvery
	}
	d := p.syncEvery
	for _, s := range subs {
		left := time.Until(s.LastSync.Add(p.syncEvery))
		d = min(d, max(left, time.Second))
	}
	return d
}

func (p *policyRuntime) syncLogged(ctx context.Context, why string) {
	rep, err := p.syncSubscriptions(ctx, "palisade:"+why)
	if err != nil {
		p.log.Error("blocklist sync failed", "err", err)
		return
	}
	if rep.Skipped != "" {
		p.log.Info("blocklist sync skipped", "why", rep.Skipped)
	}
}

// poll reloads when the cluster's policy version differs from the one the
// current snapshot was compiled at.
func (p *policyRuntime) poll(ctx context.Context) {
	v, err := pg.PolicyVersion(ctx, p.db.Pool())
	if err != nil {
		p.log.Warn("policy version poll failed; keeping the current policy", "err", err)
		return
	}
	if v != p.version.Load() {
		p.reload(ctx)
	}
}

// allowedHost is the key resolver's gate: never fetch from a refused host.
func (p *policyRuntime) allowedHost(host string) bool { return !p.engine.Gate(host).Refuse }

// reload recompiles every source; a broken file never replaces the working
// policy, and the error names the file and line.
func (p *policyRuntime) reload(ctx context.Context) {
	if err := p.reloadErr(ctx); err != nil {
		p.log.Error("policy reload refused; the previous policy stays in force", "err", err)
	}
}

// reloadErr is reload returning the refusal. The outcome is kept for the
// admin status endpoint either way. The version read before loading is the
// one recorded, so a change committed while loading triggers another reload
// at the next poll.
func (p *policyRuntime) reloadErr(ctx context.Context) error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	src, version, err := p.source(ctx)
	if err == nil {
		var snap *policy.Snapshot
		if snap, err = p.compile(src); err == nil {
			p.engine.Swap(snap)
		}
	}
	now := time.Now()
	st := &reloadStatus{At: now, Version: version}
	if prev := p.status.Load(); prev != nil {
		st.OK = prev.OK
	}
	if err != nil {
		if errors.Is(err, errDatabase) {
			// Could not read the rows: try again at the next poll.
			version = p.version.Load()
		}
		st.Err = err.Error()
		p.status.Store(st)
		p.version.Store(version)
		return err
	}
	st.OK = now
	p.status.Store(st)
	p.version.Store(version)
	s := p.engine.Current()
	p.log.Info("policy reloaded", "domains", s.Domains(), "rules", len(s.Rules()), "version", version)
	return nil
}

// decisionSink is where the ingress records decisions (nil without a
// local store).
func (p *policyRuntime) decisionSink() ingress.DecisionSink {
	if p.sink == nil {
		return nil
	}
	return p.sink
}

func (p *policyRuntime) close() {
	if p.sink != nil {
		p.sink.Close()
	}
}

// errDatabase marks failures to read the policy rows (not a bad policy).
var errDatabase = errors.New("reading the policy from the database")

// dbPolicy is what the database contributes to the policy.
type dbPolicy struct {
	domains   []pg.DomainPolicy
	allows    []pg.DomainAllow
	files     []pg.RuleFileRow
	overrides map[string]bool
	subs      []blocklist.Subscription
	states    []blocklist.SubscriptionState
}

// loadDB reads the database's policy rows.
func (p *policyRuntime) loadDB(ctx context.Context) (dbPolicy, error) {
	var d dbPolicy
	var err error
	wrap := func(err error) error { return fmt.Errorf("%w: %w", errDatabase, err) }
	if d.domains, err = p.db.ListDomainPolicies(ctx, ""); err != nil {
		return d, wrap(err)
	}
	if d.allows, err = p.db.ListDomainAllows(ctx); err != nil {
		return d, wrap(err)
	}
	if d.files, err = p.db.ListRuleFiles(ctx); err != nil {
		return d, wrap(err)
	}
	ovs, err := p.db.ListRuleOverrides(ctx)
	if err != nil {
		return d, wrap(err)
	}
	d.overrides = make(map[string]bool, len(ovs))
	for _, o := range ovs {
		d.overrides[o.RuleID] = o.Shadow
	}
	rows, err := p.db.ListSubscriptions(ctx)
	if err != nil {
		return d, wrap(err)
	}
	for _, r := range rows {
		sub, st, err := subscriptionFromRow(r)
		if err != nil {
			return d, err
		}
		d.subs, d.states = append(d.subs, sub), append(d.states, st)
	}
	return d, nil
}

// source assembles the whole policy and returns the cluster policy version
// it was read at (-1 without a database).
//
// Precedence of domain entries, least to most deliberate (the later wins
// for the same domain): blocklist subscriptions (their merged, applied
// contributions), then domain files, then the config's domains, then the
// rows added through the admin API. An admin who adds or edits a domain
// through the API (or CLI) has looked at that domain now; config and files
// are the standing baseline. Allows are the union of the config's and the
// database's. Rule files: shipped packs, configured files, then the
// database's enabled files by position. Shadow overrides apply last, to
// whichever file holds the rule.
func (p *policyRuntime) source(ctx context.Context) (policyInputs, int64, error) {
	src, err := policySource(p.cfg)
	if err != nil || p.db == nil {
		return policyInputs{src: src}, -1, err
	}
	version, err := pg.PolicyVersion(ctx, p.db.Pool())
	if err != nil {
		return policyInputs{src: src}, -1, fmt.Errorf("%w: %w", errDatabase, err)
	}
	d, err := p.loadDB(ctx)
	if err != nil {
		return policyInputs{src: src}, version, err
	}
	in, err := mergeDBPolicy(src, d, mergeOptions(p.cfg))
	return in, version, err
}

// mergeOptions are the configured consensus rules for subscribed lists.
// NeverSuspendFollowed stays nil until the instance core knows local
// follows (no local account exists before it, so nothing is followed);
// see impactSource.
func mergeOptions(cfg Config) blocklist.MergeOptions {
	sc := cfg.Policy.Subscriptions
	return blocklist.MergeOptions{
		MinSources:             sc.MinSources,
		MinPercent:             sc.MinPercent,
		Plan:                   blocklist.Plan(sc.Plan),
		MaxSeverityForFollowed: blocklist.Severity(sc.MaxSeverityForFollowed),
	}
}

// policyInputs is an assembled policy source, and the bytes as written of
// the rule files that shadow overrides rewrote (by file name).
type policyInputs struct {
	src     policy.Source
	written map[string][]byte
}

// mergeDBPolicy adds d to the configured src (see source for the order).
func mergeDBPolicy(src policy.Source, d dbPolicy, mo blocklist.MergeOptions) (policyInputs, error) {
	var domains []policy.DomainEntry
	if len(d.subs) > 0 {
		m := blocklist.MergeApplied(d.subs, d.states, mo)
		for _, e := range m.List.Entries {
			pe, err := blockEntryToPolicy(e, "subscription:"+strings.Join(m.Sources[e.Digest], ","))
			if err != nil {
				continue // NewList normalised it; nothing an admin could fix here
			}
			domains = append(domains, pe)
		}
	}
	domains = append(domains, src.Domains...)
	for _, row := range d.domains {
		pe, err := domainRowToPolicy(row)
		if err != nil {
			return policyInputs{src: src}, fmt.Errorf("database domain policy %s: %w", row.Domain, err)
		}
		domains = append(domains, pe)
	}
	src.Domains = domains
	for _, a := range d.allows {
		src.Allows = append(src.Allows, a.Domain)
	}
	for _, f := range d.files {
		if f.Enabled {
			src.RuleFiles = append(src.RuleFiles, policy.RuleFile{Name: dbRuleFileName(f.Name), Data: []byte(f.Body)})
		}
	}
	in := policyInputs{src: src}
	if len(d.overrides) > 0 {
		in.src.RuleFiles, in.written = applyShadowOverrides(src.RuleFiles, d.overrides)
	}
	return in, nil
}

// dbRuleFileName is how a rule file stored in the database is named in
// errors and explanations.
func dbRuleFileName(name string) string { return "db:" + name }

// compile compiles in. When it fails on a file whose shadow overrides were
// applied (re-encoding moves its lines), the file as written is compiled
// instead, so that line numbers point into what the admin wrote.
func (p *policyRuntime) compile(in policyInputs) (*policy.Snapshot, error) {
	snap, err := policy.Compile(in.src)
	if err == nil {
		return snap, nil
	}
	var le *policy.LoadError
	if errors.As(err, &le) {
		if _, ok := in.written[le.File]; ok {
			orig := in.src
			orig.RuleFiles = make([]policy.RuleFile, len(in.src.RuleFiles))
			for i, f := range in.src.RuleFiles {
				if w, ok := in.written[f.Name]; ok {
					f.Data = w
				}
				orig.RuleFiles[i] = f
			}
			if _, err2 := policy.Compile(orig); err2 != nil {
				return nil, err2
			}
		}
	}
	return nil, err
}

// applyShadowOverrides sets "shadow: true|false" on every rule whose id has
// an override. The policy package has no hook for per-rule overrides, so
// the file's text is what changes, as little as possible so that lines in
// errors and explanations stay right: an existing shadow line is rewritten
// in place, otherwise one line is inserted after the rule's id (moving the
// lines below it by one). Rules written in flow style ({id: x, ...}) make
// the file be re-encoded from its node tree instead. Files without an
// overridden id are passed through untouched; a file that does not parse
// is left for Compile to report.
//
// written maps the names of the rewritten files to their bytes as written.
func applyShadowOverrides(files []policy.RuleFile, ov map[string]bool) (out []policy.RuleFile, written map[string][]byte) {
	written = map[string][]byte{}
	out = make([]policy.RuleFile, len(files))
	copy(out, files)
	for i, f := range out {
		mentions := false
		for id := range ov {
			if bytes.Contains(f.Data, []byte(id)) {
				mentions = true
				break
			}
		}
		if !mentions {
			continue
		}
		if data, ok := overrideFile(f.Data, ov); ok {
			written[f.Name] = f.Data
			out[i].Data = data
		}
	}
	return out, written
}

// lineEdit replaces line (1-based) with text, or inserts text after it.
type lineEdit struct {
	line   int
	insert bool
	text   string
}

// overrideFile applies ov to one rule file; ok is false when nothing
// changed.
func overrideFile(data []byte, ov map[string]bool) ([]byte, bool) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil, false
	}
	seq := mapValue(doc.Content[0], "rules")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil, false
	}
	lines := strings.Split(string(data), "\n")
	var edits []lineEdit
	reencode := false
	for _, r := range seq.Content {
		id := mapValue(r, "id")
		if id == nil {
			continue
		}
		shadow, ok := ov[id.Value]
		if !ok {
			continue
		}
		val := "false"
		if shadow {
			val = "true"
		}
		var key *yaml.Node
		for k := 0; k+1 < len(r.Content); k += 2 {
			if r.Content[k].Value == "shadow" {
				key = r.Content[k]
				r.Content[k+1].Kind, r.Content[k+1].Tag, r.Content[k+1].Value, r.Content[k+1].Style = yaml.ScalarNode, "!!bool", val, 0
			}
		}
		if key == nil {
			r.Content = append(r.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "shadow"},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: val})
		}
		if r.Style&yaml.FlowStyle != 0 || id.Line != mapKeyLine(r, "id") || id.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			reencode = true
			continue
		}
		if key != nil {
			ln := key.Line
			if ln < 1 || ln > len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[ln-1]), "shadow:") {
				reencode = true
				continue
			}
			edits = append(edits, lineEdit{line: ln, text: strings.Repeat(" ", key.Column-1) + "shadow: " + val})
			continue
		}
		idKey := mapKey(r, "id")
		edits = append(edits, lineEdit{line: id.Line, insert: true, text: strings.Repeat(" ", idKey.Column-1) + "shadow: " + val})
	}
	if reencode {
		out, err := yaml.Marshal(&doc)
		return out, err == nil
	}
	if len(edits) == 0 {
		return nil, false
	}
	// Bottom up, so that an insertion does not move the lines of edits
	// still to do.
	slices.SortFunc(edits, func(a, b lineEdit) int { return b.line - a.line })
	for _, e := range edits {
		if e.insert {
			lines = slices.Insert(lines, e.line, e.text)
		} else {
			lines[e.line-1] = e.text
		}
	}
	return []byte(strings.Join(lines, "\n")), true
}

// mapKey returns the key node of key in mapping m, or nil.
func mapKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

// mapKeyLine is the line of key in m (0 when absent).
func mapKeyLine(m *yaml.Node, key string) int {
	if k := mapKey(m, key); k != nil {
		return k.Line
	}
	return 0
}

// mapValue returns the value of key in mapping node m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// policySource assembles the policy from configuration: shipped packs, then
// rule files in order; domain files, then the config's own domains (later
// entries win, so what the admin wrote in the config is most deliberate).
// The database's part is added by policyRuntime.source.
func policySource(cfg Config) (policy.Source, error) {
	var src policy.Source
	mode, err := policy.ParseMode(cfg.Policy.Mode)
	if err != nil {
		return src, fmt.Errorf("policy.mode: %w", err)
	}
	src.Mode = mode
	src.Allows = append([]string(nil), cfg.Policy.Allow...)
	for _, name := range cfg.Policy.Packs {
		file := name
		if !strings.HasSuffix(file, ".yaml") {
			file += ".yaml"
		}
		data, err := fs.ReadFile(rules.FS, file)
		if err != nil {
			var names []string
			for _, p := range rules.Packs() {
				names = append(names, strings.TrimSuffix(p.Name, ".yaml"))
			}
			return src, fmt.Errorf("policy.packs: no shipped pack %q (want one of %s)", name, strings.Join(names, ", "))
		}
		src.RuleFiles = append(src.RuleFiles, policy.RuleFile{Name: "rules/" + file, Data: data})
	}
	for _, path := range cfg.Policy.RuleFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return src, fmt.Errorf("policy.rule_files: %w", err)
		}
		src.RuleFiles = append(src.RuleFiles, policy.RuleFile{Name: path, Data: data})
	}
	for _, path := range cfg.Policy.DomainFiles {
		entries, err := readDomainFile(path)
		if err != nil {
			return src, err
		}
		for _, d := range entries {
			pe, err := d.toPolicy("file:" + path)
			if err != nil {
				return src, fmt.Errorf("%s: %w", path, err)
			}
			src.Domains = append(src.Domains, pe)
		}
	}
	for i, d := range cfg.Policy.Domains {
		pe, err := d.toPolicy("config")
		if err != nil {
			return src, fmt.Errorf("policy.domains[%d]: %w", i, err)
		}
		src.Domains = append(src.Domains, pe)
	}
	return src, nil
}

// readDomainFile reads a YAML list of domain entries.
func readDomainFile(path string) ([]DomainEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy.domain_files: %w", err)
	}
	var out []DomainEntry
	if err := decodeStrict(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return out, nil
}

func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, errEOF) {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

func (d DomainEntry) toPolicy(source string) (policy.DomainEntry, error) {
	sev := policy.SeveritySuspend // Mastodon: a block without severity suspends
	if d.Severity != "" {
		s, err := policy.ParseSeverity(d.Severity)
		if err != nil {
			return policy.DomainEntry{}, fmt.Errorf("%s: %w", d.Domain, err)
		}
		sev = s
	}
	return policy.DomainEntry{
		Domain: d.Domain, Severity: sev,
		RejectMedia: d.RejectMedia, RejectReports: d.RejectReports, StripAvatar: d.StripAvatar, StripHeader: d.StripHeader,
		ForceSensitive: d.ForceSensitive, Delist: d.Delist, FollowersOnly: d.FollowersOnly, RejectDeletes: d.RejectDeletes,
		PublicComment: d.PublicComment, PrivateComment: d.PrivateComment, Obfuscate: d.Obfuscate, Source: source,
	}, nil
}

// domainRowToPolicy converts a database row to a domain table entry.
func domainRowToPolicy(r pg.DomainPolicy) (policy.DomainEntry, error) {
	sev, err := policy.ParseSeverity(r.Severity)
	if err != nil {
		return policy.DomainEntry{}, err
	}
	src := r.Source
	if src == "" {
		src = "api"
	}
	return policy.DomainEntry{
		Domain: r.Domain, Digest: r.Digest, Severity: sev,
		RejectMedia: r.RejectMedia, RejectReports: r.RejectReports, StripAvatar: r.StripAvatar, StripHeader: r.StripHeader,
		ForceSensitive: r.ForceSensitive, Delist: r.Delist, FollowersOnly: r.FollowersOnly, RejectDeletes: r.RejectDeletes,
		PublicComment: r.PublicComment, PrivateComment: r.PrivateComment, Obfuscate: r.Obfuscate, Source: "db:" + src,
	}, nil
}

// blockEntryToPolicy converts a blocklist entry (a subscription's or an
// import's) to a domain table entry.
func blockEntryToPolicy(e blocklist.Entry, source string) (policy.DomainEntry, error) {
	sev, err := policy.ParseSeverity(string(e.Severity))
	if err != nil {
		return policy.DomainEntry{}, err
	}
	pe := policy.DomainEntry{Domain: e.Domain, Severity: sev, RejectMedia: e.RejectMedia, RejectReports: e.RejectReports,
		PublicComment: e.PublicComment, PrivateComment: e.PrivateComment, Obfuscate: e.Obfuscate, Source: source}
	if e.DigestOnly() {
		pe.Digest = e.Digest
	}
	return pe, nil
}

// blockEntryToRow converts a blocklist entry to a database row.
func blockEntryToRow(e blocklist.Entry, source string) pg.DomainPolicy {
	r := pg.DomainPolicy{Domain: e.Domain, Severity: string(e.Severity), RejectMedia: e.RejectMedia, RejectReports: e.RejectReports,
		PublicComment: e.PublicComment, PrivateComment: e.PrivateComment, Obfuscate: e.Obfuscate, Source: source}
	if r.Severity == "" {
		r.Severity = string(blocklist.SeveritySuspend)
	}
	if e.DigestOnly() {
		r.Digest = e.Digest
	}
	return r
}

// subscriptionFromRow reads a subscription row and its stored state.
func subscriptionFromRow(r pg.SubscriptionRow) (blocklist.Subscription, blocklist.SubscriptionState, error) {
	sub := blocklist.Subscription{ID: r.ID, URL: r.URL, Format: blocklist.Format(r.Format), Priority: r.Priority,
		AutoApply: r.AutoApply, Excludes: r.Excludes}
	st := blocklist.SubscriptionState{ID: r.ID}
	if len(r.State) > 0 && string(r.State) != "{}" {
		if err := json.Unmarshal(r.State, &st); err != nil {
			return sub, st, fmt.Errorf("%w: subscription %s: stored state is not readable: %v", errDatabase, r.ID, err)
		}
		st.ID = r.ID
	}
	return sub, st, nil
}

// syncReport is what one sync did, for the admin API and logs.
type syncReport struct {
	// Skipped says why nothing was fetched (another node was syncing).
	Skipped string            `json:"skipped,omitempty"`
	Drafts  []blocklist.Draft `json:"drafts,omitempty"`
	// Applied are the changes to the domain table from subscriptions.
	Applied blocklist.Changes `json:"applied"`
	Version int64             `json:"version"`
}

// syncSubscriptions fetches every subscription once, on behalf of by, and
// persists states and drafts; applied changes (AutoApply, including
// retractions) bump the policy version and are reloaded here at once
// (other nodes follow at their next poll). Only one node syncs at a time.
func (p *policyRuntime) syncSubscriptions(ctx context.Context, by string) (syncReport, error) {
	var rep syncReport
	if p.db == nil {
		return rep, errors.New("blocklist subscriptions need the database")
	}
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	ran, err := p.db.WithSyncLock(ctx, func() error {
		rows, err := p.db.ListSubscriptions(ctx)
		if err != nil {
			return err
		}
		subs := make([]blocklist.Subscription, 0, len(rows))
		prev := make([]blocklist.SubscriptionState, 0, len(rows))
		for _, r := range rows {
			sub, st, err := subscriptionFromRow(r)
			if err != nil {
				return err
			}
			subs, prev = append(subs, sub), append(prev, st)
		}
		if len(subs) == 0 {
			return nil
		}
		res := p.syncer.Sync(ctx, subs, prev)
		out := pg.SyncOutcome{Changed: !res.AppliedChanges.Empty()}
		now := time.Now()
		for _, st := range res.States {
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			out.States = append(out.States, pg.SubscriptionRow{ID: st.ID, State: b, LastSync: now, LastError: st.LastError})
		}
		for _, d := range res.Drafts {
			if !d.Pending() {
				out.Cleared = append(out.Cleared, d.SubscriptionID)
				continue
			}
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			out.Drafts = append(out.Drafts, pg.DraftRow{SubscriptionID: d.SubscriptionID, Draft: b})
		}
		out.Detail = map[string]any{"added": len(res.AppliedChanges.Added), "removed": len(res.AppliedChanges.Removed),
			"changed": len(res.AppliedChanges.Changed)}
		rep.Drafts, rep.Applied = res.Drafts, res.AppliedChanges
		rep.Version, err = p.db.SaveSync(ctx, by, out)
		return err
	})
	if err != nil {
		return rep, err
	}
	if !ran {
		rep.Skipped = "another node is syncing the subscriptions now"
		return rep, nil
	}
	if !rep.Applied.Empty() {
		if err := p.reloadErr(ctx); err != nil {
			p.log.Error("policy reload after a blocklist sync refused; the previous policy stays in force", "err", err)
		}
	}
	for _, d := range rep.Drafts {
		p.log.Info("blocklist synced", "subscription", d.SubscriptionID, "not_modified", d.NotModified, "applied", d.Applied,
			"pending", d.Pending(), "held", d.Held, "added", len(d.Changes.Added), "removed", len(d.Changes.Removed), "err", d.Err)
	}
	return rep, nil
}

// requestSync asks run to sync at once (no-op when one is already asked).
func (p *policyRuntime) requestSync() {
	select {
	case p.syncNow <- struct{}{}:
	default:
	}
}
