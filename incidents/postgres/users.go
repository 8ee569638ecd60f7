package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"flare/incidents"
)

// The dashboard's users, in the users table.

var _ incidents.UserStore = (*Store)(nil)

const userColumns = `name, display_name, role, dept, password_hash, session_version, created_at, updated_at, disabled`

// scanUser reads one row of userColumns.
func scanUser(row pgx.Row) (incidents.User, error) {
	var u incidents.User
	err := row.Scan(&u.Name, &u.DisplayName, &u.Role, &u.Dept, &u.PasswordHash, &u.SessionVersion,
		&u.CreatedAt, &u.UpdatedAt, &u.Disabled)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, err
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
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.Name, u.DisplayName, u.Role, u.Dept, u.PasswordHash, u.SessionVersion, u.CreatedAt, u.UpdatedAt, u.Disabled)
	if isUniqueViolation(err) {
		return incidents.User{}, fmt.Errorf("create user: %w: %w",
			incidents.FieldError(incidents.CodeConflict, "name", "user %q already exists", u.Name), err)
	}
	if err != nil {
		return incidents.User{}, fmt.Errorf("create user: %w", translate(err))
	}
	return u, nil
}

// GetUser returns the user with the given name, as incidents.UserStore
// documents.
func (s *Store) GetUser(ctx context.Context, name string) (incidents.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return incidents.User{}, fmt.Errorf("get user: %w", incidents.FieldError(incidents.CodeNotFound, "name", "no user %q", name))
	}
	if err != nil {
		return incidents.User{}, fmt.Errorf("get user: %w", translate(err))
	}
	return u, nil
}

// ListUsers returns every user ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]incidents.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
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

// updateUser applies set (an SQL assignment list whose parameters start at
// $3) to the named user, raises its session version, and returns the user
// as stored after.
func (s *Store) updateUser(ctx context.Context, name, set string, args ...any) (incidents.User, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	u, err := scanUser(s.pool.QueryRow(ctx, `UPDATE users SET `+set+`, session_version = session_version + 1,
		updated_at = $2 WHERE name = $1 RETURNING `+userColumns, append([]any{name, now}, args...)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return incidents.User{}, incidents.FieldError(incidents.CodeNotFound, "name", "no user %q", name)
	}
	return u, translate(err)
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
