package relayactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/relay/activity"
)

// maxFetch bounds a fetched actor or NodeInfo document.
const maxFetch = 256 << 10

const fetchTimeout = 15 * time.Second

// remoteActor is what the relay needs of a follower's actor document.
type remoteActor struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Inbox     string `json:"inbox"`
	Endpoints struct {
		SharedInbox string `json:"sharedInbox"`
	} `json:"endpoints"`
}

// get fetches u (after the policy gate), signed when Options.Sign is set,
// reading at most maxFetch bytes of a 2xx answer.
func (r *Relay) get(ctx context.Context, u, accept string) ([]byte, error) {
	if err := r.checkURL(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	if r.o.Sign != nil {
		if err := r.o.Sign(req); err != nil {
			return nil, fmt.Errorf("signing the GET of %s: %w", u, err)
		}
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFetch+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxFetch {
		return nil, fmt.Errorf("GET %s: document over %d bytes", u, maxFetch)
	}
	return b, nil
}

// checkURL refuses non-http(s) URLs (http only with AllowHTTP) and hosts
// the policy refuses.
func (r *Relay) checkURL(u string) error {
	if !strings.HasPrefix(u, "https://") && !(r.o.AllowHTTP && strings.HasPrefix(u, "http://")) {
		return fmt.Errorf("%q is not an https URL", u)
	}
	h, err := activity.Hostname(u)
	if err != nil {
		return err
	}
	if !r.allowed(h) {
		return fmt.Errorf("%s is refused by the policy", h)
	}
	return nil
}

func (r *Relay) allowed(hostname string) bool {
	return r.o.Allowed == nil || r.o.Allowed(hostname)
}

// fetchActor returns the actor document of id. Its id must be id: a
// document that claims another actor is refused.
func (r *Relay) fetchActor(ctx context.Context, id string) (remoteActor, error) {
	var a remoteActor
	b, err := r.get(ctx, id, `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`)
	if err != nil {
		return a, err
	}
	if err := parseActor(b, &a); err != nil {
		return a, fmt.Errorf("actor %s: %w", id, err)
	}
	if a.ID != id {
		return a, fmt.Errorf("actor %s: the document's id is %q", id, a.ID)
	}
	if err := r.checkURL(a.Inbox); err != nil {
		return a, fmt.Errorf("actor %s: inbox: %w", id, err)
	}
	if a.Endpoints.SharedInbox != "" && r.checkURL(a.Endpoints.SharedInbox) != nil {
		a.Endpoints.SharedInbox = ""
	}
	return a, nil
}

// parseActor reads an actor document (untrusted bytes).
func parseActor(b []byte, a *remoteActor) error {
	if err := json.Unmarshal(b, a); err != nil {
		return fmt.Errorf("not an actor document: %w", err)
	}
	if a.ID == "" || a.Inbox == "" {
		return errors.New("actor document without id or inbox")
	}
	return nil
}

// deliveryInbox is where fan-out goes: the shared inbox when there is one.
func (a remoteActor) deliveryInbox() string {
	if a.Endpoints.SharedInbox != "" {
		return a.Endpoints.SharedInbox
	}
	return a.Inbox
}

// software is what a NodeInfo document says the server runs.
type software struct {
	Name, Version string
}

// fetchNodeInfo reads scheme://domain/.well-known/nodeinfo and the newest
// 2.x schema document it links to on the same host.
func (r *Relay) fetchNodeInfo(ctx context.Context, scheme, domain string) (software, error) {
	b, err := r.get(ctx, scheme+"://"+domain+"/.well-known/nodeinfo", "application/json")
	if err != nil {
		return software{}, err
	}
	href, err := nodeInfoLink(b, domain)
	if err != nil {
		return software{}, err
	}
	b, err = r.get(ctx, href, "application/json")
	if err != nil {
		return software{}, err
	}
	return parseNodeInfo(b)
}

// nodeInfoLink picks the link of the highest 2.x schema from a
// .well-known/nodeinfo document (untrusted bytes); it must be on domain.
func nodeInfoLink(b []byte, domain string) (string, error) {
	var d struct {
		Links []struct {
			Rel  string `json:"rel"`
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return "", fmt.Errorf("nodeinfo discovery: %w", err)
	}
	const prefix = "http://nodeinfo.diaspora.software/ns/schema/2."
	best, bestRel := "", ""
	for _, l := range d.Links {
		if !strings.HasPrefix(l.Rel, prefix) || l.Rel <= bestRel {
			continue
		}
		h, err := activity.Host(l.Href)
		if err != nil || h != domain {
			continue
		}
		best, bestRel = l.Href, l.Rel
	}
	if best == "" {
		return "", fmt.Errorf("nodeinfo discovery lists no 2.x schema on %s", domain)
	}
	return best, nil
}

// parseNodeInfo reads software.name and software.version (untrusted
// bytes), each cut to 64 bytes of printable text.
func parseNodeInfo(b []byte) (software, error) {
	var d struct {
		Software struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"software"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return software{}, fmt.Errorf("nodeinfo: %w", err)
	}
	if d.Software.Name == "" {
		return software{}, errors.New("nodeinfo without software.name")
	}
	return software{Name: clean(d.Software.Name), Version: clean(d.Software.Version)}, nil
}

func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64] // a rune cut in two is dropped below
	}
	return strings.ToValidUTF8(s, "")
}

// updateSoftware fetches domain's NodeInfo and stores what it says; errors
// are logged (the column stays empty and is retried on the next follow).
func (r *Relay) updateSoftware(ctx context.Context, actorID, domain string) {
	scheme := "https"
	if strings.HasPrefix(actorID, "http://") {
		scheme = "http"
	}
	sw, err := r.fetchNodeInfo(ctx, scheme, domain)
	if err != nil {
		r.log.Info("relay: subscriber's NodeInfo unavailable", "domain", domain, "err", err)
		return
	}
	if err := r.o.DB.SetRelaySoftware(ctx, domain, sw.Name, sw.Version); err != nil {
		r.log.Warn("relay: storing subscriber software", "domain", domain, "err", err)
		return
	}
	_ = r.refresh(ctx)
}
