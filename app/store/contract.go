package store

import (
	"context"
	"encoding/json"
	"time"
)

// Store is the contract every database engine keeps, and all that the rest
// of Herald sees of one. The rules behind it (one transaction per change,
// caches in step with commits, no I/O inside a write) are each engine's to
// keep; contract_test.go checks them, and every engine must pass it.
type Store interface {
	// Clock and ids.
	Now() time.Time
	NowMS() int64
	NewID(prefix string) string

	// Events: ingest is the outbox. Once InsertEvents returns nil, each
	// event is stored with a delivery to every enabled webhook it matches.
	// A Handoff (or nil) takes some of them in flight at once, if the
	// engine HandsOff; the dispatcher sets no room aside when it does not.
	InsertEvents(ctx context.Context, evs []*Event, ho *Handoff) ([]IngestResult, error)
	HandsOff() bool
	InsertTestDelivery(ctx context.Context, ev *Event, d *Claimed) error
	FindEventByID(ctx context.Context, id string) (*Event, error)
	FindEvents(ctx context.Context, f EventFilter) ([]*Event, error)
	// RecentMessages reads a contact's conversation from its stored events.
	RecentMessages(ctx context.Context, contactID string, n int, sinceMS int64) ([]Message, error)
	FindSummary(ctx context.Context, eventID string) (json.RawMessage, error)
	SaveSummary(ctx context.Context, eventID string, body []byte) (json.RawMessage, error)

	// Webhooks. WebhookVersion moves after every commit that changed one.
	CreateWebhook(ctx context.Context, h *Webhook) error
	UpdateWebhook(ctx context.Context, h *Webhook, prev int64) error
	DeleteWebhook(ctx context.Context, id string) error
	FindWebhookByID(ctx context.Context, id string) (*Webhook, error)
	FindWebhooks(ctx context.Context, after string, limit int) ([]*Webhook, error)
	AllWebhooks(ctx context.Context) ([]*Webhook, error)
	WebhookVersion() uint64
	WebhookStats(ctx context.Context, id string, nowMS int64) (WebhookStats, error)

	// Delivery: claims hold a lease; only the holder moves a delivery on.
	NextDue(ctx context.Context) (int64, error)
	ClaimDue(ctx context.Context, order []string, slots map[string]int, total int, leaseMS int64) ([]*Claimed, error)
	RenewLease(ctx context.Context, id string, lease, untilMS int64) (int64, error)
	RecordAttempt(ctx context.Context, o *AttemptOutcome) (recovered bool, err error)
	ReleaseDelivery(ctx context.Context, id string, lease, nextAt int64, reason string) error
	RequeueInFlight(ctx context.Context, beforeMS int64) (int, error)
	RetryDelivery(ctx context.Context, id string, retries int) error
	Replay(ctx context.Context, o ReplayOptions) (ReplayResult, error)
	// Fast catch-up (catchup.go): probe failing webhooks; after a
	// recovery, make the backlog due at once, oldest first.
	ClaimProbes(ctx context.Context, retries int, leaseMS int64) ([]*Claimed, error)
	CatchUp(ctx context.Context, webhookID string, at int64, limit int) (CatchUpResult, error)
	HurryPluginDeliveries(ctx context.Context) error
	FindDeliveryByID(ctx context.Context, id string) (*Delivery, error)
	FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	FindAttempts(ctx context.Context, deliveryID string) ([]Attempt, error)
	QueueDepth(ctx context.Context) (pending, inFlight int, err error)
	DeliveryStats(ctx context.Context, webhookID string, start int64, width time.Duration, n int) ([]StatsBucket, error)

	// Tokens. Authenticate finds a token by value and notes its use.
	CreateToken(ctx context.Context, t *Token, value string) error
	DeleteToken(ctx context.Context, id string) error
	FindTokens(ctx context.Context) ([]*Token, error)
	HasAdminToken(ctx context.Context) (bool, error)
	Authenticate(ctx context.Context, value string) (*Token, error)

	// Reconciliation.
	CreateReconcileRun(ctx context.Context, r *ReconcileRun) error
	FinishReconcileRun(ctx context.Context, r *ReconcileRun) error
	FindReconcileRuns(ctx context.Context, before string, limit int) ([]*ReconcileRun, error)
	FillDeliveryGaps(ctx context.Context, settledMS, sinceMS int64, limit int) (GapScan, error)
	SourceCursor(ctx context.Context, url string) (string, error)
	SaveSourceCursor(ctx context.Context, url, cursor string) error
	MarkRecovered(ctx context.Context, webhookID string) error
	RecoveredWebhooks(ctx context.Context) ([]string, error)
	ReplayRecovered(ctx context.Context, webhookID string, limit int) (int, error)
	DisableFailingWebhooks(ctx context.Context, window time.Duration) ([]DisabledWebhook, error)
	PruneEvents(ctx context.Context, beforeMS int64, limit int) (int, error)
	PruneReconcileRuns(ctx context.Context, beforeMS int64, keep int) (int, error)

	// Operations. Health is nil while the database is the one opened,
	// intact and writable.
	Health(ctx context.Context) error
	Sizes() (wal, db int64)
	Checkpoint(ctx context.Context) error
	SetFaultHook(f func(op string) error)
	Close() error
}

var _ Store = (*SQLite)(nil)

// Open opens the store the options name: PostgreSQL when o.DatabaseURL is
// set, else SQLite in o.Dir.
func Open(o Options) (Store, error) {
	if o.DatabaseURL != "" {
		return OpenPostgres(o)
	}
	return OpenSQLite(o)
}
