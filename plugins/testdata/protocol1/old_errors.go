package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/herald-webhooks/herald/sinks"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// How a Deliver outcome crosses the wire (see sink.proto). Codes the
// transport itself produces (UNAVAILABLE, DEADLINE_EXCEEDED...) are never
// used for a plugin's own answer, so the host can tell a plugin's "try
// again" from a dead plugin.
const (
	codeRetry     = codes.Aborted            // retryable; optional Duration detail: retry after
	codePermanent = codes.FailedPrecondition // do not retry
	codeGone      = codes.NotFound           // target gone: fail and disable the webhook
)

// deliverStatus encodes a plugin's Deliver error (plugin side).
func deliverStatus(err error) error {
	permanent, gone, retryAfter := sinks.Classify(err)
	switch {
	case gone:
		return status.Error(codeGone, err.Error())
	case permanent:
		return status.Error(codePermanent, err.Error())
	}
	st := status.New(codeRetry, err.Error())
	if retryAfter > 0 {
		if withDelay, derr := st.WithDetails(durationpb.New(retryAfter)); derr == nil {
			st = withDelay
		}
	}
	return st.Err()
}

// deliverError decodes a Deliver error (host side) into the sinks
// classification. Anything that is not a plugin's own answer is retryable.
func deliverError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := errors.New(st.Message())
	switch st.Code() {
	case codeGone:
		return sinks.Gone(msg)
	case codePermanent:
		return sinks.Permanent(msg)
	case codeRetry:
		for _, d := range st.Details() {
			if after, ok := d.(*durationpb.Duration); ok && after.AsDuration() > 0 {
				return sinks.RetryAfter(msg, after.AsDuration())
			}
		}
		return msg
	}
	return transportError(st)
}

// transportError words gRPC's own failures for the attempt log.
func transportError(st *status.Status) error {
	switch st.Code() {
	case codes.DeadlineExceeded:
		return errors.New("no answer before the deadline")
	case codes.Canceled:
		return errors.New("call cancelled")
	case codes.Unavailable:
		return &connLostError{msg: st.Message()}
	}
	return fmt.Errorf("%s: %s", strings.ToLower(st.Code().String()), st.Message())
}

// validateError decodes a Validate error (host side). A rejected config
// becomes a ValidationError on "config" or "config.<key>"; any other
// failure means the plugin could not check it.
func validateError(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		if ok {
			err = transportError(st)
		}
		return &sinks.ValidationError{Field: "plugin", Message: fmt.Sprintf("the plugin could not check the config: %v", err)}
	}
	field := "config"
	for _, d := range st.Details() {
		if key, ok := d.(*wrapperspb.StringValue); ok && key.GetValue() != "" {
			field = "config." + strings.TrimPrefix(key.GetValue(), "config.")
		}
	}
	return &sinks.ValidationError{Field: field, Message: st.Message()}
}

// connLostError is a call that could not reach the plugin process.
type connLostError struct{ msg string }

func (e *connLostError) Error() string { return "unavailable: " + e.msg }

// connectionLost reports whether err means the plugin is unreachable, as
// opposed to an answer from it or a call that ran out of time.
func connectionLost(err error) bool {
	var lost *connLostError
	return errors.As(err, &lost)
}
