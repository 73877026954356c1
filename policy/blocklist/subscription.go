package blocklist

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// Fetcher gets a blocklist body. etag and lastModified are what the
// previous fetch returned ("" if none); when the server answers that
// nothing changed, Fetch returns notModified with body nil. newETag and
// newLastModified are the validators to send next time. Implementations
// must honour ctx and bound the body size. HTTPFetcher is the one the
// appliance uses; tests may serve bytes from memory.
type Fetcher interface {
	Fetch(ctx context.Context, url, etag, lastModified string) (body []byte, newETag, newLastModified string, notModified bool, err error)
}

// Subscription is a blocklist URL the instance follows.
type Subscription struct {
	ID  string `json:"id" yaml:"id"`
	URL string `json:"url" yaml:"url"`
	// Format of the body; "" or FormatAuto detects it from the content
	// (and the URL's path as a hint).
	Format Format `json:"format,omitempty" yaml:"format,omitempty"`
	// Priority decides conflicts with other subscriptions: the higher
	// priority's severity and flags win (see Merge).
	Priority int `json:"priority,omitempty" yaml:"priority,omitempty"`
	// AutoApply applies each new version at once. Otherwise a new version
	// is a draft a moderator previews and approves (ApplyDraft).
	AutoApply bool `json:"auto_apply,omitempty" yaml:"auto_apply,omitempty"`
	// Excludes are domains never taken from this list; each covers its
	// subdomains too.
	Excludes []string `json:"excludes,omitempty" yaml:"excludes,omitempty"`
}

// Validate checks the subscription's id, URL, format and excludes; the
// error names the field and the problem.
func (s Subscription) Validate() error {
	if strings.TrimSpace(s.ID) == "" {
		return fmt.Errorf("subscription %s: id is empty", s.URL)
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("subscription %s: url %q is not an http(s) URL", s.ID, s.URL)
	}
	if _, err := ParseFormat(string(s.Format)); err != nil {
		return fmt.Errorf("subscription %s: %v", s.ID, err)
	}
	for _, x := range s.Excludes {
		if _, err := NormalizeDomain(x); err != nil {
			return fmt.Errorf("subscription %s: exclude: %v", s.ID, err)
		}
	}
	return nil
}

