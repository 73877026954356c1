package blocklist

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the .golden files under testdata/ from the current output")

// samples are the hand-written lists under testdata/ and the format each
// must be detected as.
var samples = map[string]Format{
	"mastodon.csv":            FormatMastodonCSV,
	"mastodon-headerless.csv": FormatMastodonCSV,
	"mastodon-allow.csv":      FormatMastodonAllowCSV,
	"oliphant.csv":            FormatCSV,
	"fediblockhole.csv":       FormatCSV,
	"blocklist.txt":           FormatText,
	"gotosocial.json":         FormatGoToSocialJSON,
	"mastodon-admin.json":     FormatMastodonAdminJSON,
	"mastodon-public.json":    FormatMastodonPublicJSON,
	"rapidblock.json":         FormatRapidBlockJSON,
}

func sampleNames() []string {
	var names []string
	for n := range samples {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// dump prints a parse result the way the golden files hold it: one entry
// per line with every field, then the row errors.
func dump(f Format, l List, rowErrs []RowError) string {
	var b strings.Builder
	fmt.Fprintf(&b, "format: %s\n", f)
	if l.Allow {
		b.WriteString("allowlist\n")
	}
	fmt.Fprintf(&b, "entries: %d\n", len(l.Entries))
	for _, e := range l.Entries {
		fmt.Fprintf(&b, "  %s %s", e.Domain, describe(e))
		if e.PublicComment != "" {
			fmt.Fprintf(&b, " public=%q", e.PublicComment)
		}
		if e.PrivateComment != "" {
			fmt.Fprintf(&b, " private=%q", e.PrivateComment)
		}
		fmt.Fprintf(&b, " digest=%s\n", e.Digest[:12])
	}
	fmt.Fprintf(&b, "row errors: %d\n", len(rowErrs))
	for _, re := range rowErrs {
		fmt.Fprintf(&b, "  %s\n", re.Error())
	}
	return b.String()
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -rewrite to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run %s -rewrite regenerates it after a deliberate change)\n--- got\n%s--- want\n%s", path, t.Name(), got, want)
	}
}

// TestGoldenSamples reads every sample list: what Detect calls it, which
// entries come out, and which rows are reported and skipped.
func TestGoldenSamples(t *testing.T) {
	for _, name := range sampleNames() {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			f := Detect(name, data)
			if f != samples[name] {
				t.Errorf("Detect(%s) = %q, want %q", name, f, samples[name])
			}
			if g := Detect("", data); g != f {
				t.Errorf("Detect without a name = %q, want %q: the content alone must tell", g, f)
			}
			l, rowErrs, err := Parse(f, data)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", name+".golden"), dump(f, l, rowErrs))
		})
	}
}

// carried is what of e survives a trip through format f.
func carried(f Format, e Entry) Entry {
	e.Digest = e.key()
	switch f {
	case FormatMastodonCSV, FormatCSV:
		e.PrivateComment = ""
	case FormatMastodonAllowCSV:
		e = Entry{Domain: e.Domain, Digest: e.Digest}
	case FormatText:
		e = Entry{Domain: e.Domain, Digest: e.Digest, Severity: SeveritySuspend}
	case FormatGoToSocialJSON:
		e = Entry{Domain: e.Domain, Digest: e.Digest, Severity: SeveritySuspend, PublicComment: e.PublicComment, Obfuscate: e.Obfuscate}
	case FormatMastodonPublicJSON:
		d := e.Domain
		if e.Obfuscate {
			d = MaskDomain(d)
		}
		e = Entry{Domain: d, Digest: e.Digest, Severity: e.Severity, PublicComment: e.PublicComment, Obfuscate: e.Obfuscate}
	case FormatRapidBlockJSON:
		e = Entry{Domain: e.Domain, Digest: e.Digest, Severity: SeveritySuspend, PublicComment: e.PublicComment}
	}
	return e
}

func byKey(l List) map[string]Entry {
	m := map[string]Entry{}
	for _, e := range l.Entries {
		m[e.key()] = e
	}
	return m
}

