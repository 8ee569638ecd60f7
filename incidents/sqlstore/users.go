package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"flare/incidents"
)

// The dashboard's users, in the users table, written in the adapter's write
// transactions.

const userColumns = `name, display_name, role, dept, password_hash, session_version, created_at, updated_at, disabled`

// scanUser reads one row of userColumns.
func scanUser(row interface{ Scan(...any) error }) (incidents.User, error) {
	var u incidents.User
	err := row.Scan(&u.Name, &u.DisplayName, &u.Role, &u.Dept, &u.PasswordHash, &u.SessionVersion,
		timeDest{&u.CreatedAt}, timeDest{&u.UpdatedAt}, &u.Disabled)
	return u, err
}

// write runs fn in a write transaction and commits it. It returns fn's
// error, or the database's (translated).
func (s *Store) write(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := s.c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback() // after Commit, a no-op
	if err := fn(tx); err != nil {
		return s.translate(err)
	}
	return s.translate(tx.Commit())
}

// CreateUser stores a new user, as incidents.UserStore documents.
func (s *Store) CreateUser(ctx context.Context, u incidents.User) (incidents.User, error) {
	if err := incidents.CheckUser(u); err != nil {
		return incidents.User{}, fmt.Errorf("create user: %w", err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	u.CreatedAt = u.CreatedAt.UTC().Truncate(time.Microsecond)
	u.UpdatedAt, u.SessionVersion = u.CreatedAt, 1
	err := s.write(ctx, func(tx Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`),
			u.Name, u.DisplayName, u.Role, u.Dept, u.PasswordHash, u.SessionVersion,
			s.d.Time(u.CreatedAt), s.d.Time(u.UpdatedAt), u.Disabled)
		return err
	})
	if incidents.ErrorCode(err) == incidents.CodeConflict {
		return incidents.User{}, fmt.Errorf("create user: %w: %w",
			incidents.FieldError(incidents.CodeConflict, "name", "user %q already exists", u.Name), err)
	}
	if err != nil {
		return incidents.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// GetUser returns the user with the given name, as incidents.UserStore
// documents.
func (s *Store) GetUser(ctx context.Context, name string) (incidents.User, error) {
	u, err := scanUser(s.c.Read.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE name = $1`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return incidents.User{}, fmt.Errorf("get user: %w", noUser(name))
	}
	if err != nil {
		return incidents.User{}, fmt.Errorf("get user: %w", s.translate(err))
	}
	return u, nil
}

// noUser returns the error of a user that does not exist.
func noUser(name string) error {
	return incidents.FieldError(incidents.CodeNotFound, "name", "no user %q", name)
}

// ListUsers returns every user ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]incidents.User, error) {
	rows, err := s.c.Read.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	users, err := collect(s, rows, err, func(r *sql.Rows) (incidents.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// updateUser applies set (an SQL assignment list whose parameters start at
// $3) to the named user, raises its session version, and returns the user
// as stored after.
func (s *Store) updateUser(ctx context.Context, name, set string, args ...any) (incidents.User, error) {
	var u incidents.User
	err := s.write(ctx, func(tx Tx) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, s.q(`UPDATE users SET `+set+`, session_version = session_version + 1,
			updated_at = $2 WHERE name = $1 RETURNING `+userColumns), append([]any{name, s.d.Time(now)}, args...)...))
		if errors.Is(err, sql.ErrNoRows) {
			return noUser(name)
		}
		return err
	})
	return u, err
}

// SetPassword replaces a user's password hash and raises the session
// version, as incidents.UserStore documents.
func (s *Store) SetPassword(ctx context.Context, name, hash string) (incidents.User, error) {
	if hash == "" {
		return incidents.User{}, fmt.Errorf("set password: %w",
			incidents.FieldError(incidents.CodeInvalid, "password_hash", "a user needs a password hash"))
	}
	u, err := s.updateUser(ctx, name, `password_hash = $3`, hash)
	if err != nil {
		return incidents.User{}, fmt.Errorf("set password: %w", err)
	}
	return u, nil
}

// BumpSession raises a user's session version, as incidents.UserStore
// documents.
func (s *Store) BumpSession(ctx context.Context, name string) (int64, error) {
	u, err := s.updateUser(ctx, name, `name = name`)
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	return u.SessionVersion, nil
}

// SetDisabled disables or enables a user, as incidents.UserStore documents.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) (incidents.User, error) {
	u, err := s.updateUser(ctx, name, `disabled = $3`, disabled)
	if err != nil {
		return incidents.User{}, fmt.Errorf("set disabled: %w", err)
	}
	return u, nil
}
