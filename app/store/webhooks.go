package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Webhook is one delivery configuration.
type Webhook struct {
	ID              string
	Name            string
	URL             string
	Sink            string // webhook, slack, plugin
	Plugin          string
	Config          map[string]any
	Events          []string
	Tags            []string // normalised: trimmed, lower case
	GenerateSummary bool
	Enabled         bool
	AutoReplay      bool
	Headers         map[string]string
	Secret          string
	PreviousSecrets []OldSecret // rotated out, each still signing until its own expiry
	Ordered         bool        // per contact, the next event waits until the previous one is settled
	DisabledReason  string
	FailingSince    int64
	LastSuccessAt   int64
	CreatedAt       int64
	UpdatedAt       int64
}

// Matches says whether ev goes to this webhook (DESIGN.md §4).
func (h *Webhook) Matches(ev *Event) bool {
	if !h.Enabled || ev.Event == TestEvent {
		return false
	}
	if slices.Contains(h.Events, ev.Event) || slices.Contains(h.Events, "*") {
		return true
	}
	return ev.Event == "tag_applied" && len(h.Tags) > 0 && slices.Contains(h.Tags, ev.Tag())
}

// OldSecret is a rotated-out secret and when it stops signing.
type OldSecret struct {
	Secret    string `json:"secret"`
	ExpiresAt int64  `json:"expires_at"` // unix ms
}

// Secrets are the signing secrets in use at now: the current one, and each
// previous one while its overlap lasts.
func (h *Webhook) Secrets(nowMS int64) []string {
	out := []string{h.Secret}
	for _, o := range h.PreviousSecrets {
		if o.ExpiresAt > nowMS {
			out = append(out, o.Secret)
		}
	}
	return out
}

// Rotate makes a new current secret; the old one keeps signing for overlap.
// Secrets that expired are dropped.
func (h *Webhook) Rotate(newSecret string, nowMS, overlapMS int64) {
	kept := []OldSecret{{Secret: h.Secret, ExpiresAt: nowMS + overlapMS}}
	for _, o := range h.PreviousSecrets {
		if o.ExpiresAt > nowMS {
			kept = append(kept, o)
		}
	}
	h.Secret, h.PreviousSecrets = newSecret, kept
}

const webhookColumns = `id, name, url, sink, plugin, config, events, tags, generate_summary, enabled, auto_replay, headers,
	secret, previous_secrets, ordered, disabled_reason, failing_since, last_success_at, created_at, updated_at`

func scanWebhook(row scanner) (*Webhook, error) {
	var h Webhook
	var config, events, tags, headers, previous string
	err := row.Scan(&h.ID, &h.Name, &h.URL, &h.Sink, &h.Plugin, &config, &events, &tags, &h.GenerateSummary, &h.Enabled, &h.AutoReplay, &headers,
		&h.Secret, &previous, &h.Ordered, &h.DisabledReason, &h.FailingSince, &h.LastSuccessAt, &h.CreatedAt, &h.UpdatedAt)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		src string
		dst any
	}{{config, &h.Config}, {events, &h.Events}, {tags, &h.Tags}, {headers, &h.Headers}, {previous, &h.PreviousSecrets}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("decode webhook %s: %w", h.ID, err)
		}
	}
	return &h, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps and slices of plain values are passed
	}
	return string(b)
}

func findWebhooks(q interface {
	Query(string, ...any) (*sql.Rows, error)
}, where string, args ...any) ([]*Webhook, error) {
	rows, err := q.Query("SELECT "+webhookColumns+" FROM webhooks "+where, args...)
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

// webhooksForMatch returns all webhooks as the transaction sees them. It
// runs only in the writer, so the cache it keeps is the writer's alone: it
// holds committed rows only, and is bypassed while the batch has changed
// webhooks (the update hook sets hooksTouched).
func (s *SQLite) webhooksForMatch(tx *txn) ([]*Webhook, error) {
	if s.hooksCache != nil && !s.hooksTouched {
		return s.hooksCache, nil
	}
	hooks, err := findWebhooks(tx, "ORDER BY id")
	if err != nil {
		return nil, err
	}
	if hooks == nil {
		hooks = []*Webhook{}
	}
	if !s.hooksTouched {
		s.hooksCache = hooks
	}
	return hooks, nil
}

// writerView is webhook id as the writer sees it now (webhooksForMatch), or
// nil if there is none.
func (s *SQLite) writerView(tx *txn, id string) (*Webhook, error) {
	hooks, err := s.webhooksForMatch(tx)
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		if h.ID == id {
			return h, nil
		}
	}
	return nil, nil
}

// settleCaches runs in the writer after each transaction ends: if it wrote
// to webhooks or tokens (committed or not), their caches are dropped and
// their versions move on, after the commit, so a reader that sees the new
// version also sees the new rows.
func (s *SQLite) settleCaches() {
	if s.hooksTouched {
		s.hooksTouched = false
		s.hooksCache = nil
		s.hooksVersion.Add(1)
	}
	if s.tokensTouched {
		s.tokensTouched = false
		s.tokensVersion.Add(1)
	}
}

// WebhookVersion changes after every commit that changed a webhook, so
// readers can cache the list between changes.
func (s *SQLite) WebhookVersion() uint64 { return s.hooksVersion.Load() }

