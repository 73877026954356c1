package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unsafe"
)

// DomainEntry is one row of the domain table: what this instance does with a
// remote domain and its subdomains.
//
// Domain is an ASCII (punycode) host name, "example.com", or a wildcard
// "*.example.com" that matches strict subdomains only. An entry whose domain
// is not known in the clear (a list that publishes obfuscated names such as
// "ex*mple.com") carries Digest, the hex SHA-256 of the real domain, and is
// matched by digest; Domain is then only shown to people.
type DomainEntry struct {
	Domain         string
	Digest         string // hex SHA-256 of the domain; set when Domain is obfuscated
	Severity       Severity
	RejectMedia    bool // strip attachments (Mastodon reject_media)
	RejectReports  bool // drop Flag activities from the domain
	StripAvatar    bool // drop avatars of the domain's actors
	StripHeader    bool // drop banners of the domain's actors
	ForceSensitive bool // mark the domain's media sensitive
	Delist         bool // keep the domain's posts out of public timelines
	FollowersOnly  bool // lower the domain's posts to followers-only
	RejectDeletes  bool // drop Delete activities from the domain
	PublicComment  string
	PrivateComment string
	Obfuscate      bool // publish the domain obfuscated (shown as ex*mple.com) with its digest
	// Source says where the entry came from: "config", "file:x.yaml",
	// "subscription:N", "api". It is shown in explanations.
	Source string
}

// DomainDigest returns the hex SHA-256 of a normalised domain, the form
// Mastodon publishes for obfuscated blocks.
func DomainDigest(domain string) string {
	h := sha256.Sum256([]byte(NormalizeHost(domain)))
	return hex.EncodeToString(h[:])
}

// NormalizeHost lowercases a host, strips a port and a trailing dot. It
// allocates only when the host is not already in normal form.
func NormalizeHost(h string) string {
	h = strings.TrimSpace(h)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// maxHost is the longest DNS name; longer hosts cannot be in the table.
const maxHost = 253

// normalizeInto returns the normal form of h (see NormalizeHost) without
// allocating: h itself (or a substring) when it is already lowercase,
// otherwise a lowercased copy in buf. The result aliases buf, so it MUST NOT
// outlive the call that owns buf nor be stored. It returns "" for a host too
// long to be in any table.
func normalizeInto(buf *[maxHost]byte, h string) string {
	// Strip a port; bracketed IPv6 literals keep their colons.
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	if len(h) > maxHost {
		return ""
	}
	upper := false
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			upper = true
			break
		}
	}
	if !upper {
		return h
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return unsafe.String(&buf[0], len(h))
}

// domainTable is the compiled, immutable domain table.
//
// A lookup walks the host's suffixes from the most specific ("a.b.example.com",
// "b.example.com", "example.com", "com") and stops at the first level that
// has an entry, so the most specific entry wins. At one level a wildcard
// "*.example.com" beats a plain "example.com" for strict subdomains, because
// it was written about them; the plain entry alone still covers subdomains,
// as Mastodon's domain blocks do.
type domainTable struct {
	entries []DomainEntry
	exact   map[string]int32   // domain → entry; matches it and its subdomains
	wild    map[string]int32   // "example.com" for "*.example.com" → entry; subdomains only
	digest  map[[32]byte]int32 // SHA-256 of domain → entry, for obfuscated entries
}

// domainSet is a set of domains with the same matching rules, used for the
// allowlist and for rule conditions.
type domainSet struct {
	exact map[string]struct{}
	wild  map[string]struct{}
}

func (s *domainSet) empty() bool { return len(s.exact) == 0 && len(s.wild) == 0 }

func (s *domainSet) add(d string) error {
	d = NormalizeHost(d)
	wild := false
	if rest, ok := strings.CutPrefix(d, "*."); ok {
		d, wild = rest, true
	}
	if err := checkDomain(d); err != nil {
		return err
	}
	if wild {
		if s.wild == nil {
			s.wild = map[string]struct{}{}
		}
		s.wild[d] = struct{}{}
	} else {
		if s.exact == nil {
			s.exact = map[string]struct{}{}
		}
		s.exact[d] = struct{}{}
	}
	return nil
}

// match reports whether host (already normalised) or a parent is in the set.
func (s *domainSet) match(host string) bool {
	if s.empty() {
		return false
	}
	for i, sub := 0, false; ; sub = true {
		suffix := host[i:]
		if _, ok := s.exact[suffix]; ok {
			return true
		}
		if sub {
			if _, ok := s.wild[suffix]; ok {
				return true
			}
		}
		j := strings.IndexByte(suffix, '.')
		if j < 0 {
			return false
		}
		i += j + 1
	}
}

// checkDomain refuses strings that cannot be a host name, so a typo in a
// rule or table does not silently match nothing.
func checkDomain(d string) error {
	if d == "" {
		return fmt.Errorf("empty domain")
	}
	if len(d) > maxHost {
		return fmt.Errorf("domain %.40q... is longer than %d characters", d, maxHost)
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		case c >= 0x80:
			return fmt.Errorf("domain %q is not ASCII: write it in punycode (xn--...)", d)
		default:
			return fmt.Errorf("domain %q contains %q: want a host name such as example.com or *.example.com", d, c)
		}
	}
	if d[0] == '.' || strings.Contains(d, "..") {
		return fmt.Errorf("domain %q has an empty label", d)
	}
	return nil
}

