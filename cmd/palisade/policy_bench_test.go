package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// BenchmarkReloadFromDatabase measures a node's reload when the database
// holds 100,000 domain policies: read every row, compile, swap. Ingress
// keeps evaluating on the old snapshot meanwhile (the swap is atomic).
func BenchmarkReloadFromDatabase(b *testing.B) {
	ctx := context.Background()
	db := pgtest.New(b)
	if _, err := db.Pool().Exec(ctx, `INSERT INTO policy_domains (domain, severity, public_comment, source)
		SELECT 'd' || g || '.example', CASE WHEN g % 3 = 0 THEN 'silence' ELSE 'suspend' END, 'bench', 'api'
		FROM generate_series(1, 100000) g`); err != nil {
		b.Fatal(err)
	}
	cfg := Default()
	cfg.DataDir = b.TempDir()
	p, err := newPolicyRuntime(ctx, cfg, db, nil, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	if n := p.engine.Current().Domains(); n != 100000 {
		b.Fatalf("%d domains loaded", n)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := p.reloadErr(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportDomains measures storing an import of 10,000 domains
// through the store (one transaction, one audit row, one version bump).
func BenchmarkImportDomains(b *testing.B) {
	ctx := context.Background()
	db := pgtest.New(b)
	rows := make([]pg.DomainPolicy, 10000)
	for i := range rows {
		rows[i] = pg.DomainPolicy{Domain: fmt.Sprintf("i%d.example", i), Severity: "suspend", Source: "import:bench"}
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, _, err := db.PutDomainPolicies(ctx, "bench", "bench.csv", rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/import")
}
