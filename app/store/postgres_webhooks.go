package store

import (
	"context"
	"fmt"
)

func pgFindWebhooks(ctx context.Context, q pgq, where string, args ...any) ([]*Webhook, error) {
	rows, err := q.Query(ctx, "SELECT "+webhookColumns+" FROM webhooks "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("find webhooks: %w", err)
	}
	defer rows.Close()
	var out []*Webhook
	for rows.Next() {
		h, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// FindWebhooks lists webhooks oldest first after the cursor (an id).
func (s *Postgres) FindWebhooks(ctx context.Context, after string, limit int) ([]*Webhook, error) {
	out, err := pgFindWebhooks(ctx, s.pool, "WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
	return out, s.opError("find webhooks", err)
}

// AllWebhooks lists every webhook (the delivery loop's view).
func (s *Postgres) AllWebhooks(ctx context.Context) ([]*Webhook, error) {
	out, err := pgFindWebhooks(ctx, s.pool, "ORDER BY id")
	return out, s.opError("find webhooks", err)
}

// FindWebhookByID returns one webhook.
func (s *Postgres) FindWebhookByID(ctx context.Context, id string) (*Webhook, error) {
	h, err := scanWebhook(s.pool.QueryRow(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE id = $1", id))
	if isNoRows(err) {
		return nil, notFound("webhook")
	}
	return h, s.opError("find webhook", err)
}

// CreateWebhook stores a new webhook.
func (s *Postgres) CreateWebhook(ctx context.Context, h *Webhook) error {
	return s.write(ctx, "create webhook", func(tx *pgTx) error {
		// Stamped at the write, as on SQLite: the gap check trusts that an
		// event older than a webhook's updated_at was stored before it.
		h.CreatedAt = s.NowMS()
		h.UpdatedAt = h.CreatedAt
		_, err := tx.Exec(`INSERT INTO webhooks (`+webhookColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
			h.ID, h.Name, h.URL, h.Sink, h.Plugin, mustJSON(h.Config), mustJSON(h.Events), mustJSON(h.Tags), h.GenerateSummary, h.Enabled, h.AutoReplay,
			mustJSON(h.Headers), h.Secret, mustJSON(h.PreviousSecrets), h.Ordered, h.DisabledReason, h.FailingSince, h.LastSuccessAt, h.CreatedAt, h.UpdatedAt)
		if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		return nil
	})
}

// UpdateWebhook saves what a user may change of h if the stored webhook is
// still as read (updated_at = prev); see SQLite.UpdateWebhook.
func (s *Postgres) UpdateWebhook(ctx context.Context, h *Webhook, prev int64) error {
	return s.write(ctx, "update webhook", func(tx *pgTx) error {
		h.UpdatedAt = max(s.NowMS(), prev+1)
		tag, err := tx.Exec(`UPDATE webhooks SET name = $1, url = $2, sink = $3, plugin = $4, config = $5, events = $6, tags = $7, generate_summary = $8,
			auto_replay = $9, headers = $10, secret = $11, previous_secrets = $12, ordered = $13, updated_at = $14,
			disabled_reason = CASE WHEN $15 AND NOT enabled THEN '' ELSE disabled_reason END,
			failing_since = CASE WHEN $15 AND NOT enabled THEN 0 ELSE failing_since END,
			enabled = $15
			WHERE id = $16 AND updated_at = $17`,
			h.Name, h.URL, h.Sink, h.Plugin, mustJSON(h.Config), mustJSON(h.Events), mustJSON(h.Tags), h.GenerateSummary,
			h.AutoReplay, mustJSON(h.Headers), h.Secret, mustJSON(h.PreviousSecrets), h.Ordered, h.UpdatedAt,
			h.Enabled, h.ID, prev)
		if err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var exists int
		if err := tx.QueryRow("SELECT count(*) FROM webhooks WHERE id = $1", h.ID).Scan(&exists); err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		if exists == 0 {
			return notFound("webhook")
		}
		return errorf(CodeConflict, "", "the webhook was changed meanwhile; read it again")
	})
}

// DeleteWebhook removes a webhook with its deliveries and attempts.
func (s *Postgres) DeleteWebhook(ctx context.Context, id string) error {
	return s.write(ctx, "delete webhook", func(tx *pgTx) error {
		// The matching lock first, as the trigger would take it: taken
		// after the row lock, it could deadlock with an ingest whose new
		// delivery refers to this webhook.
		if _, err := tx.Exec("SELECT pg_advisory_xact_lock("+pgLockSpace+", $1)", pgLockMatch); err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		tag, err := tx.Exec("DELETE FROM webhooks WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("webhook")
		}
		return nil
	})
}

// WebhookStats computes stats for one webhook.
func (s *Postgres) WebhookStats(ctx context.Context, id string, nowMS int64) (WebhookStats, error) {
	var st WebhookStats
	var at int64
	err := s.pool.QueryRow(ctx, "SELECT status, updated_at FROM deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT 1", id).Scan(&st.LastDeliveryStatus, &at)
	if err != nil && !isNoRows(err) {
		return st, s.opError("webhook stats", err)
	}
	st.LastDeliveryAt = FormatTime(at)
	// Deliveries, not attempts (see SQLite.WebhookStats).
	since := nowMS - 24*3600*1000
	err = s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
		count(*) FILTER (WHERE status = 'retrying')
		FROM deliveries WHERE webhook_id = $1 AND id >= $2 AND created_at >= $3`, id, "dlv_"+ulidPrefix(since), since).
		Scan(&st.Deliveries24h, &st.Succeeded24h, &st.Failed24h, &st.Retrying24h)
	if err != nil {
		return st, s.opError("webhook stats", err)
	}
	if settled := st.Succeeded24h + st.Failed24h; settled > 0 {
		st.FailureRate24h = float64(st.Failed24h) / float64(settled)
	}
	return st, nil
}

// CreateToken stores a token by its hash.
func (s *Postgres) CreateToken(ctx context.Context, t *Token, value string) error {
	return s.write(ctx, "create token", func(tx *pgTx) error {
		_, err := tx.Exec("INSERT INTO tokens (id, name, scope, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
			t.ID, t.Name, t.Scope, HashToken(value), t.CreatedAt)
		if err != nil {
			return fmt.Errorf("create token: %w", err)
		}
		return nil
	})
}

// FindTokens lists tokens (never their values), with uses not yet written.
func (s *Postgres) FindTokens(ctx context.Context) ([]*Token, error) {
	out, err := s.loadTokens(ctx)
	s.tokenUse.overlay(out)
	return out, err
}

func (s *Postgres) loadTokens(ctx context.Context) ([]*Token, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, name, scope, hash, created_at, last_used_at FROM tokens ORDER BY created_at, id")
	if err != nil {
		return nil, s.opError("find tokens", err)
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

// DeleteToken revokes a token, on every node within a version poll.
func (s *Postgres) DeleteToken(ctx context.Context, id string) error {
	return s.write(ctx, "delete token", func(tx *pgTx) error {
		tag, err := tx.Exec("DELETE FROM tokens WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("delete token: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("token")
		}
		return nil
	})
}

// HasAdminToken says whether any admin token exists (bootstrap).
func (s *Postgres) HasAdminToken(ctx context.Context) (bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM tokens WHERE scope = 'admin'").Scan(&n)
	return n > 0, s.opError("find tokens", err)
}

// Authenticate returns the token whose value this is, or nil, and notes the
// use (see SQLite.Authenticate). The hash cache is reloaded whenever the
// tokens version moved, here or on another node.
func (s *Postgres) Authenticate(ctx context.Context, value string) (*Token, error) {
	if value == "" {
		return nil, nil
	}
	return s.tokenUse.authenticate(HashToken(value), s.tokensVersion.Load(), s.NowMS(), func() ([]*Token, error) { return s.loadTokens(ctx) })
}

// flushTokenUse writes the remembered uses to last_used_at.
func (s *Postgres) flushTokenUse(ctx context.Context) error {
	used := s.tokenUse.take()
	if len(used) == 0 {
		return nil
	}
	return s.write(ctx, "token use", func(tx *pgTx) error {
		for id, at := range used {
			if _, err := tx.Exec("UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND last_used_at < $3", at, id, at); err != nil {
				return fmt.Errorf("token use: %w", err)
			}
		}
		return nil
	})
}
