// The reference decoder: decode.go and DecodeCollection as they were at
// commit 0e0ebf6, built on encoding/json maps, kept for the differential
// tests (decode_diff_test.go) that hold the tape decoder equal to it. Only
// identifiers were renamed (a ref prefix; fieldErr takes a string path);
// do not edit.

package activity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// refFields is one JSON object's members by exact key. Keys are matched
// exactly (not case-insensitively as encoding/json does for structs): see
// the package comment for why a case-ambiguous key must not read as ours.
type refFields map[string]json.RawMessage

func refDecodeFields(raw json.RawMessage, path string) (refFields, error) {
	var f refFields
	if err := json.Unmarshal(raw, &f); err != nil || f == nil {
		if path == "" {
			return nil, &DecodeError{Msg: "body is not a JSON object (want an ActivityStreams object)"}
		}
		return nil, &DecodeError{Field: path, Msg: "must be a JSON object"}
	}
	return f, nil
}

// refDecodeActivityBody decodes an activity body. It requires "id", "type" and
// "actor"; it decodes an embedded object (up to MaxDepth) as an Object,
// Actor or Activity by its type. Unknown refFields are ignored; a known field
// of the wrong JSON type is a *DecodeError naming it.
func refDecodeActivityBody(body []byte) (*Activity, error) {
	f, err := refDecodeFields(body, "")
	if err != nil {
		return nil, err
	}
	a, err := refDecodeActivity(f, body, "", 1)
	if err != nil {
		return nil, err
	}
	switch {
	case a.ID == "":
		return nil, &DecodeError{Field: "id", Msg: "missing"}
	case a.Type == "":
		return nil, &DecodeError{Field: "type", Msg: "missing"}
	case a.Actor == "":
		return nil, &DecodeError{Field: "actor", Msg: "missing"}
	}
	return a, nil
}

// refDecodeObjectBody decodes a standalone object (a fetched Note, Question,
// Tombstone, ...). It requires "id" and "type".
func refDecodeObjectBody(body []byte) (*Object, error) {
	f, err := refDecodeFields(body, "")
	if err != nil {
		return nil, err
	}
	o, err := refDecodeObject(f, body, "")
	if err != nil {
		return nil, err
	}
	if o.ID == "" {
		return nil, &DecodeError{Field: "id", Msg: "missing"}
	}
	if o.Type == "" {
		return nil, &DecodeError{Field: "type", Msg: "missing"}
	}
	return o, nil
}

// refDecodeActorBody decodes an actor document. It requires "id", "type" and
// "inbox".
func refDecodeActorBody(body []byte) (*Actor, error) {
	f, err := refDecodeFields(body, "")
	if err != nil {
		return nil, err
	}
	a, err := refDecodeActor(f, body, "")
	if err != nil {
		return nil, err
	}
	switch {
	case a.ID == "":
		return nil, &DecodeError{Field: "id", Msg: "missing"}
	case a.Type == "":
		return nil, &DecodeError{Field: "type", Msg: "missing"}
	case a.Inbox == "":
		return nil, &DecodeError{Field: "inbox", Msg: "missing"}
	}
	return a, nil
}

