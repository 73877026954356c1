package blocklist

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Format names a blocklist file format. The string values are what the CLI
// and subscription configuration accept.
type Format string

const (
	// FormatAuto asks Parse (and Syncer) to Detect the format.
	FormatAuto Format = "auto"
	// FormatMastodonCSV is Mastodon's domain-block export:
	// #domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate.
	// Also what Garden Fence, IFTAS, Oliphant and The Bad Space publish.
	FormatMastodonCSV Format = "mastodon-csv"
	// FormatMastodonAllowCSV is Mastodon's domain-allow export: #domain.
	FormatMastodonAllowCSV Format = "mastodon-allow-csv"
	// FormatCSV is plain CSV with a header row naming its columns
	// (domain,severity,... as FediBlockHole writes it).
	FormatCSV Format = "csv"
	// FormatText is one domain per line; '#' starts a comment.
	FormatText Format = "text"
	// FormatGoToSocialJSON is GoToSocial's domain-permission export:
	// [{domain, public_comment|comment, obfuscate}].
	FormatGoToSocialJSON Format = "gotosocial-json"
	// FormatMastodonAdminJSON is /api/v1/admin/domain_blocks.
	FormatMastodonAdminJSON Format = "mastodon-admin-json"
	// FormatMastodonPublicJSON is /api/v1/instance/domain_blocks.
	FormatMastodonPublicJSON Format = "mastodon-public-json"
	// FormatRapidBlockJSON is RapidBlock's {"blocks": {domain: {...}}}.
	FormatRapidBlockJSON Format = "rapidblock-json"
)

// Formats lists every concrete format, in the order help texts show them.
var Formats = []Format{
	FormatMastodonCSV, FormatMastodonAllowCSV, FormatCSV, FormatText,
	FormatGoToSocialJSON, FormatMastodonAdminJSON, FormatMastodonPublicJSON, FormatRapidBlockJSON,
}

// ParseFormat reads a format name; "" means FormatAuto.
func ParseFormat(s string) (Format, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || s == string(FormatAuto) {
		return FormatAuto, nil
	}
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown blocklist format %q (want auto or one of %s)", s, strings.Join(names, ", "))
}

// RowError reports one row that Parse could not read and skipped.
type RowError struct {
	// Line is the 1-based line the row starts on (for JSON formats, the
	// line of the element's opening brace or key).
	Line int `json:"line"`
	// Domain is the row's domain as written, when it could be told.
	Domain string `json:"domain,omitempty"`
	// Problem says what is wrong, for a human.
	Problem string `json:"problem"`
}

func (e RowError) Error() string {
	if e.Domain != "" && !strings.Contains(e.Problem, e.Domain) {
		return fmt.Sprintf("line %d: %s: %s", e.Line, clip(e.Domain), e.Problem)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Problem)
}

// Parse reads data in format f (FormatAuto detects it). Rows that cannot be
// read are skipped and returned as RowErrors, in file order: the caller MUST
// show them to whoever imports the list, since the returned List lacks
// those rows. A domain listed twice keeps its first row; the later one is a
// RowError. The error is non-nil only when the file as a whole cannot be read
// (wrong format, broken JSON, a plain CSV without header); the List is then
// empty.
func Parse(f Format, data []byte) (List, []RowError, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM, as spreadsheet exports add
	if f == FormatAuto || f == "" {
		f = Detect("", data)
		if f == "" {
			return List{}, nil, fmt.Errorf("cannot tell the blocklist format from the content; name it (one of %s)", formatNames())
		}
	}
	var b builder
	var err error
	switch f {
	case FormatMastodonCSV, FormatMastodonAllowCSV, FormatCSV, FormatText:
		b.hint(bytes.Count(data, []byte{'\n'}) + 1)
	}
	switch f {
	case FormatMastodonCSV:
		err = parseMastodonCSV(&b, data, false)
	case FormatMastodonAllowCSV:
		b.list.Allow = true
		err = parseMastodonCSV(&b, data, true)
	case FormatCSV:
		err = parsePlainCSV(&b, data)
	case FormatText:
		parseText(&b, data)
	case FormatGoToSocialJSON:
		err = parseGoToSocialJSON(&b, data)
	case FormatMastodonAdminJSON:
		err = parseMastodonAdminJSON(&b, data)
	case FormatMastodonPublicJSON:
		err = parseMastodonPublicJSON(&b, data)
	case FormatRapidBlockJSON:
		err = parseRapidBlockJSON(&b, data)
	default:
		return List{}, nil, fmt.Errorf("unknown blocklist format %q (want one of %s)", f, formatNames())
	}
	if err != nil {
		return List{}, nil, fmt.Errorf("reading %s: %w", f, err)
	}
	return b.list, b.errs, nil
}

