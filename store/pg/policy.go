package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Errors of the policy tables. Callers test them with errors.Is; the
// messages name the row.
var (
	// ErrNotFound: the row to change or remove does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a row with the same key exists and the call may not
	// replace it.
	ErrExists = errors.New("already exists")
)

// DomainPolicy is one row of policy_domains: a domain policy written
// through the admin API (or applied from elsewhere by a moderator). The
// fields mirror the policy engine's DomainEntry; this package stores them
// without interpreting them (Severity is "suspend", "silence" or "noop").
type DomainPolicy struct {
	ID             int64     `json:"id"`
	Domain         string    `json:"domain"`
	Digest         string    `json:"digest,omitempty"` // set only for entries known by digest
	Severity       string    `json:"severity"`
	RejectMedia    bool      `json:"reject_media,omitempty"`
	RejectReports  bool      `json:"reject_reports,omitempty"`
	StripAvatar    bool      `json:"strip_avatar,omitempty"`
	StripHeader    bool      `json:"strip_header,omitempty"`
	ForceSensitive bool      `json:"force_sensitive,omitempty"`
	Delist         bool      `json:"delist,omitempty"`
	FollowersOnly  bool      `json:"followers_only,omitempty"`
	RejectDeletes  bool      `json:"reject_deletes,omitempty"`
	PublicComment  string    `json:"public_comment,omitempty"`
	PrivateComment string    `json:"private_comment,omitempty"`
	Obfuscate      bool      `json:"obfuscate,omitempty"`
	Source         string    `json:"source"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	CreatedBy      string    `json:"created_by"`
}

// DomainAllow is one row of policy_allows.
type DomainAllow struct {
	Domain    string    `json:"domain"`
	Comment   string    `json:"comment,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// RuleFileRow is a rule file kept in the database.
type RuleFileRow struct {
	Name      string    `json:"name"`
	Body      string    `json:"body"`
	Enabled   bool      `json:"enabled"`
	Position  int       `json:"position"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RuleOverride turns shadow mode on or off for one rule id, whatever file
// holds the rule.
type RuleOverride struct {
	RuleID    string    `json:"rule_id"`
	Shadow    bool      `json:"shadow"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SubscriptionRow is a blocklist subscription. State is the subscription
// state as JSON (the caller's format; "{}" for a new one).
type SubscriptionRow struct {
	ID        string          `json:"id"`
	URL       string          `json:"url"`
	Format    string          `json:"format"`
	Priority  int             `json:"priority"`
	AutoApply bool            `json:"auto_apply"`
	Excludes  []string        `json:"excludes"`
	State     json.RawMessage `json:"state,omitempty"`
	LastSync  time.Time       `json:"last_sync,omitzero"`
	LastError string          `json:"last_error,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

// DraftRow is a subscription version waiting for a moderator. Draft is the
// caller's JSON description of it.
type DraftRow struct {
	ID             int64           `json:"id"`
	SubscriptionID string          `json:"subscription_id"`
	Draft          json.RawMessage `json:"draft"`
	CreatedAt      time.Time       `json:"created_at"`
}

// policyChange runs fn in a transaction that also writes one audit_log row
// (by, action, target, detail) and bumps the policy version, so nodes never
// see a version without its change nor a change without its audit row. It
// returns the new policy version.
func (db *DB) policyChange(ctx context.Context, by, action, target string, detail any, fn func(tx pgx.Tx) error) (int64, error) {
	var v int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if err := audit(ctx, tx, by, action, target, detail); err != nil {
			return err
		}
		var err error
		v, err = BumpPolicyVersion(ctx, tx)
		return err
	})
	return v, err
}

// audit writes one audit_log row.
func audit(ctx context.Context, tx pgx.Tx, by, action, target string, detail any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	d, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("pg: audit detail of %s: %w", action, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4)`,
		by, action, target, d); err != nil {
		return fmt.Errorf("pg: writing audit_log: %w", err)
	}
	return nil
}

const domainCols = `id, domain, digest, severity, reject_media, reject_reports, strip_avatar, strip_header,
	force_sensitive, delist, followers_only, reject_deletes, public_comment, private_comment, obfuscate,
	source, created_at, updated_at, created_by`

func scanDomain(r pgx.Row) (DomainPolicy, error) {
	var d DomainPolicy
	err := r.Scan(&d.ID, &d.Domain, &d.Digest, &d.Severity, &d.RejectMedia, &d.RejectReports, &d.StripAvatar,
		&d.StripHeader, &d.ForceSensitive, &d.Delist, &d.FollowersOnly, &d.RejectDeletes, &d.PublicComment,
		&d.PrivateComment, &d.Obfuscate, &d.Source, &d.CreatedAt, &d.UpdatedAt, &d.CreatedBy)
	return d, err
}

const putDomainSQL = `INSERT INTO policy_domains (domain, digest, severity, reject_media, reject_reports,
		strip_avatar, strip_header, force_sensitive, delist, followers_only, reject_deletes, public_comment,
		private_comment, obfuscate, source, created_by)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
	ON CONFLICT (domain, digest) DO UPDATE SET severity = EXCLUDED.severity,
		reject_media = EXCLUDED.reject_media, reject_reports = EXCLUDED.reject_reports,
		strip_avatar = EXCLUDED.strip_avatar, strip_header = EXCLUDED.strip_header,
		force_sensitive = EXCLUDED.force_sensitive, delist = EXCLUDED.delist,
		followers_only = EXCLUDED.followers_only, reject_deletes = EXCLUDED.reject_deletes,
		public_comment = EXCLUDED.public_comment, private_comment = EXCLUDED.private_comment,
		obfuscate = EXCLUDED.obfuscate, source = EXCLUDED.source, updated_at = now()
	RETURNING ` + domainCols + `, (xmax = 0)`

func putDomainArgs(by string, d DomainPolicy) []any {
	if d.Source == "" {
		d.Source = "api"
	}
	return []any{d.Domain, d.Digest, d.Severity, d.RejectMedia, d.RejectReports, d.StripAvatar, d.StripHeader,
		d.ForceSensitive, d.Delist, d.FollowersOnly, d.RejectDeletes, d.PublicComment, d.PrivateComment,
		d.Obfuscate, d.Source, by}
}

func scanPutDomain(row pgx.Row) (DomainPolicy, bool, error) {
	var out DomainPolicy
	var created bool
	err := row.Scan(&out.ID, &out.Domain, &out.Digest, &out.Severity, &out.RejectMedia, &out.RejectReports,
		&out.StripAvatar, &out.StripHeader, &out.ForceSensitive, &out.Delist, &out.FollowersOnly,
		&out.RejectDeletes, &out.PublicComment, &out.PrivateComment, &out.Obfuscate, &out.Source,
		&out.CreatedAt, &out.UpdatedAt, &out.CreatedBy, &created)
	return out, created, err
}

// putDomain upserts d by (domain, digest); created_at and created_by of an
// existing row are kept.
func putDomain(ctx context.Context, tx pgx.Tx, by string, d DomainPolicy) (DomainPolicy, bool, error) {
	out, created, err := scanPutDomain(tx.QueryRow(ctx, putDomainSQL, putDomainArgs(by, d)...))
	if err != nil {
		return out, false, fmt.Errorf("pg: storing domain policy %s: %w", d.Domain, err)
	}
	return out, created, nil
}

// PutDomainPolicy adds d, or replaces the row with the same domain (and
// digest), on behalf of by. It returns the stored row, whether it was new,
// and the new policy version.
func (db *DB) PutDomainPolicy(ctx context.Context, by string, d DomainPolicy) (DomainPolicy, bool, int64, error) {
	var out DomainPolicy
	var created bool
	v, err := db.policyChange(ctx, by, "domain_policy.put", d.Domain, d, func(tx pgx.Tx) error {
		var err error
		out, created, err = putDomain(ctx, tx, by, d)
		return err
	})
	return out, created, v, err
}

// PutDomainPolicies stores many rows in one transaction (an import): one
// audit row listing the domains, one version bump. It returns how many rows
// were new and the new policy version.
func (db *DB) PutDomainPolicies(ctx context.Context, by, what string, ds []DomainPolicy) (created int, version int64, err error) {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Domain
	}
	detail := map[string]any{"count": len(ds), "domains": names, "from": what}
	version, err = db.policyChange(ctx, by, "domain_policy.import", what, detail, func(tx pgx.Tx) error {
		// One round trip for the lot: an import of a 10,000-row list
		// would otherwise wait on 10,000 of them.
		var b pgx.Batch
		for _, d := range ds {
			b.Queue(putDomainSQL, putDomainArgs(by, d)...)
		}
		br := tx.SendBatch(ctx, &b)
		for _, d := range ds {
			_, c, err := scanPutDomain(br.QueryRow())
			if err != nil {
				br.Close()
				return fmt.Errorf("pg: storing domain policy %s: %w", d.Domain, err)
			}
			if c {
				created++
			}
		}
		return br.Close()
	})
	return created, version, err
}

