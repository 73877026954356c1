package blocklist

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// checkParse is the property every parser must hold on any input: no
// panic; a file error comes with nothing else; every entry is normalised
// and valid; every row error has a line and a problem; and what was read
// survives being written in the same format and read again.
func checkParse(t *testing.T, f Format, data []byte) {
	l, rowErrs, err := Parse(f, data)
	if err != nil {
		if len(l.Entries) != 0 || len(rowErrs) != 0 {
			t.Fatalf("file error %v came with %d entries and %d row errors", err, len(l.Entries), len(rowErrs))
		}
		return
	}
	for _, re := range rowErrs {
		if re.Line < 1 || re.Problem == "" {
			t.Fatalf("row error without line or problem: %+v", re)
		}
	}
	seen := map[string]bool{}
	for _, e := range l.Entries {
		if !e.DigestOnly() {
			if n, err := NormalizeDomain(e.Domain); err != nil || n != e.Domain {
				t.Fatalf("entry domain %q is not normalised (%q, %v)", e.Domain, n, err)
			}
		}
		if e.Digest != e.key() {
			t.Fatalf("entry %q has digest %q, want %q", e.Domain, e.Digest, e.key())
		}
		if l.Allow != (e.Severity == "") || (!l.Allow && !e.Severity.Valid()) {
			t.Fatalf("entry %q has severity %q in a list with Allow=%v", e.Domain, e.Severity, l.Allow)
		}
		if seen[e.key()] {
			t.Fatalf("entry %q listed twice", e.Domain)
		}
		seen[e.key()] = true
	}
	target := f
	if target == FormatAuto {
		target = Detect("", data)
	}
	roundTrip(t, target, l)
}

// addSamples seeds f with every sample under testdata/ (the fuzzer learns
// each format's shape from them) plus a few small edge cases.
func addSamples(f *testing.F) {
	for _, name := range sampleNames() {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{"", "\xef\xbb\xbf#domain\n", "[]", "{\"blocks\":{}}", "a.example\n", "\"a.example\",\"suspend\"\n"} {
		f.Add([]byte(s))
	}
}

func FuzzMastodonCSV(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, FormatMastodonCSV, data) })
}

func FuzzMastodonAllowCSV(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, FormatMastodonAllowCSV, data) })
}

func FuzzPlainCSV(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, FormatCSV, data) })
}

func FuzzText(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, FormatText, data) })
}

func FuzzGoToSocialJSON(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, FormatGoToSocialJSON, data) })
}

func FuzzMastodonAdminJSON(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, FormatMastodonAdminJSON, data) })
}

func FuzzMastodonPublicJSON(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, FormatMastodonPublicJSON, data) })
}

func FuzzRapidBlockJSON(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, FormatRapidBlockJSON, data) })
}

// FuzzDetect: auto-detection never panics, and Parse(auto) is exactly
// Parse of the detected format.
func FuzzDetect(f *testing.F) {
	addSamples(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Detect("", bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
		if d == "" {
			if _, _, err := Parse(FormatAuto, data); err == nil {
				t.Fatal("Parse(auto) succeeded where Detect found no format")
			}
			return
		}
		checkParse(t, FormatAuto, data)
	})
}
