package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/api"
	"github.com/palisade-fedi/palisade/instance/data"
)

// loadHomeBench fills the database as the home-timeline figure asks: a
// member following 500 of authors remote accounts with statuses statuses
// among them (interleaved, a millisecond apart, a tenth of them boosts),
// then VACUUM ANALYZE as autovacuum would leave it. It returns the
// member's account id.
func loadHomeBench(b *testing.B, f *fixture, statuses, authors int) int64 {
	b.Helper()
	ctx := context.Background()
	pool := f.db.Pool()
	me := f.mustLocal(b, "reader")
	start := time.Now()
	stmts := []string{
		// The NOTIFY trigger has nobody listening here; the load is one statement anyway.
		`ALTER TABLE statuses DISABLE TRIGGER statuses_notify_insert`,
		`ALTER TABLE statuses DISABLE TRIGGER statuses_notify_update`,
		fmt.Sprintf(`INSERT INTO accounts (id, uri, username, domain, inbox_url, created_at)
			SELECT g, 'https://r' || (g %% 50) || '.example/users/u' || g, 'u' || g, 'r' || (g %% 50) || '.example',
			       'https://r' || (g %% 50) || '.example/users/u' || g || '/inbox', now()
			FROM generate_series(1, %d) g`, authors),
		fmt.Sprintf(`INSERT INTO follows (id, account_id, target_account_id, uri)
			SELECT g, %d, g * %d, 'https://bench.example/follows/' || g FROM generate_series(1, 500) g`, me, authors/500),
		// Ids as instance/ids makes them: ms << 16 | low bits; one status a
		// millisecond apart, newest first by g. Every 10th is a boost of
		// an older status, every 7th a reply.
		fmt.Sprintf(`INSERT INTO statuses (id, uri, url, account_id, content, visibility, local, created_at,
				reblog_of_id, in_reply_to_id, in_reply_to_uri)
			SELECT ((%[1]d - g) << 16) | (g %% 65536), 'https://bench.example/s/' || g, 'https://bench.example/@x/' || g,
			       1 + (g %% %[3]d), CASE WHEN g %% 10 = 0 THEN '' ELSE '<p>status ' || g || '</p>' END,
			       CASE WHEN g %% 13 = 0 THEN 'unlisted' WHEN g %% 17 = 0 THEN 'private' ELSE 'public' END,
			       false, to_timestamp((%[1]d - g) / 1000.0),
			       NULL, NULL, ''
			FROM generate_series(1, %[2]d) g`, time.Now().UnixMilli(), statuses, authors),
		// Boosts and replies point at statuses 5,000 older (which exist).
		fmt.Sprintf(`UPDATE statuses s SET reblog_of_id = o.id, content = ''
			FROM statuses o WHERE o.uri = 'https://bench.example/s/' || (substr(s.uri, 25)::int + 5000)
			AND substr(s.uri, 25)::int %% 10 = 0 AND substr(s.uri, 25)::int + 5000 <= %d`, statuses),
		`ALTER TABLE statuses ENABLE TRIGGER statuses_notify_insert`,
		`ALTER TABLE statuses ENABLE TRIGGER statuses_notify_update`,
		`VACUUM ANALYZE statuses`, `VACUUM ANALYZE follows`, `VACUUM ANALYZE accounts`,
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s); err != nil {
			b.Fatalf("%.80s…: %v", s, err)
		}
	}
	b.Logf("loaded %d statuses in %v", statuses, time.Since(start).Round(time.Second))
	return me
}

func (f *fixture) mustLocal(b *testing.B, name string) int64 {
	a, _ := f.userTB(b, name)
	return a
}

// percentile of sorted durations.
func percentile(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkHomeTimeline measures a page of the home timeline of a member
// following 500 accounts with 1,000,000 statuses stored, against real
// Postgres: "data" is the query alone, "http" the whole request
// (authentication, query, entity rendering, JSON). Pages start at the top
// or at a random depth (max_id), as scrolling clients ask. It reports p50
// and p99 per page.
//
//	go test -run '^$' -bench BenchmarkHomeTimeline -benchtime 2000x ./instance/api/
//
// Two shapes of the same million statuses: "dense", 1,000 authors of whom
// the member follows 500 (half the firehose is theirs: pages fill from
// the recent window), and "sparse", 100,000 authors of whom 500 are
// followed (one status in 200: every page needs the per-follow probes).
func BenchmarkHomeTimeline(b *testing.B) {
	for _, shape := range []struct {
		name    string
		authors int
	}{{"dense", 1000}, {"sparse", 100_000}} {
		b.Run(shape.name, func(b *testing.B) { benchHome(b, shape.authors) })
	}
}

func benchHome(b *testing.B, authors int) {
	f := newFixtureTB(b, func(o *api.Options) { o.RateLimit.Off = true })
	me := loadHomeBench(b, f, 1_000_000, authors)
	ctx := context.Background()
	tok := f.tokenFor(me, "read")
	// Page starts: the top, and max_ids spread over the newest half.
	top, err := f.st.HomeTimeline(ctx, me, data.Page{Limit: 40})
	if err != nil || len(top) != 40 {
		b.Fatalf("first page: %d statuses, %v", len(top), err)
	}
	newest := top[0].ID
	var oldest int64
	f.db.Pool().QueryRow(ctx, `SELECT min(id) FROM statuses`).Scan(&oldest)
	maxID := func(r *rand.Rand) int64 {
		if r.IntN(4) == 0 {
			return 0
		}
		return oldest + (newest-oldest)/2 + r.Int64N((newest-oldest)/2)
	}
	run := func(b *testing.B, page func(r *rand.Rand) error) {
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 20; i++ { // warm the cache as a live server's is
			if err := page(r); err != nil {
				b.Fatal(err)
			}
		}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if err := page(r); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	}
	// The noise floor of this machine in the same run: a round trip
	// that does nothing.
	b.Run("baseline/select-1", func(b *testing.B) {
		run(b, func(r *rand.Rand) error {
			var one int
			return f.db.Pool().QueryRow(ctx, `SELECT 1`).Scan(&one)
		})
	})
	for _, limit := range []int{20, 40} {
		b.Run(fmt.Sprintf("data/limit=%d", limit), func(b *testing.B) {
			run(b, func(r *rand.Rand) error {
				sts, err := f.st.HomeTimeline(ctx, me, data.Page{MaxID: maxID(r), Limit: limit})
				if err == nil && len(sts) != limit {
					err = fmt.Errorf("%d statuses on a page of %d", len(sts), limit)
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("http/limit=%d", limit), func(b *testing.B) {
			client := &http.Client{}
			run(b, func(r *rand.Rand) error {
				u := fmt.Sprintf("%s/api/v1/timelines/home?limit=%d", f.base, limit)
				if m := maxID(r); m != 0 {
					u += fmt.Sprintf("&max_id=%d", m)
				}
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					return fmt.Errorf("%d %s", resp.StatusCode, body)
				}
				var page []json.RawMessage
				if err := json.Unmarshal(body, &page); err != nil || len(page) < limit/2 {
					return fmt.Errorf("page of %d: %v", len(page), err)
				}
				return nil
			})
		})
	}
}
