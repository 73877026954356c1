package blocklist

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
)

// lineCounter turns byte offsets of one document into 1-based line numbers.
// Offsets must be asked for in increasing order.
type lineCounter struct {
	data []byte
	off  int64
	line int
}

func (c *lineCounter) at(off int64) int {
	if c.line == 0 {
		c.line = 1
	}
	off = min(max(off, c.off), int64(len(c.data)))
	c.line += bytes.Count(c.data[c.off:off], []byte{'\n'})
	c.off = off
	return c.line
}

// readJSONArray decodes a top-level array one element at a time so one bad
// element is a RowError, not a lost file. fn gets each element's line.
// Broken JSON syntax ends the read: nothing after it can be trusted.
func readJSONArray(data []byte, fn func(line int, raw json.RawMessage)) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	lc := lineCounter{data: data}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want a JSON array of blocks, found %v", describeToken(tok))
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
		}
		fn(lc.at(dec.InputOffset()-int64(len(raw))), raw)
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
	}
	return expectEnd(dec, &lc)
}

func expectEnd(dec *json.Decoder, lc *lineCounter) error {
	if tok, err := dec.Token(); err == nil {
		return fmt.Errorf("line %d: unexpected %v after the end of the document", lc.at(dec.InputOffset()), describeToken(tok))
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
	}
	return nil
}

func describeToken(tok any) string {
	switch t := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(t))
	case string:
		return fmt.Sprintf("string %q", clip(t))
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// object is one JSON element read field by field, so a type error names its
// field ("obfuscate": want true or false, found "perhaps").
type object map[string]json.RawMessage

func (o object) str(name string) (string, error) {
	raw, ok := o[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("field %q: want a string, found %s", name, clip(string(raw)))
	}
	return v, nil
}

// boolean reads booleans as peers write them: JSON true/false, null, and
// strings or numbers from hand-made lists ("true", "False", 1).
func (o object) boolean(name string) (bool, error) {
	raw, ok := o[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	s := string(raw)
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	v, err := parseBool(s)
	if err != nil {
		return false, fmt.Errorf("field %q: want true or false, found %s", name, clip(string(raw)))
	}
	return v, nil
}

// fields reads the named string and boolean fields into dst in order,
// stopping at the first error.
func (o object) fields(strs map[string]*string, bools map[string]*bool) error {
	// Sorted, so the error reported for a row with several bad fields is
	// always the same one.
	for _, name := range slices.Sorted(maps.Keys(strs)) {
		v, err := o.str(name)
		if err != nil {
			return err
		}
		*strs[name] = v
	}
	for _, name := range slices.Sorted(maps.Keys(bools)) {
		v, err := o.boolean(name)
		if err != nil {
			return err
		}
		*bools[name] = v
	}
	return nil
}

// isObject reports whether raw is a JSON object. Each parser first decodes
// an element into a typed struct (fast, the common case) and falls back to
// decodeRow, which reads field by field to name the field that is wrong and
// to accept booleans written as strings.
func isObject(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '{' }

// decodeRow reads a JSON element as an object and its fields, or records a
// RowError and returns false.
func decodeRow(b *builder, line int, raw json.RawMessage, strs map[string]*string, bools map[string]*bool) bool {
	var o object
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &o) != nil {
		b.rowErr(line, "", "want a JSON object for each block, found %s", clip(string(raw)))
		return false
	}
	if err := o.fields(strs, bools); err != nil {
		d, _ := o.str("domain")
		b.rowErr(line, d, "%v", err)
		return false
	}
	return true
}

// GoToSocial: [{domain, public_comment | comment, obfuscate}]. GoToSocial's
// own export adds id, created_at and private_comment; lists converted from
// Mastodon's public form say "comment".
func parseGoToSocialJSON(b *builder, data []byte) error {
	return readJSONArray(data, func(line int, raw json.RawMessage) {
		var e Entry
		var comment string
		var fast struct {
			Domain         string `json:"domain"`
			PublicComment  string `json:"public_comment"`
			Comment        string `json:"comment"`
			PrivateComment string `json:"private_comment"`
			Obfuscate      bool   `json:"obfuscate"`
		}
		if isObject(raw) && json.Unmarshal(raw, &fast) == nil {
			e = Entry{Domain: fast.Domain, PublicComment: fast.PublicComment, PrivateComment: fast.PrivateComment, Obfuscate: fast.Obfuscate}
			comment = fast.Comment
		} else if !decodeRow(b, line, raw,
			map[string]*string{"domain": &e.Domain, "public_comment": &e.PublicComment, "comment": &comment, "private_comment": &e.PrivateComment},
			map[string]*bool{"obfuscate": &e.Obfuscate}) {
			return
		}
		if e.Domain == "" {
			b.rowErr(line, "", "no \"domain\" in this element")
			return
		}
		if e.PublicComment == "" {
			e.PublicComment = comment
		}
		e.Severity = SeveritySuspend
		b.add(line, e)
	})
}