// SubscriptionState is what a Syncer remembers about one subscription
// between runs. It marshals to JSON; persist it after every Sync.
type SubscriptionState struct {
	ID string `json:"id"`
	// URL is the address the validators below belong to.
	URL          string `json:"url,omitempty"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	// Format is the format the body was last read as.
	Format Format `json:"format,omitempty"`
	// Fetched is the latest version read (excludes removed).
	Fetched List `json:"fetched"`
	// Applied is what this subscription currently contributes to the
	// applied, merged list. It differs from Fetched while a draft waits.
	Applied List `json:"applied"`
	// RowErrors are the rows of the latest version that could not be read.
	RowErrors []RowError `json:"row_errors,omitempty"`
	CheckedAt time.Time  `json:"checked_at,omitzero"`
	// ChangedAt is when a fetch last brought different content.
	ChangedAt time.Time `json:"changed_at,omitzero"`
	// LastError is the latest fetch or read failure, "" after a success.
	LastError string `json:"last_error,omitempty"`
}

// ApplyDraft returns st with its pending version applied: what a moderator
// approving the draft does. Persist the result and re-merge (MergeApplied).
func ApplyDraft(st SubscriptionState) SubscriptionState {
	st.Applied = st.Fetched
	return st
}

// Draft is one subscription's outcome of a Sync.
type Draft struct {
	SubscriptionID string `json:"subscription_id"`
	Format         Format `json:"format,omitempty"`
	// List is the subscription's latest version, excludes removed.
	List List `json:"list"`
	// Changes go from what the subscription contributed before this Sync to
	// List. Changes.Removed are retractions: domains the list dropped.
	Changes   Changes    `json:"changes"`
	RowErrors []RowError `json:"row_errors,omitempty"`
	// NotModified is set when the server said nothing changed.
	NotModified bool `json:"not_modified,omitempty"`
	// Err is why fetching or reading failed; the previous version stays.
	Err string `json:"error,omitempty"`
	// Applied is set when this Sync applied List (AutoApply, not held).
	Applied bool `json:"applied,omitempty"`
	// Held says why an AutoApply subscription's version was not applied.
	Held string `json:"held,omitempty"`
}

// Pending reports whether the draft waits for a moderator.
func (d Draft) Pending() bool { return !d.Applied && !d.Changes.Empty() }

// SyncResult is the outcome of one Sync over all subscriptions.
type SyncResult struct {
	// Drafts has one entry per subscription, in the order given.
	Drafts []Draft
	// States are the new states, one per subscription, in the order given;
	// the caller MUST persist them (states of subscriptions no longer
	// configured are dropped, and their entries retracted).
	States []SubscriptionState
	// Applied is the merged list of every subscription's applied
	// contribution: what the domain table should hold from subscriptions.
	Applied MergeResult
	// AppliedChanges go from the previous applied merge to Applied. The
	// caller applies them to its domain table; Removed are retractions.
	AppliedChanges Changes
	// Preview is the merge as if every pending draft were approved, and
	// PreviewChanges its difference from the previous applied merge.
	Preview        MergeResult
	PreviewChanges Changes
}

// Syncer refreshes subscriptions. Its fields are read-only during Sync;
// one Syncer may run Syncs one at a time.
type Syncer struct {
	Fetcher Fetcher
	Merge   MergeOptions
	// MaxAutoRetract holds an AutoApply version as a draft when it would
	// retract more than this fraction of the subscription's applied entries
	// (a list server returning an empty or truncated file should not
	// unblock everything). 0 means 0.5; a negative value disables the guard.
	MaxAutoRetract float64
	// Concurrency bounds parallel fetches; 0 means 4.
	Concurrency int
	// Now returns the time; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Sync fetches every subscription (conditionally, with the stored ETag and
// Last-Modified), reads it, applies excludes, and produces a Draft per
// subscription and the merged results. prev are the states from the last
// Sync (any order, missing ones mean never fetched). A failure of one
// subscription keeps its previous version and is reported in its Draft.
func (s *Syncer) Sync(ctx context.Context, subs []Subscription, prev []SubscriptionState) SyncResult {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	byID := make(map[string]SubscriptionState, len(prev))
	for _, st := range prev {
		byID[st.ID] = st
	}
	res := SyncResult{Drafts: make([]Draft, len(subs)), States: make([]SubscriptionState, len(subs))}
	g, gctx := errgroup.WithContext(ctx)
	limit := s.Concurrency
	if limit <= 0 {
		limit = 4
	}
	g.SetLimit(limit)
	for i, sub := range subs {
		g.Go(func() error {
			st := byID[sub.ID]
			st.ID = sub.ID
			res.Drafts[i], res.States[i] = s.syncOne(gctx, sub, st, now(), log)
			return nil // failures are per subscription, in the Draft
		})
	}
	_ = g.Wait()

	oldMerge := MergeDetail(statesAsSources(subs, prev, false), s.Merge)
	res.Applied = MergeDetail(statesAsSources(subs, res.States, false), s.Merge)
	res.Preview = MergeDetail(statesAsSources(subs, res.States, true), s.Merge)
	res.AppliedChanges = Diff(oldMerge.List, res.Applied.List)
	res.PreviewChanges = Diff(oldMerge.List, res.Preview.List)
	return res
}

// MergeApplied merges the applied contributions of states, after a
// moderator approved drafts with ApplyDraft.
func MergeApplied(subs []Subscription, states []SubscriptionState, opts MergeOptions) MergeResult {
	return MergeDetail(statesAsSources(subs, states, false), opts)
}

// statesAsSources pairs states with their subscriptions' priorities. A
// state whose subscription is gone still counts (priority 0) only in the
// previous merge, which is how its entries show up as retractions.
func statesAsSources(subs []Subscription, states []SubscriptionState, fetched bool) []SourceList {
	prio := make(map[string]int, len(subs))
	for _, s := range subs {
		prio[s.ID] = s.Priority
	}
	out := make([]SourceList, 0, len(states))
	for _, st := range states {
		l := st.Applied
		if fetched {
			l = st.Fetched
		}
		out = append(out, SourceList{Name: st.ID, Priority: prio[st.ID], List: l})
	}
	return out
}

func (s *Syncer) syncOne(ctx context.Context, sub Subscription, st SubscriptionState, now time.Time, log *slog.Logger) (Draft, SubscriptionState) {
	d := Draft{SubscriptionID: sub.ID}
	st.CheckedAt = now
	excl := compileExcludes(sub.Excludes, log.With("subscription", sub.ID))
	fail := func(err error) (Draft, SubscriptionState) {
		log.Warn("blocklist subscription failed; keeping its previous version", "subscription", sub.ID, "url", sub.URL, "err", err)
		st.LastError = err.Error()
		st.Fetched = excl.apply(st.Fetched)
		st.Applied = excl.apply(st.Applied)
		d.Err, d.Format, d.List, d.RowErrors = st.LastError, st.Format, st.Fetched, st.RowErrors
		d.Changes = Diff(st.Applied, st.Fetched)
		return d, st
	}
	if s.Fetcher == nil {
		return fail(fmt.Errorf("no fetcher configured"))
	}
	// Validators only describe what was read from this URL in this format:
	// after either changes in the configuration, fetch and read in full.
	if st.URL != sub.URL || (sub.Format != "" && sub.Format != FormatAuto && sub.Format != st.Format) {
		st.ETag, st.LastModified = "", ""
	}
	body, etag, lastMod, notModified, err := s.Fetcher.Fetch(ctx, sub.URL, st.ETag, st.LastModified)
	if err != nil {
		return fail(fmt.Errorf("fetching %s: %w", sub.URL, err))
	}
	if notModified {
		d.NotModified = true
		if etag != "" {
			st.ETag = etag
		}
		if lastMod != "" {
			st.LastModified = lastMod
		}
	} else {
		f := sub.Format
		if f == "" || f == FormatAuto {
			f = Detect(urlPath(sub.URL), body)
			if f == "" {
				return fail(fmt.Errorf("%s: cannot tell the blocklist format from the content; set the subscription's format", sub.URL))
			}
		}
		list, rowErrs, err := Parse(f, body)
		if err != nil {
			// The validators are not stored: the next Sync fetches in full
			// instead of being told "not modified" about a broken file.
			return fail(fmt.Errorf("%s: %w", sub.URL, err))
		}
		if len(rowErrs) > 0 {
			log.Warn("blocklist rows skipped", "subscription", sub.ID, "url", sub.URL, "rows", len(rowErrs), "first", rowErrs[0].Error())
		}
		if !Diff(st.Fetched, excl.apply(list)).Empty() || st.ChangedAt.IsZero() {
			st.ChangedAt = now
		}
		st.ETag, st.LastModified, st.Format, st.URL = etag, lastMod, f, sub.URL
		st.Fetched, st.RowErrors = list, rowErrs
	}
	st.LastError = ""
	st.Fetched = excl.apply(st.Fetched)
	st.Applied = excl.apply(st.Applied)
	d.Format, d.List, d.RowErrors = st.Format, st.Fetched, st.RowErrors
	d.Changes = Diff(st.Applied, st.Fetched)
	if sub.AutoApply {
		if held := s.holdReason(st, d.Changes); held != "" {
			d.Held = held
			log.Warn("blocklist update held for review", "subscription", sub.ID, "reason", held)
		} else {
			st.Applied = st.Fetched
			d.Applied = true
		}
	}
	return d, st
}

func (s *Syncer) holdReason(st SubscriptionState, c Changes) string {
	limit := s.MaxAutoRetract
	if limit == 0 {
		limit = 0.5
	}
	if limit < 0 || len(st.Applied.Entries) == 0 {
		return ""
	}
	if frac := float64(len(c.Removed)) / float64(len(st.Applied.Entries)); frac > limit {
		return fmt.Sprintf("this version retracts %d of the %d domains applied from the list (more than %.0f%%); approve it if the list really dropped them",
			len(c.Removed), len(st.Applied.Entries), limit*100)
	}
	return ""
}

func urlPath(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Path
	}
	return raw
}

// excludes is a compiled set of excluded domains.
type excludes struct {
	domains map[string]bool
	digests map[string]bool
}

func compileExcludes(xs []string, log *slog.Logger) excludes {
	e := excludes{domains: map[string]bool{}, digests: map[string]bool{}}
	for _, x := range xs {
		d, err := NormalizeDomain(x)
		if err != nil {
			log.Warn("ignoring invalid exclude", "err", err)
			continue
		}
		d = strings.TrimPrefix(d, "*.")
		e.domains[d] = true
		e.digests[DomainDigest(d)] = true
	}
	return e
}

// covers reports whether an exclude covers the entry: its domain or a
// parent of it, or, for a digest-only entry, its digest.
func (e excludes) covers(en Entry) bool {
	if en.DigestOnly() {
		return e.digests[en.Digest]
	}
	d := strings.TrimPrefix(en.Domain, "*.")
	for {
		if e.domains[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}

func (e excludes) apply(l List) List {
	if len(e.domains) == 0 {
		return l
	}
	out := List{Allow: l.Allow, Entries: make([]Entry, 0, len(l.Entries))}
	for _, en := range l.Entries {
		if !e.covers(en) {
			out.Entries = append(out.Entries, en)
		}
	}
	return out
}
