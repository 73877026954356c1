// Package blocklist reads, writes, compares and merges domain blocklists in
// the formats the fediverse exchanges them in, and keeps subscriptions to
// blocklist URLs up to date.
//
// Formats (see Format): Mastodon domain-block and domain-allow CSV, plain CSV
// with a header row (FediBlockHole, Oliphant), plain text, GoToSocial JSON,
// Mastodon admin and public JSON, and RapidBlock JSON. Parse never half-reads
// silently: a row it cannot read is skipped and returned as a RowError that
// the caller must show to whoever imports the list.
//
// Every Entry carries Digest, the hex SHA-256 of its domain, because
// Mastodon's public API publishes obfuscated domains ("ex***le.com") that can
// only be recognised by that digest. Lists are keyed by digest throughout
// (Diff, Merge), so a masked entry in one list and the plain domain in another
// are the same block.
//
// The package is pure apart from HTTPFetcher (http_fetcher.go), the one
// adapter that reaches the network; Syncer talks to any Fetcher.
package blocklist
