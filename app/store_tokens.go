package app

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
)

// Token scopes.
const (
	ScopeAdmin  = "admin"
	ScopeIngest = "ingest"
)

// Token is an API token; only its hash is stored.
type Token struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Scope      string `json:"scope"`
	CreatedAt  int64  `json:"-"`
	LastUsedAt int64  `json:"-"`
	hash       string
}

// tokenHash is SHA-256: tokens are 256-bit random, so no slow hash is needed.
func tokenHash(value string) string { return sha256Hex(value) }

// CreateToken stores a token by its hash.
func (s *Store) CreateToken(ctx context.Context, t *Token, value string) error {
	return s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO tokens (id, name, scope, hash, created_at) VALUES (?, ?, ?, ?, ?)",
			t.ID, t.Name, t.Scope, tokenHash(value), t.CreatedAt)
		if err != nil {
			return fmt.Errorf("create token: %w", err)
		}
		return nil
	})
}

// FindTokens lists tokens (never their values).
func (s *Store) FindTokens(ctx context.Context) ([]*Token, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT id, name, scope, hash, created_at, last_used_at FROM tokens ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		var t Token
		if err := rows.Scan(&t.ID, &t.Name, &t.Scope, &t.hash, &t.CreatedAt, &t.LastUsedAt); err != nil {
			return nil, err
		}
		out = append(out, &t)
	}
	return out, rows.Err()
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec("DELETE FROM tokens WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("token")
		}
		return nil
	})
}

// HasAdminToken says whether any admin token exists (bootstrap).
func (s *Store) HasAdminToken(ctx context.Context) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM tokens WHERE scope = 'admin'").Scan(&n)
	return n > 0, err
}

// authenticator checks bearer tokens against an in-memory copy of the hashes.
// The lookup compares hashes in constant time, so timing tells nothing.
type authenticator struct {
	store *Store
	env   string // hash of HERALD_ADMIN_TOKEN, if set
}

func (a *authenticator) scopeOf(ctx context.Context, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	h := tokenHash(value)
	if a.env != "" && subtle.ConstantTimeCompare([]byte(h), []byte(a.env)) == 1 {
		return ScopeAdmin, nil
	}
	var scope string
	err := a.store.read.QueryRowContext(ctx, "SELECT scope FROM tokens WHERE hash = ?", h).Scan(&scope)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return scope, err
}