// roundTrip emits l as f (the part that fits) and reads it back, failing
// the test unless every carried field survives.
func roundTrip(t testing.TB, f Format, l List) {
	fit, _ := Fit(f, l)
	if l.Allow && f == FormatText {
		return // text reads back as a blocklist; allowlists leave through it only
	}
	out, err := Emit(f, fit)
	if err != nil {
		if l.Allow != (f == FormatMastodonAllowCSV || f == FormatText) {
			return // kind mismatch is refused, as documented
		}
		t.Fatalf("Emit(%s): %v", f, err)
	}
	back, rowErrs, err := Parse(f, out)
	if err != nil {
		t.Fatalf("Parse(%s) of our own output: %v\n%s", f, err, out)
	}
	if len(rowErrs) > 0 {
		t.Fatalf("Parse(%s) of our own output reported rows: %v\n%s", f, rowErrs, out)
	}
	if g := Detect("", out); g != f && !(len(fit.Entries) == 0) && !(f == FormatCSV || f == FormatMastodonAllowCSV && g == FormatMastodonAllowCSV) {
		t.Errorf("Detect of our own %s output = %q", f, g)
	}
	want := map[string]Entry{}
	for _, e := range fit.Entries {
		want[e.key()] = carried(f, e)
	}
	if got := byKey(back); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip through %s changed the list\n--- emitted\n%s--- got  %+v\n--- want %+v", f, out, got, want)
	}
}

// TestRoundTrip writes every sample in every format and reads it back.
func TestRoundTrip(t *testing.T) {
	for _, name := range sampleNames() {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		l, _, err := Parse(samples[name], data)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range Formats {
			t.Run(name+"/"+string(f), func(t *testing.T) { roundTrip(t, f, l) })
		}
	}
}

// TestEmitSameFormatIsStable: a file Palisade wrote reads and writes back
// byte for byte.
func TestEmitSameFormatIsStable(t *testing.T) {
	data, err := os.ReadFile("testdata/mastodon.csv")
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := Parse(FormatMastodonCSV, data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Emit(FormatMastodonCSV, l)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("mastodon.csv does not survive read+write byte for byte:\n%s", out)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate" {
		t.Errorf("Mastodon header = %q", first)
	}
}

func TestPlainCSVWritesPythonBooleans(t *testing.T) {
	l := List{Entries: []Entry{{Domain: "a.example", Severity: SeveritySilence, RejectMedia: true}}}
	out, err := Emit(FormatCSV, l)
	if err != nil {
		t.Fatal(err)
	}
	want := "domain,severity,reject_media,reject_reports,public_comment,obfuscate\na.example,silence,True,False,,False\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestEmitRefusesWhatFormatCannotSay(t *testing.T) {
	l := List{Entries: []Entry{
		{Domain: "a.example", Severity: SeveritySuspend},
		{Domain: "b.example", Severity: SeveritySilence},
	}}
	for _, f := range []Format{FormatText, FormatGoToSocialJSON, FormatRapidBlockJSON} {
		if _, err := Emit(f, l); err == nil || !strings.Contains(err.Error(), "b.example") {
			t.Errorf("Emit(%s) of a silence: err = %v, want a refusal naming b.example", f, err)
		}
		fit, dropped := Fit(f, l)
		if len(fit.Entries) != 1 || len(dropped) != 1 || dropped[0].Entry.Domain != "b.example" {
			t.Errorf("Fit(%s) = %v, %v", f, fit, dropped)
		}
	}
	secret := List{Entries: []Entry{{Domain: "secret.example", Severity: SeveritySuspend, Obfuscate: true}}}
	for _, f := range []Format{FormatText, FormatRapidBlockJSON} {
		if out, err := Emit(f, secret); err == nil {
			t.Errorf("Emit(%s) published an obfuscated domain in clear:\n%s", f, out)
		}
	}
	if out, err := Emit(FormatMastodonPublicJSON, secret); err != nil || bytes.Contains(out, []byte("secret.example")) {
		t.Errorf("public JSON must mask the domain: %s, %v", out, err)
	}
	masked := List{Entries: []Entry{{Domain: "hi***n.example", Digest: DomainDigest("hidden.example"), Severity: SeveritySuspend, Obfuscate: true}}}
	if _, err := Emit(FormatMastodonCSV, masked); err == nil {
		t.Error("Emit(mastodon-csv) wrote a digest-only entry it cannot name")
	}
	if _, err := Emit(FormatMastodonPublicJSON, masked); err != nil {
		t.Errorf("Emit(mastodon-public-json) of a digest-only entry: %v", err)
	}
	if _, err := Emit(FormatMastodonAllowCSV, l); err == nil {
		t.Error("a blocklist was written as an allow CSV")
	}
}

