// Package wire is the HTTP wire format of token endpoints. It reads their
// answers for the token sources that speak HTTP: OAuth 2.0 token responses (RFC
// 6749 section 5.1, Entra's v1 and v2 shapes) and managed identity responses
// (App Service and IMDS), and classifies their errors the way identity.Cache
// needs: configuration errors, which retrying cannot fix, and transient ones,
// with the server's Retry-After. It also owns the rule for their requests'
// parameters (ParseParams), which the identity provider's token endpoint and
// the managed identity endpoints both apply.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
)

// MaxBody bounds what is read of a token endpoint's answer.
const MaxBody = 1 << 20

// number is a JSON number that may be sent as a string, as Azure's endpoints do.
type number struct {
	set bool
	v   int64
}

func (n *number) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("%q is not a number", clip(s))
		}
		v = int64(f)
	}
	n.set, n.v = true, v
	return nil
}

type response struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   number `json:"expires_in"`
	ExpiresOn   number `json:"expires_on"`
	NotBefore   number `json:"not_before"`
	RefreshIn   number `json:"refresh_in"`
}

// ParseToken reads a successful token response received at now. The expiry comes
// from expires_on (epoch seconds), else from expires_in; refresh_in, when given,
// becomes the token's RefreshAt. The token value never appears in an error.
func ParseToken(body []byte, now time.Time) (identity.Token, error) {
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return identity.Token{}, fmt.Errorf("the token response is not JSON a token endpoint sends: %s", describeJSONError(err))
	}
	if r.AccessToken == "" {
		return identity.Token{}, errors.New("the token response has no access_token")
	}
	if r.TokenType != "" && !strings.EqualFold(r.TokenType, "Bearer") {
		return identity.Token{}, fmt.Errorf("the token response has token_type %q, not Bearer", clip(r.TokenType))
	}
	tok := identity.Token{Value: r.AccessToken}
	switch {
	case r.ExpiresOn.set:
		tok.ExpiresAt = time.Unix(r.ExpiresOn.v, 0)
	case r.ExpiresIn.set:
		tok.ExpiresAt = now.Add(time.Duration(r.ExpiresIn.v) * time.Second)
	default:
		return identity.Token{}, errors.New("the token response has neither expires_on nor expires_in")
	}
	if !tok.ExpiresAt.After(now) {
		return identity.Token{}, fmt.Errorf("the token response says the token expired at %s", tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if r.NotBefore.set {
		tok.IssuedAt = time.Unix(r.NotBefore.v, 0)
	}
	if r.RefreshIn.set && r.RefreshIn.v > 0 {
		tok.RefreshAt = now.Add(time.Duration(r.RefreshIn.v) * time.Second)
	}
	return tok, nil
}

// describeJSONError says what is wrong without quoting the body, which may hold
// a token.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s is %s", te.Field, te.Value)
	default:
		return err.Error()
	}
}

// errorBody is an OAuth error, or App Service's own shape.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Message     string `json:"message"`
}

// configurationErrors are OAuth error codes that no retry fixes.
var configurationErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "unauthorized_client": true,
	"invalid_scope": true, "invalid_target": true, "invalid_resource": true,
	"unsupported_grant_type": true, "access_denied": true, "invalid_grant": true,
}

// ResponseError turns a failed answer into an error for the cache. what names the
// endpoint in the message. 400, 401, 403 and 404, and 4xx answers with an OAuth
// error code that retrying cannot fix, match identity.ErrConfiguration; the rest
// (429, 5xx, anything unexpected) are *identity.TransientError with the
// Retry-After the server sent.
func ResponseError(what string, resp *http.Response, body []byte) error {
	var eb errorBody
	json.Unmarshal(body, &eb)
	desc := eb.Description
	if desc == "" {
		desc = eb.Message
	}
	msg := fmt.Sprintf("%s answered %d", what, resp.StatusCode)
	if eb.Error != "" {
		msg += " " + clip(eb.Error)
	}
	if desc != "" {
		msg += ": " + clip(firstLine(desc))
	}
	err := errors.New(msg)
	switch s := resp.StatusCode; {
	case s == http.StatusBadRequest || s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusNotFound,
		s >= 400 && s < 500 && s != http.StatusTooManyRequests && s != http.StatusRequestTimeout && configurationErrors[eb.Error]:
		return fmt.Errorf("%w: %w", err, identity.ErrConfiguration)
	default:
		return &identity.TransientError{Err: err, RetryAfter: RetryAfter(resp.Header, time.Now())}
	}
}

// RetryAfter reads a Retry-After header in seconds or as an HTTP date; zero when
// absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// ReadBody reads at most MaxBody bytes of a response body and closes it.
func ReadBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBody {
		return nil, fmt.Errorf("the answer is larger than %d bytes", MaxBody)
	}
	return b, nil
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func clip(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
