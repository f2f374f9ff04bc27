package store

import (
	"errors"
	"fmt"
)

// Error is a refusal the caller may show as it is: a code, a message that is
// safe to show, and the input field it is about. Any other error from the
// store is internal.
type Error struct {
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Codes of the refusals the store makes. They match the API's codes.
const (
	CodeNotFound    = "not_found"
	CodeConflict    = "conflict"
	CodeStorageFull = "storage_full" // the disk (or the database's page limit) is full: nothing was stored
	CodeUnavailable = "unavailable"  // the database is not usable (gone, corrupt, closed)
)

func errorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) *Error { return errorf(CodeNotFound, "", "%s not found", what) }

// IsNotFound says whether err is the store's "not found".
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeNotFound
}

// IsConflict says whether err is the store's "changed meanwhile" or "exists".
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeConflict
}
