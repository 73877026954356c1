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
)

// The decoder reads a document's tape (tape.go): each object's members are
// indexed by key once (fields), and values are decoded from the body
// directly. Keys are matched exactly (not case-insensitively as
// encoding/json does for structs): see the package comment for why a
// case-ambiguous key must not read as ours. A repeated key reads as its
// last occurrence.

// DecodeError names the field of a document that could not be decoded.
type DecodeError struct {
	Field string // dotted path, e.g. "object.tag[2].href"
	Msg   string
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "activity: " + e.Msg
	}
	return "activity: " + strconv.Quote(e.Field) + ": " + e.Msg
}

// path is where a value sits in the document, kept as a chain of
// segments on the stack and only rendered (String) for an error.
type path struct {
	up  *path
	key string
	idx int // >= 0: the element index of a list; key is unused
}

func sub(p *path, key string) path { return path{up: p, key: key, idx: -1} }

func at(p *path, i int) path { return path{up: p, idx: i} }

// String renders the path as join and "[i]" suffixes would. It copies
// every part into a new string (never returning a segment's own key), so
// that escape analysis keeps the segments on their callers' stacks.
func (p *path) String() string {
	var b strings.Builder
	p.render(&b)
	return b.String()
}

func (p *path) render(b *strings.Builder) {
	if p == nil {
		return
	}
	p.up.render(b)
	switch {
	case p.idx >= 0:
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(p.idx))
		b.WriteByte(']')
	case p.key == "":
	case b.Len() == 0 || p.key[0] == '[':
		b.WriteString(p.key)
	default:
		b.WriteByte('.')
		b.WriteString(p.key)
	}
}

func fieldErr(p *path, key, msg string) error {
	return &DecodeError{Field: join(p.String(), key), Msg: msg}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	if key[0] == '[' {
		return path + key
	}
	return path + "." + key
}

// fields is one JSON object's members by key: slot[k] is the member's
// token index plus one, 0 when absent.
type fields struct {
	d    *doc
	slot [numKeys]int32
}

// fieldsOf indexes the members of object token t.
func (d *doc) fieldsOf(f *fields, t int32) {
	f.d = d
	for c := t + 1; c < d.toks[t].next; c = d.toks[c].next {
		tk := &d.toks[c]
		var k key
		if tk.flags&(fKEsc|fKHigh) == 0 {
			k = keyIDs[string(d.b[tk.kstart:tk.kend])]
		} else {
			k = keyIDs[d.key(c)]
		}
		if k != kNone {
			f.slot[k] = c + 1
		}
	}
}

// decodeFields indexes an object value; anything else is an error at p.
func (d *doc) decodeFields(f *fields, t int32, p *path) error {
	if d.kind(t) != '{' {
		return &DecodeError{Field: p.String(), Msg: "must be a JSON object"}
	}
	d.fieldsOf(f, t)
	return nil
}

func (f *fields) get(k key) (int32, bool) {
	s := f.slot[k]
	return s - 1, s != 0
}

func (f *fields) null(t int32) bool { return f.d.kind(t) == 'n' }

// parseTop parses a top-level document that must be a JSON object.
func parseTop(body []byte, f *fields) (*doc, error) {
	d, ok := parseDoc(body)
	if !ok || d.kind(0) != '{' {
		d.release()
		return nil, &DecodeError{Msg: "body is not a JSON object (want an ActivityStreams object)"}
	}
	d.fieldsOf(f, 0)
	return d, nil
}

