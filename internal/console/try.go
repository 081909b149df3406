package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
)

// Bounds of "Try it".
const (
	// MaxTryBody is the largest request body "Try it" sends.
	MaxTryBody = 1 << 20
	// MaxShownBody is how much of the response body it shows.
	MaxShownBody  = 64 << 10
	maxTryHeaders = 100
	// MaxConcurrentTries bounds the "Try it" requests in flight at once
	// (503 beyond): each may hold a backend call and its shown body.
	MaxConcurrentTries = 16
)

type tryRequest struct {
	// API is the API whose subscription key header carries the key of
	// Subscription; both optional.
	API          string `json:"api"`
	Subscription string `json:"subscription"`
	Method       string `json:"method"`
	// Path is the request target: the path with the API's path, and the
	// query string.
	Path    string       `json:"path"`
	Headers []headerJSON `json:"headers"`
	Body    string       `json:"body"`
}

type headerJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type tryResponse struct {
	Status  int          `json:"status"`
	Headers []headerJSON `json:"headers"`
	// Body is the response body as text, at most MaxShownBody of it, with
	// secrets and tokens cut out; BodyBytes is its whole size.
	Body          string          `json:"body"`
	BodyBytes     int64           `json:"bodyBytes"`
	BodyTruncated bool            `json:"bodyTruncated,omitempty"`
	BodyBinary    bool            `json:"bodyBinary,omitempty"`
	DurationMs    float64         `json:"durationMs"`
	Trace         *reqtrace.Trace `json:"trace"`
}

// try sends a request to the data plane, in process, with a request trace
// (gateway.WithTraceRecorder), and answers its response and trace.
func (h *Handler) try(w http.ResponseWriter, r *http.Request) (any, error) {
	snap, err := h.snapshot()
	if err != nil {
		return nil, err
	}
	var in tryRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2*MaxTryBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "the request is too large; a body is at most 1 MiB")
		}
		return nil, errorf(http.StatusBadRequest, "the request is not the JSON docs/console.md describes: "+err.Error())
	}
	req, err := h.clientRequest(r, in, snap)
	if err != nil {
		return nil, err
	}
	select {
	case h.tries <- struct{}{}:
		defer func() { <-h.tries }()
	default:
		return nil, errorf(http.StatusServiceUnavailable, "too many Try it requests are in flight; try again when one has finished")
	}
	rec := reqtrace.New(reqtrace.Options{Start: time.Now(), Dir: snap.Dir()})
	var trace *reqtrace.Trace
	ctx := gateway.WithTraceRecorder(r.Context(), rec, func(t *reqtrace.Trace) { trace = t })
	rw := &captured{header: http.Header{}}
	start := time.Now()
	h.o.DataPlane.ServeHTTP(rw, req.WithContext(ctx))
	out := tryResponse{Status: rw.status, Headers: []headerJSON{}, BodyBytes: rw.n,
		DurationMs: float64(time.Since(start).Microseconds()) / 1000, Trace: trace}
	if out.Status == 0 {
		out.Status = http.StatusOK
	}
	for _, name := range sortedKeys(rw.header) {
		for _, v := range rw.header[name] {
			if rec.Hidden(name) {
				v = reqtrace.Redacted
			}
			out.Headers = append(out.Headers, headerJSON{Name: name, Value: snap.Redact(rec.Redact(v))})
		}
	}
	out.Body, out.BodyTruncated, out.BodyBinary = shownBody(rw, func(s string) string { return snap.Redact(rec.Redact(s)) })
	if trace == nil {
		// The request ended before a pipeline ran (no route, refused path):
		// the trace says what is known.
		trace = rec.Finish(out.Status, nil, nil)
		out.Trace = trace
	}
	return out, nil
}

// redactMargin is how much more of a body than MaxShownBody is kept, so that
// a secret or token that MaxShownBody would cut in two is still whole when
// it is cut out.
const redactMargin = 8 << 10