// DeleteDomainPolicy removes the row of domain (its domain or its digest).
// It returns ErrNotFound when there is none.
func (db *DB) DeleteDomainPolicy(ctx context.Context, by, domain string) (int64, error) {
	return db.policyChange(ctx, by, "domain_policy.delete", domain, nil, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM policy_domains WHERE domain = $1 OR digest = $1`, domain)
		if err != nil {
			return fmt.Errorf("pg: removing domain policy %s: %w", domain, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pg: no domain policy for %s: %w", domain, ErrNotFound)
		}
		return nil
	})
}

// ListDomainPolicies returns the rows whose domain contains search (all
// when empty), ordered by domain.
func (db *DB) ListDomainPolicies(ctx context.Context, search string) ([]DomainPolicy, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+domainCols+` FROM policy_domains
		WHERE $1 = '' OR strpos(domain, lower($1)) > 0 OR digest = lower($1) ORDER BY domain, digest`, search)
	if err != nil {
		return nil, fmt.Errorf("pg: listing domain policies: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DomainPolicy, error) { return scanDomain(r) })
	if err != nil {
		return nil, fmt.Errorf("pg: listing domain policies: %w", err)
	}
	return out, nil
}

// PutDomainAllow adds (or updates the comment of) an allowlist domain.
func (db *DB) PutDomainAllow(ctx context.Context, by string, a DomainAllow) (int64, error) {
	return db.policyChange(ctx, by, "domain_allow.put", a.Domain, map[string]any{"comment": a.Comment}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO policy_allows (domain, comment, created_by) VALUES ($1, $2, $3)
			ON CONFLICT (domain) DO UPDATE SET comment = EXCLUDED.comment`, a.Domain, a.Comment, by)
		if err != nil {
			return fmt.Errorf("pg: storing allow %s: %w", a.Domain, err)
		}
		return nil
	})
}

