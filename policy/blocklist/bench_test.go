package blocklist

import (
	"fmt"
	"testing"
)

// bigList is n distinct suspended domains with a comment each, the size of
// the largest community lists times a hundred.
func bigList(n, offset int) List {
	l := List{Entries: make([]Entry, n)}
	for i := range l.Entries {
		l.Entries[i] = Entry{Domain: fmt.Sprintf("host-%d.example", i+offset), Severity: SeveritySuspend, RejectMedia: i%3 == 0, PublicComment: "spam"}
		l.Entries[i].Digest = DomainDigest(l.Entries[i].Domain)
	}
	return l
}

func benchParse(b *testing.B, f Format) {
	l := bigList(100_000, 0)
	data, err := Emit(f, l)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		got, errs, err := Parse(f, data)
		if err != nil || len(errs) != 0 || got.Len() != 100_000 {
			b.Fatal(err, errs)
		}
	}
}

func BenchmarkParseMastodonCSV100k(b *testing.B)    { benchParse(b, FormatMastodonCSV) }
func BenchmarkParseText100k(b *testing.B)           { benchParse(b, FormatText) }
func BenchmarkParseAdminJSON100k(b *testing.B)      { benchParse(b, FormatMastodonAdminJSON) }
func BenchmarkParseRapidBlockJSON100k(b *testing.B) { benchParse(b, FormatRapidBlockJSON) }

func BenchmarkEmitMastodonCSV100k(b *testing.B) {
	l := bigList(100_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Emit(FormatMastodonCSV, l); err != nil {
			b.Fatal(err)
		}
	}
}

// Three overlapping 100k-domain lists merged with a 2-of-3 consensus.
func BenchmarkMerge3x100k(b *testing.B) {
	srcs := []SourceList{{Name: "a", List: bigList(100_000, 0)}, {Name: "b", List: bigList(100_000, 50_000)}, {Name: "c", List: bigList(100_000, 25_000)}}
	b.ReportAllocs()
	for b.Loop() {
		if Merge(srcs, MergeOptions{MinSources: 2}).Len() == 0 {
			b.Fatal("empty merge")
		}
	}
}

func BenchmarkDiff100k(b *testing.B) {
	old, new := bigList(100_000, 0), bigList(100_000, 1_000)
	b.ReportAllocs()
	for b.Loop() {
		if c := Diff(old, new); len(c.Added) != 1_000 {
			b.Fatal(len(c.Added))
		}
	}
}
