package app

import "github.com/herald-webhooks/herald/app/store"

// The domain types live in app/store, which reads and writes them; these
// aliases keep the handlers' code short.
type (
	Event          = store.Event
	Webhook        = store.Webhook
	Delivery       = store.Delivery
	Attempt        = store.Attempt
	Token          = store.Token
	ReconcileRun   = store.ReconcileRun
	ReconcileSteps = store.ReconcileSteps
	SourceStats    = store.SourceStats
	PruneStats     = store.PruneStats
	Message        = store.Message
	Store          = store.Store
)

// Delivery states and token scopes, as the store keeps them.
const (
	StatusPending   = store.StatusPending
	StatusInFlight  = store.StatusInFlight
	StatusRetrying  = store.StatusRetrying
	StatusSucceeded = store.StatusSucceeded
	StatusFailed    = store.StatusFailed

	ScopeAdmin  = store.ScopeAdmin
	ScopeIngest = store.ScopeIngest

	TestEvent = store.TestEvent
)