// DeleteDomainAllow removes an allowlist domain; ErrNotFound when absent.
func (db *DB) DeleteDomainAllow(ctx context.Context, by, domain string) (int64, error) {
	return db.policyChange(ctx, by, "domain_allow.delete", domain, nil, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM policy_allows WHERE domain = $1`, domain)
		if err != nil {
			return fmt.Errorf("pg: removing allow %s: %w", domain, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pg: %s is not in the allowlist: %w", domain, ErrNotFound)
		}
		return nil
	})
}

// ListDomainAllows returns the allowlist, ordered by domain.
func (db *DB) ListDomainAllows(ctx context.Context) ([]DomainAllow, error) {
	rows, err := db.pool.Query(ctx, `SELECT domain, comment, created_at, created_by FROM policy_allows ORDER BY domain`)
	if err != nil {
		return nil, fmt.Errorf("pg: listing allows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DomainAllow, error) {
		var a DomainAllow
		err := r.Scan(&a.Domain, &a.Comment, &a.CreatedAt, &a.CreatedBy)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("pg: listing allows: %w", err)
	}
	return out, nil
}

// PutRuleFile stores a rule file. A new file goes after the others (its
// Position is ignored unless positive); an existing one keeps its position
// and enabled state unless f sets a positive Position. The caller MUST have
// validated the body: nodes refuse to reload while a stored file is broken.
func (db *DB) PutRuleFile(ctx context.Context, by string, f RuleFileRow) (RuleFileRow, bool, int64, error) {
	var out RuleFileRow
	var created bool
	v, err := db.policyChange(ctx, by, "rule_file.put", f.Name, map[string]any{"bytes": len(f.Body)}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO policy_rule_files (name, body, enabled, position, updated_by)
			VALUES ($1, $2, true, CASE WHEN $3 > 0 THEN $3 ELSE (SELECT coalesce(max(position), 0) + 1 FROM policy_rule_files) END, $4)
			ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body, updated_by = EXCLUDED.updated_by, updated_at = now(),
				position = CASE WHEN $3 > 0 THEN $3 ELSE policy_rule_files.position END
			RETURNING name, body, enabled, position, updated_by, updated_at, (xmax = 0)`,
			f.Name, f.Body, f.Position, by).Scan(&out.Name, &out.Body, &out.Enabled, &out.Position, &out.UpdatedBy, &out.UpdatedAt, &created)
		if err != nil {
			return fmt.Errorf("pg: storing rule file %s: %w", f.Name, err)
		}
		return nil
	})
	return out, created, v, err
}

