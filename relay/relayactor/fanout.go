package relayactor

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/inbound"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg"
)

// candidate is an inbound activity the relay will send on.
type candidate struct {
	e       inbound.Entry
	key     string   // relay_relayed key
	object  string   // the announced object id ("" for verbatim forwards)
	origins []string // domains never sent to: the sender's and the object's
}

// handle processes claimed entries and returns the seqs to acknowledge.
// An error leaves the rest unacknowledged; they come back after the lease.
func (r *Relay) handle(ctx context.Context, items []local.Item) ([]uint64, error) {
	acks := make([]uint64, 0, len(items))
	var cands []candidate
	var candSeqs []uint64
	var firstErr error
	for _, it := range items {
		var e inbound.Entry
		if err := e.Unmarshal(it.Value); err != nil {
			r.log.Error("relay: undecodable inbound entry skipped", "seq", it.Seq, "err", err)
			acks = append(acks, it.Seq)
			continue
		}
		switch e.Type {
		case "Follow", "Undo", "Accept", "Reject":
			if err := r.control(ctx, &e); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
		case "Create", "Announce", "Update", "Delete":
			if c, ok := r.candidate(&e); ok {
				cands = append(cands, c)
				candSeqs = append(candSeqs, it.Seq)
				continue
			}
		}
		acks = append(acks, it.Seq)
	}
	if len(cands) > 0 {
		if err := r.fanout(ctx, cands); err != nil {
			return acks, err
		}
		acks = append(acks, candSeqs...)
	}
	return acks, firstErr
}

// relayable reports whether the policy decision lets the activity be
// relayed: accepted with no effect that changes or limits it (a relay
// cannot strip media from a post its subscribers fetch from the origin,
// so anything the policy would alter is not relayed at all).
func relayable(decision []byte) bool {
	var rec policy.Record
	if rec.UnmarshalBinary(decision) != nil {
		return false
	}
	if rec.Action != policy.Accept && rec.Action != policy.Report {
		return false
	}
	return rec.Modifiers&^(policy.ModReport|policy.ModStripAvatar|policy.ModStripHeader) == 0
}

// candidate decides whether e is to be relayed, counting why not.
func (r *Relay) candidate(e *inbound.Entry) (candidate, bool) {
	skip := func(why string) (candidate, bool) {
		r.m.activities.WithLabelValues(why).Inc()
		return candidate{}, false
	}
	dom, err := activity.Host(e.Actor)
	if err != nil {
		return skip("not_subscriber")
	}
	sub := r.subs.Load().byDom[dom]
	if sub == nil || sub.State != pg.RelayActive {
		return skip("not_subscriber")
	}
	if sub.Direction == DirReceiveOnly {
		return skip("receive_only")
	}
	if hn, _ := activity.Hostname(e.Actor); !r.allowed(hn) || !relayable(e.Decision) {
		return skip("policy")
	}
	env, err := activity.Parse(e.Body)
	// A LitePub relay actor announces only public posts, addressed to its
	// followers (Pleroma's relay repeats with its own addressing), so an
	// Announce by the subscribed relay actor itself needs no as:Public.
	if err != nil || !(env.Public() || (e.Type == "Announce" && e.Actor == sub.Actor && sub.Style == "litepub")) {
		return skip("not_public")
	}
	c := candidate{e: *e, origins: []string{dom}}
	switch e.Type {
	case "Create", "Announce":
		if e.ObjectID == "" {
			return skip("not_public")
		}
		c.key, c.object = "o:"+e.ObjectID, e.ObjectID
		if od, err := activity.Host(e.ObjectID); err == nil && od != dom {
			c.origins = append(c.origins, od)
		}
		if !r.passesFilters(e.Body) {
			return skip("filtered")
		}
	default: // Update, Delete: verbatim
		c.key = "a:" + e.ActivityID
		if od, err := activity.Host(e.ObjectID); err == nil && od != dom {
			c.origins = append(c.origins, od)
		}
	}
	return c, true
}

// passesFilters applies the language and hashtag filters to the embedded
// object of a Create or Announce (untrusted bytes).
func (r *Relay) passesFilters(body []byte) bool {
	if len(r.o.Languages) == 0 && len(r.o.Hashtags) == 0 {
		return true
	}
	var a struct {
		Object struct {
			Language   string                     `json:"language"`
			ContentMap map[string]json.RawMessage `json:"contentMap"`
			Tag        []struct {
				Type string `json:"type"`
				Name string `json:"name"`
			} `json:"tag"`
		} `json:"object"`
	}
	if json.Unmarshal(body, &a) != nil {
		return false
	}
	if len(r.o.Languages) > 0 {
		ok := false
		langs := make([]string, 0, len(a.Object.ContentMap)+1)
		for l := range a.Object.ContentMap {
			langs = append(langs, l)
		}
		if a.Object.Language != "" {
			langs = append(langs, a.Object.Language)
		}
		for _, l := range langs {
			l = strings.ToLower(l)
			for _, want := range r.o.Languages {
				// "en" matches "en-GB".
				if l == want || strings.HasPrefix(l, want+"-") {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.o.Hashtags) > 0 {
		for _, t := range a.Object.Tag {
			if t.Type != "Hashtag" {
				continue
			}
			name := strings.ToLower(strings.TrimPrefix(t.Name, "#"))
			for _, want := range r.o.Hashtags {
				if name == want {
					return true
				}
			}
		}
		return false
	}
	return true
}

// fanout queues the candidates' deliveries to every receiving subscriber
// except their origins, each key once (RelayOnce).
func (r *Relay) fanout(ctx context.Context, cands []candidate) error {
	s := r.subs.Load()
	type dest struct{ domain, inbox string }
	var dests []dest
	for i := range s.rows {
		row := &s.rows[i]
		if row.State != pg.RelayActive || row.Direction == DirPushOnly || row.Inbox == "" {
			continue
		}
		if hn, err := activity.Hostname(row.Inbox); err != nil || !r.allowed(hn) {
			continue
		}
		dests = append(dests, dest{row.Domain, row.Inbox})
	}
	keys := make([]string, len(cands))
	byKey := make(map[string]*candidate, len(cands))
	for i := range cands {
		keys[i] = cands[i].key
		if byKey[cands[i].key] == nil {
			byKey[cands[i].key] = &cands[i]
		}
	}
	var sent int
	err := r.o.DB.RelayOnce(ctx, keys, func(fresh []string) error {
		now := r.o.Now()
		out := make([]delivery.Outgoing, 0, len(fresh))
		for _, k := range fresh {
			c := byKey[k]
			inboxes := make([]string, 0, len(dests))
		next:
			for _, d := range dests {
				for _, o := range c.origins {
					if d.domain == o {
						continue next
					}
				}
				inboxes = append(inboxes, d.inbox)
			}
			if len(inboxes) == 0 {
				continue
			}
			body := c.e.Body
			if c.object != "" {
				body = r.announceOf(c.key, c.object, now)
			}
			out = append(out, delivery.Outgoing{Activity: body, Actor: r.actorID, Inboxes: inboxes})
		}
		if len(out) > 0 {
			if err := r.o.Sender.EnqueueBatch(out); err != nil {
				return err
			}
		}
		for _, k := range fresh {
			c := byKey[k]
			r.m.lag.Observe(max(0, now.Sub(c.e.Received).Seconds()))
		}
		sent = len(fresh)
		return nil
	})
	if err != nil {
		return err
	}
	r.m.activities.WithLabelValues("relayed").Add(float64(sent))
	r.m.activities.WithLabelValues("duplicate").Add(float64(len(cands) - sent))
	return nil
}
