package protocol

import (
	"errors"
	"strings"
)

// Code is a wire error code (SPEC §4).
type Code string

// Error codes sent to clients.
const (
	CodeValidation         Code = "VALIDATION_ERROR"
	CodeUnknownCommand     Code = "UNKNOWN_COMMAND"
	CodeAuthorization      Code = "AUTHORIZATION_ERROR"
	CodeNotFound           Code = "NOT_FOUND"
	CodeFeatureDisabled    Code = "FEATURE_DISABLED"
	CodeRateLimitExceeded  Code = "RATE_LIMIT_EXCEEDED"
	CodeStorageUnavailable Code = "STORAGE_UNAVAILABLE"
	CodeLimitExceeded      Code = "LIMIT_EXCEEDED"
	CodeInternal           Code = "INTERNAL_ERROR"
)

// Codes lists every documented error code.
var Codes = []Code{
	CodeValidation, CodeUnknownCommand, CodeAuthorization, CodeNotFound,
	CodeFeatureDisabled, CodeRateLimitExceeded, CodeStorageUnavailable,
	CodeLimitExceeded, CodeInternal,
}

// WebSocket close codes (SPEC §2).
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001
	CloseInvalidPayload = 1007
	ClosePolicy         = 1008
	CloseTooBig         = 1009
	CloseInternal       = 1011
	CloseTryLater       = 1013
	CloseTokenExpired   = 4001
	CloseSlowConsumer   = 4008
	CloseRateLimited    = 4029
)

// Error is the one typed error that reaches clients. Message is safe to show;
// Problems lists human-readable details (validation problems).
type Error struct {
	Code     Code
	Message  string
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return string(e.Code) + ": " + e.Message
	}
	return string(e.Code) + ": " + e.Message + ": " + strings.Join(e.Problems, "; ")
}

// Errorf-free constructors keep call sites short.

// NewError returns a wire error with a code and a client-safe message.
func NewError(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// ValidationError returns a VALIDATION_ERROR carrying every problem found.
func ValidationError(problems ...string) *Error {
	return &Error{Code: CodeValidation, Message: "invalid envelope", Problems: problems}
}

// AsWire maps any error to the wire error a client may see. Errors that are
// not *Error become INTERNAL_ERROR with a fixed message: internals never leak.
func AsWire(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}
