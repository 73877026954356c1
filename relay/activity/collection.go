package activity

import (
	"encoding/json"
	"strconv"
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
	f, err := decodeFields(body, "")
	if err != nil {
		return nil, err
	}
	c, err := decodeCollection(f, "", true)
	if err != nil {
		return nil, err
	}
	if c.Type == "" {
		return nil, &DecodeError{Field: "type", Msg: "missing"}
	}
	return c, nil
}

func decodeCollection(f fields, path string, top bool) (*Collection, error) {
	c := &Collection{}
	var err error
	if c.ID, err = f.str(path, "id"); err != nil {
		return nil, err
	}
	if c.Type, err = f.typ(path); err != nil {
		return nil, err
	}
	if raw, ok := f["totalItems"]; ok && !isNull(raw) {
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
	if raw, ok := f["first"]; ok && !isNull(raw) {
		if kind(raw) == '{' && top {
			p := join(path, "first")
			pf, err := decodeFields(raw, p)
			if err != nil {
				return nil, err
			}
			if c.FirstPage, err = decodeCollection(pf, p, false); err != nil {
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
	l, err := elements(raw, p)
	if err != nil {
		return nil, err
	}
	for i, e := range l {
		switch kind(e) {
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
