package data

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// Favourite is a Like of a status.
type Favourite struct {
	ID        int64
	AccountID int64
	StatusID  int64
	URI       string // the Like activity's id
	CreatedAt time.Time
}

// CreateFavourite stores a favourite and increments the status's
// favourites_count, idempotently by uri and by (account, status): a repeat
// returns created == false with fv set to the stored row.
func (s *Store) CreateFavourite(ctx context.Context, fv *Favourite) (created bool, err error) {
	const op = "create favourite"
	if fv.URI == "" || fv.AccountID == 0 || fv.StatusID == 0 {
		return false, errorf(op, Invalid, "favourite needs a uri, an account and a status")
	}
	if fv.CreatedAt.IsZero() {
		fv.CreatedAt = s.now()
	}
	err = s.tx(ctx, func(tx *Store) error {
		id, ok, err := insertOnce(newID(fv.CreatedAt), func(id int64) (bool, error) {
			tag, err := tx.q.Exec(ctx, `INSERT INTO favourites (id, account_id, status_id, uri, created_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, id, fv.AccountID, fv.StatusID, fv.URI, fv.CreatedAt)
			return err == nil && tag.RowsAffected() == 1, err
		}, func() (int64, bool, error) {
			err := tx.q.QueryRow(ctx, `SELECT id, account_id, status_id, uri, created_at FROM favourites
				WHERE uri = $1 OR (account_id = $2 AND status_id = $3) LIMIT 1`, fv.URI, fv.AccountID, fv.StatusID).
				Scan(&fv.ID, &fv.AccountID, &fv.StatusID, &fv.URI, &fv.CreatedAt)
			if err == pgx.ErrNoRows {
				return 0, false, nil
			}
			return fv.ID, err == nil, err
		})
		if err != nil {
			return wrap(op, err, "favourite "+fv.URI)
		}
		fv.ID, created = id, ok
		if !ok {
			return nil
		}
		_, err = tx.q.Exec(ctx, `UPDATE statuses SET favourites_count = favourites_count + 1 WHERE id = $1`, fv.StatusID)
		return wrap(op, err, "")
	})
	return created, err
}

// DeleteFavourite removes accountID's favourite of statusID and returns
// it; NotFound when there is none.
func (s *Store) DeleteFavourite(ctx context.Context, accountID, statusID int64) (*Favourite, error) {
	return s.deleteFavourite(ctx, `account_id = $1 AND status_id = $2`, []any{accountID, statusID})
}

// DeleteFavouriteByURI removes the favourite made by the Like uri, on
// behalf of accountID (the Undo's actor; the Like must be theirs, else
// NotFound).
func (s *Store) DeleteFavouriteByURI(ctx context.Context, uri string, accountID int64) (*Favourite, error) {
	return s.deleteFavourite(ctx, `uri = $1 AND account_id = $2`, []any{uri, accountID})
}

func (s *Store) deleteFavourite(ctx context.Context, where string, args []any) (*Favourite, error) {
	const op = "delete favourite"
	fv := &Favourite{}
	err := s.tx(ctx, func(tx *Store) error {
		err := tx.q.QueryRow(ctx, `DELETE FROM favourites WHERE `+where+` RETURNING id, account_id, status_id, uri, created_at`, args...).
			Scan(&fv.ID, &fv.AccountID, &fv.StatusID, &fv.URI, &fv.CreatedAt)
		if err != nil {
			return wrap(op, err, "no such favourite")
		}
		_, err = tx.q.Exec(ctx, `UPDATE statuses SET favourites_count = greatest(favourites_count - 1, 0) WHERE id = $1`, fv.StatusID)
		return wrap(op, err, "")
	})
	if err != nil {
		return nil, err
	}
	return fv, nil
}

// Block is AccountID blocking TargetAccountID.
type Block struct {
	ID              int64
	AccountID       int64
	TargetAccountID int64
	URI             string
	CreatedAt       time.Time
}

// CreateBlock stores a block, idempotently by uri and pair, and ends the
// follows and follow requests between the two accounts in both directions
// (as Mastodon does), moving counters.
func (s *Store) CreateBlock(ctx context.Context, b *Block) (created bool, err error) {
	const op = "create block"
	if b.URI == "" || b.AccountID == 0 || b.TargetAccountID == 0 || b.AccountID == b.TargetAccountID {
		return false, errorf(op, Invalid, "block needs a uri and two different accounts")
	}
	if b.CreatedAt.IsZero() {
		b.CreatedAt = s.now()
	}
	err = s.tx(ctx, func(tx *Store) error {
		id, ok, err := insertOnce(newID(b.CreatedAt), func(id int64) (bool, error) {
			tag, err := tx.q.Exec(ctx, `INSERT INTO blocks (id, account_id, target_account_id, uri, created_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, id, b.AccountID, b.TargetAccountID, b.URI, b.CreatedAt)
			return err == nil && tag.RowsAffected() == 1, err
		}, func() (int64, bool, error) {
			err := tx.q.QueryRow(ctx, `SELECT id, account_id, target_account_id, uri, created_at FROM blocks
				WHERE uri = $1 OR (account_id = $2 AND target_account_id = $3) LIMIT 1`, b.URI, b.AccountID, b.TargetAccountID).
				Scan(&b.ID, &b.AccountID, &b.TargetAccountID, &b.URI, &b.CreatedAt)
			if err == pgx.ErrNoRows {
				return 0, false, nil
			}
			return b.ID, err == nil, err
		})
		if err != nil {
			return wrap(op, err, "block "+b.URI)
		}
		b.ID, created = id, ok
		if !ok {
			return nil
		}
		for _, pair := range [][2]int64{{b.AccountID, b.TargetAccountID}, {b.TargetAccountID, b.AccountID}} {
			if _, err := tx.DeleteFollow(ctx, pair[0], pair[1]); err != nil && KindOf(err) != NotFound {
				return err
			}
		}
		return nil
	})
	return created, err
}

// DeleteBlock removes accountID's block of targetAccountID; NotFound when
// there is none.
func (s *Store) DeleteBlock(ctx context.Context, accountID, targetAccountID int64) (*Block, error) {
	return s.deleteBlock(ctx, `account_id = $1 AND target_account_id = $2`, []any{accountID, targetAccountID})
}

// DeleteBlockByURI removes the block made by the Block activity uri, on
// behalf of accountID (the Undo's actor).
func (s *Store) DeleteBlockByURI(ctx context.Context, uri string, accountID int64) (*Block, error) {
	return s.deleteBlock(ctx, `uri = $1 AND account_id = $2`, []any{uri, accountID})
}

func (s *Store) deleteBlock(ctx context.Context, where string, args []any) (*Block, error) {
	b := &Block{}
	err := s.q.QueryRow(ctx, `DELETE FROM blocks WHERE `+where+` RETURNING id, account_id, target_account_id, uri, created_at`, args...).
		Scan(&b.ID, &b.AccountID, &b.TargetAccountID, &b.URI, &b.CreatedAt)
	if err != nil {
		return nil, wrap("delete block", err, "no such block")
	}
	return b, nil
}

// Blocked reports whether a blocks b or b blocks a (either direction
// stops delivery and interaction).
func (s *Store) Blocked(ctx context.Context, a, b int64) (bool, error) {
	var yes bool
	err := s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blocks WHERE (account_id = $1 AND target_account_id = $2)
		OR (account_id = $2 AND target_account_id = $1))`, a, b).Scan(&yes)
	return yes, wrap("blocked", err, "")
}

// Mute is a local-only mute (never federated).
type Mute struct {
	ID                int64
	AccountID         int64
	TargetAccountID   int64
	HideNotifications bool
	ExpiresAt         *time.Time
	CreatedAt         time.Time
}

// UpsertMute mutes (or changes the mute of) m.TargetAccountID for
// m.AccountID, setting m.ID.
func (s *Store) UpsertMute(ctx context.Context, m *Mute) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.now()
	}
	err := s.q.QueryRow(ctx, `INSERT INTO mutes (id, account_id, target_account_id, hide_notifications, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, target_account_id) DO UPDATE
		SET hide_notifications = EXCLUDED.hide_notifications, expires_at = EXCLUDED.expires_at RETURNING id`,
		ids.New(m.CreatedAt), m.AccountID, m.TargetAccountID, m.HideNotifications, m.ExpiresAt, m.CreatedAt).Scan(&m.ID)
	return wrap("mute", err, "")
}

// DeleteMute unmutes; it reports whether there was a mute.
func (s *Store) DeleteMute(ctx context.Context, accountID, targetAccountID int64) (bool, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM mutes WHERE account_id = $1 AND target_account_id = $2`, accountID, targetAccountID)
	return err == nil && tag.RowsAffected() > 0, wrap("unmute", err, "")
}

// CreateBookmark bookmarks statusID for accountID (idempotent) and returns
// the bookmark's id.
func (s *Store) CreateBookmark(ctx context.Context, accountID, statusID int64) (int64, error) {
	var id int64
	err := s.q.QueryRow(ctx, `INSERT INTO bookmarks (id, account_id, status_id) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, status_id) DO UPDATE SET account_id = EXCLUDED.account_id RETURNING id`,
		ids.Now(), accountID, statusID).Scan(&id)
	return id, wrap("bookmark", err, "")
}

// DeleteBookmark removes a bookmark; it reports whether there was one.
func (s *Store) DeleteBookmark(ctx context.Context, accountID, statusID int64) (bool, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM bookmarks WHERE account_id = $1 AND status_id = $2`, accountID, statusID)
	return err == nil && tag.RowsAffected() > 0, wrap("unbookmark", err, "")
}
