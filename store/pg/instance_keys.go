package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// InstanceKey returns the PEM key pair stored under name (e.g. "instance",
// the instance actor's key), creating it on first use: generate is called,
// its pair inserted unless another node inserted one first, and the stored
// pair, whichever node wrote it, is returned. Nodes starting together thus
// all sign with one key; the losers' generated pairs are discarded.
//
// generate is called only when no key is stored yet; it may be slow (RSA
// key generation) and is not called inside a transaction. The private key
// is returned as stored: the caller MUST NOT log it.
func (db *DB) InstanceKey(ctx context.Context, name string, generate func() (privPEM, pubPEM string, err error)) (privPEM, pubPEM string, err error) {
	const sel = `SELECT private_key_pem, public_key_pem FROM instance_keys WHERE name = $1`
	err = db.pool.QueryRow(ctx, sel, name).Scan(&privPEM, &pubPEM)
	if err == nil {
		return privPEM, pubPEM, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", "", fmt.Errorf("pg: reading instance key %q: %w", name, err)
	}
	priv, pub, err := generate()
	if err != nil {
		return "", "", fmt.Errorf("pg: generating instance key %q: %w", name, err)
	}
	if priv == "" || pub == "" {
		return "", "", fmt.Errorf("pg: generating instance key %q: the generator returned an empty PEM", name)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO instance_keys (name, private_key_pem, public_key_pem)
		VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`, name, priv, pub); err != nil {
		return "", "", fmt.Errorf("pg: storing instance key %q: %w", name, err)
	}
	// Read back what won: ours, or the pair a concurrent node inserted.
	if err := db.pool.QueryRow(ctx, sel, name).Scan(&privPEM, &pubPEM); err != nil {
		return "", "", fmt.Errorf("pg: reading instance key %q after storing it: %w", name, err)
	}
	return privPEM, pubPEM, nil
}
