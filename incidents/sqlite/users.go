package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"flare/incidents"
)

// The dashboard's users, in the users table. Writes go through the single
// writer connection, like every other write.

var _ incidents.UserStore = (*Store)(nil)

const userColumns = `name, display_name, role, dept, password_hash, session_version, created_at, updated_at, disabled`

// scanUser reads one row of userColumns.
func scanUser(row interface{ Scan(...any) error }) (incidents.User, error) {
	var (
		u                incidents.User
		created, updated int64
	)
	err := row.Scan(&u.Name, &u.DisplayName, &u.Role, &u.Dept, &u.PasswordHash, &u.SessionVersion,
		&created, &updated, &u.Disabled)
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	return u, err
}

// writeUsers runs fn in a write transaction and commits it, trying again
// while another process holds the write lock, up to the busy timeout. It
// returns fn's error, ctx's, or the database's (translated).
func (s *Store) writeUsers(ctx context.Context, fn func(tx *sql.Tx) error) error {
	deadline := time.Now().Add(s.busy)
	for {
		err := s.writeUsersOnce(ctx, fn)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return translate(err)
		}
		t := time.NewTimer(busyPause + rand.N(busyPause))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Store) writeUsersOnce(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// CreateUser stores a new user, as incidents.UserStore documents.
func (s *Store) CreateUser(ctx context.Context, u incidents.User) (incidents.User, error) {
	if err := incidents.CheckUser(u); err != nil {
		return incidents.User{}, fmt.Errorf("create user: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.CreatedAt = u.CreatedAt.UTC().Truncate(time.Microsecond)
	u.UpdatedAt, u.SessionVersion = u.CreatedAt, 1
	err := s.writeUsers(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.Name, u.DisplayName, u.Role, u.Dept, u.PasswordHash, u.SessionVersion,
			u.CreatedAt.UnixNano(), u.UpdatedAt.UnixNano(), u.Disabled)
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
	u, err := getUser(ctx, s.rdb, name)
	if err != nil {
		return incidents.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

func getUser(ctx context.Context, q querierRow, name string) (incidents.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return incidents.User{}, incidents.FieldError(incidents.CodeNotFound, "name", "no user %q", name)
	}
	return u, translate(err)
}

// querierRow is what getUser needs of a pool or a transaction.
type querierRow interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ListUsers returns every user ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]incidents.User, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", translate(err))
	}
	defer rows.Close()
	users := []incidents.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", translate(err))
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", translate(err))
	}
	return users, nil
}

// updateUser applies set (an SQL assignment list, which also raises the
// session version) to the named user and returns the user as stored after.
func (s *Store) updateUser(ctx context.Context, name, set string, args ...any) (incidents.User, error) {
	var u incidents.User
	err := s.writeUsers(ctx, func(tx *sql.Tx) error {
		now := time.Now().UTC().Truncate(time.Microsecond).UnixNano()
		res, err := tx.ExecContext(ctx, `UPDATE users SET `+set+`, session_version = session_version + 1,
			updated_at = ? WHERE name = ?`, append(args, now, name)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return incidents.FieldError(incidents.CodeNotFound, "name", "no user %q", name)
		}
		u, err = getUser(ctx, tx, name)
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
	u, err := s.updateUser(ctx, name, `password_hash = ?`, hash)
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
	u, err := s.updateUser(ctx, name, `disabled = ?`, disabled)
	if err != nil {
		return incidents.User{}, fmt.Errorf("set disabled: %w", err)
	}
	return u, nil
}
