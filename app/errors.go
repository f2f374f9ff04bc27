package app

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/herald-webhooks/herald/app/store"
)

// Error is the one error type the API answers with: a code, a message that
// is safe to show, and the input field it is about.
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Codes, and the HTTP status each one answers with. One table, one place.
const (
	CodeMalformedJSON = "malformed_json"
	CodeInvalid       = "invalid_request"
	CodeInvalidEvent  = "invalid_event"
	CodeNotFound      = "not_found"
	CodeConflict      = "conflict"
	CodeTooLarge      = "body_too_large"
	CodeUnauthorized  = "unauthorized"
	CodeForbidden     = "forbidden"
	CodeInternal      = "internal"
	CodeUnavailable   = "unavailable"
	CodeStorageFull   = store.CodeStorageFull
	CodeTimeout       = "request_timeout"
	CodeBadRequest    = "bad_request"

	CodeUnsupportedEncoding = "unsupported_encoding"
	CodeHeaderTooLarge      = "header_too_large"
	CodeMethodNotAllowed    = "method_not_allowed"
)

var codeStatus = map[string]int{
	CodeMalformedJSON: fiber.StatusBadRequest,
	CodeInvalid:       fiber.StatusUnprocessableEntity,
	CodeInvalidEvent:  fiber.StatusUnprocessableEntity,
	CodeNotFound:      fiber.StatusNotFound,
	CodeConflict:      fiber.StatusConflict,
	CodeTooLarge:      fiber.StatusRequestEntityTooLarge,
	CodeUnauthorized:  fiber.StatusUnauthorized,
	CodeForbidden:     fiber.StatusForbidden,
	CodeInternal:      fiber.StatusInternalServerError,
	CodeUnavailable:   fiber.StatusServiceUnavailable,
	CodeStorageFull:   fiber.StatusInsufficientStorage,
	CodeTimeout:       fiber.StatusRequestTimeout,
	CodeBadRequest:    fiber.StatusBadRequest,

	CodeUnsupportedEncoding: fiber.StatusUnsupportedMediaType,
	CodeHeaderTooLarge:      fiber.StatusRequestHeaderFieldsTooLarge,
	CodeMethodNotAllowed:    fiber.StatusMethodNotAllowed,
}

func errorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *Error {
	return errorf(CodeInvalid, field, format, args...)
}

func notFound(what string) *Error { return errorf(CodeNotFound, "", "%s not found", what) }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"` // always present, "" when no one field is to blame
}

// errorHandler is Fiber's ErrorHandler: every error leaves in the contract's
// shape. Internal errors are logged in full and shown as "internal error".
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var e *Error
		var se *store.Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &e):
		case errors.As(err, &se):
			e = &Error{Code: se.Code, Field: se.Field, Message: se.Message}
		case errors.As(err, &fe):
			e = fromFiberError(fe)
		default:
			log.Error("Request failed", "method", c.Method(), "path", c.Path(), "error", err)
			e = &Error{Code: CodeInternal, Message: "internal error"}
		}
		status, ok := codeStatus[e.Code]
		if !ok {
			status = fiber.StatusInternalServerError
		}
		if e.Code == CodeMethodNotAllowed {
			c.Set(fiber.HeaderAllow, strings.Join(allowedMethods(c.App(), c.Path()), ", "))
		}
		return c.Status(status).JSON(errorBody{errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}})
	}
}

func fromFiberError(fe *fiber.Error) *Error {
	switch fe.Code {
	case fiber.StatusRequestEntityTooLarge:
		return &Error{Code: CodeTooLarge, Message: "request body is over the size limit"}
	case fiber.StatusNotFound:
		return &Error{Code: CodeNotFound, Message: "no such endpoint"}
	case fiber.StatusMethodNotAllowed:
		return &Error{Code: CodeMethodNotAllowed, Message: "method not allowed on this endpoint"}
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return &Error{Code: CodeHeaderTooLarge, Message: fmt.Sprintf("the request line and headers are over %d KiB", MaxHeaderBytes>>10)}
	case fiber.StatusRequestTimeout:
		return &Error{Code: CodeTimeout, Message: "the request was not received in time"}
	}
	if fe.Code >= 500 {
		return &Error{Code: CodeInternal, Message: "internal error"}
	}
	// Any other protocol-level refusal (bad headers, bad method...) is the
	// client's: 400, never a 422 that would blame the JSON.
	return &Error{Code: CodeBadRequest, Message: fe.Message}
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
