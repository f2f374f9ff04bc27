package store

import (
	"context"
	"fmt"
	"sync"
	"time"
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

// CreateToken stores a token by its hash.
func (s *SQLite) CreateToken(ctx context.Context, t *Token, value string) error {
	return s.write(ctx, "create token", func(tx *txn) error {
		_, err := tx.Exec("INSERT INTO tokens (id, name, scope, hash, created_at) VALUES (?, ?, ?, ?, ?)",
			t.ID, t.Name, t.Scope, HashToken(value), t.CreatedAt)
		if err != nil {
			return fmt.Errorf("create token: %w", err)
		}
		return nil
	})
}

// FindTokens lists tokens (never their values), with uses not yet written.
func (s *SQLite) FindTokens(ctx context.Context) ([]*Token, error) {
	out, err := s.loadTokens(ctx)
	s.tokenUse.overlay(out)
	return out, err
}

func (s *SQLite) loadTokens(ctx context.Context) ([]*Token, error) {
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
func (s *SQLite) DeleteToken(ctx context.Context, id string) error {
	return s.write(ctx, "delete token", func(tx *txn) error {
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
func (s *SQLite) HasAdminToken(ctx context.Context) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM tokens WHERE scope = 'admin'").Scan(&n)
	return n > 0, err
}

// tokenUse keeps, in memory, the tokens that authenticated requests and
// when: last_used_at is written at most once a minute, not per request. It
// also caches the token hashes, reloaded after any commit that changed the
// tokens table.
type tokenUse struct {
	mu      sync.Mutex
	used    map[string]int64 // token id -> last use (unix ms), not yet written
	byHash  map[string]*Token
	version uint64 // tokensVersion when byHash was loaded
}

// tokenFlushEvery is how stale last_used_at may be: a token's use is
// written once per period, not once per request.
const tokenFlushEvery = time.Minute

// HashToken is how a token value is stored: SHA-256 (tokens are 256-bit
// random, so no slow hash is needed).
func HashToken(value string) string { return sha256Hex(value) }

// authenticate finds the token with hash, reloading the cache with load
// when version has moved since it was filled, and notes its use at now.
func (u *tokenUse) authenticate(hash string, version uint64, now int64, load func() ([]*Token, error)) (*Token, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byHash == nil || u.version != version {
		all, err := load()
		if err != nil {
			return nil, err
		}
		u.byHash = make(map[string]*Token, len(all))
		for _, t := range all {
			u.byHash[t.hash] = t
		}
		u.version = version
	}
	t := u.byHash[hash]
	if t == nil {
		return nil, nil
	}
	if u.used == nil {
		u.used = map[string]int64{}
	}
	u.used[t.ID] = now
	return t, nil
}

// overlay shows uses not yet written in ts' LastUsedAt.
func (u *tokenUse) overlay(ts []*Token) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, t := range ts {
		t.LastUsedAt = max(t.LastUsedAt, u.used[t.ID])
	}
}

// take hands over the uses not yet written.
func (u *tokenUse) take() map[string]int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	used := u.used
	u.used = nil
	return used
}

// Authenticate returns the token whose value this is, or nil, and notes the
// use for last_used_at. The lookup is a map access by SHA-256 hash: the
// hash, not the secret, is what is compared, so timing tells nothing useful.
func (s *SQLite) Authenticate(ctx context.Context, value string) (*Token, error) {
	if value == "" {
		return nil, nil
	}
	return s.tokenUse.authenticate(HashToken(value), s.tokensVersion.Load(), s.NowMS(), func() ([]*Token, error) { return s.loadTokens(ctx) })
}

// flushTokenUse writes the remembered uses to last_used_at.
func (s *SQLite) flushTokenUse(ctx context.Context) error {
	used := s.tokenUse.take()
	if len(used) == 0 {
		return nil
	}
	return s.write(ctx, "token use", func(tx *txn) error {
		for id, at := range used {
			if _, err := tx.Exec("UPDATE tokens SET last_used_at = ? WHERE id = ? AND last_used_at < ?", at, id, at); err != nil {
				return fmt.Errorf("token use: %w", err)
			}
		}
		return nil
	})
}
