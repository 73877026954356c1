package blocklist

import (
	"bytes"
	"strings"
)

// parseText reads one domain per line. '#' starts a comment, at the start of
// a line or after whitespace; blank lines are skipped. Every domain is a
// suspend: a text list has no way to say anything milder.
func parseText(b *builder, data []byte) {
	line := 0
	for raw := range bytes.Lines(data) {
		line++
		s := string(raw)
		if i := strings.Index(s, "#"); i >= 0 && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.ContainsAny(s, ", \t;") {
			b.rowErr(line, s, "expected one domain on the line, found %q (is this a CSV file? read it as %s or %s)", clip(s), FormatMastodonCSV, FormatCSV)
			continue
		}
		b.add(line, Entry{Domain: s, Severity: SeveritySuspend})
	}
}

func emitText(l List) []byte {
	var buf bytes.Buffer
	for _, e := range l.Entries {
		buf.WriteString(e.Domain)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
