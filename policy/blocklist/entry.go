package blocklist

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// Severity is how hard a domain is blocked. The zero value is not a valid
// severity; Parse fills SeveritySuspend where a format leaves it out, as
// Mastodon does.
type Severity string

const (
	// SeverityNoop records a domain without limiting it (Mastodon uses it
	// to carry reject_media/reject_reports alone).
	SeverityNoop Severity = "noop"
	// SeveritySilence limits the domain: hidden from public timelines,
	// follows become requests (Mastodon "limit").
	SeveritySilence Severity = "silence"
	// SeveritySuspend refuses the domain entirely.
	SeveritySuspend Severity = "suspend"
)

// Rank orders severities: noop 0 < silence 1 < suspend 2. An unknown
// severity ranks -1.
func (s Severity) Rank() int {
	switch s {
	case SeverityNoop:
		return 0
	case SeveritySilence:
		return 1
	case SeveritySuspend:
		return 2
	}
	return -1
}

// Valid reports whether s is one of the three severities.
func (s Severity) Valid() bool { return s.Rank() >= 0 }

// ParseSeverity reads a severity as blocklists spell it. Empty means
// suspend (Mastodon's CSV import treats a missing severity that way);
// "limit" is the name Mastodon's web UI and some lists use for silence, and
// "none" is accepted for noop.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "suspend":
		return SeveritySuspend, nil
	case "silence", "limit":
		return SeveritySilence, nil
	case "noop", "none":
		return SeverityNoop, nil
	}
	return "", fmt.Errorf("unknown severity %q (want suspend, silence or noop)", s)
}

// Entry is one domain in a blocklist (or allowlist, see List.Allow).
//
// Domain is normalised: lowercase, IDNA A-label (punycode), no trailing dot,
// optionally prefixed by "*." for lists that spell wildcards. For entries
// read from Mastodon's public JSON with obfuscation on, Domain is the masked
// form ("ex***le.com") and the real domain is known only by Digest; see
// DigestOnly.
type Entry struct {
	Domain         string   `json:"domain" yaml:"domain"`
	Severity       Severity `json:"severity" yaml:"severity"`
	RejectMedia    bool     `json:"reject_media,omitempty" yaml:"reject_media,omitempty"`
	RejectReports  bool     `json:"reject_reports,omitempty" yaml:"reject_reports,omitempty"`
	PublicComment  string   `json:"public_comment,omitempty" yaml:"public_comment,omitempty"`
	PrivateComment string   `json:"private_comment,omitempty" yaml:"private_comment,omitempty"`
	// Obfuscate asks that the domain be published masked.
	Obfuscate bool `json:"obfuscate,omitempty" yaml:"obfuscate,omitempty"`
	// Digest is the lowercase hex SHA-256 of Domain. Parse and NewList set
	// it on every entry; for a DigestOnly entry it is the entry's only
	// identity. Whoever builds an Entry by hand MUST leave it empty or set
	// it to DomainDigest(Domain): lists are keyed by it.
	Digest string `json:"digest,omitempty" yaml:"digest,omitempty"`
}

// DigestOnly reports whether the entry's real domain is unknown (its Domain
// is a masked form like "ex***le.com"). Such entries can be matched only by
// comparing DomainDigest(candidate) with Digest.
func (e Entry) DigestOnly() bool { return isMasked(e.Domain) }

// key identifies the entry across lists: the digest of its domain. Parse
// and NewList always set Digest; a hand-built Entry without one gets it
// computed here (slower: one SHA-256 per call).
func (e Entry) key() string {
	if e.Digest != "" || e.DigestOnly() {
		return e.Digest
	}
	return DomainDigest(e.Domain)
}

// Matches reports whether the entry names domain (a normalised domain),
// comparing digests for DigestOnly entries. Subdomain matching is the
// policy engine's business, not this one's.
func (e Entry) Matches(domain string) bool {
	if e.DigestOnly() {
		return e.Digest == DomainDigest(domain)
	}
	return e.Domain == domain
}

// DomainDigest returns the lowercase hex SHA-256 of domain, as Mastodon
// computes it for /api/v1/instance/domain_blocks.
func DomainDigest(domain string) string {
	sum := sha256.Sum256([]byte(domain))
	return hex.EncodeToString(sum[:])
}

// List is a parsed blocklist. Entries keep the order of the source; each
// domain appears at most once.
type List struct {
	// Allow is true for domain allowlists (Mastodon's allowlist federation
	// mode): entries name domains to federate with, and Severity is unused.
	Allow   bool    `json:"allow,omitempty" yaml:"allow,omitempty"`
	Entries []Entry `json:"entries" yaml:"entries"`
}

// Len returns the number of entries.
func (l List) Len() int { return len(l.Entries) }

// WithoutDigestOnly returns l without its DigestOnly entries, which formats
// that carry no digest cannot represent.
func (l List) WithoutDigestOnly() List {
	out := List{Allow: l.Allow}
	for _, e := range l.Entries {
		if !e.DigestOnly() {
			out.Entries = append(out.Entries, e)
		}
	}
	return out
}

// index maps each entry's key to its position.
func (l List) index() map[string]int {
	m := make(map[string]int, len(l.Entries))
	for i, e := range l.Entries {
		m[e.key()] = i
	}
	return m
}

// idnaProfile converts to A-labels, lowercases and applies the STD3 rules
// (letters, digits, hyphen) that hostnames follow.
var idnaProfile = idna.Lookup

