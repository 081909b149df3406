package policies

import (
	"context"
	"mime"
	"net/http"

	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// mock-response answers with the operation's documented example for a status
// and content type, and stops the pipeline as return-response does.
type mockResponsePolicy struct {
	status      int
	contentType string // "" for the first documented one
}

func mockResponse(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "status-code", "content-type")
	c.CheckChildren(el)
	p := &mockResponsePolicy{status: http.StatusOK}
	if s, ok := c.LiteralAttr(el, "status-code"); ok {
		n, perr := parseStatus(s)
		if perr != nil {
			return nil, c.Errorf(el.Attr("status-code").Value.Pos(), "%s", perr.Message)
		}
		p.status = n
	}
	if s, ok := c.LiteralAttr(el, "content-type"); ok {
		if _, _, err := mime.ParseMediaType(s); err != nil {
			return nil, c.Errorf(el.Attr("content-type").Value.Pos(), "content-type %q is not a media type such as application/json", s)
		}
		p.contentType = strings.TrimSpace(s)
	}
	return p, nil
}

func (p *mockResponsePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	resp := &exchange.Response{StatusCode: p.status, StatusReason: http.StatusText(p.status), Headers: make(http.Header)}
	var ex *exchange.Example
	if x.Operation != nil {
		for i := range x.Operation.Examples {
			e := &x.Operation.Examples[i]
			if e.Status == p.status && (p.contentType == "" || sameMediaType(e.ContentType, p.contentType)) {
				ex = e
				break
			}
		}
	}
	ct := p.contentType
	var body []byte
	if ex != nil {
		body = ex.Body
		if ct == "" {
			ct = ex.ContentType
		}
	}
	if ct != "" {
		resp.Headers.Set("Content-Type", ct)
	}
	resp.Body = exchange.NewBytesBody(body)
	if x.Response != nil && x.Response.Body != nil {
		x.Response.Body.Close() // a backend response mock-response replaces in outbound
	}
	x.Response = resp
	return pipeline.ErrReturn
}

func sameMediaType(a, b string) bool {
	ma, _, err1 := mime.ParseMediaType(a)
	mb, _, err2 := mime.ParseMediaType(b)
	return err1 == nil && err2 == nil && ma == mb
}