// SetRuleFileEnabled enables or disables a stored rule file; ErrNotFound
// when there is none of that name.
func (db *DB) SetRuleFileEnabled(ctx context.Context, by, name string, enabled bool) (int64, error) {
	action := "rule_file.disable"
	if enabled {
		action = "rule_file.enable"
	}
	return db.policyChange(ctx, by, action, name, nil, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE policy_rule_files SET enabled = $2, updated_by = $3, updated_at = now() WHERE name = $1`, name, enabled, by)
		if err != nil {
			return fmt.Errorf("pg: updating rule file %s: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pg: no stored rule file %q: %w", name, ErrNotFound)
		}
		return nil
	})
}

// DeleteRuleFile removes a stored rule file; ErrNotFound when absent.
func (db *DB) DeleteRuleFile(ctx context.Context, by, name string) (int64, error) {
	return db.policyChange(ctx, by, "rule_file.delete", name, nil, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM policy_rule_files WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("pg: removing rule file %s: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pg: no stored rule file %q: %w", name, ErrNotFound)
		}
		return nil
	})
}

// ListRuleFiles returns the stored rule files in chain order (position,
// then name).
func (db *DB) ListRuleFiles(ctx context.Context) ([]RuleFileRow, error) {
	rows, err := db.pool.Query(ctx, `SELECT name, body, enabled, position, updated_by, updated_at
		FROM policy_rule_files ORDER BY position, name`)
	if err != nil {
		return nil, fmt.Errorf("pg: listing rule files: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RuleFileRow, error) {
		var f RuleFileRow
		err := r.Scan(&f.Name, &f.Body, &f.Enabled, &f.Position, &f.UpdatedBy, &f.UpdatedAt)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("pg: listing rule files: %w", err)
	}
	return out, nil
}

// SetRuleShadow stores a shadow override for ruleID.
func (db *DB) SetRuleShadow(ctx context.Context, by, ruleID string, shadow bool) (int64, error) {
	return db.policyChange(ctx, by, "rule.shadow", ruleID, map[string]any{"shadow": shadow}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO policy_rule_overrides (rule_id, shadow, updated_by) VALUES ($1, $2, $3)
			ON CONFLICT (rule_id) DO UPDATE SET shadow = EXCLUDED.shadow, updated_by = EXCLUDED.updated_by, updated_at = now()`,
			ruleID, shadow, by)
		if err != nil {
			return fmt.Errorf("pg: storing shadow override of %s: %w", ruleID, err)
		}
		return nil
	})
}

// DeleteRuleOverride drops the override of ruleID, so the rule file's own
// shadow setting applies again; ErrNotFound when there is none.
func (db *DB) DeleteRuleOverride(ctx context.Context, by, ruleID string) (int64, error) {
	return db.policyChange(ctx, by, "rule.override_delete", ruleID, nil, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM policy_rule_overrides WHERE rule_id = $1`, ruleID)
		if err != nil {
			return fmt.Errorf("pg: removing override of %s: %w", ruleID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pg: rule %s has no override: %w", ruleID, ErrNotFound)
		}
		return nil
	})
}

// ListRuleOverrides returns every override, by rule id.
func (db *DB) ListRuleOverrides(ctx context.Context) ([]RuleOverride, error) {
	rows, err := db.pool.Query(ctx, `SELECT rule_id, shadow, updated_by, updated_at FROM policy_rule_overrides ORDER BY rule_id`)
	if err != nil {
		return nil, fmt.Errorf("pg: listing rule overrides: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RuleOverride, error) {
		var o RuleOverride
		err := r.Scan(&o.RuleID, &o.Shadow, &o.UpdatedBy, &o.UpdatedAt)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("pg: listing rule overrides: %w", err)
	}
	return out, nil
}

const subCols = `id, url, format, priority, auto_apply, excludes, state, coalesce(last_sync, 'epoch'::timestamptz), last_error, created_at, created_by`

func scanSub(r pgx.Row) (SubscriptionRow, error) {
	var s SubscriptionRow
	var state []byte
	err := r.Scan(&s.ID, &s.URL, &s.Format, &s.Priority, &s.AutoApply, &s.Excludes, &state, &s.LastSync, &s.LastError, &s.CreatedAt, &s.CreatedBy)
	s.State = state
	if s.LastSync.Equal(time.Unix(0, 0)) {
		s.LastSync = time.Time{}
	}
	return s, err
}

// AddSubscription stores a new subscription; ErrExists when its id or URL
// is taken. Adding one contributes nothing until it is synced, so the
// policy version is bumped only to keep every change audited the same way.
func (db *DB) AddSubscription(ctx context.Context, by string, s SubscriptionRow) (SubscriptionRow, error) {
	var out SubscriptionRow
	if s.Excludes == nil {
		s.Excludes = []string{}
	}
	if len(s.State) == 0 {
		s.State = json.RawMessage("{}")
	}
	detail := map[string]any{"url": s.URL, "format": s.Format, "priority": s.Priority, "auto_apply": s.AutoApply, "excludes": s.Excludes}
	_, err := db.policyChange(ctx, by, "subscription.add", s.ID, detail, func(tx pgx.Tx) error {
		var err error
		out, err = scanSub(tx.QueryRow(ctx, `INSERT INTO policy_subscriptions (id, url, format, priority, auto_apply, excludes, state, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+subCols,
			s.ID, s.URL, s.Format, s.Priority, s.AutoApply, s.Excludes, []byte(s.State), by))
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			what := "id " + s.ID
			if strings.Contains(pe.ConstraintName, "url") {
				what = "URL " + s.URL
			}
			return fmt.Errorf("pg: a subscription with %s exists: %w", what, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("pg: storing subscription %s: %w", s.ID, err)
		}
		return nil
	})
	return out, err
}

