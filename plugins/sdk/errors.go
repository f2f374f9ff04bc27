package sdk

import (
	"errors"
	"time"

	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
)

// ValidationError rejects a config in Validate. Field is the config key at
// fault (Herald reports it as "config.<Field>"); empty means the whole
// config.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Permanent marks a Deliver error as not worth retrying (a bad request,
// rejected credentials): the delivery fails now.
func Permanent(err error) error { return &deliveryError{err: err, outcome: protocol.OutcomePermanent} }

// Gone marks a Deliver error as a target that no longer exists (a deleted
// channel or webhook): the delivery fails and Herald disables the webhook.
func Gone(err error) error { return &deliveryError{err: err, outcome: protocol.OutcomeGone} }

// RetryAfter marks a Deliver error as retryable after d (the far side
// answered 429 with Retry-After, for instance). d replaces the next step of
// Herald's retry schedule; it does not add a retry.
func RetryAfter(err error, d time.Duration) error {
	return &deliveryError{err: err, outcome: protocol.OutcomeRetry, after: d}
}

type deliveryError struct {
	err     error
	outcome string
	after   time.Duration
}

func (e *deliveryError) Error() string {
	if e.err == nil {
		return e.outcome
	}
	return e.err.Error()
}

func (e *deliveryError) Unwrap() error { return e.err }

// result turns Deliver's error into the answer Herald gets.
func result(err error) protocol.Result {
	if err == nil {
		return protocol.Result{Outcome: protocol.OutcomeOK}
	}
	res := protocol.Result{Outcome: protocol.OutcomeRetry, Error: err.Error()}
	var de *deliveryError
	if errors.As(err, &de) {
		res.Outcome = de.outcome
		res.RetryAfterMS = de.after.Milliseconds()
	}
	return res
}
