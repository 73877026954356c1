package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/store/pg"
)

// FuzzAdminDomainBlockParams feeds arbitrary requests to what the admin
// API reads before it touches the policy store: the parameter decoding,
// the domain block fields, the page window. Nothing panics; every refusal
// is a 422 (or 404) with a message; what is accepted is a valid block.
func FuzzAdminDomainBlockParams(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "domain=spam.example&severity=suspend&reject_media=true&public_comment=spam", "limit=5&max_id=10")
	f.Add("application/json", `{"domain":"*.example.org","severity":"noop","obfuscate":"1","reject_reports":false}`, "")
	f.Add("application/json", `{"domain":["a","b"],"severity":{"x":1}}`, "since_id=-1")
	f.Add("multipart/form-data; boundary=zz", "--zz\r\nContent-Disposition: form-data; name=\"domain\"\r\n\r\nexample.net\r\n--zz--\r\n", "limit=0")
	f.Add("text/plain", "domain=x", "min_id=99999999999999999999")
	f.Fuzz(func(t *testing.T, ctype, body, query string) {
		r := httptest.NewRequest("POST", "/api/v1/admin/domain_blocks", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", ctype)
		check := func(err error) {
			var ae *apiErr
			if !errors.As(err, &ae) || (ae.status != http.StatusUnprocessableEntity && ae.status != http.StatusNotFound) || ae.msg == "" {
				t.Fatalf("error %v is not a 422 with a message", err)
			}
		}
		if p, err := pageParams(r.URL.Query(), 100, 200); err != nil {
			check(err)
		} else if p.Limit <= 0 || p.Limit > 200 || p.MaxID < 0 || p.SinceID < 0 || p.MinID < 0 {
			t.Fatalf("page %+v", p)
		}
		v, err := params(r)
		if err != nil {
			check(err)
			return
		}
		d := pg.DomainPolicy{Domain: "example.com", Severity: "silence"}
		if err := applyBlockParams(&d, v); err != nil {
			check(err)
			return
		}
		if _, err := policy.ParseSeverity(d.Severity); err != nil {
			t.Fatalf("accepted severity %q", d.Severity)
		}
		if dom := v.Get("domain"); dom != "" {
			d.Domain = dom
			if row, err := normalizeDomainRow(d); err == nil && (row.Domain == "" || strings.ContainsAny(row.Domain, " /:@")) {
				t.Fatalf("accepted domain %q", row.Domain)
			}
		}
	})
}