func refDecodeActivity(f refFields, raw json.RawMessage, path string, depth int) (*Activity, error) {
	a := &Activity{Raw: raw}
	var err error
	if a.ID, err = f.str(path, "id"); err != nil {
		return nil, err
	}
	if a.Type, err = f.typ(path); err != nil {
		return nil, err
	}
	if a.Actor, err = f.ref(path, "actor"); err != nil {
		return nil, err
	}
	if a.Target, err = f.ref(path, "target"); err != nil {
		return nil, err
	}
	if err = f.addressing(path, &a.To, &a.Cc, &a.Bto, &a.Bcc, &a.Audience); err != nil {
		return nil, err
	}
	if a.Published, err = f.time(path, "published"); err != nil {
		return nil, err
	}
	if a.Content, err = f.str(path, "content"); err != nil {
		return nil, err
	}
	if a.Summary, err = f.str(path, "summary"); err != nil {
		return nil, err
	}
	if a.Tags, err = f.tags(path); err != nil {
		return nil, err
	}
	if err = a.refDecodeObjectField(f, path, depth); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Activity) refDecodeObjectField(f refFields, path string, depth int) error {
	raw, ok := f["object"]
	if !ok || refIsNull(raw) {
		return nil
	}
	p := join(path, "object")
	switch refKind(raw) {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return refFieldErr(path, "object", "invalid string")
		}
		a.Object, a.Objects = s, []string{s}
		return nil
	case '[':
		// Mastodon's Flag: [actor, status, status, ...].
		ids, err := refRefList(raw, p)
		if err != nil {
			return err
		}
		a.Objects = ids
		if len(ids) > 0 {
			a.Object = ids[0]
		}
		return nil
	case '{':
	default:
		return refFieldErr(path, "object", "must be an IRI, an object or a list")
	}
	of, err := refDecodeFields(raw, p)
	if err != nil {
		return err
	}
	a.ObjectRaw = raw
	if a.Object, err = of.str(p, "id"); err != nil {
		return err
	}
	if a.Object != "" {
		a.Objects = []string{a.Object}
	}
	if a.ObjectType, err = of.typ(p); err != nil {
		return err
	}
	if a.ObjectType == "" || depth+1 > MaxDepth {
		return nil
	}
	switch {
	case actorTypes[a.ObjectType]:
		a.ObjectActor, err = refDecodeActor(of, raw, p)
	case activityTypes[a.ObjectType]:
		a.ObjectActivity, err = refDecodeActivity(of, raw, p, depth+1)
	default:
		a.ObjectObject, err = refDecodeObject(of, raw, p)
	}
	return err
}

func refDecodeObject(f refFields, raw json.RawMessage, path string) (*Object, error) {
	o := &Object{Raw: raw}
	var err error
	if o.ID, err = f.str(path, "id"); err != nil {
		return nil, err
	}
	if o.Type, err = f.typ(path); err != nil {
		return nil, err
	}
	if o.AttributedTo, err = f.attributedTo(path); err != nil {
		return nil, err
	}
	if o.InReplyTo, err = f.ref(path, "inReplyTo"); err != nil {
		return nil, err
	}
	if o.Links, err = f.links(path, "url"); err != nil {
		return nil, err
	}
	o.URL = refPickHTML(o.Links)
	if err = f.addressing(path, &o.To, &o.Cc, &o.Bto, &o.Bcc, &o.Audience); err != nil {
		return nil, err
	}
	if o.Content, o.ContentMap, o.Language, err = f.natural(path, "content"); err != nil {
		return nil, err
	}
	if o.Summary, o.SummaryMap, _, err = f.natural(path, "summary"); err != nil {
		return nil, err
	}
	if o.Name, o.NameMap, _, err = f.natural(path, "name"); err != nil {
		return nil, err
	}
	if o.Language == "" {
		// Lemmy states the language as {"identifier":"en","name":...}.
		if l, ok := f["language"]; ok && refKind(l) == '{' {
			lf, err := refDecodeFields(l, join(path, "language"))
			if err != nil {
				return nil, err
			}
			if o.Language, err = lf.str(join(path, "language"), "identifier"); err != nil {
				return nil, err
			}
		}
	}
	if o.MediaType, err = f.str(path, "mediaType"); err != nil {
		return nil, err
	}
	if src, ok := f["source"]; ok && refKind(src) == '{' {
		sf, err := refDecodeFields(src, join(path, "source"))
		if err != nil {
			return nil, err
		}
		p := join(path, "source")
		if o.Source, err = sf.str(p, "content"); err != nil {
			return nil, err
		}
		if o.SourceMediaType, err = sf.str(p, "mediaType"); err != nil {
			return nil, err
		}
	}
	if o.Tags, err = f.tags(path); err != nil {
		return nil, err
	}
	if o.Attachments, err = f.attachments(path); err != nil {
		return nil, err
	}
	if o.QuoteURL, err = f.quote(path, o.Tags); err != nil {
		return nil, err
	}
	if o.Sensitive, err = f.bool(path, "sensitive"); err != nil {
		return nil, err
	}
	if o.Published, err = f.time(path, "published"); err != nil {
		return nil, err
	}
	if o.Updated, err = f.time(path, "updated"); err != nil {
		return nil, err
	}
	if o.Conversation, err = f.ref(path, "conversation"); err != nil {
		return nil, err
	}
	if o.Conversation == "" {
		// Pleroma/Akkoma put the thread in "context".
		if o.Conversation, err = f.ref(path, "context"); err != nil {
			return nil, err
		}
	}
	if o.OneOf, err = f.pollOptions(path, "oneOf"); err != nil {
		return nil, err
	}
	if o.AnyOf, err = f.pollOptions(path, "anyOf"); err != nil {
		return nil, err
	}
	if o.EndTime, err = f.time(path, "endTime"); err != nil {
		return nil, err
	}
	if c, ok := f["closed"]; ok && !refIsNull(c) {
		switch refKind(c) {
		case 't', 'f':
			// Some peers send a boolean rather than the time.
			o.IsClosed = c[0] == 't'
			if o.IsClosed {
				o.Closed = o.EndTime
			}
		default:
			if o.Closed, err = f.time(path, "closed"); err != nil {
				return nil, err
			}
			o.IsClosed = !o.Closed.IsZero()
		}
	}
	if o.VotersCount, err = f.int(path, "votersCount"); err != nil {
		return nil, err
	}
	if o.FormerType, err = f.str(path, "formerType"); err != nil {
		return nil, err
	}
	if o.Deleted, err = f.time(path, "deleted"); err != nil {
		return nil, err
	}
	return o, nil
}

