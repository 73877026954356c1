package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/loadgen"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// observedNode is an in-process appliance configured so that a short load
// reaches every ingress outcome the metrics and dashboards describe:
// accepted, duplicate, refused by the domain gate (a suspended domain),
// refused by a policy rule, seen by a shadow rule, bad signature, and
// refused because the inbound queue is full (a tiny high-water mark).
type observedNode struct {
	public, admin string
	fleet         *loadgen.Fleet
	next          int // first sequence number of the next batch
}

// observedHighWater is the inbound queue's high-water mark: low enough that
// the test's load fills it, so queue_full refusals have series too.
const observedHighWater = 150

// observedRules rejects one post in five (sequence numbers ending in 0 or
// 5) and shadows a delist of every post, so per-rule series exist.
const observedRules = `version: 1
description: Observability test rules.
rules:
  - id: obs-reject-fives
    description: Reject posts whose number ends in 0 or 5.
    match:
      regex: 'number \d*[05]\b'
    action: reject
  - id: obs-shadow-delist
    description: Would delist every post mentioning the fediverse.
    match:
      keywords: [fediverse]
    action: delist
    shadow: true
`

// startObservedNode runs serve in process until the test ends.
func startObservedNode(t *testing.T) *observedNode {
	t.Helper()
	return startNodeWith(t, nil)
}

// startInstanceNode is an observed node whose instance core consumes the
// inbound queue into Postgres (and whose queue therefore never fills): the
// Instance dashboard's consumer panels and the instance group's lag have
// data from it.
func startInstanceNode(t *testing.T) *observedNode {
	t.Helper()
	return startNodeWith(t, func(cfg *Config) {
		cfg.Instance.Enabled = true
		cfg.Ingress.QueueHighWater = Default().Ingress.QueueHighWater
	})
}