func formatNames() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// builder accumulates entries and row errors, dropping duplicates.
type builder struct {
	list List
	errs []RowError
	seen map[string]int // key → line of first occurrence
}

// hint pre-sizes for about n entries (line-oriented formats know it from
// the line count), sparing the regrowth of a 100k-entry list.
func (b *builder) hint(n int) {
	n = min(n, 1<<20)
	b.list.Entries = make([]Entry, 0, n)
	b.seen = make(map[string]int, n)
}

func (b *builder) rowErr(line int, domain, format string, args ...any) {
	b.errs = append(b.errs, RowError{Line: line, Domain: domain, Problem: fmt.Sprintf(format, args...)})
}

// add normalises e (domain, digest, comments) and appends it, or records a
// RowError. rawDomain is the domain as written, for messages.
func (b *builder) add(line int, e Entry) {
	raw := e.Domain
	if isMasked(e.Domain) {
		d, g, err := normalizeMasked(e.Domain, e.Digest)
		if err != nil {
			b.rowErr(line, raw, "%v", err)
			return
		}
		e.Domain, e.Digest = d, g
		e.Obfuscate = true
	} else {
		d, err := NormalizeDomain(e.Domain)
		if err != nil {
			b.rowErr(line, raw, "%v", err)
			return
		}
		want := DomainDigest(d)
		if e.Digest != "" {
			g, err := normalizeDigest(e.Digest)
			if err != nil || g != want {
				b.rowErr(line, raw, "digest %q does not match the domain (want %s); the row is skipped because one of the two is wrong", clip(e.Digest), want)
				return
			}
		}
		e.Domain, e.Digest = d, want
	}
	if !e.Severity.Valid() {
		b.rowErr(line, raw, "unknown severity %q (want suspend, silence or noop)", e.Severity)
		return
	}
	if b.list.Allow {
		e.Severity = ""
	}
	e.PublicComment = cleanComment(e.PublicComment)
	e.PrivateComment = cleanComment(e.PrivateComment)
	if b.seen == nil {
		b.seen = map[string]int{}
	}
	k := e.key()
	if first, dup := b.seen[k]; dup {
		b.rowErr(line, raw, "%s is already listed on line %d; this row is skipped", e.Domain, first)
		return
	}
	b.seen[k] = line
	b.list.Entries = append(b.list.Entries, e)
}

// Dropped is an entry a format cannot carry, and why.
type Dropped struct {
	Entry  Entry
	Reason string
}

// Fit returns the part of l that format f can represent without changing
// what an importer would do, and the rest with reasons. Fields a format has
// no column for (private comments, and reject flags in formats without
// severities) are left out silently, as Mastodon's own exports do; a
// severity a format cannot express, a domain it cannot name, or an
// obfuscated entry it would publish in clear is dropped.
func Fit(f Format, l List) (List, []Dropped) {
	out := List{Allow: l.Allow}
	var dropped []Dropped
	for _, e := range l.Entries {
		if r := unfit(f, l.Allow, e); r != "" {
			dropped = append(dropped, Dropped{Entry: e, Reason: r})
			continue
		}
		out.Entries = append(out.Entries, e)
	}
	return out, dropped
}

func unfit(f Format, allow bool, e Entry) string {
	carriesDigest := f == FormatMastodonAdminJSON || f == FormatMastodonPublicJSON
	if e.DigestOnly() && !carriesDigest {
		return fmt.Sprintf("the real domain is unknown (only its digest); %s cannot name it", f)
	}
	if e.Obfuscate && (f == FormatText || f == FormatRapidBlockJSON) {
		// The list's owner asked not to publish this domain in clear, and
		// these formats cannot mark it: leaving it out is the safe side.
		return fmt.Sprintf("the entry is to be published obfuscated and %s cannot mark it so", f)
	}
	if allow {
		return ""
	}
	switch f {
	case FormatText, FormatGoToSocialJSON, FormatRapidBlockJSON:
		if e.Severity != SeveritySuspend {
			return fmt.Sprintf("%s has no severity and is read as suspend; this entry is %s", f, e.Severity)
		}
	}
	return ""
}

