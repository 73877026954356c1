package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/palisade-fedi/palisade/dashboards"
)

// pendingExprs are dashboard and alert expressions that cannot have data in
// this test, keyed by "<dashboard or alerts.yml> / <panel or alert> / <refId>".
// They must still parse and evaluate without error; if one starts returning
// data, the test fails so that it is taken off this list. Keep it short.
var pendingExprs = map[string]string{
	"Palisade / Storage / Local store errors / A": "needs the local store to fail a write (a full or broken disk), which the test cannot cause safely",
	"alerts.yml / PalisadeLocalStoreWriteErrors":  "needs the local store to fail a write (a full or broken disk), which the test cannot cause safely",
}

// Every PromQL expression shipped in dashboards/ (every dashboard panel and
// variable, every alert rule) parses and returns data from a real
// Prometheus scraping a real node that has served accepted, duplicate,
// blocked, policy-rejected, bad-signature and queue-full traffic. A metric
// renamed or relabelled under a dashboard, or a typo in a panel, fails here.
func TestDashboardsAndAlertsAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and Prometheus")
	}
	promBin := toolOrSkip(t, "prometheus")

	n := startObservedNode(t)
	// The observed node keeps its inbound queue (the relay and the instance
	// consumer are off, so that the queue fills); a second node runs the
	// instance consumer, which stores what its gateway accepts, so the
	// Instance dashboard and alerts meet consumer metrics with data.
	in := startInstanceNode(t)
	// Nothing in this test makes a node deliver: a real engine, delivering
	// to loopback inboxes, runs beside the nodes and Prometheus scrapes it
	// as a third target of the same job, so the Delivery dashboard and
	// alerts meet metrics with data (the nodes' own delivery series are
	// there too, at zero).
	d := startDeliveryBeside(t)
	prom := startPrometheus(t, promBin, n.admin, d.addr, in.admin)

	// Two batches some scrapes apart, so counters increase between samples.
	prom.waitFor(t, `count(up{job="palisade"} == 1) == 3`)
	for range 2 {
		n.drive(t, 200)
		in.drive(t, 100)
		in.refuse(t)
		n.browse(t)
		in.browse(t)
		time.Sleep(3 * time.Second)
	}
	prom.waitFor(t, `palisade_ingress_requests_total{reason="queue_full"}`)
	prom.waitFor(t, `palisade_policy_decisions_total{mode="shadow"}`)
	prom.waitFor(t, `palisade_delivery_attempts_total{outcome="success"} > 0`)
	prom.waitFor(t, `palisade_delivery_hosts_unavailable > 0`)
	prom.waitFor(t, `palisade_instance_inbound_total{result="stored"} > 0`)
	prom.waitFor(t, `palisade_instance_inbound_total{result="refused"} > 0`)
	prom.waitFor(t, `palisade_http_requests_total{code="4xx"} > 0`)
	prom.waitFor(t, `palisade_instance_accounts{origin="remote"} > 0`)
	time.Sleep(3 * time.Second) // a few more scrapes and rule evaluations after the load

	exprs := dashboardExprs(t)
	exprs = append(exprs, alertExprs(t)...)
	checked, pending := 0, 0
	for _, e := range exprs {
		res, err := prom.query(e.expr)
		reason, isPending := pendingExprs[e.id]
		switch {
		case err != nil:
			t.Errorf("%s: %v\n\texpr: %s", e.id, err, e.expr)
		case e.evalOnly:
		case isPending && res > 0:
			t.Errorf("%s returns data now: take it off pendingExprs (%q)", e.id, reason)
		case isPending:
			pending++
		case res == 0:
			t.Errorf("%s returns no data\n\texpr: %s", e.id, e.expr)
		default:
			checked++
		}
	}
	for id := range pendingExprs {
		found := false
		for _, e := range exprs {
			found = found || e.id == id
		}
		if !found {
			t.Errorf("pendingExprs names %s, which no dashboard or alert has", id)
		}
	}
	t.Logf("%d expressions returned data, %d pending", checked, pending)
	if checked < 50 {
		t.Errorf("only %d expressions checked: the dashboards were not read", checked)
	}

	// Prometheus evaluated the rules itself: none may be broken.
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				}
			}
		}
	}
	prom.getJSON(t, "/api/v1/rules", &rules)
	nrules := 0
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			nrules++
			if r.Health != "ok" {
				t.Errorf("Prometheus evaluates rule %s as %q: %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if nrules == 0 {
		t.Error("Prometheus loaded no rules from alerts.yml")
	}
}

