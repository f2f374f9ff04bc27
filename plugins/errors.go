package plugins

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callError words a failed call (the plugin gave no answer) for the
// attempt log.
func callError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return errors.New("no answer before the deadline")
	case codes.Canceled:
		return errors.New("call cancelled")
	case codes.Unavailable:
		return errors.New("the plugin is unreachable: " + st.Message())
	}
	return fmt.Errorf("%s: %s", strings.ToLower(st.Code().String()), st.Message())
}

// timedOut reports whether a call got no answer before its deadline.
func timedOut(err error) bool { return status.Code(err) == codes.DeadlineExceeded }

// connectionLost reports whether a call failed because the process went
// away (it may or may not have received the call).
func connectionLost(err error) bool { return status.Code(err) == codes.Unavailable }

// neverSent reports whether a call failed before it reached a process: the
// connection could not even be made, so the process was already gone.
func neverSent(err error) bool {
	if status.Code(err) != codes.Unavailable {
		return false
	}
	msg := status.Convert(err).Message()
	return strings.Contains(msg, "while dialing") || strings.Contains(msg, "connection refused")
}
