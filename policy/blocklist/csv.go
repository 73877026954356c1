package blocklist

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// mastodonHeader is the exact header Mastodon writes on its domain-block
// export, and the one a headerless file is read with.
var mastodonHeader = []string{"#domain", "#severity", "#reject_media", "#reject_reports", "#public_comment", "#obfuscate"}

// plainHeader is what Emit writes for FormatCSV: FediBlockHole's column
// names. Private comments are not written: CSV lists are made to be shared.
var plainHeader = []string{"domain", "severity", "reject_media", "reject_reports", "public_comment", "obfuscate"}

// columns maps a column name (without '#', lowercase) to its index.
type columns map[string]int

func headerColumns(rec []string) columns {
	c := columns{}
	for i, name := range rec {
		n := strings.ToLower(strings.TrimSpace(name))
		n = strings.TrimPrefix(n, "#")
		// FediBlockHole and The Bad Space say "comment" for the public one.
		if n == "comment" {
			n = "public_comment"
		}
		if _, dup := c[n]; !dup {
			c[n] = i
		}
	}
	return c
}

func (c columns) get(rec []string, name string) (string, bool) {
	i, ok := c[name]
	if !ok || i >= len(rec) {
		return "", false
	}
	return strings.TrimSpace(rec[i]), true
}

func newCSVReader(data []byte) *csv.Reader {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // rows may be short or long; the header decides
	r.ReuseRecord = true
	return r
}

// readCSV calls row for every record after the header. header receives the
// first record and says whether it was a header (consumed) or data.
func readCSV(b *builder, data []byte, header func(rec []string) (columns, bool, error), row func(line int, cols columns, rec []string)) error {
	r := newCSVReader(data)
	var cols columns
	first := true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		line := 0
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			if first {
				return fmt.Errorf("line %d: malformed CSV: %v", line, err)
			}
			b.rowErr(line, "", "malformed CSV, row skipped: %v", unwrapCSV(err))
			continue
		}
		line, _ = r.FieldPos(0)
		if first {
			first = false
			var isHeader bool
			cols, isHeader, err = header(rec)
			if err != nil {
				return err
			}
			if isHeader {
				continue
			}
		}
		row(line, cols, rec)
	}
}

func unwrapCSV(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func parseMastodonCSV(b *builder, data []byte, allow bool) error {
	def := mastodonHeader
	if allow {
		def = mastodonHeader[:1]
	}
	header := func(rec []string) (columns, bool, error) {
		if len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "#domain") {
			return headerColumns(rec), true, nil
		}
		// Mastodon reads a file without a header with its own header.
		return headerColumns(def), false, nil
	}
	return readCSV(b, data, header, func(line int, cols columns, rec []string) { csvRow(b, line, cols, rec) })
}

func parsePlainCSV(b *builder, data []byte) error {
	header := func(rec []string) (columns, bool, error) {
		cols := headerColumns(rec)
		if _, ok := cols["domain"]; !ok {
			return nil, false, fmt.Errorf("line 1: plain CSV needs a header row naming its columns, like %s; the first row is %q (a list without a header is Mastodon's format: read it as %s)",
				strings.Join(plainHeader, ","), clip(strings.Join(rec, ",")), FormatMastodonCSV)
		}
		return cols, true, nil
	}
	return readCSV(b, data, header, func(line int, cols columns, rec []string) { csvRow(b, line, cols, rec) })
}

// csvRow reads one data row by column name; both CSV dialects share it.
func csvRow(b *builder, line int, cols columns, rec []string) {
	domain, ok := cols.get(rec, "domain")
	if !ok || domain == "" {
		b.rowErr(line, "", "no domain in this row")
		return
	}
	e := Entry{Domain: domain}
	sev, _ := cols.get(rec, "severity")
	var err error
	if e.Severity, err = ParseSeverity(sev); err != nil {
		b.rowErr(line, domain, "%v", err)
		return
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"reject_media", &e.RejectMedia}, {"reject_reports", &e.RejectReports}, {"obfuscate", &e.Obfuscate}} {
		v, _ := cols.get(rec, f.name)
		if *f.dst, err = parseBool(v); err != nil {
			b.rowErr(line, domain, "column %s: %v", f.name, err)
			return
		}
	}
	e.PublicComment, _ = cols.get(rec, "public_comment")
	e.PrivateComment, _ = cols.get(rec, "private_comment")
	e.Digest, _ = cols.get(rec, "digest")
	b.add(line, e)
}

// parseBool reads the booleans blocklists write: Mastodon "true"/"false",
// Oliphant's Python "True"/"False", spreadsheets' "TRUE", and 1/0, yes/no.
// Empty is false.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "f", "0", "no", "n":
		return false, nil
	case "true", "t", "1", "yes", "y":
		return true, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want true or false)", clip(s))
}

func emitMastodonCSV(l List) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(mastodonHeader) // writes to a bytes.Buffer do not fail
	for _, e := range l.Entries {
		_ = w.Write([]string{e.Domain, string(e.Severity), fmt.Sprint(e.RejectMedia), fmt.Sprint(e.RejectReports), e.PublicComment, fmt.Sprint(e.Obfuscate)})
	}
	w.Flush()
	return buf.Bytes()
}

func emitMastodonAllowCSV(l List) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(mastodonHeader[:1])
	for _, e := range l.Entries {
		_ = w.Write([]string{e.Domain})
	}
	w.Flush()
	return buf.Bytes()
}

// pyBool spells booleans the way Oliphant and FediBlockHole (Python) do.
func pyBool(v bool) string {
	if v {
		return "True"
	}
	return "False"
}

func emitPlainCSV(l List) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(plainHeader)
	for _, e := range l.Entries {
		_ = w.Write([]string{e.Domain, string(e.Severity), pyBool(e.RejectMedia), pyBool(e.RejectReports), e.PublicComment, pyBool(e.Obfuscate)})
	}
	w.Flush()
	return buf.Bytes()
}