// promExpr is one expression to evaluate, and where it comes from.
type promExpr struct {
	id, expr string
	evalOnly bool // must evaluate without error; may be empty (an alert that does not fire)
}

// grafanaVars replaces the dashboards' variables by what a user picking
// "All" at a 1s scrape interval would send.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__interval", "15s",
	"$__range", "5m",
	"${job}", "palisade", "$job", "palisade",
	"${instance}", ".*", "$instance", ".*",
)

var labelValuesRe = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// dashboardExprs reads every target of every panel, and every query
// variable, of the shipped dashboards.
func dashboardExprs(t *testing.T) []promExpr {
	t.Helper()
	files, err := fs.Glob(dashboards.FS, "grafana/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in dashboards.FS: %v", err)
	}
	type panel struct {
		Title   string
		Type    string
		Panels  []json.RawMessage
		Targets []struct {
			RefID string
			Expr  string
		}
	}
	var out []promExpr
	for _, f := range files {
		b, _ := fs.ReadFile(dashboards.FS, f)
		var d struct {
			Title         string
			SchemaVersion int
			Panels        []json.RawMessage
			Templating    struct {
				List []struct {
					Name, Type string
					Query      json.RawMessage
				}
			}
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		hasDS := false
		for _, v := range d.Templating.List {
			if v.Type == "datasource" && v.Name == "datasource" {
				hasDS = true
			}
			if v.Type != "query" {
				continue
			}
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("%s: variable %s: %v", f, v.Name, err)
			}
			// label_values(selector, label): the selector must have data
			// carrying that label.
			m := labelValuesRe.FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("%s: variable %s: unexpected query %q", f, v.Name, q.Query)
				continue
			}
			out = append(out, promExpr{id: fmt.Sprintf("%s / variable %s", d.Title, v.Name),
				expr: grafanaVars.Replace(fmt.Sprintf("count by (%s) (%s)", m[2], m[1]))})
		}
		if !hasDS {
			t.Errorf("%s has no datasource variable named \"datasource\"", f)
		}
		var walk func(raw []json.RawMessage)
		walk = func(raw []json.RawMessage) {
			for _, r := range raw {
				var p panel
				if err := json.Unmarshal(r, &p); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				walk(p.Panels)
				if bytes.Contains(r, []byte(`"datasource"`)) && !bytes.Contains(r, []byte(`"uid": "${datasource}"`)) {
					t.Errorf("%s / %s does not use the ${datasource} variable", d.Title, p.Title)
				}
				for _, tg := range p.Targets {
					expr := grafanaVars.Replace(tg.Expr)
					if strings.Contains(expr, "$") {
						t.Errorf("%s / %s / %s: unknown Grafana variable in %q", d.Title, p.Title, tg.RefID, tg.Expr)
					}
					out = append(out, promExpr{id: fmt.Sprintf("%s / %s / %s", d.Title, p.Title, tg.RefID), expr: expr})
				}
			}
		}
		walk(d.Panels)
	}
	return out
}

// alertExprs reads every alert rule twice: as written (it must evaluate),
// and with its comparisons made "bool" comparisons, which keep every series
// and so return data exactly when the metrics the alert reads exist with
// the labels it expects, whether or not it would fire.
func alertExprs(t *testing.T) []promExpr {
	t.Helper()
	b, err := fs.ReadFile(dashboards.FS, "alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var out []promExpr
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			out = append(out, promExpr{id: "alerts.yml / " + name + " (as written)", expr: r.Expr, evalOnly: true},
				promExpr{id: "alerts.yml / " + name, expr: boolComparisons(r.Expr)})
		}
	}
	return out
}

