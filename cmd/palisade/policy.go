package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/ingress"
	"github.com/palisade-fedi/palisade/rules"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg"
)

// policyRuntime owns the policy engine of a serving node: it compiles the
// configured sources, reloads them on SIGHUP, and records decisions.
type policyRuntime struct {
	cfg    Config
	log    *slog.Logger
	db     *pg.DB
	local  *local.DB
	engine *policy.Engine
	*ingress.EnginePolicy
	decisions *local.Log
	sink      *ingress.LogSink
}

// newPolicyRuntime compiles the configured policy. db and ldb may be nil in
// tools that only evaluate.
func newPolicyRuntime(ctx context.Context, cfg Config, db *pg.DB, ldb *local.DB, reg prometheus.Registerer, log *slog.Logger) (*policyRuntime, error) {
	src, err := policySource(cfg)
	if err != nil {
		return nil, err
	}
	snap, err := policy.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	e := policy.NewEngine(snap)
	reg.MustRegister(e.Collector())
	log.Info("policy loaded", "mode", snap.Mode().String(), "domains", snap.Domains(), "rules", len(snap.Rules()))
	p := &policyRuntime{cfg: cfg, log: log, db: db, local: ldb, engine: e, EnginePolicy: &ingress.EnginePolicy{Engine: e}}
	if ldb != nil {
		l, err := ldb.Log("decisions", local.LogOptions{})
		if err != nil {
			return nil, fmt.Errorf("decision log: %w", err)
		}
		p.decisions = l
		p.sink = ingress.NewLogSink(l, log)
	}
	return p, nil
}

// run does the policy's background work until ctx ends.
func (p *policyRuntime) run(ctx context.Context) {}

// routes adds the policy's admin endpoints to the admin listener.
func (p *policyRuntime) routes(mux *http.ServeMux) {}

// allowedHost is the key resolver's gate: never fetch from a refused host.
func (p *policyRuntime) allowedHost(host string) bool { return !p.engine.Gate(host).Refuse }

// reload recompiles every source; a broken file never replaces the working
// policy, and the error names the file and line.
func (p *policyRuntime) reload(ctx context.Context) {
	cfg, log := p.cfg, p.log
	src, err := policySource(cfg)
	if err == nil {
		err = p.engine.Reload(src)
	}
	if err != nil {
		log.Error("policy reload refused; the previous policy stays in force", "err", err)
		return
	}
	s := p.engine.Current()
	log.Info("policy reloaded", "domains", s.Domains(), "rules", len(s.Rules()))
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

// policySource assembles the policy from configuration: shipped packs, then
// rule files in order; domain files, then the config's own domains (later
// entries win, so what the admin wrote in the config is most deliberate).
func policySource(cfg Config) (policy.Source, error) {
	var src policy.Source
	mode, err := policy.ParseMode(cfg.Policy.Mode)
	if err != nil {
		return src, fmt.Errorf("policy.mode: %w", err)
	}
	src.Mode = mode
	src.Allows = cfg.Policy.Allow
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