// DeleteSubscription removes a subscription and its draft. What it
// contributed to the domain table is retracted (nodes recompile without
// it). ErrNotFound when absent.
func (db *DB) DeleteSubscription(ctx context.Context, by, id string) (int64, error) {
	return db.policyChange(ctx, by, "subscription.delete", id, nil, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM policy_subscriptions WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("pg: removing subscription %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pg: no subscription %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// ListSubscriptions returns every subscription with its state, by id.
func (db *DB) ListSubscriptions(ctx context.Context) ([]SubscriptionRow, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+subCols+` FROM policy_subscriptions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("pg: listing subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubscriptionRow, error) { return scanSub(r) })
	if err != nil {
		return nil, fmt.Errorf("pg: listing subscriptions: %w", err)
	}
	return out, nil
}

// SyncOutcome is what one sync of the subscriptions leaves behind, stored
// by SaveSync in one transaction.
type SyncOutcome struct {
	// States has the new state, last sync time and error of each synced
	// subscription (by ID; subscriptions removed meanwhile are skipped).
	States []SubscriptionRow
	// Drafts replace the pending draft of their subscription.
	Drafts []DraftRow
	// Cleared lists subscriptions whose pending draft is gone (applied,
	// or nothing waits any more).
	Cleared []string
	// Changed says the applied contributions changed: the policy version is
	// bumped so every node recompiles.
	Changed bool
	// Detail is written to the audit log.
	Detail any
}

// SaveSync stores a sync's outcome. The policy version is bumped (and an
// audit row written) only when o.Changed; it returns the version then in
// force.
func (db *DB) SaveSync(ctx context.Context, by string, o SyncOutcome) (int64, error) {
	var v int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		for _, s := range o.States {
			var last any
			if !s.LastSync.IsZero() {
				last = s.LastSync
			}
			if _, err := tx.Exec(ctx, `UPDATE policy_subscriptions SET state = $2, last_sync = $3, last_error = $4 WHERE id = $1`,
				s.ID, []byte(s.State), last, s.LastError); err != nil {
				return fmt.Errorf("pg: storing state of subscription %s: %w", s.ID, err)
			}
		}
		for _, id := range o.Cleared {
			if _, err := tx.Exec(ctx, `DELETE FROM policy_subscription_drafts WHERE subscription_id = $1`, id); err != nil {
				return fmt.Errorf("pg: clearing draft of %s: %w", id, err)
			}
		}
		for _, d := range o.Drafts {
			if _, err := tx.Exec(ctx, `INSERT INTO policy_subscription_drafts (subscription_id, draft)
				SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM policy_subscriptions WHERE id = $1)
				ON CONFLICT (subscription_id) DO UPDATE SET draft = EXCLUDED.draft, created_at = now()`,
				d.SubscriptionID, []byte(d.Draft)); err != nil {
				return fmt.Errorf("pg: storing draft of %s: %w", d.SubscriptionID, err)
			}
		}
		var err error
		if !o.Changed {
			v, err = PolicyVersion(ctx, tx)
			return err
		}
		if err := audit(ctx, tx, by, "subscription.sync", "", o.Detail); err != nil {
			return err
		}
		v, err = BumpPolicyVersion(ctx, tx)
		return err
	})
	return v, err
}

// ListDrafts returns the pending drafts, oldest first.
func (db *DB) ListDrafts(ctx context.Context) ([]DraftRow, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, subscription_id, draft, created_at FROM policy_subscription_drafts ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("pg: listing drafts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DraftRow, error) {
		var d DraftRow
		var b []byte
		err := r.Scan(&d.ID, &d.SubscriptionID, &b, &d.CreatedAt)
		d.Draft = b
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("pg: listing drafts: %w", err)
	}
	return out, nil
}

// GetDraft returns one draft by id; ErrNotFound when absent.
func (db *DB) GetDraft(ctx context.Context, id int64) (DraftRow, error) {
	var d DraftRow
	var b []byte
	err := db.pool.QueryRow(ctx, `SELECT id, subscription_id, draft, created_at FROM policy_subscription_drafts WHERE id = $1`, id).
		Scan(&d.ID, &d.SubscriptionID, &b, &d.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("pg: no draft %d: %w", id, ErrNotFound)
	}
	d.Draft = b
	return d, err
}

// ApplyDraft approves draft id: apply computes the subscription's new state
// from its current one (the caller's format), which is stored with the
// draft removed, an audit row, and a version bump, all in one transaction
// with the subscription row locked, so two moderators approving at once
// apply it once. ErrNotFound when the draft is gone.
func (db *DB) ApplyDraft(ctx context.Context, by string, id int64, apply func(sub SubscriptionRow) (json.RawMessage, error)) (int64, error) {
	var subID string
	return db.policyChange(ctx, by, "subscription.apply_draft", fmt.Sprint(id), map[string]any{"draft": id}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `DELETE FROM policy_subscription_drafts WHERE id = $1 RETURNING subscription_id`, id).Scan(&subID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pg: no draft %d (applied or discarded already?): %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("pg: applying draft %d: %w", id, err)
		}
		sub, err := scanSub(tx.QueryRow(ctx, `SELECT `+subCols+` FROM policy_subscriptions WHERE id = $1 FOR UPDATE`, subID))
		if err != nil {
			return fmt.Errorf("pg: applying draft %d: subscription %s: %w", id, subID, err)
		}
		state, err := apply(sub)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE policy_subscriptions SET state = $2 WHERE id = $1`, subID, []byte(state)); err != nil {
			return fmt.Errorf("pg: applying draft %d: %w", id, err)
		}
		return nil
	})
}