func refDecodeActor(f refFields, raw json.RawMessage, path string) (*Actor, error) {
	a := &Actor{Raw: raw}
	var err error
	for _, s := range []struct {
		dst *string
		key string
	}{
		{&a.ID, "id"}, {&a.PreferredUsername, "preferredUsername"},
		{&a.Inbox, "inbox"}, {&a.Outbox, "outbox"}, {&a.Followers, "followers"},
		{&a.Following, "following"}, {&a.Featured, "featured"},
		{&a.FeaturedTags, "featuredTags"}, {&a.MovedTo, "movedTo"},
	} {
		if *s.dst, err = f.ref(path, s.key); err != nil {
			return nil, err
		}
	}
	if a.Type, err = f.typ(path); err != nil {
		return nil, err
	}
	if a.Name, _, _, err = f.natural(path, "name"); err != nil {
		return nil, err
	}
	if a.Summary, _, _, err = f.natural(path, "summary"); err != nil {
		return nil, err
	}
	links, err := f.links(path, "url")
	if err != nil {
		return nil, err
	}
	a.URL = refPickHTML(links)
	if a.Icon, err = f.image(path, "icon"); err != nil {
		return nil, err
	}
	if a.Image, err = f.image(path, "image"); err != nil {
		return nil, err
	}
	if ep, ok := f["endpoints"]; ok && !refIsNull(ep) {
		p := join(path, "endpoints")
		ef, err := refDecodeFields(ep, p)
		if err != nil {
			return nil, err
		}
		if a.SharedInbox, err = ef.ref(p, "sharedInbox"); err != nil {
			return nil, err
		}
	}
	if a.SharedInbox == "" {
		// Misskey also sends "sharedInbox" at the top level; older
		// versions sent only that.
		if a.SharedInbox, err = f.ref(path, "sharedInbox"); err != nil {
			return nil, err
		}
	}
	if a.PublicKeys, err = f.publicKeys(path); err != nil {
		return nil, err
	}
	if a.ManuallyApprovesFollowers, err = f.bool(path, "manuallyApprovesFollowers"); err != nil {
		return nil, err
	}
	if a.Discoverable, err = f.bool(path, "discoverable"); err != nil {
		return nil, err
	}
	if a.Indexable, err = f.bool(path, "indexable"); err != nil {
		return nil, err
	}
	if a.Published, err = f.time(path, "published"); err != nil {
		return nil, err
	}
	if a.AlsoKnownAs, err = f.refs(path, "alsoKnownAs"); err != nil {
		return nil, err
	}
	if a.Tags, err = f.tags(path); err != nil {
		return nil, err
	}
	if a.Fields, err = f.propertyValues(path); err != nil {
		return nil, err
	}
	return a, nil
}

