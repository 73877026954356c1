package api

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palisade-fedi/palisade/instance/social"
)

// FuzzParseParams feeds request bodies in every encoding clients use
// (JSON, urlencoded form, multipart, and no content type) through the
// decoder and every getter the handlers call: none may panic, and each
// must either succeed or return an error that renders as a 4xx.
func FuzzParseParams(f *testing.F) {
	f.Add("application/json", []byte(`{"status":"hi","media_ids":["1","2"],"poll":{"options":["a","b"],"expires_in":600},"sensitive":true}`), "")
	f.Add("application/json", []byte(`{"fields_attributes":[{"name":"a","value":"b"}],"home":{"last_read_id":"12"}}`), "limit=5")
	f.Add("application/x-www-form-urlencoded", []byte("status=x&media_ids[]=1&media_ids[]=2&visibility=private&in_reply_to_id=9"), "max_id=3")
	f.Add("application/x-www-form-urlencoded", []byte("fields_attributes[0][name]=a&fields_attributes[0][value]=b&focus=0.5,-1"), "")
	f.Add("", []byte(`{"status": 1e999}`), "")
	f.Add("application/json", []byte(`[1,2]`), "")
	f.Add("application/json", []byte(`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":1}}}}}}}}}}`), "")
	f.Add("multipart/form-data", []byte("description=x&focus=2,2"), "types[]=mention&exclude_types[]=follow")
	f.Add("application/x-www-form-urlencoded", []byte("status=q&poll[options][]=a&poll[options][]=b&poll[expires_in]=300&poll[multiple]=true&poll[hide_totals]=0"), "")
	f.Add("application/x-www-form-urlencoded", []byte("status=q&poll[options][]=a&poll[options][]=a&poll[expires_in]=99999999999999999999999"), "")
	f.Add("application/json", []byte(`{"status":"q","poll":{"options":["a","b","c"],"expires_in":3e10,"multiple":"yes"}}`), "")
	f.Add("application/json", []byte(`{"choices":[0,"2",-1]}`), "")
	f.Add("application/x-www-form-urlencoded", []byte("choices[]=1&choices[]=1&choices=x"), "")
	f.Fuzz(func(t *testing.T, ctype string, body []byte, query string) {
		var req *http.Request
		if ctype == "multipart/form-data" {
			// Build a real multipart body from the fuzzed form fields.
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			for _, kv := range strings.Split(string(body), "&") {
				k, v, _ := strings.Cut(kv, "=")
				mw.WriteField(k, v)
			}
			fw, _ := mw.CreateFormFile("file", "f.png")
			fw.Write(body)
			mw.Close()
			req = httptest.NewRequest("POST", "/x", &b)
			req.URL.RawQuery = query
			req.Header.Set("Content-Type", mw.FormDataContentType())
		} else {
			req = httptest.NewRequest("POST", "/x", bytes.NewReader(body))
			req.URL.RawQuery = query
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
		}
		p, err := parseParams(req, 64<<10)
		if err != nil {
			checkClientError(t, err)
			return
		}
		check := func(err error) {
			if err != nil {
				checkClientError(t, err)
			}
		}
		_, err = p.page(20, MaxLimit)
		check(err)
		_, err = postParams(p, social.MinPollExpiry)
		check(err)
		_, err = choiceParams(p)
		check(err)
		_, _, err = focusParam(p)
		check(err)
		_, _, err = p.boolean("sensitive")
		check(err)
		_, err = p.idList("id")
		check(err)
		_, err = p.float("x")
		check(err)
		fieldsParam(p)
		a := &API{}
		_, err = a.notificationFilter(p)
		check(err)
		for _, name := range []string{"q", "acct", "status", "home[last_read_id]"} {
			p.str(name)
			p.strPtr(name)
			p.list(name)
		}
		_, err = streamName(p.str("stream"), p.str("tag"), len(body)%2 == 0)
		check(err)
	})
}

func checkClientError(t *testing.T, err error) {
	t.Helper()
	ae, ok := err.(*apiError)
	if !ok {
		t.Fatalf("error %v (%T) is not an apiError: it would render as 500", err, err)
	}
	if ae.status < 400 || ae.status > 499 {
		t.Fatalf("bad input answered %d: %v", ae.status, err)
	}
	if ae.msg == "" {
		t.Fatal("an error without a message")
	}
}