// boolComparisons adds the bool modifier to every comparison operator
// outside label matchers and strings.
func boolComparisons(expr string) string {
	var sb strings.Builder
	depth, quote := 0, byte(0)
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(expr) {
				sb.WriteByte(c)
				i++
				c = expr[i]
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '{':
			depth++
		case c == '}':
			depth--
		case depth == 0 && (c == '>' || c == '<' || c == '=' || c == '!'):
			op := string(c)
			if i+1 < len(expr) && expr[i+1] == '=' {
				op += "="
			}
			if op == "=" || op == "!" { // not a comparison
				break
			}
			sb.WriteString(op)
			i += len(op) - 1
			if !strings.HasPrefix(strings.TrimLeft(expr[i+1:], " \n\t"), "bool") {
				sb.WriteString(" bool")
			}
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func TestBoolComparisons(t *testing.T) {
	for in, want := range map[string]string{
		`up{job="p"} == 0`:                        `up{job="p"} == bool 0`,
		`a{x!="1", y=~"a|b"} > 5 and b >= bool c`: `a{x!="1", y=~"a|b"} > bool 5 and b >= bool c`,
		`a / b < 0.5 or c != 1`:                   `a / b < bool 0.5 or c != bool 1`,
		`a{s=">"} <= 2`:                           `a{s=">"} <= bool 2`,
	} {
		if got := boolComparisons(in); got != want {
			t.Errorf("boolComparisons(%q) = %q, want %q", in, got, want)
		}
	}
}

// promServer is a Prometheus server started for a test.
type promServer struct{ base string }

// startPrometheus runs Prometheus with the shipped example configuration
// and alert rules, rewritten to scrape targets every second.
func startPrometheus(t *testing.T, bin string, targets ...string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfgText, err := fs.ReadFile(dashboards.FS, "prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("scrape_interval: 15s", "scrape_interval: 1s",
		"evaluation_interval: 15s", "evaluation_interval: 1s",
		"scrape_timeout: 10s", "scrape_timeout: 1s",
		"- 127.0.0.1:9090 ", "- "+strings.Join(targets, "\n          - ")+" ").Replace(string(cfgText))
	if !strings.Contains(cfg, targets[0]) || !strings.Contains(cfg, "scrape_interval: 1s") {
		t.Fatalf("could not rewrite dashboards/prometheus.yml for the test:\n%s", cfg)
	}
	alerts, _ := fs.ReadFile(dashboards.FS, "alerts.yml")
	for name, b := range map[string][]byte{"prometheus.yml": []byte(cfg), "alerts.yml": alerts} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var log bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	p := &promServer{base: "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not become ready; its log:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query evaluates expr now and returns how many series or samples it gave.
func (p *promServer) query(expr string) (int, error) {
	resp, err := http.PostForm(p.base+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s", r.Error)
	}
	switch r.Data.ResultType {
	case "vector", "matrix":
		var v []json.RawMessage
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return 0, err
		}
		return len(v), nil
	default: // scalar, string: always a value
		return 1, nil
	}
}

// waitFor waits until expr returns data.
func (p *promServer) waitFor(t *testing.T, expr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := p.query(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has no data for %s after a minute", expr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (p *promServer) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", path, err, b)
	}
}

// The dashboards keep every label set bounded: no panel groups by a label
// that carries actors, URLs or raw domains (domain is capped by the policy
// engine and allowed).
func TestDashboardsGroupByBoundedLabels(t *testing.T) {
	bounded := map[string]bool{"instance": true, "job": true, "stage": true, "reason": true, "code": true,
		"source": true, "rule": true, "action": true, "mode": true, "domain": true, "queue": true, "group": true,
		"le": true, "outcome": true, "state": true, "host_bucket": true, "handler": true, "type": true,
		"result": true, "kind": true, "origin": true}
	byRe := regexp.MustCompile(`(?:by|without)\s*\(([^)]*)\)`)
	files, _ := fs.Glob(dashboards.FS, "grafana/*.json")
	for _, f := range files {
		b, _ := fs.ReadFile(dashboards.FS, f)
		for _, m := range byRe.FindAllStringSubmatch(string(b), -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !bounded[l] {
					t.Errorf("%s groups by %q, which is not a known bounded label", f, l)
				}
			}
		}
	}
	var sorted []string
	for l := range bounded {
		sorted = append(sorted, l)
	}
	sort.Strings(sorted)
	t.Logf("bounded labels: %v", sorted)
}

// toolOrSkip finds a Prometheus binary; under CI its absence is a failure,
// since .ci/deps installs it.
func toolOrSkip(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("%s is not installed, and CI is set: .ci/deps installs Debian's prometheus package; run it", name)
		}
		t.Skipf("%s is not installed (apt-get install prometheus, or run ./.ci/deps); set CI=true to make this a failure", name)
	}
	return p
}