// startNodeWith runs serve in process with the observed node's
// configuration, changed by tweak, until the test ends.
func startNodeWith(t *testing.T, tweak func(*Config)) *observedNode {
	t.Helper()
	dir := t.TempDir()
	rules := filepath.Join(dir, "obs-rules.yaml")
	if err := os.WriteFile(rules, []byte(observedRules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Host = "bench.local"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ListenConfig{Public: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Log.Level = "error"
	cfg.Database.URL = pgtest.URL(t)
	cfg.Fed.AllowPrivateAddresses, cfg.Fed.AllowHTTP = true, true
	cfg.Ingress.DomainRate, cfg.Ingress.DomainBurst = 1e6, 1e6
	cfg.Ingress.ActorRate, cfg.Ingress.ActorBurst = 1e6, 1e6
	cfg.Ingress.QueueHighWater = observedHighWater
	// The relay would drain the inbound queue, which must fill here; off,
	// it still exports its metrics.
	cfg.Relay.Enabled = false
	cfg.Instance.Enabled = false
	cfg.Policy.Domains = []DomainEntry{{Domain: loadgen.BlockedDomain, Severity: "suspend"}}
	cfg.Policy.RuleFiles = []string{rules}
	if tweak != nil {
		tweak(&cfg)
	}
	s := startServe(t, cfg)
	// Batches start at numbers not ending in 0 or 5: a short run's
	// duplicates replay its first accept (relay/loadgen), which must pass
	// obs-reject-fives to be recorded, or no duplicate ever ends at dedup.
	n := &observedNode{next: 1, public: s.public.String(), admin: s.admin.String()}
	fleet, err := loadgen.NewFleet(2, 6, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Close)
	n.fleet = fleet
	return n
}

// drive sends count requests: 10% replays, 10% from the suspended domain,
// 10% with a corrupted signature, the rest fresh (of which the reject rule
// refuses one in five). It fails the test unless every kind got the answer
// it exists to provoke, so a silent change in the pipeline cannot leave a
// dashboard quietly without data.
func (n *observedNode) drive(t *testing.T, count int) {
	t.Helper()
	reqs, err := loadgen.Presign(n.fleet, loadgen.Mix{Host: "bench.local", First: n.next, N: count,
		Dup: 0.1, Blocked: 0.1, BadSig: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	n.next += count
	res, err := loadgen.Run(reqs, loadgen.RunOptions{Addr: n.public, Host: "bench.local", Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors > 0 {
		t.Fatalf("%d transport errors driving the node", res.Errors)
	}
	for k, want := range map[loadgen.Kind]int{loadgen.KindAccept: 202, loadgen.KindDuplicate: 202,
		loadgen.KindBlocked: 202, loadgen.KindBadSig: 401} {
		if res.ByKind[k].Statuses[want] == 0 {
			t.Fatalf("no %s request was answered %d (answers: %v)", k, want, res.ByKind[k].Statuses)
		}
	}
}

// browse requests the public listener's net/http routes (not the inbox):
// NodeInfo, WebFinger, actors and pages, found and not found, so that the
// API request metrics have series.
func (n *observedNode) browse(t *testing.T) {
	t.Helper()
	for path, want := range map[string]int{
		"/.well-known/nodeinfo":  200,
		"/nodeinfo/2.0":          200,
		"/.well-known/host-meta": 200,
		"/.well-known/webfinger?resource=acct:nobody@bench.local": 404,
		"/users/nobody":            404,
		"/users/nobody/statuses/1": 404,
	} {
		req, _ := http.NewRequest("GET", "http://"+n.public+path, nil)
		req.Host = "bench.local"
		req.Header.Set("Accept", "application/activity+json, application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s answered %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// refuse sends, signed by a real fleet actor, Creates whose note is
// attributed to another actor: the gateway accepts them (the signature and
// the hosts are right), the instance consumer refuses them
// (attribution_mismatch), so refusal series have data.
func (n *observedNode) refuse(t *testing.T) {
	t.Helper()
	a, other := n.fleet.Actors[0], n.fleet.Actors[len(n.fleet.Domains)] // same domain
	for i := range 3 {
		n.next++
		note := fmt.Sprintf("%s/statuses/refused-%d", a.ID, n.next)
		body := fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%[1]s/activity","type":"Create","actor":"%[2]s",`+
			`"to":["https://www.w3.org/ns/activitystreams#Public"],"object":{"id":"%[1]s","type":"Note","attributedTo":"%[3]s",`+
			`"to":["https://www.w3.org/ns/activitystreams#Public"],"content":"not mine %[4]d","published":"2026-11-22T03:00:00Z"}}`,
			note, a.ID, other.ID, i)
		req, err := http.NewRequest("POST", "http://"+n.public+"/inbox", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "bench.local"
		req.Header.Set("Content-Type", "application/activity+json")
		req.Header.Set("Digest", signature.DigestHeader([]byte(body)))
		if err := signature.Sign("POST", "/inbox", "bench.local", req.Header, a.KeyID, a.Key,
			[]string{"(request-target)", "host", "date", "digest", "content-type"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("misattributed Create answered %d, want 202 (the gateway accepts it; the consumer refuses it)", resp.StatusCode)
		}
	}
}

// waitInstanceGauges waits for the node's first read of the instance
// gauges (at start, then every 30 s).
func (n *observedNode) waitInstanceGauges(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(n.scrape(t), "palisade_instance_accounts{") {
		if time.Now().After(deadline) {
			t.Fatal("the instance gauges did not appear within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrape returns the node's /metrics exposition.
func (n *observedNode) scrape(t *testing.T) string {
	t.Helper()
	return scrapeText(t, n.admin)
}

// scrapeText returns the /metrics exposition served at addr.
func scrapeText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// family is one metric family as exposed or as documented.
type family struct {
	typ    string
	labels []string // sorted, without le/quantile
}

// exposedFamilies reads the palisade_* families of a text exposition: their
// type from "# TYPE" and the union of their samples' label names.
func exposedFamilies(text string) map[string]family {
	fams := map[string]family{}
	sampleRe := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
	labelRe := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	var cur string
	seen := map[string]map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			cur = f[2]
			if strings.HasPrefix(cur, "palisade_") {
				fams[cur] = family{typ: f[3]}
				seen[cur] = map[string]bool{}
			}
			continue
		}
		m := sampleRe.FindStringSubmatch(line)
		if m == nil || seen[cur] == nil || !strings.HasPrefix(m[1], cur) {
			continue
		}
		for _, l := range labelRe.FindAllStringSubmatch(m[2], -1) {
			if l[1] != "le" && l[1] != "quantile" {
				seen[cur][l[1]] = true
			}
		}
	}
	for name, ls := range seen {
		f := fams[name]
		for l := range ls {
			f.labels = append(f.labels, l)
		}
		sort.Strings(f.labels)
		fams[name] = f
	}
	return fams
}

// documentedFamilies reads the catalogue tables of docs/metrics.md: rows
// "| `name` | type | `label`, `label` or — | meaning |".
func documentedFamilies(t *testing.T, path string) map[string]family {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rowRe := regexp.MustCompile("^\\|\\s*`(palisade_[a-z0-9_]+)`\\s*\\|\\s*([a-z]+)\\s*\\|([^|]*)\\|")
	labelRe := regexp.MustCompile("`([a-z_][a-z0-9_]*)`")
	fams := map[string]family{}
	for i, line := range strings.Split(string(b), "\n") {
		m := rowRe.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "| `palisade_") {
				t.Errorf("%s:%d: a catalogue row that does not read | `name` | type | labels | meaning |: %q", path, i+1, line)
			}
			continue
		}
		if _, dup := fams[m[1]]; dup {
			t.Errorf("%s:%d: %s is documented twice", path, i+1, m[1])
		}
		f := family{typ: m[2]}
		for _, l := range labelRe.FindAllStringSubmatch(m[3], -1) {
			f.labels = append(f.labels, l[1])
		}
		sort.Strings(f.labels)
		fams[m[1]] = f
	}
	return fams
}

// lazyFamilies are documented families a node may legitimately not expose
// yet, because they only appear once something exists that this test
// cannot create. Each must still be registered by non-test code (its name
// appears as a string literal there), so a renamed or deleted metric is
// caught as drift. Keep the list short and say why.
var lazyFamilies = map[string]string{}

// The metric catalogue (docs/metrics.md) lists exactly the palisade_*
// families a running node exports, with their types and label names: a
// metric added, renamed, relabelled or removed without updating the
// catalogue fails here.
func TestMetricsDocMatchesRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	n := startObservedNode(t)
	n.drive(t, 400)
	n.browse(t)
	n.waitInstanceGauges(t)
	exposed := exposedFamilies(n.scrape(t))
	// serve runs the delivery engine, so the node exports its families; the
	// engine run beside the node (the one that delivers, for the Prometheus
	// test) must export them with the same types and labels.
	d := startDeliveryBeside(t)
	d.waitDelivered(t)
	// A node running the instance consumer exports what only a consumer
	// group has (palisade_queue_group_lag), with the same types and labels
	// for everything else.
	in := startInstanceNode(t)
	in.drive(t, 50)
	for other, text := range map[string]string{"the delivery engine": scrapeText(t, d.addr), "the instance node": in.scrape(t)} {
		for name, f := range exposedFamilies(text) {
			if g, ok := exposed[name]; ok && (g.typ != f.typ || !slices.Equal(g.labels, f.labels)) {
				t.Errorf("%s: the node exports %v, %s %v", name, g, other, f)
			}
			if _, ok := exposed[name]; !ok {
				exposed[name] = f
			}
		}
	}
	documented := documentedFamilies(t, filepath.Join("..", "..", "docs", "metrics.md"))
	if len(exposed) < 10 {
		t.Fatalf("only %d palisade_* families exposed; the scrape parser is broken", len(exposed))
	}
	var names []string
	for name := range exposed {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		got := exposed[name]
		doc, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("%s (%s, labels %v) is exported but missing from docs/metrics.md: add a row to the catalogue", name, got.typ, got.labels)
		case doc.typ != got.typ:
			t.Errorf("%s: docs/metrics.md says %s, the registry says %s", name, doc.typ, got.typ)
		case !slices.Equal(doc.labels, got.labels):
			t.Errorf("%s: docs/metrics.md lists labels %v, the node exports %v", name, doc.labels, got.labels)
		}
	}
	source := goSourceText(t, filepath.Join("..", ".."))
	for name := range documented {
		if _, ok := exposed[name]; ok {
			continue
		}
		reason, lazy := lazyFamilies[name]
		switch {
		case !lazy:
			t.Errorf("docs/metrics.md documents %s, which the node does not export after traffic: remove the row, or fix the metric", name)
		case !strings.Contains(source, `"`+name+`"`):
			t.Errorf("docs/metrics.md documents %s (not exported in this test: %s), and no Go source registers it any more", name, reason)
		}
	}
	for name := range lazyFamilies {
		if _, ok := exposed[name]; ok {
			t.Errorf("%s is exported now: remove it from lazyFamilies so its labels are checked", name)
		}
		if _, ok := documented[name]; !ok {
			t.Errorf("lazyFamilies names %s, which docs/metrics.md does not document", name)
		}
	}
}

// goSourceText concatenates the module's non-test Go files.
func goSourceText(t *testing.T, root string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sb.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(fmt.Errorf("reading the module's Go source: %w", err))
	}
	return sb.String()
}

// deliveryBeside is the real outbound delivery engine (relay/delivery) on
// its own registry, served on a loopback /metrics, delivering to a loopback
// inbox that accepts some deliveries, answers others 410, 400 or 500, and to
// a closed port and a policy-refused host. serve runs the engine, but nothing
// enqueues to it until the relay (issue 6), so this is how the Delivery
// dashboard is checked against metrics with data until then.
type deliveryBeside struct {
	addr     string // host:port serving /metrics
	engine   *delivery.Engine
	received chan struct{}
}

func startDeliveryBeside(t *testing.T) *deliveryBeside {
	t.Helper()
	d := &deliveryBeside{received: make(chan struct{}, 1000)}
	inbox := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case d.received <- struct{}{}:
		default:
		}
		switch r.URL.Path {
		case "/gone/inbox":
			w.WriteHeader(http.StatusGone)
		case "/bad/inbox":
			w.WriteHeader(http.StatusBadRequest)
		case "/broken/inbox":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	inboxLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go inbox.Serve(inboxLn)
	t.Cleanup(func() { inbox.Close() })
	closed, err := freePort()
	if err != nil {
		t.Fatal(err)
	}

	db, err := local.Open(filepath.Join(t.TempDir(), "pebble"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Jobs("delivery")
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	d.engine, err = delivery.New(delivery.Options{
		Jobs: jobs,
		Signer: func(actor string) (string, crypto.PrivateKey, error) {
			return actor + "#main-key", key, nil
		},
		Client:           (&netguard.Guard{AllowPrivate: true}).Client(5 * time.Second),
		Allowed:          func(host string) bool { return host != "refused.example" },
		AllowHTTP:        true,
		BackoffBase:      500 * time.Millisecond,
		BackoffMax:       time.Second,
		UnavailableAfter: 2,
		Registerer:       reg,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.engine.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.engine.Close()
		db.Close()
	})
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	msrv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go msrv.Serve(metricsLn)
	t.Cleanup(func() { msrv.Close() })
	d.addr = metricsLn.Addr().String()

	base := "http://" + inboxLn.Addr().String()
	var inboxes []string
	for i := range 20 {
		inboxes = append(inboxes, fmt.Sprintf("%s/u%d/inbox", base, i))
	}
	inboxes = append(inboxes, base+"/gone/inbox", base+"/bad/inbox", base+"/broken/inbox",
		fmt.Sprintf("http://127.0.0.1:%d/inbox", closed), "http://refused.example/inbox")
	for i := range 5 {
		body := fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"http://bench.local/activities/%d","type":"Create","actor":"http://bench.local/users/alice","object":{"id":"http://bench.local/notes/%d","type":"Note","content":"hello"}}`, i, i)
		if err := d.engine.Enqueue([]byte(body), "http://bench.local/users/alice", inboxes); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// waitDelivered waits until the inbox has received deliveries.
func (d *deliveryBeside) waitDelivered(t *testing.T) {
	t.Helper()
	select {
	case <-d.received:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery engine delivered nothing in 30s")
	}
}