// Emit writes l in format f. Entries are written in list order. It fails,
// writing nothing, when some entry cannot be represented (see Fit): call Fit
// first and show the dropped entries to export only what fits. An
// allowlist can be written as mastodon-allow-csv or text; a blocklist as
// anything but mastodon-allow-csv.
func Emit(f Format, l List) ([]byte, error) {
	if l.Allow && f != FormatMastodonAllowCSV && f != FormatText {
		return nil, fmt.Errorf("this is a domain allowlist; write it as %s or %s", FormatMastodonAllowCSV, FormatText)
	}
	if !l.Allow && f == FormatMastodonAllowCSV {
		return nil, fmt.Errorf("%s holds domain allows, and this is a blocklist; choose another format", f)
	}
	if _, dropped := Fit(f, l); len(dropped) > 0 {
		return nil, fmt.Errorf("%d entries cannot be written as %s (first: %s: %s); export only the entries that fit (see Fit), or choose a format that carries them",
			len(dropped), f, dropped[0].Entry.Domain, dropped[0].Reason)
	}
	switch f {
	case FormatMastodonCSV:
		return emitMastodonCSV(l), nil
	case FormatMastodonAllowCSV:
		return emitMastodonAllowCSV(l), nil
	case FormatCSV:
		return emitPlainCSV(l), nil
	case FormatText:
		return emitText(l), nil
	case FormatGoToSocialJSON:
		return emitGoToSocialJSON(l)
	case FormatMastodonAdminJSON:
		return emitMastodonAdminJSON(l)
	case FormatMastodonPublicJSON:
		return emitMastodonPublicJSON(l)
	case FormatRapidBlockJSON:
		return emitRapidBlockJSON(l)
	}
	return nil, fmt.Errorf("unknown blocklist format %q (want one of %s)", f, formatNames())
}

// Detect tells the format of data, by content first; name (a file name or
// URL path, may be empty) breaks ties the content leaves open. It returns ""
// when data looks like none of the formats.
func Detect(name string, data []byte) Format {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(data)
	ext := strings.ToLower(path.Ext(name))
	if len(trimmed) == 0 {
		switch ext {
		case ".csv":
			return FormatMastodonCSV
		case ".json":
			return FormatGoToSocialJSON
		}
		return FormatText
	}
	switch trimmed[0] {
	case '{':
		var probe struct {
			Blocks json.RawMessage `json:"blocks"`
		}
		if json.Unmarshal(trimmed, &probe) == nil && len(probe.Blocks) > 0 {
			return FormatRapidBlockJSON
		}
		return ""
	case '[':
		return detectJSONArray(trimmed, name)
	}
	if !isText(trimmed) {
		return ""
	}
	first := firstLine(trimmed)
	fields := strings.Split(first, ",")
	head := strings.ToLower(strings.TrimSpace(fields[0]))
	switch {
	case head == "#domain" && len(fields) == 1:
		// Mastodon's block export always has six columns; a lone #domain
		// column is its allow export.
		return FormatMastodonAllowCSV
	case head == "#domain":
		return FormatMastodonCSV
	case strings.HasPrefix(head, "#") || strings.Contains(first, " #"):
		// CSV exports never have comments; text lists often do, and a
		// comment may hold a comma.
		return FormatText
	case strings.Trim(head, "\"") == "domain":
		return FormatCSV
	case len(fields) > 1:
		return FormatMastodonCSV // headerless Mastodon CSV
	}
	if ext == ".csv" {
		return FormatMastodonCSV
	}
	return FormatText
}

func detectJSONArray(data []byte, name string) Format {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return ""
	}
	if !dec.More() {
		// An empty array reads the same in every JSON array format.
		if strings.Contains(strings.ToLower(name), "admin") {
			return FormatMastodonAdminJSON
		}
		return FormatGoToSocialJSON
	}
	var first map[string]json.RawMessage
	if err := dec.Decode(&first); err != nil {
		return ""
	}
	_, hasDomain := first["domain"]
	_, hasSeverity := first["severity"]
	if !hasDomain {
		return ""
	}
	if hasSeverity {
		for _, k := range []string{"id", "reject_media", "reject_reports", "private_comment", "public_comment", "created_at"} {
			if _, ok := first[k]; ok {
				return FormatMastodonAdminJSON
			}
		}
		return FormatMastodonPublicJSON
	}
	return FormatGoToSocialJSON
}

func firstLine(data []byte) string {
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		return s
	}
	return ""
}

// isText rejects binary data (NUL bytes) so Detect does not call an image a
// one-line text list.
func isText(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 4096)], 0) < 0
}

// NewList validates and normalises hand-made entries (a configuration
// file, an API request) the way Parse does for a file: domains normalised,
// severities read with ParseSeverity (empty means suspend), digests
// checked, duplicates dropped. An entry that fails is skipped and reported
// with Line set to its 1-based position in entries; the caller maps that to
// a file line if it has one.
func NewList(entries []Entry, allow bool) (List, []RowError) {
	b := builder{list: List{Allow: allow}}
	for i, e := range entries {
		if !allow {
			sev, err := ParseSeverity(string(e.Severity))
			if err != nil {
				b.rowErr(i+1, e.Domain, "%v", err)
				continue
			}
			e.Severity = sev
		} else {
			e.Severity = SeveritySuspend // checked by add, then cleared for allowlists
		}
		b.add(i+1, e)
	}
	return b.list, b.errs
}
