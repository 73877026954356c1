package oauth

import (
	"fmt"
	"slices"
	"strings"
)

// The top-level scopes, as Mastodon names them. A granted top-level scope
// covers its sub-scopes ("read" covers "read:statuses"); see Grant.Allows.
const (
	ScopeRead       = "read"
	ScopeWrite      = "write"
	ScopeFollow     = "follow"
	ScopePush       = "push"
	ScopeProfile    = "profile"
	ScopeAdminRead  = "admin:read"
	ScopeAdminWrite = "admin:write"
)

// subScopes are the sub-scopes Mastodon 4 defines under each top-level
// scope, plus Palisade's own admin:read:palisade and admin:write:palisade
// (the /api/v1/palisade/ admin API).
var subScopes = map[string][]string{
	ScopeRead: {"accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists", "mutes",
		"notifications", "search", "statuses"},
	ScopeWrite: {"accounts", "blocks", "bookmarks", "conversations", "favourites", "filters", "follows",
		"lists", "media", "mutes", "notifications", "reports", "statuses"},
	ScopeAdminRead: {"accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
		"canonical_email_blocks", "palisade"},
	ScopeAdminWrite: {"accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
		"canonical_email_blocks", "palisade"},
}

// followCovers is what the legacy "follow" scope grants: Mastodon maps it
// to reading and changing follows, blocks and mutes.
var followCovers = []string{"read:blocks", "write:blocks", "read:follows", "write:follows", "read:mutes", "write:mutes"}

// known is every scope an app may register or request.
var known = func() map[string]bool {
	m := map[string]bool{ScopeFollow: true, ScopePush: true, ScopeProfile: true}
	for top, subs := range subScopes {
		m[top] = true
		for _, s := range subs {
			m[top+":"+s] = true
		}
	}
	return m
}()

// Supported lists every scope the server knows, sorted (the
// scopes_supported of the discovery document).
func Supported() []string {
	out := make([]string, 0, len(known))
	for s := range known {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// ParseScopes splits a scope parameter (space-separated, as RFC 6749 says;
// newlines and tabs are accepted too, and duplicates dropped) and checks
// that every scope is known. An empty string gives def.
func ParseScopes(s string, def []string) ([]string, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return slices.Clone(def), nil
	}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if !known[f] {
			if len(f) > 64 {
				f = f[:64] + "…"
			}
			return nil, fmt.Errorf("unknown scope %q (want read, write, follow, push, profile, admin:read, admin:write or one of their sub-scopes such as read:statuses)", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// covers reports whether holding scope granted allows scope want.
func covers(granted, want string) bool {
	if granted == want {
		return true
	}
	if strings.HasPrefix(want, granted) && len(want) > len(granted) && want[len(granted)] == ':' {
		// "read" covers "read:statuses", "admin:read" covers
		// "admin:read:accounts"; "admin" is no scope, so nothing
		// covers across the read/write boundary.
		return subScopes[granted] != nil
	}
	return granted == ScopeFollow && slices.Contains(followCovers, want)
}

// allowsAll reports whether the scopes granted cover every scope in want.
func allowsAll(granted, want []string) (missing string, ok bool) {
	for _, w := range want {
		if !slices.ContainsFunc(granted, func(g string) bool { return covers(g, w) }) {
			return w, false
		}
	}
	return "", true
}

// Allows reports whether the grant covers scope: granted exactly, or
// through a top-level scope ("read" covers "read:statuses", "write" every
// "write:…", "admin:read" every "admin:read:…", and "follow" the follow,
// block and mute sub-scopes as on Mastodon). A nil Grant allows nothing.
func (g *Grant) Allows(scope string) bool {
	if g == nil {
		return false
	}
	return slices.ContainsFunc(g.Scopes, func(have string) bool { return covers(have, scope) })
}
