package activity

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The model decoder was rewritten from encoding/json maps onto a one-pass
// tape (tape.go); decode_ref_test.go keeps the encoding/json version. These
// tests hold the two to the same results and the same errors on every
// input, the seeds below and whatever the fuzzer finds.

// sameDecode fails t when the new and reference decoders disagree on body.
func sameDecode(t *testing.T, body []byte) {
	t.Helper()
	check := func(what string, got, want any, gerr, werr error) {
		t.Helper()
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%s(%q): error %v, reference error %v", what, body, gerr, werr)
		}
		if gerr != nil {
			var gd, wd *DecodeError
			if !errors.As(gerr, &gd) || !errors.As(werr, &wd) || *gd != *wd {
				t.Fatalf("%s(%q): error %#v, reference %#v", what, body, gerr, werr)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s(%q):\n got %#v\nwant %#v", what, body, got, want)
		}
	}
	// Each decoder gets its own copy, so that aliasing the body shows.
	cp := func() []byte { return append([]byte(nil), body...) }
	a, err := DecodeActivity(cp())
	ra, rerr := refDecodeActivityBody(cp())
	check("DecodeActivity", a, ra, err, rerr)
	o, err := DecodeObject(cp())
	ro, rerr := refDecodeObjectBody(cp())
	check("DecodeObject", o, ro, err, rerr)
	ac, err := DecodeActor(cp())
	rac, rerr := refDecodeActorBody(cp())
	check("DecodeActor", ac, rac, err, rerr)
	c, err := DecodeCollection(cp())
	rc, rerr := refDecodeCollectionBody(cp())
	check("DecodeCollection", c, rc, err, rerr)
}