// NormalizeDomain returns domain in the form entries store it: trimmed,
// lowercase, IDNA A-labels, trailing dot removed. A leading "*." is kept
// (some lists spell wildcards that way). The error names the bad value and
// what is wrong with it.
func NormalizeDomain(domain string) (string, error) {
	s := strings.TrimSpace(domain)
	if s == "" {
		return "", fmt.Errorf("empty domain")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?@") {
		return "", fmt.Errorf("%q looks like a URL or an account, not a domain: give the bare domain (e.g. example.com)", clip(s))
	}
	if looksLikeIP(s) {
		if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
			return "", fmt.Errorf("%q is an IP address; domain blocks take domain names", clip(s))
		}
	}
	if strings.Contains(s, ":") {
		return "", fmt.Errorf("%q has a port; give the domain alone", clip(s))
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return "", fmt.Errorf("%q has a space in it; give one domain (e.g. example.com)", clip(s))
	}
	wildcard := ""
	if strings.HasPrefix(s, "*.") {
		wildcard, s = "*.", s[2:]
	}
	s = strings.TrimSuffix(s, ".")
	if d, ok := plainASCII(s); ok {
		return wildcard + d, nil
	}
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("%q has a \"*\" inside it: only a leading \"*.\" wildcard is allowed (masked domains like ex***le.com need a digest)", clip(domain))
	}
	ascii, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid domain name: %v", clip(domain), err)
	}
	ascii = strings.ToLower(ascii)
	// ToASCII is not idempotent on every input: some produce A-labels it
	// refuses to read back (e.g. "xn--zn7c"). A stored domain must
	// normalise to itself, or two spellings of one block would differ.
	if again, err := idnaProfile.ToASCII(ascii); err != nil || again != ascii {
		return "", fmt.Errorf("%q is not a valid internationalised domain name", clip(domain))
	}
	if err := checkHostname(ascii); err != nil {
		return "", fmt.Errorf("%q is not a valid domain name: %v", clip(domain), err)
	}
	return wildcard + ascii, nil
}

// plainASCII is NormalizeDomain's fast path for the common case, a domain
// of ASCII letters, digits and hyphens with no A-label: lowercasing is all
// IDNA would do to it. It declines (ok false) anything IDNA must look at:
// non-ASCII, "xn--" or any "--" in positions 3–4, a hyphen at either end
// of a label, and anything checkHostname would refuse.
func plainASCII(s string) (string, bool) {
	if len(s) == 0 || len(s) > 253 {
		return "", false
	}
	dots, labelStart := 0, 0
	lower := true
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			label := s[labelStart:i]
			if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
				(len(label) >= 4 && label[2] == '-' && label[3] == '-') {
				return "", false
			}
			if i < len(s) {
				dots++
			}
			labelStart = i + 1
			continue
		}
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= 'A' && c <= 'Z':
			lower = false
		default:
			return "", false
		}
	}
	if dots == 0 {
		return "", false
	}
	if !lower {
		s = strings.ToLower(s)
	}
	return s, true
}

// looksLikeIP is a cheap filter before netip.ParseAddr, whose error for
// every ordinary domain would cost an allocation.
func looksLikeIP(s string) bool {
	if strings.ContainsAny(s, ":[") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '.') {
			return false
		}
	}
	return true
}

func checkHostname(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	if !strings.Contains(s, ".") {
		return fmt.Errorf("it has a single label; a domain needs a dot (e.g. example.com)")
	}
	labels := 0
	for label := range strings.SplitSeq(s, ".") {
		labels++
		if label == "" {
			return fmt.Errorf("empty label")
		}
		if len(label) > 63 {
			return fmt.Errorf("label longer than 63 characters")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("character %q not allowed", c)
			}
		}
	}
	return nil
}

// isMasked reports whether d is an obfuscated domain: it has a '*' other
// than a leading "*." wildcard.
func isMasked(d string) bool {
	return strings.Contains(strings.TrimPrefix(d, "*."), "*")
}

// normalizeMasked checks a masked domain (as Mastodon's public API prints
// obfuscated blocks) and its digest.
func normalizeMasked(domain, digest string) (string, string, error) {
	d := strings.ToLower(strings.TrimSpace(domain))
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '*') {
			return "", "", fmt.Errorf("masked domain %q has character %q", clip(domain), c)
		}
	}
	if len(d) > 253 {
		return "", "", fmt.Errorf("masked domain %q is longer than 253 characters", clip(domain))
	}
	g, err := normalizeDigest(digest)
	if err != nil {
		return "", "", fmt.Errorf("masked domain %q: %v; without it the entry cannot be matched", clip(domain), err)
	}
	return d, g, nil
}

func normalizeDigest(digest string) (string, error) {
	g := strings.ToLower(strings.TrimSpace(digest))
	if g == "" {
		return "", fmt.Errorf("digest is missing")
	}
	if len(g) != 64 {
		return "", fmt.Errorf("digest %q is not 64 hex digits (SHA-256)", clip(digest))
	}
	if _, err := hex.DecodeString(g); err != nil {
		return "", fmt.Errorf("digest %q is not hex", clip(digest))
	}
	return g, nil
}

// MaskDomain returns domain with its middle replaced by asterisks, the way
// Mastodon publishes obfuscated blocks: a quarter in, half the length
// masked, dots kept so the shape stays readable.
func MaskDomain(domain string) string {
	if isMasked(domain) {
		return domain
	}
	b := []byte(domain)
	n := len(b)
	start, count := n/4, n/2
	if count == 0 {
		count = 1
	}
	masked := 0
	for i := start; i < n && masked < count; i++ {
		if b[i] != '.' {
			b[i] = '*'
			masked++
		}
	}
	if !isMasked(string(b)) { // e.g. "*.a" with nothing left to hide
		return string(b) + "*"
	}
	return string(b)
}

// cleanComment makes a comment stable across formats: surrounding space
// trimmed, CRLF folded to LF (encoding/csv does that inside quoted fields)
// and invalid UTF-8 replaced (JSON encoders do that).
func cleanComment(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.TrimSpace(s)
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