type gtsOut struct {
	Domain        string `json:"domain"`
	PublicComment string `json:"public_comment,omitempty"`
	Obfuscate     bool   `json:"obfuscate"`
}

func emitGoToSocialJSON(l List) ([]byte, error) {
	out := make([]gtsOut, 0, len(l.Entries))
	for _, e := range l.Entries {
		out = append(out, gtsOut{Domain: e.Domain, PublicComment: e.PublicComment, Obfuscate: e.Obfuscate})
	}
	return marshalIndent(out)
}

// Mastodon admin JSON (/api/v1/admin/domain_blocks): {id, domain, digest,
// created_at, severity, reject_media, reject_reports, private_comment,
// public_comment, obfuscate}. id and created_at are not kept.
func parseMastodonAdminJSON(b *builder, data []byte) error {
	return readJSONArray(data, func(line int, raw json.RawMessage) {
		var e Entry
		var sev string
		var fast struct {
			Domain         string `json:"domain"`
			Digest         string `json:"digest"`
			Severity       string `json:"severity"`
			RejectMedia    bool   `json:"reject_media"`
			RejectReports  bool   `json:"reject_reports"`
			PrivateComment string `json:"private_comment"`
			PublicComment  string `json:"public_comment"`
			Obfuscate      bool   `json:"obfuscate"`
		}
		if isObject(raw) && json.Unmarshal(raw, &fast) == nil {
			e = Entry{Domain: fast.Domain, Digest: fast.Digest, RejectMedia: fast.RejectMedia, RejectReports: fast.RejectReports,
				PrivateComment: fast.PrivateComment, PublicComment: fast.PublicComment, Obfuscate: fast.Obfuscate}
			sev = fast.Severity
		} else if !decodeRow(b, line, raw,
			map[string]*string{"domain": &e.Domain, "digest": &e.Digest, "severity": &sev, "private_comment": &e.PrivateComment, "public_comment": &e.PublicComment},
			map[string]*bool{"reject_media": &e.RejectMedia, "reject_reports": &e.RejectReports, "obfuscate": &e.Obfuscate}) {
			return
		}
		if e.Domain == "" {
			b.rowErr(line, "", "no \"domain\" in this element")
			return
		}
		var err error
		if e.Severity, err = ParseSeverity(sev); err != nil {
			b.rowErr(line, e.Domain, "%v", err)
			return
		}
		b.add(line, e)
	})
}

type adminOut struct {
	ID             string   `json:"id"`
	Domain         string   `json:"domain"`
	Digest         string   `json:"digest"`
	Severity       Severity `json:"severity"`
	RejectMedia    bool     `json:"reject_media"`
	RejectReports  bool     `json:"reject_reports"`
	PrivateComment *string  `json:"private_comment"`
	PublicComment  *string  `json:"public_comment"`
	Obfuscate      bool     `json:"obfuscate"`
}

// nullable spells an empty comment as null, as Mastodon does.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// emitMastodonAdminJSON writes the admin API shape. Ids are positions in
// the list (Palisade's entries have no Mastodon ids) and created_at is left
// out, since entries carry no time.
func emitMastodonAdminJSON(l List) ([]byte, error) {
	out := make([]adminOut, 0, len(l.Entries))
	for i, e := range l.Entries {
		out = append(out, adminOut{ID: strconv.Itoa(i + 1), Domain: e.Domain, Digest: e.key(), Severity: e.Severity,
			RejectMedia: e.RejectMedia, RejectReports: e.RejectReports,
			PrivateComment: nullable(e.PrivateComment), PublicComment: nullable(e.PublicComment), Obfuscate: e.Obfuscate})
	}
	return marshalIndent(out)
}

