package activity

import (
	"bytes"
	"encoding/json"
)

// DecodeCollection decodes a fetched Collection, OrderedCollection,
// CollectionPage or OrderedCollectionPage (an outbox, a featured
// collection, a replies collection). Items come from "orderedItems" or
// "items": each is a string (an IRI) or a json.RawMessage of an embedded
// object, to be decoded by the caller with DecodeObject or DecodeActivity.
// When "first" is an embedded page (Mastodon's replies collection embeds
// its first page), First is that page's id (or "" if it has none) and
// FirstPage holds it decoded. At most MaxList items are accepted.
func DecodeCollection(body []byte) (*Collection, error) {
	var f fields
	d, err := parseTop(body, &f)
	if err != nil {
		return nil, err
	}
	defer d.release()
	c, err := decodeCollection(&f, nil, true)
	if err != nil {
		return nil, err
	}
	if c.Type == "" {
		return nil, &DecodeError{Field: "type", Msg: "missing"}
	}
	return c, nil
}

func decodeCollection(f *fields, pp *path, top bool) (*Collection, error) {
	d := f.d
	c := &Collection{}
	var err error
	if c.ID, err = f.str(pp, kId); err != nil {
		return nil, err
	}
	if c.Type, err = f.typ(pp); err != nil {
		return nil, err
	}
	if t, ok := f.get(kTotalItems); ok && !f.null(t) {
		n, err := f.int(pp, kTotalItems)
		if err != nil {
			return nil, err
		}
		c.TotalItems = &n
	}
	for _, s := range [...]struct {
		dst *string
		key key
	}{{&c.Last, kLast}, {&c.Next, kNext}, {&c.Prev, kPrev}, {&c.PartOf, kPartOf}} {
		if *s.dst, err = f.ref(pp, s.key); err != nil {
			return nil, err
		}
	}
	if t, ok := f.get(kFirst); ok && !f.null(t) {
		if d.kind(t) == '{' && top {
			p := sub(pp, "first")
			var pf fields
			d.fieldsOf(&pf, t)
			if c.FirstPage, err = decodeCollection(&pf, &p, false); err != nil {
				return nil, err
			}
			c.First = c.FirstPage.ID
		} else if c.First, err = f.ref(pp, kFirst); err != nil {
			return nil, err
		}
	}
	k := kOrderedItems
	if _, ok := f.get(k); !ok {
		k = kItems
	}
	t, ok := f.get(k)
	if !ok {
		return c, nil
	}
	p := sub(pp, keyNames[k])
	it, err := d.elements(t, &p)
	if err != nil {
		return nil, err
	}
	for e, i, ok := it.next(); ok; e, i, ok = it.next() {
		switch d.kind(e) {
		case 'n':
		case '"':
			s, _ := d.str(e)
			c.Items = append(c.Items, s)
		case '{':
			// A copy, as encoding/json's json.RawMessage was.
			c.Items = append(c.Items, json.RawMessage(bytes.Clone(d.raw(e))))
		default:
			ep := at(&p, i)
			return nil, &DecodeError{Field: ep.String(), Msg: "must be an IRI or an object"}
		}
	}
	return c, nil
}