func TestNormalizeDomain(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "Example.COM", want: "example.com"},
		{in: " example.com. ", want: "example.com"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "*.example.com", want: "*.example.com"},
		{in: "", err: "empty domain"},
		{in: "https://example.com/", err: "looks like a URL"},
		{in: "@user@example.com", err: "looks like a URL or an account"},
		{in: "192.0.2.1", err: "IP address"},
		{in: "example.com:443", err: "has a port"},
		{in: "localhost", err: "needs a dot"},
		{in: "ex***le.com", err: "need a digest"},
		{in: "exa mple.com", err: "has a space"},
		{in: "exa_mple.com", err: "not a valid domain"},
		{in: "a..example", err: "not a valid domain"},
		{in: strings.Repeat("a", 64) + ".example", err: "63"},
	} {
		got, err := NormalizeDomain(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NormalizeDomain(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestWholeFileErrors(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		data string
		want string
	}{
		{FormatCSV, "example.com,suspend\n", "needs a header row"},
		{FormatGoToSocialJSON, `{"domain": "a.example"}`, "want a JSON array"},
		{FormatMastodonAdminJSON, `[{"domain": "a.example", "severity": "suspend"},`, "broken JSON"},
		{FormatRapidBlockJSON, `{"other": {}}`, "no \"blocks\" object"},
		{FormatMastodonPublicJSON, `[] []`, "after the end"},
		{FormatAuto, "\x00\x01binary", "cannot tell the blocklist format"},
	} {
		l, rowErrs, err := Parse(tc.f, []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s, %q) err = %v, want it to mention %q", tc.f, tc.data, err, tc.want)
		}
		if len(l.Entries) != 0 || len(rowErrs) != 0 {
			t.Errorf("Parse(%s, %q) returned a partial list with a file error", tc.f, tc.data)
		}
	}
}

// A JSON row's error carries the line the element starts on, so an admin
// can find it in a 10,000-line export.
func TestJSONRowErrorLines(t *testing.T) {
	data := "[\n  {\"domain\": \"a.example\", \"severity\": \"suspend\"},\n  {\"domain\": \"b.example\",\n   \"severity\": \"obliterate\"},\n  {\"domain\": \"c.example\", \"severity\": \"silence\", \"reject_media\": \"perhaps\"}\n]"
	l, rowErrs, err := Parse(FormatMastodonAdminJSON, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 1 || l.Entries[0].Domain != "a.example" {
		t.Errorf("entries = %+v, want only a.example", l.Entries)
	}
	if len(rowErrs) != 2 || rowErrs[0].Line != 3 || rowErrs[1].Line != 5 {
		t.Fatalf("row errors = %+v, want lines 3 and 5", rowErrs)
	}
	if !strings.Contains(rowErrs[0].Error(), "obliterate") || !strings.Contains(rowErrs[1].Error(), "perhaps") {
		t.Errorf("row errors do not name the bad values: %v", rowErrs)
	}
}

func TestMaskedEntryMatchesByDigest(t *testing.T) {
	data := fmt.Sprintf(`[{"domain":"hid*******e.example","digest":%q,"severity":"suspend","comment":""}]`, DomainDigest("hidden-hate.example"))
	l, rowErrs, err := Parse(FormatMastodonPublicJSON, []byte(data))
	if err != nil || len(rowErrs) != 0 || len(l.Entries) != 1 {
		t.Fatalf("Parse = %+v, %v, %v", l, rowErrs, err)
	}
	e := l.Entries[0]
	if !e.DigestOnly() || !e.Obfuscate {
		t.Errorf("entry %+v should be digest-only and obfuscated", e)
	}
	if !e.Matches("hidden-hate.example") || e.Matches("other.example") {
		t.Error("masked entry does not match by digest")
	}
	// The same domain known by name in another list is the same entry.
	d := Diff(l, List{Entries: []Entry{{Domain: "hidden-hate.example", Severity: SeveritySuspend}}})
	if len(d.Added)+len(d.Removed) != 0 || len(d.Changed) != 1 || d.Changed[0].Fields[0] != "domain" {
		t.Errorf("masked vs plain diff = %+v, want one change of the domain field", d)
	}
}

func TestMaskDomain(t *testing.T) {
	for _, d := range []string{"hidden-hate.example", "a.b", "xn--bcher-kva.example", "*.x.example"} {
		m := MaskDomain(d)
		if !isMasked(m) || len(m) != len(d)+boolInt(m[len(m)-1] == '*' && d[len(d)-1] != '*') {
			t.Errorf("MaskDomain(%q) = %q", d, m)
		}
		if _, _, err := normalizeMasked(m, DomainDigest(d)); err != nil {
			t.Errorf("MaskDomain(%q) = %q which we cannot read back: %v", d, m, err)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestNewList(t *testing.T) {
	l, errs := NewList([]Entry{
		{Domain: "Spam.Example."},
		{Domain: "quiet.example", Severity: "limit", RejectMedia: true},
		{Domain: "spam.example", Severity: SeveritySilence},
		{Domain: "bad domain"},
		{Domain: "hid***n.example", Digest: DomainDigest("hidden.example")},
	}, false)
	if got := domains(l); !reflect.DeepEqual(got, []string{"spam.example:suspend", "quiet.example:silence", "hid***n.example:suspend"}) {
		t.Errorf("entries = %v", got)
	}
	if len(errs) != 2 || errs[0].Line != 3 || errs[1].Line != 4 {
		t.Errorf("row errors = %+v, want positions 3 (duplicate) and 4 (bad domain)", errs)
	}
}

// The ASCII fast path must agree with the IDNA path on everything it
// accepts.
func TestNormalizeFastPathAgreesWithIDNA(t *testing.T) {
	alphabet := "aZ09-."
	var gen func(prefix string, n int)
	checked := 0
	gen = func(prefix string, n int) {
		if n == 0 {
			fast, ok := plainASCII(prefix)
			if !ok {
				return
			}
			checked++
			slow, err := idnaProfile.ToASCII(prefix)
			if err != nil || strings.ToLower(slow) != fast || checkHostname(fast) != nil {
				t.Errorf("%q: fast path %q, IDNA %q (%v)", prefix, fast, slow, err)
			}
			return
		}
		for i := range alphabet {
			gen(prefix+alphabet[i:i+1], n-1)
		}
	}
	for n := 3; n <= 6; n++ {
		gen("", n)
	}
	for _, s := range []string{"ab--c.example", "xn--bcher-kva.example", "-a.example", "a-.example", "a.b-"} {
		if _, ok := plainASCII(s); ok {
			t.Errorf("fast path accepted %q, which IDNA must check", s)
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d strings took the fast path", checked)
	}
}

func TestDetectEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       Format
	}{
		{"", "a.example # spam, scam\nb.example\n", FormatText},
		{"", "a.example,suspend\n", FormatMastodonCSV},
		{"", "\"domain\",\"severity\"\na.example,silence\n", FormatCSV},
		{"", "#domain\na.example\n", FormatMastodonAllowCSV},
		{"list.csv", "a.example\n", FormatMastodonCSV},
		{"list.txt", "a.example\n", FormatText},
		{"", `[{"domain":"a.example","digest":"x","severity":"silence","comment":""}]`, FormatMastodonPublicJSON},
		{"", `[{"domain":"a.example","severity":"silence","reject_media":true}]`, FormatMastodonAdminJSON},
		{"", `[{"domain":"a.example","obfuscate":false}]`, FormatGoToSocialJSON},
		{"", `{"blocks":{}}`, FormatRapidBlockJSON},
		{"", `{"something":"else"}`, ""},
		{"", "\x89PNG\r\n\x1a\n\x00\x00", ""},
	} {
		if got := Detect(tc.name, []byte(tc.data)); got != tc.want {
			t.Errorf("Detect(%q, %q) = %q, want %q", tc.name, tc.data, got, tc.want)
		}
	}
}
