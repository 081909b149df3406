package pipeline

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// Error is a policy failure at request time. It becomes context.LastError and
// decides the caller's response when on-error does not replace it.
type Error struct {
	Source  string // the failing policy's element name; filled in by the pipeline when empty
	Reason  string // e.g. "ExpressionValueEvaluationFailure", "CallerIpNotAllowed"
	Message string // context.LastError.Message
	// Status is the caller's status code; zero means 500.
	Status int
	// Public is the message in the caller's response body. When empty, the caller
	// sees Message for a 4xx status and "Internal server error" for a 5xx, so that
	// internal details never reach a client.
	Public string
	// StatusReason is the reason phrase of the caller's response
	// (context.Response.StatusReason in on-error); http.StatusText(Status)
	// when empty.
	StatusReason string
	// Header holds headers for the caller's response, such as Retry-After.
	Header http.Header
	// Body, when set, is the caller's response body instead of API
	// Management's error shape, typed by Header's Content-Type:
	// validate-graphql-request's GraphQL errors block.
	Body []byte
	Err  error // the cause, for logs; never shown to the caller

	info *StepInfo
}

// Error returns "source: reason: message".
func (e *Error) Error() string {
	s := e.Source
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Step returns where the error happened, if it happened in a policy.
func (e *Error) Step() *StepInfo { return e.info }

// AsError returns err as an *Error, wrapping any other error as an internal one.
func AsError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Reason: "InternalError", Message: "the policy failed", Status: 500, Err: err}
}

// annotate records the failing step on err, unless an inner step already did.
func annotate(err error, info *StepInfo) error {
	pe := AsError(err)
	if pe.info == nil {
		pe.info = info
		if pe.Source == "" && info != nil {
			pe.Source = info.Name
		}
	}
	return pe
}

func (e *Error) lastError() *exchange.LastError {
	le := &exchange.LastError{Source: e.Source, Reason: e.Reason, Message: e.Message}
	if e.info != nil {
		le.Scope = e.info.Scope
		le.Section = e.info.Section.String()
		le.Path = e.info.Path
		le.PolicyID = e.info.ID
	}
	return le
}

// Response builds the caller's default response for e, in API Management's shape:
// {"statusCode":401,"message":"..."}, with an activityId for server errors.
func (e *Error) Response(requestID string) *exchange.Response {
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	msg := e.Public
	busy := errors.Is(e.Err, exchange.ErrBuffersFull)
	switch {
	case msg != "":
	case busy:
		msg = "The gateway is buffering too many request bodies at once; retry later."
	case status >= 500:
		msg = "Internal server error"
	default:
		msg = e.Message
	}
	r := ErrorResponse(status, msg, requestID)
	if e.Body != nil {
		r.Body = exchange.NewBytesBody(e.Body)
	}
	if busy {
		r.Headers.Set("Retry-After", "1")
	}
	if e.StatusReason != "" {
		r.StatusReason = e.StatusReason
	}
	for k, v := range e.Header {
		r.Headers[k] = append([]string(nil), v...)
	}
	return r
}

// ErrorResponse returns a JSON error response in API Management's shape.
func ErrorResponse(status int, message, requestID string) *exchange.Response {
	body := struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
		ActivityID string `json:"activityId,omitempty"`
	}{status, message, ""}
	if status >= 500 {
		body.ActivityID = requestID
	}
	data, _ := json.Marshal(body) // cannot fail: strings and an int
	h := make(http.Header, 2)
	h.Set("Content-Type", "application/json")
	return &exchange.Response{
		StatusCode:   status,
		StatusReason: http.StatusText(status),
		Headers:      h,
		Body:         exchange.NewBytesBody(data),
	}
}

// ExprFailure is the error for a policy expression that failed at request time.
// One that failed reading a body answers as BodyFailure does (413 for a request
// body over the limit, say), keeping the expression's reason.
func ExprFailure(err error) *Error {
	pe := &Error{Reason: "ExpressionValueEvaluationFailure", Message: err.Error(), Status: http.StatusInternalServerError, Err: err}
	var be *exchange.BodyError
	if errors.As(err, &be) {
		pe.Status = exchange.BodyStatus(err)
		if pe.Status < 500 {
			// The client's body (too large, too slow): the caller is told
			// that, not the exception and the policy file it was raised in.
			pe.Public = be.Error()
		}
	}
	return pe
}

// BodyFailure is the error for a policy that could not read or buffer a body,
// with the status exchange.BodyStatus gives.
func BodyFailure(message string, err error) *Error {
	return &Error{Reason: "BodyReadFailure", Message: message + ": " + err.Error(), Status: exchange.BodyStatus(err), Err: err}
}
