package api_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/palisade-fedi/palisade/instance/api"
)

// BenchmarkExplainHome prints the plan of the home timeline query over the
// benchmark's data (a diagnostic: go test -bench ExplainHome -benchtime 1x).
func BenchmarkExplainHome(b *testing.B) {
	if os.Getenv("PALISADE_EXPLAIN") == "" {
		b.Skip("set PALISADE_EXPLAIN=1")
	}
	f := newFixtureTB(b, func(o *api.Options) { o.RateLimit.Off = true })
	me := loadHomeBench(b, f, 1_000_000, 1000)
	ctx := context.Background()
	for _, q := range strings.Split(os.Getenv("PALISADE_EXPLAIN_SQL"), ";;") {
		if strings.TrimSpace(q) == "" {
			continue
		}
		for i := 0; i < 3; i++ {
			rows, err := f.db.Pool().Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, me)
			if err != nil {
				b.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				rows.Scan(&line)
				plan = append(plan, line)
			}
			rows.Close()
			if i == 2 {
				out, _ := os.OpenFile("/tmp/palisade-plans.txt", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
				out.WriteString(q + "\n" + strings.Join(plan, "\n") + "\n\n")
				out.Close()
			}
		}
	}
}