// Mastodon public JSON (/api/v1/instance/domain_blocks): {domain, digest,
// severity, comment}. A masked domain ("ex***le.com") is kept masked and
// matched by its digest.
func parseMastodonPublicJSON(b *builder, data []byte) error {
	return readJSONArray(data, func(line int, raw json.RawMessage) {
		var e Entry
		var sev string
		var fast struct {
			Domain   string `json:"domain"`
			Digest   string `json:"digest"`
			Severity string `json:"severity"`
			Comment  string `json:"comment"`
		}
		if isObject(raw) && json.Unmarshal(raw, &fast) == nil {
			e = Entry{Domain: fast.Domain, Digest: fast.Digest, PublicComment: fast.Comment}
			sev = fast.Severity
		} else if !decodeRow(b, line, raw,
			map[string]*string{"domain": &e.Domain, "digest": &e.Digest, "severity": &sev, "comment": &e.PublicComment}, nil) {
			return
		}
		if e.Domain == "" && e.Digest == "" {
			b.rowErr(line, "", "no \"domain\" in this element")
			return
		}
		var err error
		if e.Severity, err = ParseSeverity(sev); err != nil {
			b.rowErr(line, e.Domain, "%v", err)
			return
		}
		if e.Domain == "" {
			e.Domain = "*" // a digest alone: a fully masked entry
		}
		b.add(line, e)
	})
}

type publicOut struct {
	Domain   string   `json:"domain"`
	Digest   string   `json:"digest"`
	Severity Severity `json:"severity"`
	Comment  string   `json:"comment"`
}

// emitMastodonPublicJSON writes what Mastodon shows the public: obfuscated
// entries masked (matchable by digest), public comments only.
func emitMastodonPublicJSON(l List) ([]byte, error) {
	out := make([]publicOut, 0, len(l.Entries))
	for _, e := range l.Entries {
		d := e.Domain
		if e.Obfuscate {
			d = MaskDomain(d)
		}
		out = append(out, publicOut{Domain: d, Digest: e.key(), Severity: e.Severity, Comment: e.PublicComment})
	}
	return marshalIndent(out)
}

// RapidBlock JSON: {"blocks": {"<domain>": {"isBlocked": true, "reason": ...}}}.
// parseRapidBlockJSON walks the "blocks" object key by key so each domain
// gets its own line and its own RowError. An entry with "isBlocked": false
// says the domain is not blocked and is left out; one without isBlocked is
// a block (it is in the blocks map).
func parseRapidBlockJSON(b *builder, data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	lc := lineCounter{data: data}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want a JSON object with a \"blocks\" object, found %v", describeToken(tok))
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
		}
		if key, _ := tok.(string); key != "blocks" || found {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
			}
			continue
		}
		found = true
		tok, err = dec.Token()
		if err != nil {
			return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return fmt.Errorf("line %d: \"blocks\" must be an object keyed by domain, found %v", lc.at(dec.InputOffset()), describeToken(tok))
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
			}
			domain, _ := tok.(string)
			line := lc.at(dec.InputOffset())
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
			}
			var o object
			if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &o) != nil {
				b.rowErr(line, domain, "want an object like {\"isBlocked\": true}, found %s", clip(string(raw)))
				continue
			}
			blocked, err := o.boolean("isBlocked")
			if _, present := o["isBlocked"]; !present {
				blocked = true
			}
			reason, err2 := o.str("reason")
			if err = cmp.Or(err, err2); err != nil {
				b.rowErr(line, domain, "%v", err)
				continue
			}
			if !blocked {
				continue
			}
			b.add(line, Entry{Domain: domain, Severity: SeveritySuspend, PublicComment: reason})
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("line %d: broken JSON: %v", lc.at(dec.InputOffset()), err)
	}
	if !found {
		return fmt.Errorf("no \"blocks\" object: this is not a RapidBlock list")
	}
	return expectEnd(dec, &lc)
}

type rapidOut struct {
	IsBlocked bool   `json:"isBlocked"`
	Reason    string `json:"reason,omitempty"`
}

func emitRapidBlockJSON(l List) ([]byte, error) {
	blocks := make(map[string]rapidOut, len(l.Entries))
	for _, e := range l.Entries {
		blocks[e.Domain] = rapidOut{IsBlocked: true, Reason: e.PublicComment}
	}
	return marshalIndent(struct {
		Blocks map[string]rapidOut `json:"blocks"`
	}{blocks})
}

func marshalIndent(v any) ([]byte, error) {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
