package transport

import (
	"errors"
	"fmt"
)

// Sentinel errors; callers branch with errors.Is.
var (
	// ErrFrameTooLarge: a frame's length exceeds the configured maximum.
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrMalformedFrame: bad length word, unknown serialize type, or a
	// header that does not parse.
	ErrMalformedFrame = errors.New("transport: malformed frame")
	// ErrOverloaded: the server holds as many bytes of unfinished frames
	// as it may; the connection that cannot get more is closed.
	ErrOverloaded = errors.New("transport: overloaded")
	// ErrIncompleteFrame: DecodeFrame was given less than a whole frame.
	ErrIncompleteFrame = errors.New("transport: incomplete frame")
	// ErrEncode: a command cannot be encoded (header over 16 MiB, ...).
	ErrEncode = errors.New("transport: cannot encode command")

	// ErrTimeout: no response before the context's deadline. Errors that
	// wrap it also match context.DeadlineExceeded.
	ErrTimeout = errors.New("transport: request timed out")
	// ErrConnClosed: the connection failed or was closed before the
	// response arrived. The request may or may not have been processed;
	// callers may refresh routes and retry.
	ErrConnClosed = errors.New("transport: connection closed")
	// ErrClosed: the Client or Server was closed.
	ErrClosed = errors.New("transport: closed")
	// ErrServerClosed is returned by Serve/Start after Shutdown.
	ErrServerClosed = errors.New("transport: server closed")

	// ErrMissingField: a required ext field is absent.
	ErrMissingField = errors.New("transport: missing header field")
	// ErrBadField: an ext field does not parse.
	ErrBadField = errors.New("transport: bad header field")
)

// FrameError describes a frame that could not be read or decoded. It
// unwraps to ErrFrameTooLarge, ErrMalformedFrame or ErrIncompleteFrame.
type FrameError struct {
	Err    error
	Detail string
}

func (e *FrameError) Error() string { return e.Err.Error() + ": " + e.Detail }
func (e *FrameError) Unwrap() error { return e.Err }

func frameErr(err error, format string, args ...any) error {
	return &FrameError{Err: err, Detail: fmt.Sprintf(format, args...)}
}

// HeaderError names the header and field that failed to decode. It
// unwraps to ErrMissingField or ErrBadField.
type HeaderError struct {
	Header string // e.g. "PullMessageRequestHeader"
	Field  string // ext field name
	Value  string // offending value (empty when missing)
	Err    error
}

func (e *HeaderError) Error() string {
	if errors.Is(e.Err, ErrMissingField) {
		return fmt.Sprintf("%v: %s.%s", e.Err, e.Header, e.Field)
	}
	return fmt.Sprintf("%v: %s.%s = %q", e.Err, e.Header, e.Field, e.Value)
}

func (e *HeaderError) Unwrap() error { return e.Err }
