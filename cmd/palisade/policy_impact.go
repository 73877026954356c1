package main

import (
	"context"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/policy/blocklist"
	"github.com/palisade-fedi/palisade/store/local"
)

// impactSource gives impact previews their numbers: how much of what this
// node knows a block of some domains would cut. Today the node knows only
// the actors in its decision log (decisionLogImpact); the instance core,
// once it stores accounts and follows, supplies a real one.
type impactSource interface {
	// Counter returns a counter for domains (it may prepare all of them at
	// once) and a note for the admin on what the numbers cover.
	Counter(ctx context.Context, domains []string) (blocklist.ImpactCounter, string, error)
}

// impactNote says what decisionLogImpact's numbers mean.
const impactNote = "known_actors counts distinct actors of the domain (and its subdomains) in this node's decision log; " +
	"follows are 0 until the instance core stores accounts and follows"

// maxImpactScan bounds the decision records one preview reads, so a
// preview on a busy node answers in bounded time.
const maxImpactScan = 2_000_000

// decisionLogImpact counts distinct actors per domain seen in the decision
// log. Follows are always 0: nothing records them yet.
type decisionLogImpact struct {
	log *local.Log // nil: every count is 0
}

func (d *decisionLogImpact) Counter(ctx context.Context, domains []string) (blocklist.ImpactCounter, string, error) {
	c := actorCounts{}
	if d.log == nil || len(domains) == 0 {
		return c, impactNote, nil
	}
	want := make([]string, 0, len(domains))
	for _, dom := range domains {
		want = append(want, strings.TrimPrefix(policy.NormalizeHost(dom), "*."))
	}
	// actors per record domain, only for record domains under a wanted one.
	n := 0
	var rec policy.Record
	err := d.log.Scan(time.Time{}, time.Now().Add(time.Hour), func(_ time.Time, b []byte) bool {
		n++
		if n > maxImpactScan || ctx.Err() != nil {
			return false
		}
		if rec.UnmarshalBinary(b) != nil || rec.Actor == "" {
			return true
		}
		for _, w := range want {
			if underDomain(rec.Domain, w) {
				set := c[w]
				if set == nil {
					set = map[string]struct{}{}
					c[w] = set
				}
				set[rec.Actor] = struct{}{}
			}
		}
		return true
	})
	return c, impactNote, err
}

// underDomain reports whether host is domain or one of its subdomains.
func underDomain(host, domain string) bool {
	return host == domain || (len(host) > len(domain) && strings.HasSuffix(host, domain) && host[len(host)-len(domain)-1] == '.')
}

// actorCounts maps a wanted domain to its distinct actors.
type actorCounts map[string]map[string]struct{}

func (c actorCounts) CountDomain(_ context.Context, domain string) (blocklist.DomainCounts, error) {
	domain = strings.TrimPrefix(policy.NormalizeHost(domain), "*.")
	return blocklist.DomainCounts{KnownActors: len(c[domain])}, nil
}