// isObfuscated reports whether d is an obfuscated display form ("ex*mple.com")
// rather than a domain or a leading wildcard.
func isObfuscated(d string) bool {
	return strings.Contains(strings.TrimPrefix(d, "*."), "*")
}

func buildDomainTable(entries []DomainEntry) (*domainTable, error) {
	t := &domainTable{
		entries: make([]DomainEntry, 0, len(entries)),
		exact:   make(map[string]int32, len(entries)),
	}
	for i := range entries {
		e := entries[i]
		where := e.Source
		if where == "" {
			where = "domain table"
		}
		d := NormalizeHost(e.Domain)
		if e.Severity > SeveritySuspend {
			return nil, fmt.Errorf("%s: %s: invalid severity %d", where, e.Domain, e.Severity)
		}
		if d == "" || isObfuscated(d) {
			// Known only by digest.
			dg, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(e.Digest)))
			if err != nil || len(dg) != sha256.Size {
				return nil, fmt.Errorf("%s: entry %q has no usable domain and digest %q is not a hex SHA-256 (64 hex digits)", where, e.Domain, e.Digest)
			}
			if t.digest == nil {
				t.digest = map[[32]byte]int32{}
			}
			var k [32]byte
			copy(k[:], dg)
			idx := int32(len(t.entries))
			t.entries = append(t.entries, e)
			t.digest[k] = idx
			continue
		}
		wild := false
		if rest, ok := strings.CutPrefix(d, "*."); ok {
			d, wild = rest, true
		}
		if err := checkDomain(d); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		m := t.exact
		if wild {
			if t.wild == nil {
				t.wild = map[string]int32{}
			}
			m = t.wild
		}
		e.Domain = d
		if wild {
			e.Domain = "*." + d
		}
		if prev, dup := m[d]; dup {
			// Later entries replace earlier ones: the caller orders its
			// sources (config, files, subscriptions, API) so the last word
			// is the most deliberate one.
			t.entries[prev] = e
			continue
		}
		idx := int32(len(t.entries))
		t.entries = append(t.entries, e)
		m[d] = idx
	}
	return t, nil
}

// lookup returns the index of the most specific entry for a normalised
// host, or -1.
func (t *domainTable) lookup(host string) int32 {
	if len(t.entries) == 0 || host == "" {
		return -1
	}
	for i, sub := 0, false; ; sub = true {
		suffix := host[i:]
		if sub && t.wild != nil {
			if idx, ok := t.wild[suffix]; ok {
				return idx
			}
		}
		if idx, ok := t.exact[suffix]; ok {
			return idx
		}
		if t.digest != nil {
			// sha256.Sum256 of a string conversion does not escape, so this
			// does not allocate; it costs a hash per level and only runs when
			// obfuscated entries exist.
			if idx, ok := t.digest[sha256.Sum256([]byte(suffix))]; ok {
				return idx
			}
		}
		j := strings.IndexByte(suffix, '.')
		if j < 0 {
			return -1
		}
		i += j + 1
	}
}

// GateResult is the domain gate's answer for one host.
type GateResult struct {
	// Refuse is true when nothing may be accepted from, fetched from or
	// delivered to the host.
	Refuse bool
	// Reason is a stable reason code: "domain_suspended" or
	// "not_allowlisted" when refused, "" otherwise.
	Reason string
	// Entry is the most specific domain entry for the host, or nil. It
	// points into the snapshot and MUST NOT be modified; it stays valid as
	// long as the caller holds the snapshot.
	Entry *DomainEntry
}

// Reason codes of the domain gate and domain policy. They are stable:
// dashboards and decision logs refer to them.
const (
	ReasonDomainSuspended = "domain_suspended"
	ReasonNotAllowlisted  = "not_allowlisted"
)

// Gate is the ingress domain gate, consulted before any key is fetched and
// by every outbound path. A suspended host is refused; in allowlist mode a
// host outside the allowlist is refused too. Suspension always beats an
// allow: allowing example.com and suspending bad.example.com refuses
// bad.example.com.
//
// Gate does not allocate and is safe for concurrent use.
func (s *Snapshot) Gate(host string) GateResult {
	var buf [maxHost]byte
	h := normalizeInto(&buf, host)
	if h == "" {
		// Unusable host: nothing can be allowed for it.
		return GateResult{Refuse: true, Reason: ReasonNotAllowlisted}
	}
	r, _ := s.gate(h)
	return r
}

// gate is Gate for a normalised host; it also returns the entry's index
// (-1 without one).
func (s *Snapshot) gate(h string) (GateResult, int32) {
	var r GateResult
	idx := s.domains.lookup(h)
	if idx >= 0 {
		r.Entry = &s.domains.entries[idx]
		if r.Entry.Severity == SeveritySuspend {
			r.Refuse, r.Reason = true, ReasonDomainSuspended
			return r, idx
		}
	}
	if s.mode == Allowlist && !s.allows.match(h) {
		r.Refuse, r.Reason = true, ReasonNotAllowlisted
	}
	return r, idx
}

// Domain returns a copy of the most specific entry matching host, if any.
func (s *Snapshot) Domain(host string) (DomainEntry, bool) {
	var buf [maxHost]byte
	h := normalizeInto(&buf, host)
	if h == "" {
		return DomainEntry{}, false
	}
	if idx := s.domains.lookup(h); idx >= 0 {
		return s.domains.entries[idx], true
	}
	return DomainEntry{}, false
}

// Domains returns the number of entries in the domain table.
func (s *Snapshot) Domains() int { return len(s.domains.entries) }