// diffSeeds are inputs aimed at the places a hand-written decoder can
// drift from encoding/json: string decoding, validity, repeated keys,
// null where a value is expected, list-or-single shapes, error paths.
var diffSeeds = []string{
	`{"id":"x","type":"Create","actor":"a"}`,
	` {"id" : "x" , "type":[ "Create" ] ,"actor":{"id":"a"} } `,
	`{"id":"x","type":"Create","actor":"a","id":"y"}`,
	`{"\u0069d":"x","type":"Create","actor":"a"}`,
	`{"id":"x\u00e9\ud83d\ude00\ud83d\u0041\ude00\\\/\"\b\f\n\r\t","type":"Create","actor":"a"}`,
	"{\"id\":\"x\xff\xfe\xed\xa0\x80y\",\"type\":\"Create\",\"actor\":\"a\xc3\"}",
	"{\"id\":\"caf\xc3\xa9\",\"type\":\"Create\",\"actor\":\"a\",\"content\":\"\xe2\x82\"}",
	`{"id":"x","type":[null,"Create"],"actor":"a"}`,
	`{"id":"x","type":[1,"Create"],"actor":"a"}`,
	`{"id":"x","type":[1,2],"actor":"a"}`,
	`{"id":"x","type":[],"actor":"a"}`,
	`{"id":"x","type":"Create","actor":["", null, {"href":"h"}]}`,
	`{"id":"x","type":"Create","actor":5}`,
	`{"id":"x","type":"Create","actor":[true]}`,
	`{"id":"x","type":"Create","actor":"a","to":"b","cc":[],"bto":null,"audience":[null,{"id":"c"}]}`,
	`{"id":"x","type":"Create","actor":"a","to":[{"type":"Person"}]}`,
	`{"id":"x","type":"Create","actor":"a","to":[{"id":7}]}`,
	`{"id":"x","type":"Flag","actor":"a","object":["b",{"id":"c"},null,"d"]}`,
	`{"id":"x","type":"Flag","actor":"a","object":[]}`,
	`{"id":"x","type":"Flag","actor":"a","object":[1]}`,
	`{"id":"x","type":"Flag","actor":"a","object":3}`,
	`{"id":"x","type":"Flag","actor":"a","object":null}`,
	`{"id":"x","type":"Create","actor":"a","object":{"type":"Note"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","content":"c","contentMap":{"en":"c","de":"d"}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","contentMap":{"fr":"f","de":"d","en":null}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","contentMap":{"fr":"f","fr":"g"}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","contentMap":{}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","contentMap":{"en":1}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","contentMap":[]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","nameMap":{"\u00e9":"x"},"summaryMap":null}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","content":5}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","sensitive":"yes"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","sensitive":null,"published":"2024-01-01T00:00:00.5+02:00"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","published":"yesterday"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","published":"2024-01-01T00:00:00"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Question","votersCount":1e3,"closed":true,"endTime":"2024-01-01T00:00:00Z"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Question","votersCount":-0,"closed":false}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Question","votersCount":-1}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Question","votersCount":1e400}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Question","votersCount":"3"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Question","closed":"2024-01-01T00:00:00Z","oneOf":[{"name":"a","replies":{"totalItems":2}},null,"x",{"nameMap":{"en":"b"}}]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Question","anyOf":[5]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Question","anyOf":{"name":"only"},"closed":7}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","attachment":[{"type":"Document","url":[{"href":"h","mediaType":"image/png"},"u"],"mediaType":"image/png","focalPoint":[0.5,null],"width":3.7}]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","attachment":[{"type":"Link","href":"h","focalPoint":[1]}]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","attachment":[{"focalPoint":["a","b"]}]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","attachment":[{"focalPoint":[1e999,0]}]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","attachment":{"url":{"href":"h","rel":["a"]},"height":"x"}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","url":[null,{"id":"i"},{"href":"","name":"n"},"s"]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","url":[5]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","url":{"href":5}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","tag":[{"type":"Emoji","name":":a:","icon":[null,{"url":"u"}],"updated":"2024-01-01T00:00:00Z"},{"type":"Emoji","icon":"i"},{"type":"Emoji","icon":5}]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","tag":[{"type":"Link","mediaType":"application/activity+json","href":"q"}]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","tag":[1]}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","quoteUrl":["",{"href":"q"}],"_misskey_quote":"m"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","attributedTo":[{"id":"g","type":"Group"},{"id":"p","type":"Person"}],"context":"c"}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","language":{"identifier":"en"},"source":{"content":"s","mediaType":"text/markdown"}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","language":{"identifier":1}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Note","source":{"content":[]}}}`,
	`{"id":"x","type":"Create","actor":"a","object":{"id":"o","type":"Tombstone","formerType":"Note","deleted":"2024-01-01T00:00:00Z"}}`,
	`{"id":"x","type":"Update","actor":"a","object":{"id":"p","type":"Person","inbox":"i","endpoints":{"sharedInbox":"s"},"publicKey":[{"id":"k","owner":{"id":"p"},"publicKeyPem":"pem"},null],"attachment":[{"type":"PropertyValue","name":"n","value":"v"},{"type":"Image"}],"icon":[{"type":"Image"},{"url":"u"}],"manuallyApprovesFollowers":true,"alsoKnownAs":"o"}}`,
	`{"id":"x","type":"Update","actor":"a","object":{"id":"p","type":"Person","endpoints":"e"}}`,
	`{"id":"x","type":"Update","actor":"a","object":{"id":"p","type":"Person","endpoints":null,"sharedInbox":"s","preferredUsername":{"id":"u"}}}`,
	`{"id":"x","type":"Update","actor":"a","object":{"id":"p","type":"Person","discoverable":1}}`,
	`{"id":"x","type":"Update","actor":"a","object":{"id":"p","type":"Person","attachment":[{"type":5}]}}`,
	`{"id":"x","type":"Undo","actor":"a","object":{"id":"y","type":"Follow","actor":"a","object":{"id":"z","type":"Announce","actor":"a","object":{"id":"w","type":"Note"}}}}`,
	`{"id":"x","type":"Undo","actor":"a","object":{"id":"y","type":"Follow","actor":"a","object":{"id":"z","type":"Announce","actor":"a","object":{"id":"w","type":"Note","to":5}}}}`,
	`{"id":"c","type":"OrderedCollection","totalItems":3,"first":{"id":"p1","type":"OrderedCollectionPage","next":"p2","orderedItems":["a",{"id":"b"},null]},"last":"l"}`,
	`{"id":"c","type":"Collection","first":"f","items":[1]}`,
	`{"id":"c","type":"Collection","first":{"type":"CollectionPage","first":{"id":"x"}},"orderedItems":null,"items":["i"]}`,
	`{"id":"c","type":"Collection","totalItems":null,"partOf":[{"id":"p"}],"items":"one"}`,
	`{"id":"c","type":"Collection","totalItems":"3"}`,
	`{}`, `[]`, `null`, `"x"`, `5`, ``, ` `, `{`, `{"id":}`, `{"id":"x",}`, `{"id":"x"}x`, `{"id":"x"} `,
	`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}",
	`{"a":[1,]}`, `{"a":[1 2]}`, `{"a" "b"}`, `{"a":{"b":[{"c":[[[]]]}]}}`, `{"a":"b"}}`, `{"a":"b"]`,
}

func TestDecodeMatchesReference(t *testing.T) {
	for _, s := range diffSeeds {
		sameDecode(t, []byte(s))
	}
	for _, dir := range []string{"testdata", filepath.Join("testdata", "model")} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if filepath.Ext(e.Name()) != ".json" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			sameDecode(t, b)
			// Every prefix: truncated documents exercise each refusal.
			for i := range b {
				sameDecode(t, b[:i])
			}
		}
	}
}

// TestDecodeNestingBound: encoding/json accepts 10000 levels of nesting
// and refuses 10001; so must the tape.
func TestDecodeNestingBound(t *testing.T) {
	for _, n := range []int{9999, 10000, 10001} {
		body := `{"id":"x","type":"Create","actor":"a","z":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
		sameDecode(t, []byte(body))
		_, err := DecodeActivity([]byte(body))
		if (err == nil) != (n <= 10000) {
			t.Errorf("nesting %d: err = %v", n, err)
		}
	}
}

func FuzzDecodeDifferential(f *testing.F) {
	for _, s := range diffSeeds {
		f.Add([]byte(s))
	}
	for _, dir := range []string{"testdata", filepath.Join("testdata", "model")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if filepath.Ext(e.Name()) == ".json" {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameDecode(t, body)
	})
}

// BenchmarkDecodeActivityReference is BenchmarkDecodeActivity's body
// through the encoding/json reference decoder, for the ratio.
func BenchmarkDecodeActivityReference(b *testing.B) {
	body := load(b, "mastodon-create-note.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := refDecodeActivityBody(body); err != nil {
			b.Fatal(err)
		}
	}
}
