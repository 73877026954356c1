package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/relay/signature"
)

// BenchmarkServeNote measures one ActivityStreams GET of a public status
// through the handler (in process, real Postgres): unsigned, and signed by
// a peer whose key the resolver holds in memory, which adds the signature
// parse and one RSA-2048 verification.
func BenchmarkServeNote(b *testing.B) {
	f := newFixture(b, false)
	h := f.srv.Config.Handler
	target := path(f.public.URI)
	// Signed once: the signature stays valid for the run, so the loop
	// measures verification, not our own signing.
	signedHdr := http.Header{"Accept": {as}}
	if err := signature.Sign("GET", target, host, signedHdr, f.dave.KeyID, f.daveKey, nil, time.Now()); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, signed bool) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest("GET", target, nil)
			req.Host = host
			req.Header.Set("Accept", as)
			if signed {
				req.Header = signedHdr.Clone()
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("unsigned", func(b *testing.B) { run(b, false) })
	b.Run("signed", func(b *testing.B) { run(b, true) })
}