// refKind returns the first byte of a JSON value: '"', '{', '[', 't', 'f',
// 'n', or a digit/'-' for numbers.
func refKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func refIsNull(raw json.RawMessage) bool { return refKind(raw) == 'n' }

// refElements splits a value into list refElements: a list's entries, or the
// value itself as a one-element list (ActivityStreams lets any
// non-functional property be a single value).
func refElements(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	switch refKind(raw) {
	case 'n':
		return nil, nil
	case '[':
	default:
		return []json.RawMessage{raw}, nil
	}
	var l []json.RawMessage
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, &DecodeError{Field: path, Msg: "invalid list"}
	}
	if len(l) > MaxList {
		return nil, &DecodeError{Field: path, Msg: fmt.Sprintf("has %d entries (at most %d are accepted)", len(l), MaxList)}
	}
	return l, nil
}

// refJsonString decodes a JSON string value. Values from a decoded refFields map
// are already validated JSON, so a string without escapes and with valid
// UTF-8 is its bytes between the quotes; others go through encoding/json
// (which also replaces invalid UTF-8 the same way in both paths' output).
func refJsonString(raw json.RawMessage) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		in := raw[1 : len(raw)-1]
		if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			return string(in), true
		}
	}
	var s string
	if refKind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func (f refFields) str(path, key string) (string, error) {
	raw, ok := f[key]
	if !ok || refIsNull(raw) {
		return "", nil
	}
	s, ok := refJsonString(raw)
	if !ok {
		return "", refFieldErr(path, key, "must be a string")
	}
	return s, nil
}

// typ reads "type": a string, or the first string of a list.
func (f refFields) typ(path string) (string, error) {
	raw, ok := f["type"]
	if !ok || refIsNull(raw) {
		return "", nil
	}
	if refKind(raw) == '[' {
		l, err := refElements(raw, join(path, "type"))
		if err != nil {
			return "", err
		}
		for _, e := range l {
			var s string
			if json.Unmarshal(e, &s) == nil {
				return s, nil
			}
		}
		return "", refFieldErr(path, "type", "must be a string or a list of strings")
	}
	return f.str(path, "type")
}

func (f refFields) bool(path, key string) (bool, error) {
	raw, ok := f[key]
	if !ok || refIsNull(raw) {
		return false, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return false, refFieldErr(path, key, "must be true or false")
	}
	return b, nil
}

func (f refFields) int(path, key string) (int, error) {
	raw, ok := f[key]
	if !ok || refIsNull(raw) {
		return 0, nil
	}
	var n float64
	if json.Unmarshal(raw, &n) != nil || n < 0 || n > math.MaxInt32 {
		return 0, refFieldErr(path, key, "must be a non-negative number")
	}
	return int(n), nil
}

func (f refFields) time(path, key string) (time.Time, error) {
	s, err := f.str(path, key)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, refFieldErr(path, key, "is not an RFC 3339 date-time: "+quoteShort(s))
}

// refRefID extracts an IRI from a reference value: a string, or the "id" (or
// a Link's "href") of an object.
func refRefID(raw json.RawMessage, path string) (id, typ string, err error) {
	switch refKind(raw) {
	case 'n':
		return "", "", nil
	case '"':
		id, ok := refJsonString(raw)
		if !ok {
			return "", "", &DecodeError{Field: path, Msg: "invalid string"}
		}
		return id, "", nil
	case '{':
		f, err := refDecodeFields(raw, path)
		if err != nil {
			return "", "", err
		}
		if id, err = f.str(path, "id"); err != nil {
			return "", "", err
		}
		if id == "" {
			if id, err = f.str(path, "href"); err != nil {
				return "", "", err
			}
		}
		typ, err = f.typ(path)
		return id, typ, err
	}
	return "", "", &DecodeError{Field: path, Msg: "must be an IRI or an object with an id"}
}