// The shipped alert rules pass promtool's checks and unit tests, and every
// alert is unit-tested both firing and quiet, with a severity and the
// annotations an on-call person reads.
func TestAlertRulesPromtool(t *testing.T) {
	promtool := toolOrSkip(t, "promtool")
	dir := filepath.Join("..", "..", "dashboards")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
		{"check", "config", "prometheus.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	for name, v := range map[string]any{"alerts.yml": &rules, "alerts_test.yml": &tests} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if !strings.Contains(r.Annotations[a], "$labels.") {
					t.Errorf("%s: the %s annotation does not name the labels of what fired", r.Alert, a)
				}
			}
			if !firing[r.Alert] {
				t.Errorf("%s has no promtool test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s has no promtool test where it stays quiet", r.Alert)
			}
		}
	}
	if n < 11 {
		t.Errorf("alerts.yml has %d alerts, want at least 11", n)
	}
}

// The dashboards are well-formed Grafana models an operator can read at a
// glance: unique ids and titles, a unit, a description and a legend for
// every data panel, and a layout inside the 24-column grid with no panel
// on top of another.
func TestDashboardsStructure(t *testing.T) {
	files, err := fs.Glob(dashboards.FS, "grafana/*.json")
	if err != nil || len(files) < 6 {
		t.Fatalf("want at least 6 dashboards, have %v (%v)", files, err)
	}
	uids := map[string]string{}
	for _, f := range files {
		b, _ := fs.ReadFile(dashboards.FS, f)
		var d struct {
			UID, Title    string
			SchemaVersion int
			Panels        []struct {
				ID          int
				Type, Title string
				Description string
				GridPos     struct{ H, W, X, Y int }
				FieldConfig struct {
					Defaults struct{ Unit string }
				}
				Options struct {
					Legend *struct{ ShowLegend bool }
				}
				Targets []struct{ RefID, LegendFormat, Expr string }
			}
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if other, dup := uids[d.UID]; dup || d.UID == "" {
			t.Errorf("%s: uid %q empty or also used by %s", f, d.UID, other)
		}
		uids[d.UID] = f
		if d.SchemaVersion < 39 {
			t.Errorf("%s: schemaVersion %d, want 39 or later", f, d.SchemaVersion)
		}
		ids, titles := map[int]bool{}, map[string]bool{}
		cells := map[[2]int]string{}
		for _, p := range d.Panels {
			where := fmt.Sprintf("%s / %s", d.Title, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", where, p.ID)
			}
			ids[p.ID] = true
			if titles[p.Title] {
				t.Errorf("%s: title used twice in the dashboard", where)
			}
			titles[p.Title] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
			}
		cover:
			for x := g.X; x < g.X+g.W; x++ {
				for y := g.Y; y < g.Y+g.H; y++ {
					if other, ok := cells[[2]int{x, y}]; ok {
						t.Errorf("%s overlaps %s at column %d, row %d", where, other, x, y)
						break cover
					}
					cells[[2]int{x, y}] = p.Title
				}
			}
			if p.Type == "row" || p.Type == "text" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			if p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("%s: no unit", where)
			}
			if p.Description == "" {
				t.Errorf("%s: no description (the panel's (i) tooltip)", where)
			}
			if p.Type == "timeseries" && (p.Options.Legend == nil || !p.Options.Legend.ShowLegend) {
				t.Errorf("%s: legend hidden", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: refId %q empty or repeated", where, tg.RefID)
				}
				refs[tg.RefID] = true
				if p.Type == "timeseries" && len(p.Targets) > 1 && (tg.LegendFormat == "" || tg.LegendFormat == "__auto") {
					t.Errorf("%s / %s: several queries but no legend naming this one", where, tg.RefID)
				}
			}
		}
	}
}