// DiscardDraft drops draft id without applying it; ErrNotFound when absent.
// The subscription keeps contributing its applied version.
func (db *DB) DiscardDraft(ctx context.Context, by string, id int64) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var subID string
		err := tx.QueryRow(ctx, `DELETE FROM policy_subscription_drafts WHERE id = $1 RETURNING subscription_id`, id).Scan(&subID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pg: no draft %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("pg: discarding draft %d: %w", id, err)
		}
		return audit(ctx, tx, by, "subscription.discard_draft", subID, map[string]any{"draft": id})
	})
}

// subscriptionSyncLock is the advisory lock key that lets one node at a
// time sync the subscriptions: the bytes of "pal-sync".
const subscriptionSyncLock int64 = 0x70616c2d73796e63

// WithSyncLock runs fn while holding the cluster-wide subscription sync
// lock, if no other node holds it; ran is false (and fn not called) when
// one does. Nodes sync on their own schedules, and this keeps them from
// fetching the same lists at once and overwriting each other's states.
func (db *DB) WithSyncLock(ctx context.Context, fn func() error) (ran bool, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("pg: sync lock: %w", err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, subscriptionSyncLock).Scan(&got); err != nil {
		return false, fmt.Errorf("pg: sync lock: %w", err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		// A fresh context: ctx may be cancelled, and the lock must not
		// outlive fn on a pooled connection.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, subscriptionSyncLock); uerr != nil {
			conn.Conn().Close(uctx)
		}
	}()
	return true, fn()
}

// AuditEntry is one audit_log row.
type AuditEntry struct {
	ID     int64           `json:"id"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Detail json.RawMessage `json:"detail"`
}

// RecentAudit returns the newest audit rows, newest first, at most limit.
func (db *DB) RecentAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pg: reading audit_log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var a AuditEntry
		var b []byte
		err := r.Scan(&a.ID, &a.At, &a.Actor, &a.Action, &a.Target, &b)
		a.Detail = b
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("pg: reading audit_log: %w", err)
	}
	return out, nil
}