// ref reads a functional reference. A list yields its first entry.
func (f refFields) ref(path, key string) (string, error) {
	raw, ok := f[key]
	if !ok {
		return "", nil
	}
	p := join(path, key)
	l, err := refElements(raw, p)
	if err != nil {
		return "", err
	}
	for i, e := range l {
		id, _, err := refRefID(e, p+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return "", err
		}
		if id != "" {
			return id, nil
		}
	}
	return "", nil
}

func refRefList(raw json.RawMessage, path string) ([]string, error) {
	l, err := refElements(raw, path)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		id, _, err := refRefID(e, path+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		if id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

func (f refFields) refs(path, key string) ([]string, error) {
	raw, ok := f[key]
	if !ok {
		return nil, nil
	}
	l, err := refRefList(raw, join(path, key))
	if len(l) == 0 {
		return nil, err
	}
	return l, err
}

// quote finds the quoted post: "quote" (FEP-044f), Akkoma's "quoteUrl",
// Fedibird's "quoteUri", Misskey's "_misskey_quote", else a FEP-e232 Link
// tag whose mediaType is the ActivityStreams JSON-LD profile (Misskey and
// Akkoma add one beside the refFields).
func (f refFields) quote(path string, tags []Tag) (string, error) {
	for _, k := range [...]string{"quote", "quoteUrl", "quoteUri", "_misskey_quote"} {
		q, err := f.ref(path, k)
		if q != "" || err != nil {
			return q, err
		}
	}
	for _, t := range tags {
		if t.Type == "Link" && t.Href != "" && (strings.HasPrefix(t.MediaType, "application/activity+json") ||
			(strings.HasPrefix(t.MediaType, "application/ld+json") && strings.Contains(t.MediaType, "activitystreams"))) {
			return t.Href, nil
		}
	}
	return "", nil
}

// attributedTo prefers the first Person of a list: PeerTube sends
// [{"type":"Person",...},{"type":"Group",...}] (the channel) and Lemmy
// may list the community too.
func (f refFields) attributedTo(path string) (string, error) {
	raw, ok := f["attributedTo"]
	if !ok {
		return "", nil
	}
	p := join(path, "attributedTo")
	l, err := refElements(raw, p)
	if err != nil {
		return "", err
	}
	first := ""
	for i, e := range l {
		id, typ, err := refRefID(e, p+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return "", err
		}
		if id == "" {
			continue
		}
		if typ == "Person" {
			return id, nil
		}
		if first == "" {
			first = id
		}
	}
	return first, nil
}

func (f refFields) addressing(path string, to, cc, bto, bcc, aud *[]string) error {
	var err error
	for _, a := range []struct {
		dst *[]string
		key string
	}{{to, "to"}, {cc, "cc"}, {bto, "bto"}, {bcc, "bcc"}, {aud, "audience"}} {
		if *a.dst, err = f.refs(path, a.key); err != nil {
			return err
		}
	}
	return nil
}

// links reads "url": an IRI, a Link, or a list of either.
func (f refFields) links(path, key string) ([]Link, error) {
	raw, ok := f[key]
	if !ok {
		return nil, nil
	}
	p := join(path, key)
	l, err := refElements(raw, p)
	if err != nil {
		return nil, err
	}
	var out []Link
	for i, e := range l {
		ep := p + "[" + strconv.Itoa(i) + "]"
		switch refKind(e) {
		case 'n':
			continue
		case '"':
			var s string
			if json.Unmarshal(e, &s) != nil {
				return nil, &DecodeError{Field: ep, Msg: "invalid string"}
			}
			out = append(out, Link{Href: s})
		case '{':
			lf, err := refDecodeFields(e, ep)
			if err != nil {
				return nil, err
			}
			var ln Link
			if ln.Href, err = lf.str(ep, "href"); err != nil {
				return nil, err
			}
			if ln.Href == "" {
				if ln.Href, err = lf.str(ep, "id"); err != nil {
					return nil, err
				}
			}
			if ln.MediaType, err = lf.str(ep, "mediaType"); err != nil {
				return nil, err
			}
			if ln.Name, err = lf.str(ep, "name"); err != nil {
				return nil, err
			}
			if ln.Rel, err = lf.str(ep, "rel"); err != nil {
				// rel may be a list; it is informational only.
				ln.Rel, err = "", nil
			}
			if ln.Href != "" {
				out = append(out, ln)
			}
		default:
			return nil, &DecodeError{Field: ep, Msg: "must be an IRI or a Link"}
		}
	}
	return out, nil
}

// refPickHTML returns the first text/html link, else the first link.
func refPickHTML(l []Link) string {
	for _, ln := range l {
		if ln.MediaType == "text/html" {
			return ln.Href
		}
	}
	if len(l) > 0 {
		return l[0].Href
	}
	return ""
}

// natural reads a natural-language property and its *Map form.
func (f refFields) natural(path, key string) (string, map[string]string, string, error) {
	s, err := f.str(path, key)
	if err != nil {
		return "", nil, "", err
	}
	raw, ok := f[key+"Map"]
	if !ok || refIsNull(raw) {
		return s, nil, "", nil
	}
	var m map[string]string
	if refKind(raw) != '{' || json.Unmarshal(raw, &m) != nil {
		return "", nil, "", refFieldErr(path, key+"Map", "must be an object of language tag to string")
	}
	if len(m) > MaxList {
		return "", nil, "", refFieldErr(path, key+"Map", "has too many languages")
	}
	if len(m) == 0 {
		return s, nil, "", nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lang := keys[0]
	if s != "" {
		// Mastodon sends content and contentMap with the same value: the
		// key holding content is the language.
		for _, k := range keys {
			if m[k] == s {
				lang = k
				break
			}
		}
	} else {
		// Only a contentMap (some Pleroma forks, Bridgy): take the first
		// language in a stable order.
		s = m[lang]
	}
	return s, m, lang, nil
}

func (f refFields) objectList(path, key string, each func(refFields, string) error) error {
	raw, ok := f[key]
	if !ok {
		return nil
	}
	p := join(path, key)
	l, err := refElements(raw, p)
	if err != nil {
		return err
	}
	for i, e := range l {
		ep := p + "[" + strconv.Itoa(i) + "]"
		switch refKind(e) {
		case 'n', '"':
			// A bare IRI in tag/attachment carries nothing we use.
			continue
		case '{':
		default:
			return &DecodeError{Field: ep, Msg: "must be an object"}
		}
		ef, err := refDecodeFields(e, ep)
		if err != nil {
			return err
		}
		if err := each(ef, ep); err != nil {
			return err
		}
	}
	return nil
}

func (f refFields) tags(path string) ([]Tag, error) {
	var out []Tag
	err := f.objectList(path, "tag", func(tf refFields, p string) error {
		var t Tag
		var err error
		if t.Type, err = tf.typ(p); err != nil {
			return err
		}
		if t.Name, err = tf.str(p, "name"); err != nil {
			return err
		}
		if t.Href, err = tf.str(p, "href"); err != nil {
			return err
		}
		if t.ID, err = tf.str(p, "id"); err != nil {
			return err
		}
		if t.MediaType, err = tf.str(p, "mediaType"); err != nil {
			return err
		}
		if t.Updated, err = tf.time(p, "updated"); err != nil {
			return err
		}
		if t.Type == "Emoji" {
			icon, err := tf.image(p, "icon")
			if err != nil {
				return err
			}
			t.IconURL, t.IconMediaType = icon.URL, icon.MediaType
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

func (f refFields) attachments(path string) ([]Attachment, error) {
	var out []Attachment
	err := f.objectList(path, "attachment", func(af refFields, p string) error {
		a, err := af.attachment(p)
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

func (f refFields) attachment(p string) (Attachment, error) {
	var a Attachment
	var err error
	if a.Type, err = f.typ(p); err != nil {
		return a, err
	}
	if a.MediaType, err = f.str(p, "mediaType"); err != nil {
		return a, err
	}
	links, err := f.links(p, "url")
	if err != nil {
		return a, err
	}
	// Media links: prefer one whose mediaType matches the attachment's,
	// else the first.
	for _, l := range links {
		if a.URL == "" || (a.MediaType != "" && l.MediaType == a.MediaType) {
			a.URL = l.Href
			if a.MediaType == "" {
				a.MediaType = l.MediaType
			}
		}
	}
	if a.URL == "" {
		// Lemmy sends a post's link as an attachment of type Link with
		// "href".
		if a.URL, err = f.str(p, "href"); err != nil {
			return a, err
		}
	}
	if a.Name, err = f.str(p, "name"); err != nil {
		return a, err
	}
	if a.Blurhash, err = f.str(p, "blurhash"); err != nil {
		return a, err
	}
	if a.Width, err = f.int(p, "width"); err != nil {
		return a, err
	}
	if a.Height, err = f.int(p, "height"); err != nil {
		return a, err
	}
	if fp, ok := f["focalPoint"]; ok && !refIsNull(fp) {
		var v []float64
		if json.Unmarshal(fp, &v) != nil || len(v) != 2 {
			return a, refFieldErr(p, "focalPoint", "must be a list of two numbers")
		}
		a.FocalPoint = &[2]float64{v[0], v[1]}
	}
	return a, nil
}

// image reads an actor's icon/image or an Emoji's icon: an Image object,
// a list of them (the first with a url), or a bare IRI.
func (f refFields) image(path, key string) (Attachment, error) {
	raw, ok := f[key]
	if !ok {
		return Attachment{}, nil
	}
	p := join(path, key)
	l, err := refElements(raw, p)
	if err != nil {
		return Attachment{}, err
	}
	for i, e := range l {
		ep := p + "[" + strconv.Itoa(i) + "]"
		switch refKind(e) {
		case 'n':
			continue
		case '"':
			var s string
			if json.Unmarshal(e, &s) != nil {
				return Attachment{}, &DecodeError{Field: ep, Msg: "invalid string"}
			}
			return Attachment{Type: "Image", URL: s}, nil
		case '{':
			ef, err := refDecodeFields(e, ep)
			if err != nil {
				return Attachment{}, err
			}
			a, err := ef.attachment(ep)
			if err != nil {
				return Attachment{}, err
			}
			if a.URL != "" {
				return a, nil
			}
		default:
			return Attachment{}, &DecodeError{Field: ep, Msg: "must be an Image object or an IRI"}
		}
	}
	return Attachment{}, nil
}

func (f refFields) pollOptions(path, key string) ([]PollOption, error) {
	var out []PollOption
	err := f.objectList(path, key, func(of refFields, p string) error {
		var o PollOption
		var err error
		if o.Name, _, _, err = of.natural(p, "name"); err != nil {
			return err
		}
		if r, ok := of["replies"]; ok && refKind(r) == '{' {
			rf, err := refDecodeFields(r, join(p, "replies"))
			if err != nil {
				return err
			}
			if o.VotesCount, err = rf.int(join(p, "replies"), "totalItems"); err != nil {
				return err
			}
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// publicKeys reads "publicKey": one key object or a list (some servers
// publish several; Mastodon sends one).
func (f refFields) publicKeys(path string) ([]PublicKey, error) {
	var out []PublicKey
	err := f.objectList(path, "publicKey", func(kf refFields, p string) error {
		var k PublicKey
		var err error
		if k.ID, err = kf.str(p, "id"); err != nil {
			return err
		}
		if k.Owner, err = kf.ref(p, "owner"); err != nil {
			return err
		}
		if k.PublicKeyPem, err = kf.str(p, "publicKeyPem"); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	return out, err
}

// propertyValues reads an actor's profile refFields: attachment entries of
// type PropertyValue (Mastodon, GoToSocial, Misskey, Akkoma all use it).
// Other attachment types on actors are ignored.
func (f refFields) propertyValues(path string) ([]PropertyValue, error) {
	var out []PropertyValue
	err := f.objectList(path, "attachment", func(pf refFields, p string) error {
		t, err := pf.typ(p)
		if err != nil || t != "PropertyValue" {
			return err
		}
		var v PropertyValue
		if v.Name, err = pf.str(p, "name"); err != nil {
			return err
		}
		if v.Value, err = pf.str(p, "value"); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// refDecodeCollectionBody decodes a fetched Collection, OrderedCollection,
// CollectionPage or OrderedCollectionPage (an outbox, a featured
// collection, a replies collection). Items come from "orderedItems" or
// "items": each is a string (an IRI) or a json.RawMessage of an embedded
// object, to be decoded by the caller with refDecodeObjectBody or refDecodeActivityBody.
// When "first" is an embedded page (Mastodon's replies collection embeds
// its first page), First is that page's id (or "" if it has none) and
// FirstPage holds it decoded. At most MaxList items are accepted.
func refDecodeCollectionBody(body []byte) (*Collection, error) {
	f, err := refDecodeFields(body, "")
	if err != nil {
		return nil, err
	}
	c, err := refDecodeCollection(f, "", true)
	if err != nil {
		return nil, err
	}
	if c.Type == "" {
		return nil, &DecodeError{Field: "type", Msg: "missing"}
	}
	return c, nil
}

func refDecodeCollection(f refFields, path string, top bool) (*Collection, error) {
	c := &Collection{}
	var err error
	if c.ID, err = f.str(path, "id"); err != nil {
		return nil, err
	}
	if c.Type, err = f.typ(path); err != nil {
		return nil, err
	}
	if raw, ok := f["totalItems"]; ok && !refIsNull(raw) {
		n, err := f.int(path, "totalItems")
		if err != nil {
			return nil, err
		}
		c.TotalItems = &n
	}
	for _, s := range []struct {
		dst *string
		key string
	}{{&c.Last, "last"}, {&c.Next, "next"}, {&c.Prev, "prev"}, {&c.PartOf, "partOf"}} {
		if *s.dst, err = f.ref(path, s.key); err != nil {
			return nil, err
		}
	}
	if raw, ok := f["first"]; ok && !refIsNull(raw) {
		if refKind(raw) == '{' && top {
			p := join(path, "first")
			pf, err := refDecodeFields(raw, p)
			if err != nil {
				return nil, err
			}
			if c.FirstPage, err = refDecodeCollection(pf, p, false); err != nil {
				return nil, err
			}
			c.First = c.FirstPage.ID
		} else if c.First, err = f.ref(path, "first"); err != nil {
			return nil, err
		}
	}
	key := "orderedItems"
	if _, ok := f[key]; !ok {
		key = "items"
	}
	raw, ok := f[key]
	if !ok {
		return c, nil
	}
	p := join(path, key)
	l, err := refElements(raw, p)
	if err != nil {
		return nil, err
	}
	for i, e := range l {
		switch refKind(e) {
		case 'n':
		case '"':
			var s string
			if json.Unmarshal(e, &s) != nil {
				return nil, &DecodeError{Field: p + "[" + strconv.Itoa(i) + "]", Msg: "invalid string"}
			}
			c.Items = append(c.Items, s)
		case '{':
			c.Items = append(c.Items, e)
		default:
			return nil, &DecodeError{Field: p + "[" + strconv.Itoa(i) + "]", Msg: "must be an IRI or an object"}
		}
	}
	return c, nil
}

func refFieldErr(path, key, msg string) error {
	return &DecodeError{Field: join(path, key), Msg: msg}
}