// shownBody is the response body as "Try it" shows it: text, redacted, at
// most MaxShownBody. Redaction runs before the cut: a body cut where the
// capture ended loses the margin after redaction, so that no part of a
// secret the capture cut in two is shown.
func shownBody(c *captured, redact func(string) string) (text string, truncated, binary bool) {
	body := c.body.Bytes()
	cut := c.n > int64(len(body))
	if cut {
		body = body[:lastRuneStart(body)] // a character cut at the limit is left out
	}
	if !utf8.Valid(body) {
		return "", cut, true
	}
	text = redact(string(body))
	if cut {
		text = text[:max(0, len(text)-redactMargin)]
	}
	if len(text) > MaxShownBody {
		text, cut = text[:MaxShownBody], true
	}
	if cut {
		text = text[:lastRuneStart([]byte(text))]
	}
	return text, cut, false
}

// lastRuneStart is len(b), or less so that a rune cut at the end is left out.
func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

// clientRequest builds the request a client would send, or says why it
// cannot be sent: only a method, a request target, header fields and a body
// that a client could put on the wire.
func (h *Handler) clientRequest(r *http.Request, in tryRequest, snap *gateway.Snapshot) (*http.Request, error) {
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	if len(in.Method) > 32 || !validToken(in.Method) || in.Method == http.MethodConnect {
		return nil, errorf(http.StatusBadRequest, "method "+strconv.Quote(in.Method)+" is not one a client can send to the gateway")
	}
	if !strings.HasPrefix(in.Path, "/") || len(in.Path) > 8<<10 || strings.ContainsAny(in.Path, " #\x7f") || hasCTL(in.Path) {
		return nil, errorf(http.StatusBadRequest, "path must be a request target starting with /, without spaces, control characters or a fragment, at most 8 KiB")
	}
	target, err := url.ParseRequestURI(in.Path)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "path is not a request target: "+err.Error())
	}
	if len(in.Body) > MaxTryBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, "the body is over 1 MiB")
	}
	if len(in.Headers) > maxTryHeaders {
		return nil, errorf(http.StatusBadRequest, "at most 100 header fields")
	}
	hdr := http.Header{}
	for _, f := range in.Headers {
		if !httpguts.ValidHeaderFieldName(f.Name) || !httpguts.ValidHeaderFieldValue(f.Value) {
			return nil, errorf(http.StatusBadRequest, "header "+strconv.Quote(f.Name)+" is not a valid header field")
		}
		switch http.CanonicalHeaderKey(f.Name) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Te", "Upgrade", "Trailer":
			return nil, errorf(http.StatusBadRequest, "header "+f.Name+" is set by the console, not by the request")
		}
		hdr.Add(f.Name, f.Value)
	}
	if in.Subscription != "" {
		key := ""
		for _, s := range snap.Subscriptions() {
			if s.Name == in.Subscription {
				key = s.PrimaryKey
			}
		}
		if key == "" {
			return nil, errorf(http.StatusBadRequest, "no subscription "+strconv.Quote(in.Subscription)+" with a key; see GET /api/subscriptions")
		}
		header := "Ocp-Apim-Subscription-Key"
		if in.API != "" {
			a, ok := findAPI(snap, in.API)
			if !ok {
				return nil, errorf(http.StatusBadRequest, "no API "+strconv.Quote(in.API))
			}
			header = a.Info.SubscriptionKeyHeader
		}
		hdr.Set(header, key)
	}
	u := &url.URL{Scheme: "http", Host: h.o.GatewayHost, Path: target.Path, RawPath: target.RawPath, RawQuery: target.RawQuery}
	req, err := http.NewRequestWithContext(r.Context(), in.Method, u.String(), bytes.NewReader([]byte(in.Body)))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "the request cannot be sent: "+err.Error())
	}
	if in.Body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header = hdr
	req.Host = h.o.GatewayHost
	req.RemoteAddr = r.RemoteAddr // the console's caller is the client
	req.RequestURI = target.RequestURI()
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	return req, nil
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return s != ""
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

// captured is the data plane's response, its body kept up to MaxShownBody
// and redactMargin.
type captured struct {
	header http.Header
	status int
	body   bytes.Buffer
	n      int64
}

func (c *captured) Header() http.Header { return c.header }

func (c *captured) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captured) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.n += int64(len(p))
	if room := MaxShownBody + redactMargin - c.body.Len(); room > 0 {
		c.body.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

var _ io.Writer = (*captured)(nil)