// DecodeActivity decodes an activity body. It requires "id", "type" and
// "actor"; it decodes an embedded object (up to MaxDepth) as an Object,
// Actor or Activity by its type. Unknown fields are ignored; a known field
// of the wrong JSON type is a *DecodeError naming it.
func DecodeActivity(body []byte) (*Activity, error) {
	var f fields
	d, err := parseTop(body, &f)
	if err != nil {
		return nil, err
	}
	defer d.release()
	a, err := decodeActivity(&f, body, nil, 1)
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

// DecodeObject decodes a standalone object (a fetched Note, Question,
// Tombstone, ...). It requires "id" and "type".
func DecodeObject(body []byte) (*Object, error) {
	var f fields
	d, err := parseTop(body, &f)
	if err != nil {
		return nil, err
	}
	defer d.release()
	o, err := decodeObject(&f, body, nil)
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

// DecodeActor decodes an actor document. It requires "id", "type" and
// "inbox".
func DecodeActor(body []byte) (*Actor, error) {
	var f fields
	d, err := parseTop(body, &f)
	if err != nil {
		return nil, err
	}
	defer d.release()
	a, err := decodeActor(&f, body, nil)
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

func decodeActivity(f *fields, raw json.RawMessage, p *path, depth int) (*Activity, error) {
	a := &Activity{Raw: raw}
	var err error
	if a.ID, err = f.str(p, kId); err != nil {
		return nil, err
	}
	if a.Type, err = f.typ(p); err != nil {
		return nil, err
	}
	if a.Actor, err = f.ref(p, kActor); err != nil {
		return nil, err
	}
	if a.Target, err = f.ref(p, kTarget); err != nil {
		return nil, err
	}
	if err = f.addressing(p, &a.To, &a.Cc, &a.Bto, &a.Bcc, &a.Audience); err != nil {
		return nil, err
	}
	if a.Published, err = f.time(p, kPublished); err != nil {
		return nil, err
	}
	if a.Content, err = f.str(p, kContent); err != nil {
		return nil, err
	}
	if a.Summary, err = f.str(p, kSummary); err != nil {
		return nil, err
	}
	if a.Tags, err = f.tags(p); err != nil {
		return nil, err
	}
	if err = a.decodeObjectField(f, p, depth); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Activity) decodeObjectField(f *fields, pp *path, depth int) error {
	t, ok := f.get(kObject)
	if !ok || f.null(t) {
		return nil
	}
	d := f.d
	p := sub(pp, "object")
	switch d.kind(t) {
	case '"':
		s, _ := d.str(t)
		a.Object, a.Objects = s, []string{s}
		return nil
	case '[':
		// Mastodon's Flag: [actor, status, status, ...].
		ids, err := f.refList(t, &p)
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
		return fieldErr(pp, "object", "must be an IRI, an object or a list")
	}
	var of fields
	d.fieldsOf(&of, t)
	// A copy, as encoding/json's json.RawMessage was: ObjectRaw may be
	// kept after the body's buffer is reused.
	raw := json.RawMessage(bytes.Clone(d.raw(t)))
	a.ObjectRaw = raw
	var err error
	if a.Object, err = of.str(&p, kId); err != nil {
		return err
	}
	if a.Object != "" {
		a.Objects = []string{a.Object}
	}
	if a.ObjectType, err = of.typ(&p); err != nil {
		return err
	}
	if a.ObjectType == "" || depth+1 > MaxDepth {
		return nil
	}
	switch {
	case actorTypes[a.ObjectType]:
		a.ObjectActor, err = decodeActor(&of, raw, &p)
	case activityTypes[a.ObjectType]:
		a.ObjectActivity, err = decodeActivity(&of, raw, &p, depth+1)
	default:
		a.ObjectObject, err = decodeObject(&of, raw, &p)
	}
	return err
}

func decodeObject(f *fields, raw json.RawMessage, p *path) (*Object, error) {
	d := f.d
	o := &Object{Raw: raw}
	var err error
	if o.ID, err = f.str(p, kId); err != nil {
		return nil, err
	}
	if o.Type, err = f.typ(p); err != nil {
		return nil, err
	}
	if o.AttributedTo, err = f.attributedTo(p); err != nil {
		return nil, err
	}
	if o.InReplyTo, err = f.ref(p, kInReplyTo); err != nil {
		return nil, err
	}
	if o.Links, err = f.links(p, kUrl); err != nil {
		return nil, err
	}
	o.URL = pickHTML(o.Links)
	if err = f.addressing(p, &o.To, &o.Cc, &o.Bto, &o.Bcc, &o.Audience); err != nil {
		return nil, err
	}
	if o.Content, o.ContentMap, o.Language, err = f.natural(p, kContent, kContentMap); err != nil {
		return nil, err
	}
	if o.Summary, o.SummaryMap, _, err = f.natural(p, kSummary, kSummaryMap); err != nil {
		return nil, err
	}
	if o.Name, o.NameMap, _, err = f.natural(p, kName, kNameMap); err != nil {
		return nil, err
	}
	if o.Language == "" {
		// Lemmy states the language as {"identifier":"en","name":...}.
		if l, ok := f.get(kLanguage); ok && d.kind(l) == '{' {
			lp := sub(p, "language")
			var lf fields
			d.fieldsOf(&lf, l)
			if o.Language, err = lf.str(&lp, kIdentifier); err != nil {
				return nil, err
			}
		}
	}
	if o.MediaType, err = f.str(p, kMediaType); err != nil {
		return nil, err
	}
	if src, ok := f.get(kSource); ok && d.kind(src) == '{' {
		sp := sub(p, "source")
		var sf fields
		d.fieldsOf(&sf, src)
		if o.Source, err = sf.str(&sp, kContent); err != nil {
			return nil, err
		}
		if o.SourceMediaType, err = sf.str(&sp, kMediaType); err != nil {
			return nil, err
		}
	}
	if o.Tags, err = f.tags(p); err != nil {
		return nil, err
	}
	if o.Attachments, err = f.attachments(p); err != nil {
		return nil, err
	}
	if o.QuoteURL, err = f.quote(p, o.Tags); err != nil {
		return nil, err
	}
	if o.Sensitive, err = f.bool(p, kSensitive); err != nil {
		return nil, err
	}
	if o.Published, err = f.time(p, kPublished); err != nil {
		return nil, err
	}
	if o.Updated, err = f.time(p, kUpdated); err != nil {
		return nil, err
	}
	if o.Conversation, err = f.ref(p, kConversation); err != nil {
		return nil, err
	}
	if o.Conversation == "" {
		// Pleroma/Akkoma put the thread in "context".
		if o.Conversation, err = f.ref(p, kContext); err != nil {
			return nil, err
		}
	}
	if o.OneOf, err = f.pollOptions(p, kOneOf); err != nil {
		return nil, err
	}
	if o.AnyOf, err = f.pollOptions(p, kAnyOf); err != nil {
		return nil, err
	}
	if o.EndTime, err = f.time(p, kEndTime); err != nil {
		return nil, err
	}
	if c, ok := f.get(kClosed); ok && !f.null(c) {
		switch d.kind(c) {
		case 't', 'f':
			// Some peers send a boolean rather than the time.
			o.IsClosed = d.kind(c) == 't'
			if o.IsClosed {
				o.Closed = o.EndTime
			}
		default:
			if o.Closed, err = f.time(p, kClosed); err != nil {
				return nil, err
			}
			o.IsClosed = !o.Closed.IsZero()
		}
	}
	if o.VotersCount, err = f.int(p, kVotersCount); err != nil {
		return nil, err
	}
	if o.FormerType, err = f.str(p, kFormerType); err != nil {
		return nil, err
	}
	if o.Deleted, err = f.time(p, kDeleted); err != nil {
		return nil, err
	}
	return o, nil
}

func decodeActor(f *fields, raw json.RawMessage, p *path) (*Actor, error) {
	d := f.d
	a := &Actor{Raw: raw}
	var err error
	for _, s := range [...]struct {
		dst *string
		key key
	}{
		{&a.ID, kId}, {&a.PreferredUsername, kPreferredUsername},
		{&a.Inbox, kInbox}, {&a.Outbox, kOutbox}, {&a.Followers, kFollowers},
		{&a.Following, kFollowing}, {&a.Featured, kFeatured},
		{&a.FeaturedTags, kFeaturedTags}, {&a.MovedTo, kMovedTo},
	} {
		if *s.dst, err = f.ref(p, s.key); err != nil {
			return nil, err
		}
	}
	if a.Type, err = f.typ(p); err != nil {
		return nil, err
	}
	if a.Name, _, _, err = f.natural(p, kName, kNameMap); err != nil {
		return nil, err
	}
	if a.Summary, _, _, err = f.natural(p, kSummary, kSummaryMap); err != nil {
		return nil, err
	}
	links, err := f.links(p, kUrl)
	if err != nil {
		return nil, err
	}
	a.URL = pickHTML(links)
	if a.Icon, err = f.image(p, kIcon); err != nil {
		return nil, err
	}
	if a.Image, err = f.image(p, kImage); err != nil {
		return nil, err
	}
	if ep, ok := f.get(kEndpoints); ok && !f.null(ep) {
		epp := sub(p, "endpoints")
		var ef fields
		if err := d.decodeFields(&ef, ep, &epp); err != nil {
			return nil, err
		}
		if a.SharedInbox, err = ef.ref(&epp, kSharedInbox); err != nil {
			return nil, err
		}
	}
	if a.SharedInbox == "" {
		// Misskey also sends "sharedInbox" at the top level; older
		// versions sent only that.
		if a.SharedInbox, err = f.ref(p, kSharedInbox); err != nil {
			return nil, err
		}
	}
	if a.PublicKeys, err = f.publicKeys(p); err != nil {
		return nil, err
	}
	if a.ManuallyApprovesFollowers, err = f.bool(p, kManuallyApprovesFollowers); err != nil {
		return nil, err
	}
	if a.Discoverable, err = f.bool(p, kDiscoverable); err != nil {
		return nil, err
	}
	if a.Indexable, err = f.bool(p, kIndexable); err != nil {
		return nil, err
	}
	if a.Published, err = f.time(p, kPublished); err != nil {
		return nil, err
	}
	if a.AlsoKnownAs, err = f.refs(p, kAlsoKnownAs); err != nil {
		return nil, err
	}
	if a.Tags, err = f.tags(p); err != nil {
		return nil, err
	}
	if a.Fields, err = f.propertyValues(p); err != nil {
		return nil, err
	}
	return a, nil
}

// elemIter walks a value as a list: a list's entries, or the value itself
// as a one-element list (ActivityStreams lets any non-functional property
// be a single value); null is the empty list.
type elemIter struct {
	d        *doc
	cur, end int32
	i        int
}

func (d *doc) elements(t int32, p *path) (elemIter, error) {
	switch d.kind(t) {
	case 'n':
		return elemIter{}, nil
	case '[':
	default:
		return elemIter{d: d, cur: t, end: t + 1}, nil
	}
	n := 0
	for c := t + 1; c < d.toks[t].next; c = d.toks[c].next {
		n++
	}
	if n > MaxList {
		return elemIter{}, &DecodeError{Field: p.String(), Msg: fmt.Sprintf("has %d entries (at most %d are accepted)", n, MaxList)}
	}
	return elemIter{d: d, cur: t + 1, end: d.toks[t].next}, nil
}

// next returns the next element's token and index.
func (it *elemIter) next() (int32, int, bool) {
	if it.cur >= it.end {
		return 0, 0, false
	}
	t, i := it.cur, it.i
	it.cur = it.d.toks[t].next
	it.i++
	return t, i, true
}

func (it *elemIter) len() int {
	n := 0
	for c := it.cur; c < it.end; c = it.d.toks[c].next {
		n++
	}
	return n
}

func (f *fields) str(p *path, k key) (string, error) {
	t, ok := f.get(k)
	if !ok || f.null(t) {
		return "", nil
	}
	s, ok := f.d.str(t)
	if !ok {
		return "", fieldErr(p, keyNames[k], "must be a string")
	}
	return s, nil
}

// typ reads "type": a string, or the first string of a list.
func (f *fields) typ(p *path) (string, error) {
	t, ok := f.get(kType)
	if !ok || f.null(t) {
		return "", nil
	}
	if f.d.kind(t) == '[' {
		tp := sub(p, "type")
		it, err := f.d.elements(t, &tp)
		if err != nil {
			return "", err
		}
		for e, _, ok := it.next(); ok; e, _, ok = it.next() {
			switch f.d.kind(e) {
			case '"':
				s, _ := f.d.str(e)
				return s, nil
			case 'n':
				// encoding/json reads null into a string as "".
				return "", nil
			}
		}
		return "", fieldErr(p, "type", "must be a string or a list of strings")
	}
	return f.str(p, kType)
}

func (f *fields) bool(p *path, k key) (bool, error) {
	t, ok := f.get(k)
	if !ok || f.null(t) {
		return false, nil
	}
	switch f.d.kind(t) {
	case 't':
		return true, nil
	case 'f':
		return false, nil
	}
	return false, fieldErr(p, keyNames[k], "must be true or false")
}

func (f *fields) int(p *path, k key) (int, error) {
	t, ok := f.get(k)
	if !ok || f.null(t) {
		return 0, nil
	}
	if f.d.kind(t) == '0' {
		n, err := strconv.ParseFloat(string(f.d.raw(t)), 64)
		if err == nil && n >= 0 && n <= math.MaxInt32 {
			return int(n), nil
		}
	}
	return 0, fieldErr(p, keyNames[k], "must be a non-negative number")
}

// timeLayouts are the forms of xsd:dateTime seen on the wire: RFC 3339
// with or without fractional seconds (RFC3339Nano accepts both), and
// without an offset (some Pleroma versions' endTime), read as UTC.
var timeLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
}

func (f *fields) time(p *path, k key) (time.Time, error) {
	s, err := f.str(p, k)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fieldErr(p, keyNames[k], "is not an RFC 3339 date-time: "+quoteShort(s))
}

// refID extracts an IRI from a reference value: a string, or the "id" (or
// a Link's "href") of an object.
func (d *doc) refID(t int32, p *path) (id, typ string, err error) {
	switch d.kind(t) {
	case 'n':
		return "", "", nil
	case '"':
		id, _ := d.str(t)
		return id, "", nil
	case '{':
		var f fields
		d.fieldsOf(&f, t)
		if id, err = f.str(p, kId); err != nil {
			return "", "", err
		}
		if id == "" {
			if id, err = f.str(p, kHref); err != nil {
				return "", "", err
			}
		}
		typ, err = f.typ(p)
		return id, typ, err
	}
	return "", "", &DecodeError{Field: p.String(), Msg: "must be an IRI or an object with an id"}
}

// ref reads a functional reference. A list yields its first entry.
func (f *fields) ref(pp *path, k key) (string, error) {
	t, ok := f.get(k)
	if !ok {
		return "", nil
	}
	p := sub(pp, keyNames[k])
	it, err := f.d.elements(t, &p)
	if err != nil {
		return "", err
	}
	for e, i, ok := it.next(); ok; e, i, ok = it.next() {
		ep := at(&p, i)
		id, _, err := f.d.refID(e, &ep)
		if err != nil {
			return "", err
		}
		if id != "" {
			return id, nil
		}
	}
	return "", nil
}

func (f *fields) refList(t int32, p *path) ([]string, error) {
	it, err := f.d.elements(t, p)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, it.len())
	for e, i, ok := it.next(); ok; e, i, ok = it.next() {
		ep := at(p, i)
		id, _, err := f.d.refID(e, &ep)
		if err != nil {
			return nil, err
		}
		if id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

func (f *fields) refs(pp *path, k key) ([]string, error) {
	t, ok := f.get(k)
	if !ok {
		return nil, nil
	}
	p := sub(pp, keyNames[k])
	l, err := f.refList(t, &p)
	if len(l) == 0 {
		return nil, err
	}
	return l, err
}

// quote finds the quoted post: "quote" (FEP-044f), Akkoma's "quoteUrl",
// Fedibird's "quoteUri", Misskey's "_misskey_quote", else a FEP-e232 Link
// tag whose mediaType is the ActivityStreams JSON-LD profile (Misskey and
// Akkoma add one beside the fields).
func (f *fields) quote(p *path, tags []Tag) (string, error) {
	for _, k := range [...]key{kQuote, kQuoteUrl, kQuoteUri, kMisskeyQuote} {
		q, err := f.ref(p, k)
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
func (f *fields) attributedTo(pp *path) (string, error) {
	t, ok := f.get(kAttributedTo)
	if !ok {
		return "", nil
	}
	p := sub(pp, "attributedTo")
	it, err := f.d.elements(t, &p)
	if err != nil {
		return "", err
	}
	first := ""
	for e, i, ok := it.next(); ok; e, i, ok = it.next() {
		ep := at(&p, i)
		id, typ, err := f.d.refID(e, &ep)
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

func (f *fields) addressing(p *path, to, cc, bto, bcc, aud *[]string) error {
	var err error
	for _, a := range [...]struct {
		dst *[]string
		key key
	}{{to, kTo}, {cc, kCc}, {bto, kBto}, {bcc, kBcc}, {aud, kAudience}} {
		if *a.dst, err = f.refs(p, a.key); err != nil {
			return err
		}
	}
	return nil
}

// links reads "url": an IRI, a Link, or a list of either.
func (f *fields) links(pp *path, k key) ([]Link, error) {
	t, ok := f.get(k)
	if !ok {
		return nil, nil
	}
	d := f.d
	p := sub(pp, keyNames[k])
	it, err := d.elements(t, &p)
	if err != nil {
		return nil, err
	}
	var out []Link
	for e, i, ok := it.next(); ok; e, i, ok = it.next() {
		ep := at(&p, i)
		switch d.kind(e) {
		case 'n':
			continue
		case '"':
			s, _ := d.str(e)
			out = append(out, Link{Href: s})
		case '{':
			var lf fields
			d.fieldsOf(&lf, e)
			var ln Link
			if ln.Href, err = lf.str(&ep, kHref); err != nil {
				return nil, err
			}
			if ln.Href == "" {
				if ln.Href, err = lf.str(&ep, kId); err != nil {
					return nil, err
				}
			}
			if ln.MediaType, err = lf.str(&ep, kMediaType); err != nil {
				return nil, err
			}
			if ln.Name, err = lf.str(&ep, kName); err != nil {
				return nil, err
			}
			if ln.Rel, err = lf.str(&ep, kRel); err != nil {
				// rel may be a list; it is informational only.
				ln.Rel, err = "", nil
			}
			if ln.Href != "" {
				out = append(out, ln)
			}
		default:
			return nil, &DecodeError{Field: ep.String(), Msg: "must be an IRI or a Link"}
		}
	}
	return out, nil
}

// pickHTML returns the first text/html link, else the first link.
func pickHTML(l []Link) string {
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

// natural reads a natural-language property and its *Map form (mk).
func (f *fields) natural(p *path, k, mk key) (string, map[string]string, string, error) {
	s, err := f.str(p, k)
	if err != nil {
		return "", nil, "", err
	}
	t, ok := f.get(mk)
	if !ok || f.null(t) {
		return s, nil, "", nil
	}
	d := f.d
	bad := func() (string, map[string]string, string, error) {
		return "", nil, "", fieldErr(p, keyNames[mk], "must be an object of language tag to string")
	}
	if d.kind(t) != '{' {
		return bad()
	}
	m := map[string]string{}
	for c := t + 1; c < d.toks[t].next; c = d.toks[c].next {
		v := ""
		switch d.kind(c) {
		case '"':
			v, _ = d.str(c)
		case 'n':
			// encoding/json stores null as "" in a map of strings.
		default:
			return bad()
		}
		m[d.key(c)] = v
	}
	if len(m) > MaxList {
		return "", nil, "", fieldErr(p, keyNames[mk], "has too many languages")
	}
	if len(m) == 0 {
		return s, nil, "", nil
	}
	var lang string
	if len(m) == 1 {
		for k := range m {
			lang = k
		}
		if s == "" {
			s = m[lang]
		}
		return s, m, lang, nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lang = keys[0]
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

// objIter walks the object entries of a list field (tag, attachment, ...),
// skipping nulls and bare IRIs, which carry nothing we use.
type objIter struct {
	elemIter
	p path
}

func (f *fields) objectList(pp *path, k key) (objIter, bool, error) {
	t, ok := f.get(k)
	if !ok {
		return objIter{}, false, nil
	}
	it := objIter{p: sub(pp, keyNames[k])}
	var err error
	if it.elemIter, err = f.d.elements(t, &it.p); err != nil {
		return objIter{}, false, err
	}
	return it, true, nil
}

// next returns the next object entry, its path, and false at the end.
func (it *objIter) next(ep *path) (int32, bool, error) {
	for {
		e, i, ok := it.elemIter.next()
		if !ok {
			return 0, false, nil
		}
		*ep = at(&it.p, i)
		switch it.d.kind(e) {
		case 'n', '"':
			continue
		case '{':
			return e, true, nil
		}
		return 0, false, &DecodeError{Field: ep.String(), Msg: "must be an object"}
	}
}

func (f *fields) tags(p *path) ([]Tag, error) {
	it, ok, err := f.objectList(p, kTag)
	if !ok {
		return nil, err
	}
	var out []Tag
	var ep path
	for {
		e, ok, err := it.next(&ep)
		if !ok {
			return out, err
		}
		var tf fields
		f.d.fieldsOf(&tf, e)
		var t Tag
		if t.Type, err = tf.typ(&ep); err != nil {
			return out, err
		}
		if t.Name, err = tf.str(&ep, kName); err != nil {
			return out, err
		}
		if t.Href, err = tf.str(&ep, kHref); err != nil {
			return out, err
		}
		if t.ID, err = tf.str(&ep, kId); err != nil {
			return out, err
		}
		if t.MediaType, err = tf.str(&ep, kMediaType); err != nil {
			return out, err
		}
		if t.Updated, err = tf.time(&ep, kUpdated); err != nil {
			return out, err
		}
		if t.Type == "Emoji" {
			icon, err := tf.image(&ep, kIcon)
			if err != nil {
				return out, err
			}
			t.IconURL, t.IconMediaType = icon.URL, icon.MediaType
		}
		out = append(out, t)
	}
}

func (f *fields) attachments(p *path) ([]Attachment, error) {
	it, ok, err := f.objectList(p, kAttachment)
	if !ok {
		return nil, err
	}
	var out []Attachment
	var ep path
	for {
		e, ok, err := it.next(&ep)
		if !ok {
			return out, err
		}
		var af fields
		f.d.fieldsOf(&af, e)
		a, err := af.attachment(&ep)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
}

func (f *fields) attachment(p *path) (Attachment, error) {
	var a Attachment
	var err error
	if a.Type, err = f.typ(p); err != nil {
		return a, err
	}
	if a.MediaType, err = f.str(p, kMediaType); err != nil {
		return a, err
	}
	links, err := f.links(p, kUrl)
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
		if a.URL, err = f.str(p, kHref); err != nil {
			return a, err
		}
	}
	if a.Name, err = f.str(p, kName); err != nil {
		return a, err
	}
	if a.Blurhash, err = f.str(p, kBlurhash); err != nil {
		return a, err
	}
	if a.Width, err = f.int(p, kWidth); err != nil {
		return a, err
	}
	if a.Height, err = f.int(p, kHeight); err != nil {
		return a, err
	}
	if fp, ok := f.get(kFocalPoint); ok && !f.null(fp) {
		// Rare enough to leave to encoding/json (the bytes are valid
		// JSON already).
		var v []float64
		if json.Unmarshal(f.d.raw(fp), &v) != nil || len(v) != 2 {
			return a, fieldErr(p, "focalPoint", "must be a list of two numbers")
		}
		a.FocalPoint = &[2]float64{v[0], v[1]}
	}
	return a, nil
}

// image reads an actor's icon/image or an Emoji's icon: an Image object,
// a list of them (the first with a url), or a bare IRI.
func (f *fields) image(pp *path, k key) (Attachment, error) {
	t, ok := f.get(k)
	if !ok {
		return Attachment{}, nil
	}
	d := f.d
	p := sub(pp, keyNames[k])
	it, err := d.elements(t, &p)
	if err != nil {
		return Attachment{}, err
	}
	for e, i, ok := it.next(); ok; e, i, ok = it.next() {
		ep := at(&p, i)
		switch d.kind(e) {
		case 'n':
			continue
		case '"':
			s, _ := d.str(e)
			return Attachment{Type: "Image", URL: s}, nil
		case '{':
			var ef fields
			d.fieldsOf(&ef, e)
			a, err := ef.attachment(&ep)
			if err != nil {
				return Attachment{}, err
			}
			if a.URL != "" {
				return a, nil
			}
		default:
			return Attachment{}, &DecodeError{Field: ep.String(), Msg: "must be an Image object or an IRI"}
		}
	}
	return Attachment{}, nil
}

func (f *fields) pollOptions(p *path, k key) ([]PollOption, error) {
	it, ok, err := f.objectList(p, k)
	if !ok {
		return nil, err
	}
	var out []PollOption
	var ep path
	for {
		e, ok, err := it.next(&ep)
		if !ok {
			return out, err
		}
		var of fields
		f.d.fieldsOf(&of, e)
		var o PollOption
		if o.Name, _, _, err = of.natural(&ep, kName, kNameMap); err != nil {
			return out, err
		}
		if r, ok := of.get(kReplies); ok && f.d.kind(r) == '{' {
			rp := sub(&ep, "replies")
			var rf fields
			f.d.fieldsOf(&rf, r)
			if o.VotesCount, err = rf.int(&rp, kTotalItems); err != nil {
				return out, err
			}
		}
		out = append(out, o)
	}
}

// publicKeys reads "publicKey": one key object or a list (some servers
// publish several; Mastodon sends one).
func (f *fields) publicKeys(p *path) ([]PublicKey, error) {
	it, ok, err := f.objectList(p, kPublicKey)
	if !ok {
		return nil, err
	}
	var out []PublicKey
	var ep path
	for {
		e, ok, err := it.next(&ep)
		if !ok {
			return out, err
		}
		var kf fields
		f.d.fieldsOf(&kf, e)
		var k PublicKey
		if k.ID, err = kf.str(&ep, kId); err != nil {
			return out, err
		}
		if k.Owner, err = kf.ref(&ep, kOwner); err != nil {
			return out, err
		}
		if k.PublicKeyPem, err = kf.str(&ep, kPublicKeyPem); err != nil {
			return out, err
		}
		out = append(out, k)
	}
}

// propertyValues reads an actor's profile fields: attachment entries of
// type PropertyValue (Mastodon, GoToSocial, Misskey, Akkoma all use it).
// Other attachment types on actors are ignored.
func (f *fields) propertyValues(p *path) ([]PropertyValue, error) {
	it, ok, err := f.objectList(p, kAttachment)
	if !ok {
		return nil, err
	}
	var out []PropertyValue
	var ep path
	for {
		e, ok, err := it.next(&ep)
		if !ok {
			return out, err
		}
		var pf fields
		f.d.fieldsOf(&pf, e)
		t, err := pf.typ(&ep)
		if err != nil {
			return out, err
		}
		if t != "PropertyValue" {
			continue
		}
		var v PropertyValue
		if v.Name, err = pf.str(&ep, kName); err != nil {
			return out, err
		}
		if v.Value, err = pf.str(&ep, kValue); err != nil {
			return out, err
		}
		out = append(out, v)
	}
}
