package main

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
)

// The overview: traffic accepted and refused over the last hour and day,
// from the decision log (the policy's verdicts, with their rules and
// reasons) and from the ingress counters (what the gateway refused before
// the policy: signatures, blocked domains, rate limits), plus queue and
// delivery health from the metrics registry. Charts are inline SVG drawn
// here, so the page needs no script.

// trafficSampleEvery is how often the ingress counters are sampled; a day
// of samples is kept.
const trafficSampleEvery = time.Minute

// minSampleGap is the shortest interval between two samples.
const minSampleGap = 5 * time.Second

// ingressSample is palisade_ingress_requests_total at one time, summed by
// outcome.
type ingressSample struct {
	at       time.Time
	accepted float64            // stage="queue", reason="accepted"
	refused  map[string]float64 // everything that did not get in, by reason
	// Gauges at that time, for the health charts.
	queueDepth, deliveryPending float64
}

// trafficSampler keeps the ingress counters of the last day.
type trafficSampler struct {
	mu      sync.Mutex
	samples []ingressSample // oldest first
}

func newTrafficSampler() *trafficSampler { return &trafficSampler{} }

// ingressAccepted reports whether an ingress outcome let the activity in
// (duplicates were already let in once).
func ingressAccepted(reason string) bool { return reason == "accepted" || reason == "duplicate" }