// FindWebhooks lists webhooks oldest first after the cursor (an id).
func (s *SQLite) FindWebhooks(ctx context.Context, after string, limit int) ([]*Webhook, error) {
	return findWebhooks(s.read, "WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

// AllWebhooks lists every webhook (the delivery loop's view).
func (s *SQLite) AllWebhooks(ctx context.Context) ([]*Webhook, error) {
	return findWebhooks(s.read, "ORDER BY id")
}

// FindWebhookByID returns one webhook.
func (s *SQLite) FindWebhookByID(ctx context.Context, id string) (*Webhook, error) {
	h, err := scanWebhook(s.read.QueryRowContext(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook")
	}
	return h, err
}

// CreateWebhook stores a new webhook. Its created_at and updated_at are
// the time of the commit, not of the caller's request: the gap check trusts
// that an event older than a webhook's updated_at was stored before it.
func (s *SQLite) CreateWebhook(ctx context.Context, h *Webhook) error {
	return s.write(ctx, "create webhook", func(tx *txn) error {
		h.CreatedAt = s.NowMS()
		h.UpdatedAt = h.CreatedAt
		_, err := tx.Exec(`INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			h.ID, h.Name, h.URL, h.Sink, h.Plugin, mustJSON(h.Config), mustJSON(h.Events), mustJSON(h.Tags), h.GenerateSummary, h.Enabled, h.AutoReplay,
			mustJSON(h.Headers), h.Secret, mustJSON(h.PreviousSecrets), h.Ordered, h.DisabledReason, h.FailingSince, h.LastSuccessAt, h.CreatedAt, h.UpdatedAt)
		if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		return nil
	})
}

// UpdateWebhook saves what a user may change of h (not its health), if the
// stored webhook is still as it was when read: its updated_at is still prev.
// Otherwise it is a conflict, and the caller reads it again. A check with I/O
// (a plugin's Validate) thus runs before the write, never inside it.
// Switching a disabled webhook on clears why it was off and restarts its
// failure clock. updated_at becomes the time of the commit (see
// CreateWebhook), always past prev.
func (s *SQLite) UpdateWebhook(ctx context.Context, h *Webhook, prev int64) error {
	return s.write(ctx, "update webhook", func(tx *txn) error {
		h.UpdatedAt = max(s.NowMS(), prev+1)
		res, err := tx.Exec(`UPDATE webhooks SET name = ?, url = ?, sink = ?, plugin = ?, config = ?, events = ?, tags = ?, generate_summary = ?,
			auto_replay = ?, headers = ?, secret = ?, previous_secrets = ?, ordered = ?, updated_at = ?,
			disabled_reason = CASE WHEN ? AND NOT enabled THEN '' ELSE disabled_reason END,
			failing_since = CASE WHEN ? AND NOT enabled THEN 0 ELSE failing_since END,
			enabled = ?
			WHERE id = ? AND updated_at = ?`,
			h.Name, h.URL, h.Sink, h.Plugin, mustJSON(h.Config), mustJSON(h.Events), mustJSON(h.Tags), h.GenerateSummary,
			h.AutoReplay, mustJSON(h.Headers), h.Secret, mustJSON(h.PreviousSecrets), h.Ordered, h.UpdatedAt,
			h.Enabled, h.Enabled, h.Enabled, h.ID, prev)
		if err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var exists int
		if err := tx.QueryRow("SELECT count(*) FROM webhooks WHERE id = ?", h.ID).Scan(&exists); err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		if exists == 0 {
			return notFound("webhook")
		}
		return errorf(CodeConflict, "", "the webhook was changed meanwhile; read it again")
	})
}

// DeleteWebhook removes a webhook with its deliveries and attempts.
func (s *SQLite) DeleteWebhook(ctx context.Context, id string) error {
	return s.write(ctx, "delete webhook", func(tx *txn) error {
		res, err := tx.Exec("DELETE FROM webhooks WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("webhook")
		}
		return nil
	})
}

// WebhookStats feed the UI's list: the last outcome, and what became of
// the deliveries of the last day. They count deliveries, not attempts: a
// delivery that succeeded on its second try is one success.
type WebhookStats struct {
	LastDeliveryStatus string  `json:"last_delivery_status"`
	LastDeliveryAt     string  `json:"last_delivery_at"`
	Deliveries24h      int     `json:"deliveries_24h"`   // created in the last 24 h
	Succeeded24h       int     `json:"succeeded_24h"`    // of those, delivered
	Failed24h          int     `json:"failed_24h"`       // of those, failed for good
	Retrying24h        int     `json:"retrying_24h"`     // of those, waiting for another attempt
	FailureRate24h     float64 `json:"failure_rate_24h"` // failed / (succeeded + failed); 0 when none settled
}

// WebhookStats computes stats for one webhook.
func (s *SQLite) WebhookStats(ctx context.Context, id string, nowMS int64) (WebhookStats, error) {
	var st WebhookStats
	var at int64
	err := s.read.QueryRowContext(ctx, "SELECT status, updated_at FROM deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT 1", id).Scan(&st.LastDeliveryStatus, &at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("webhook stats: %w", err)
	}
	st.LastDeliveryAt = FormatTime(at)
	since := nowMS - 24*3600*1000
	// Delivery ids sort by creation, so the range on (webhook_id, id) reads
	// only the day's rows.
	err = s.read.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(status = 'succeeded'), 0), coalesce(sum(status = 'failed'), 0),
		coalesce(sum(status = 'retrying'), 0)
		FROM deliveries WHERE webhook_id = ? AND id >= ? AND created_at >= ?`, id, "dlv_"+ulidPrefix(since), since).
		Scan(&st.Deliveries24h, &st.Succeeded24h, &st.Failed24h, &st.Retrying24h)
	if err != nil {
		return st, fmt.Errorf("webhook stats: %w", err)
	}
	if settled := st.Succeeded24h + st.Failed24h; settled > 0 {
		st.FailureRate24h = float64(st.Failed24h) / float64(settled)
	}
	return st, nil
}
