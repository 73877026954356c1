package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrNoActorLink is wrapped when a WebFinger answer names no ActivityPub
// actor (no rel=self link of an ActivityStreams type).
var ErrNoActorLink = errors.New("fetch: webfinger answer has no ActivityPub actor link")

// SplitAcct splits "user@host" (an optional leading "@" or "acct:" is
// dropped) into its parts, lower-casing the host.
func SplitAcct(acct string) (user, host string, err error) {
	s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(acct), "acct:"), "@")
	user, host, ok := strings.Cut(s, "@")
	if !ok || user == "" || host == "" || strings.ContainsAny(user, "/?#@ ") || strings.ContainsAny(host, "/?#@ ") {
		return "", "", fmt.Errorf("fetch: %q is not an account handle like user@host", acct)
	}
	return user, strings.ToLower(host), nil
}

// WebFinger asks host of acct ("user@host") for the account's actor id,
// through the Getter (same gate, guard and caps as every fetch). scheme is
// "https", or "http" on test networks whose Getter allows it. The id is
// not trusted beyond being a pointer: fetch the actor (Actor) to learn
// who it is.
func (f *Fetcher) WebFinger(ctx context.Context, acct, scheme string) (string, error) {
	user, host, err := SplitAcct(acct)
	if err != nil {
		return "", err
	}
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("fetch: webfinger scheme %q (want https or http)", scheme)
	}
	u := scheme + "://" + host + "/.well-known/webfinger?resource=" + url.QueryEscape("acct:"+user+"@"+host)
	body, err := f.get(ctx, u)
	if err != nil {
		return "", fmt.Errorf("fetch: webfinger %s@%s: %w", user, host, err)
	}
	return ParseWebFinger(body)
}

// ParseWebFinger returns the ActivityPub actor id of a WebFinger (JRD)
// answer: the href of its rel="self" link whose type is
// application/activity+json or the ld+json ActivityStreams profile.
func ParseWebFinger(body []byte) (string, error) {
	var jrd struct {
		Subject string `json:"subject"`
		Links   []struct {
			Rel  string `json:"rel"`
			Type string `json:"type"`
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := json.Unmarshal(body, &jrd); err != nil {
		return "", fmt.Errorf("fetch: webfinger answer is not JSON: %w", err)
	}
	for _, l := range jrd.Links {
		if l.Rel != "self" {
			continue
		}
		t := strings.ToLower(strings.ReplaceAll(l.Type, " ", ""))
		if t != "application/activity+json" && !strings.HasPrefix(t, "application/ld+json") {
			continue
		}
		if !strings.HasPrefix(l.Href, "https://") && !strings.HasPrefix(l.Href, "http://") {
			return "", fmt.Errorf("fetch: webfinger self link %q is not an http(s) URL", l.Href)
		}
		return l.Href, nil
	}
	return "", ErrNoActorLink
}