// sample records the counters now, unless the last sample is under
// minSampleGap old (the overview samples on every view; a burst of views
// must not grow the ring).
func (t *trafficSampler) sample(g prometheus.Gatherer) {
	now := time.Now()
	t.mu.Lock()
	recent := len(t.samples) > 0 && now.Sub(t.samples[len(t.samples)-1].at) < minSampleGap
	t.mu.Unlock()
	if recent {
		return
	}
	s := ingressSample{at: now, refused: map[string]float64{}}
	mfs, err := g.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "palisade_queue_depth":
			for _, m := range mf.GetMetric() {
				s.queueDepth += m.GetGauge().GetValue()
			}
			continue
		case "palisade_delivery_pending":
			for _, m := range mf.GetMetric() {
				s.deliveryPending += m.GetGauge().GetValue()
			}
			continue
		case "palisade_ingress_requests_total":
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			reason := labelValue(m, "reason")
			v := m.GetCounter().GetValue()
			if reason == "accepted" {
				s.accepted += v
			} else if !ingressAccepted(reason) {
				s.refused[reason] += v
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples = append(t.samples, s)
	cut := 0
	for cut < len(t.samples) && s.at.Sub(t.samples[cut].at) > 25*time.Hour {
		cut++
	}
	t.samples = t.samples[cut:]
}

// window returns the change of the counters over the last d (since the
// oldest sample inside it), per minute series of the last hour, and how
// far back the samples reach.
func (t *trafficSampler) window(now time.Time, d time.Duration) (accepted float64, refused map[string]float64, covered time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	refused = map[string]float64{}
	if len(t.samples) < 2 {
		return 0, refused, 0
	}
	last := t.samples[len(t.samples)-1]
	first := last
	for _, s := range t.samples {
		if now.Sub(s.at) <= d {
			first = s
			break
		}
	}
	for k, v := range last.refused {
		if dv := v - first.refused[k]; dv > 0 {
			refused[k] = dv
		}
	}
	return last.accepted - first.accepted, refused, last.at.Sub(first.at)
}

// minuteSeries returns accepted and refused per sample interval over the
// last hour, oldest first.
func (t *trafficSampler) minuteSeries(now time.Time) (acc, ref []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := 1; i < len(t.samples); i++ {
		a, b := t.samples[i-1], t.samples[i]
		if now.Sub(b.at) > time.Hour {
			continue
		}
		var r float64
		for k, v := range b.refused {
			r += v - a.refused[k]
		}
		acc, ref = append(acc, int(b.accepted-a.accepted)), append(ref, int(r))
	}
	return acc, ref
}

// gaugeSeries returns the queue depth and pending deliveries of each
// sample over the last hour, oldest first.
func (t *trafficSampler) gaugeSeries(now time.Time) (queue, pending []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.samples {
		if now.Sub(s.at) <= time.Hour {
			queue, pending = append(queue, int(s.queueDepth)), append(pending, int(s.deliveryPending))
		}
	}
	return queue, pending
}

// trafficStats is what the decision log says about the last day.
type trafficStats struct {
	// Hours are the last 24 hours, oldest first.
	HourAccepted, HourRefused, HourHeld [24]int
	HourReasons, DayReasons             []kv // refusals by reason code
	TopRules                            []kv // rules behind refusals, last day
	TopDomains                          []domainCount
	// RuleHours counts each rule's hits (enforced and shadow) per hour.
	RuleHours map[string][24]int
	Scanned   int
	Truncated bool
}

type kv struct {
	Key   string
	Count int
}

type domainCount struct {
	Domain            string
	Accepted, Refused int
}

// maxOverviewScan bounds the records one overview reads; beyond it the
// page says the counts are partial.
const maxOverviewScan = 500_000

func refusedAction(a policy.Action) bool { return a == policy.Reject }

// statsCache keeps the last scan for statsFresh: the overview and the
// rules page both read it, and a scan of a busy day takes a while (about
// 90 ms per 100,000 decisions, BenchmarkOverviewStats).
type statsCache struct {
	mu sync.Mutex
	at time.Time
	st trafficStats
}

const statsFresh = 10 * time.Second

// trafficStats returns the last day of the decision log, scanned at most
// every statsFresh.
func (c *console) trafficStats(now time.Time) trafficStats {
	c.stats.mu.Lock()
	defer c.stats.mu.Unlock()
	if !c.stats.at.IsZero() && now.Sub(c.stats.at) < statsFresh && now.After(c.stats.at) {
		return c.stats.st
	}
	c.stats.st, c.stats.at = c.scanStats(now), now
	return c.stats.st
}

// scanStats scans the last day of the decision log.
func (c *console) scanStats(now time.Time) trafficStats {
	st := trafficStats{RuleHours: map[string][24]int{}}
	if c.n.policy.decisions == nil {
		return st
	}
	start := now.Add(-24 * time.Hour).Truncate(time.Hour).Add(time.Hour)
	if now.Sub(start) > 24*time.Hour {
		start = now.Add(-24 * time.Hour)
	}
	hourR, dayR, rules := map[string]int{}, map[string]int{}, map[string]int{}
	doms := map[string]*domainCount{}
	var rec policy.Record
	c.n.policy.decisions.Scan(now.Add(-24*time.Hour), now.Add(time.Minute), func(at time.Time, b []byte) bool {
		if st.Scanned >= maxOverviewScan {
			st.Truncated = true
			return false
		}
		st.Scanned++
		if rec.UnmarshalBinary(b) != nil {
			return true
		}
		h := 23 - int(now.Sub(at)/time.Hour)
		if h < 0 {
			h = 0
		}
		if h > 23 {
			h = 23
		}
		d := doms[rec.Domain]
		if d == nil {
			d = &domainCount{Domain: rec.Domain}
			doms[rec.Domain] = d
		}
		for _, id := range rec.Fired {
			rh := st.RuleHours[id]
			rh[h]++
			st.RuleHours[id] = rh
		}
		for _, id := range rec.Shadow {
			rh := st.RuleHours[id]
			rh[h]++
			st.RuleHours[id] = rh
		}
		switch {
		case refusedAction(rec.Action):
			st.HourRefused[h]++
			d.Refused++
			reason := rec.Action.String()
			if len(rec.Reasons) > 0 && rec.Reasons[0] != "" {
				reason = rec.Reasons[0]
			}
			dayR[reason]++
			if now.Sub(at) <= time.Hour {
				hourR[reason]++
			}
			for _, id := range rec.Fired {
				rules[id]++
			}
		case rec.Action == policy.Quarantine:
			st.HourHeld[h]++
			d.Accepted++
		default:
			st.HourAccepted[h]++
			d.Accepted++
		}
		return true
	})
	st.HourReasons, st.DayReasons, st.TopRules = topKV(hourR, 10), topKV(dayR, 10), topKV(rules, 10)
	for _, d := range doms {
		st.TopDomains = append(st.TopDomains, *d)
	}
	sort.Slice(st.TopDomains, func(i, j int) bool {
		a, b := st.TopDomains[i], st.TopDomains[j]
		if a.Accepted+a.Refused != b.Accepted+b.Refused {
			return a.Accepted+a.Refused > b.Accepted+b.Refused
		}
		return a.Domain < b.Domain
	})
	if len(st.TopDomains) > 10 {
		st.TopDomains = st.TopDomains[:10]
	}
	return st
}

func topKV(m map[string]int, n int) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// --- charts ---

// sparkline draws values as a small bar chart (SVG), titled for screen
// readers.
func sparkline(values []int, w, h int, title string) template.HTML {
	var b strings.Builder
	maxV := 1
	for _, v := range values {
		maxV = max(maxV, v)
	}
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s"><title>%s</title>`,
		w, h, w, h, template.HTMLEscapeString(title), template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" class="base"/>`, h, w, h)
	if len(values) > 0 {
		bw := float64(w) / float64(len(values))
		for i, v := range values {
			bh := float64(v) / float64(maxV) * float64(h-1)
			if v > 0 && bh < 1 {
				bh = 1
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, float64(i)*bw, float64(h)-bh, max(bw-1, 0.5), bh)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// stackedHours draws accepted, held and refused per hour, stacked.
func stackedHours(acc, held, ref [24]int, now time.Time) template.HTML {
	const w, h, pad = 480, 140, 18
	maxV := 1
	for i := range acc {
		maxV = max(maxV, acc[i]+held[i]+ref[i])
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="decisions per hour, last 24 hours"><title>Decisions per hour, last 24 hours (max %d)</title>`, w, h+pad, maxV)
	bw := float64(w) / 24
	for i := 0; i < 24; i++ {
		y := float64(h)
		for _, part := range []struct {
			v   int
			cls string
		}{{acc[i], "acc"}, {held[i], "held"}, {ref[i], "ref"}} {
			if part.v == 0 {
				continue
			}
			ph := float64(part.v) / float64(maxV) * float64(h-4)
			y -= ph
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
				part.cls, float64(i)*bw+1, y, bw-2, ph, part.cls, part.v)
		}
		if i%6 == 0 {
			label := now.Add(-time.Duration(23-i) * time.Hour).UTC().Format("15h")
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`, float64(i)*bw+1, h+pad-4, label)
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">now</text>`, w-1, h+pad-4)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// hbars draws labelled horizontal bars (labels escaped: they may be
// remote domains or reason codes).
func hbars(rows []kv) template.HTML {
	if len(rows) == 0 {
		return template.HTML(`<p class="muted">none</p>`)
	}
	const w, rowH = 480, 20
	maxV := 1
	for _, r := range rows {
		maxV = max(maxV, r.Count)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="bar chart">`, w, rowH*len(rows))
	for i, r := range rows {
		bw := float64(r.Count) / float64(maxV) * (w - 200)
		label := r.Key
		if len(label) > 32 {
			label = label[:31] + "…"
		}
		fmt.Fprintf(&b, `<text x="0" y="%d">%s</text><rect x="200" y="%d" width="%.1f" height="%d"/><text x="%.1f" y="%d">%d</text>`,
			i*rowH+14, template.HTMLEscapeString(label), i*rowH+3, max(bw, 1), rowH-6, 204+bw, i*rowH+14, r.Count)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// --- the page ---

type healthRow struct {
	Name, Value string
	Bad         bool
}

type overviewPage struct {
	Stats                    trafficStats
	DecisionsChart           template.HTML
	HourReasons, DayReasons  template.HTML
	TopRules                 template.HTML
	IngressHour, IngressDay  template.HTML
	IngressSpark             template.HTML
	IngressRefusedSpark      template.HTML
	IngressCovered           string
	AccHour, RefHour         int
	AccDay, RefDay, HeldDay  int
	IngAccHour, IngRefHour   int
	IngAccDay, IngRefDay     int
	Health                   []healthRow
	QueueSpark, PendingSpark template.HTML
	QueueLag                 template.HTML
	PendingReports, Held     int
	UnhealthyHosts           []hostView
}

func (c *console) getOverview(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	now := time.Now()
	st := c.trafficStats(now)
	pd := overviewPage{Stats: st, DecisionsChart: stackedHours(st.HourAccepted, st.HourHeld, st.HourRefused, now),
		HourReasons: hbars(st.HourReasons), DayReasons: hbars(st.DayReasons), TopRules: hbars(st.TopRules)}
	pd.AccHour, pd.RefHour = st.HourAccepted[23], st.HourRefused[23]
	for i := range st.HourAccepted {
		pd.AccDay += st.HourAccepted[i]
		pd.RefDay += st.HourRefused[i]
		pd.HeldDay += st.HourHeld[i]
	}
	c.traffic.sample(c.n.reg) // the newest counts, not a minute old
	acc, ref, cov := c.traffic.window(now, time.Hour)
	pd.IngAccHour, pd.IngRefHour, pd.IngressHour = int(acc), sumMap(ref), hbars(topKV(floatMap(ref), 10))
	acc, ref, cov = c.traffic.window(now, 24*time.Hour)
	pd.IngAccDay, pd.IngRefDay, pd.IngressDay = int(acc), sumMap(ref), hbars(topKV(floatMap(ref), 10))
	pd.IngressCovered = humanDuration(cov)
	sa, sr := c.traffic.minuteSeries(now)
	pd.IngressSpark = sparkline(sa, 240, 32, "accepted per minute, last hour")
	pd.IngressRefusedSpark = sparkline(sr, 240, 32, "refused per minute, last hour")
	pd.Health, pd.QueueLag = c.health()
	qs, ps := c.traffic.gaugeSeries(now)
	pd.QueueSpark = sparkline(qs, 240, 32, "inbound queue depth, last hour")
	pd.PendingSpark = sparkline(ps, 240, 32, "deliveries pending, last hour")
	if qs, err := c.n.data.PendingQuarantine(r.Context(), data.Page{Limit: 200}); err == nil {
		pd.Held = len(qs)
	}
	if rs, err := c.n.data.Reports(r.Context(), true, data.Page{Limit: 200}); err == nil {
		pd.PendingReports = len(rs)
	}
	if c.n.engine != nil {
		for _, h := range c.n.engine.Hosts() {
			if !h.UnavailableSince.IsZero() || h.ConsecutiveFailures > 0 {
				pd.UnhealthyHosts = append(pd.UnhealthyHosts, hostView(h))
			}
		}
	}
	c.render(w, r, http.StatusOK, "overview", pageData{Title: "Overview", Nav: "overview", User: s, Body: pd})
	return nil
}

func sumMap(m map[string]float64) int {
	var n float64
	for _, v := range m {
		n += v
	}
	return int(n)
}

func floatMap(m map[string]float64) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = int(v)
	}
	return out
}

// health reads queue and delivery gauges from the node's registry.
func (c *console) health() ([]healthRow, template.HTML) {
	mfs, err := c.n.reg.Gather()
	if err != nil {
		return []healthRow{{Name: "metrics", Value: err.Error(), Bad: true}}, ""
	}
	var rows []healthRow
	var lag []kv
	var attempts []string
	highWater := map[string]float64{}
	depth := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue()
			switch mf.GetName() {
			case "palisade_queue_depth":
				depth[labelValue(m, "queue")] = v
			case "palisade_queue_high_water":
				highWater[labelValue(m, "queue")] = v
			case "palisade_queue_oldest_age_seconds":
				rows = append(rows, healthRow{Name: "oldest unacknowledged entry, queue " + labelValue(m, "queue"),
					Value: humanDuration(time.Duration(v) * time.Second), Bad: v > 300})
			case "palisade_queue_group_lag":
				lag = append(lag, kv{labelValue(m, "queue") + "/" + labelValue(m, "group"), int(v)})
			case "palisade_delivery_pending":
				rows = append(rows, healthRow{Name: "deliveries pending", Value: fmt.Sprint(int64(v))})
			case "palisade_delivery_oldest_pending_seconds":
				rows = append(rows, healthRow{Name: "delivery lag (oldest pending)", Value: humanDuration(time.Duration(v) * time.Second), Bad: v > 600})
			case "palisade_delivery_hosts_unavailable":
				rows = append(rows, healthRow{Name: "destination hosts unavailable", Value: fmt.Sprint(int64(v)), Bad: v > 0})
			case "palisade_relay_subscribers_failing":
				rows = append(rows, healthRow{Name: "relay subscribers failing", Value: fmt.Sprint(int64(v)), Bad: v > 0})
			case "palisade_delivery_attempts_total":
				if v := m.GetCounter().GetValue(); v > 0 {
					attempts = append(attempts, fmt.Sprintf("%s %d", labelValue(m, "outcome"), int64(v)))
				}
			}
		}
	}
	for q, d := range depth {
		hw := highWater[q]
		rows = append([]healthRow{{Name: "queue " + q + " depth", Value: fmt.Sprintf("%d of %d", int64(d), int64(hw)), Bad: hw > 0 && d > hw/2}}, rows...)
	}
	if len(attempts) == 0 {
		attempts = []string{"none yet"}
	}
	rows = append(rows, healthRow{Name: "delivery attempts since start, by outcome", Value: strings.Join(attempts, ", ")})
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Bad && !rows[j].Bad })
	return rows, hbars(lag)
}
