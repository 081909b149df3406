package policies

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// redirect-content-urls rewrites the backend's URL in the response body to
// the gateway's (outbound), or the gateway's in the request body to the
// backend's (inbound). As API Management documents, headers such as Location
// are left as they are; set-header changes them.
type redirectContentURLsPolicy struct{ response bool }

func redirectContentURLs(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el)
	c.CheckChildren(el)
	return &redirectContentURLsPolicy{response: c.Section() == pipeline.Outbound}, nil
}

func (p *redirectContentURLsPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	backend, gateway := backendBase(x), gatewayBase(x)
	if backend == "" || gateway == "" || backend == gateway {
		return nil
	}
	body := x.Request.Body
	from, to := gateway, backend
	if p.response {
		if x.Response == nil {
			return nil
		}
		body, from, to = x.Response.Body, backend, gateway
	}
	if body == nil || body.Len() == 0 || body.Consumed() {
		return nil
	}
	data, err := body.Bytes(true)
	if err != nil {
		return pipeline.BodyFailure("redirect-content-urls", err)
	}
	n := bytes.Count(data, []byte(from))
	if n == 0 {
		return nil
	}
	if size := int64(len(data) + n*(len(to)-len(from))); size > x.Buffers.Limit() {
		return pipeline.BodyFailure("redirect-content-urls", fmt.Errorf("the rewritten body would take %d bytes: %w", size, exchange.ErrBodyTooLarge))
	}
	out := bytes.ReplaceAll(data, []byte(from), []byte(to))
	if err := x.Buffers.Take(int64(len(out))); err != nil {
		return pipeline.BodyFailure("redirect-content-urls", err)
	}
	body.Set(out)
	if p.response {
		x.Response.Headers.Del("Content-Length")
	} else {
		x.Request.Headers.Del("Content-Length")
	}
	return nil
}

// backendBase is the backend's base URL without a trailing slash: the API's
// service URL, or what set-backend-service chose.
func backendBase(x *exchange.Exchange) string {
	if x.Backend.BaseURL == nil {
		return ""
	}
	return strings.TrimSuffix(x.Backend.BaseURL.String(), "/")
}

// gatewayBase is the API's URL on the gateway as the client called it:
// scheme, host, the API's path and, when the client's path has it, the
// API's version segment.
func gatewayBase(x *exchange.Exchange) string {
	o := x.Request.OriginalURL
	if o == nil || o.Host == "" || x.API == nil {
		return ""
	}
	base := o.Scheme + "://" + o.Host
	if x.API.Path != "" {
		base += "/" + strings.Trim(x.API.Path, "/")
	}
	if v := x.API.Version; v != "" {
		prefix := strings.TrimPrefix(base, o.Scheme+"://"+o.Host)
		if p := o.EscapedPath(); p == prefix+"/"+v || strings.HasPrefix(p, prefix+"/"+v+"/") {
			base += "/" + v
		}
	}
	return base
}
