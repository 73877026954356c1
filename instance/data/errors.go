package data

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Kind classifies a data error so callers (the API's one error renderer,
// the consumer's retry logic) decide without parsing messages.
// A Kind is itself an error: test with errors.Is(err, data.NotFound).
type Kind uint8

const (
	Other     Kind = iota // anything else: a database failure, a bug
	NotFound              // no such row (404)
	Conflict              // a unique key is taken: a username, an e-mail (409)
	Invalid               // the value breaks a rule of the schema (400/422)
	Forbidden             // the row exists but belongs to someone else (403)
)

func (k Kind) Error() string {
	switch k {
	case NotFound:
		return "not found"
	case Conflict:
		return "already exists"
	case Invalid:
		return "invalid"
	case Forbidden:
		return "forbidden"
	}
	return "data error"
}

// Error is the data layer's error: what was attempted (Op, e.g.
// "get account"), its Kind, a message safe to show a client, and the cause.
type Error struct {
	Op   string
	Kind Kind
	Msg  string // for people; names the row ("account @alice")
	Err  error  // the cause (a *pgconn.PgError, pgx.ErrNoRows, ...), may be nil
}

func (e *Error) Error() string {
	s := "data: " + e.Op
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil && e.Kind == Other {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the Kind: errors.Is(err, data.NotFound).
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// KindOf returns the Kind of err (Other for errors not from this package).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Other
}

func errorf(op string, kind Kind, format string, args ...any) *Error {
	return &Error{Op: op, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// wrap classifies a database error: no rows is NotFound, a unique violation
// Conflict, a check/not-null/foreign-key violation Invalid. msg names the
// row for people. nil stays nil.
func wrap(op string, err error, msg string) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	kind := Other
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		kind = NotFound
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "23505": // unique_violation
			kind = Conflict
		case "23514", "23502", "23503", "22001", "22P02": // check, not null, foreign key, too long, bad text
			kind = Invalid
			if msg != "" {
				msg += ": "
			}
			msg += pgErr.Message
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
	}
	return &Error{Op: op, Kind: kind, Msg: msg, Err: err}
}
