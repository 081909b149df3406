package policies

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// proxy sends forward-request through an HTTP proxy: url (http://host:port)
// and, for Basic authentication with the proxy, username and password.
type proxyPolicy struct {
	url, user, pass *pipeline.Value
}

func proxyRoute(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "url", "username", "password")
	c.CheckChildren(el)
	u, ok := c.RequiredAttr(el, "url")
	if !ok {
		return nil, nil
	}
	p := &proxyPolicy{url: &u}
	if lit, ok := u.Literal(); ok {
		if _, err := proxyURL(lit); err != nil {
			return nil, c.Errorf(el.Attr("url").Value.Pos(), "url of <proxy>: %v", err)
		}
	}
	if v, ok := c.Attr(el, "username"); ok {
		if lit, isLit := v.Literal(); isLit && strings.Contains(lit, ":") {
			// Not repeated: it may be a named value holding a secret.
			return nil, c.Errorf(el.Attr("username").Value.Pos(), "username of <proxy> must not contain ':' (RFC 7617)")
		}
		p.user = &v
	}
	if v, ok := c.Attr(el, "password"); ok {
		p.pass = &v
	}
	return p, nil
}

// proxyURL checks a proxy URL: http, a host and a port, nothing else.
func proxyURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil:
		return nil, errors.New("it is not a URL; write http://host:port")
	case u.Scheme == "https":
		return nil, errors.New("only http proxies are supported (as in API Management): the gateway speaks plain HTTP to the proxy, and TLS to an https backend through it")
	case u.Scheme != "http" || u.Host == "" || u.Hostname() == "":
		return nil, errors.New("it must be http://host:port")
	case u.User != nil:
		return nil, errors.New("give the user and password in username and password, not in the URL")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, errors.New("it must be http://host:port, without a path or query")
	}
	return &url.URL{Scheme: "http", Host: u.Host}, nil
}

func (p *proxyPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	u, err := p.target(x)
	if err != nil {
		return err
	}
	x.Backend.SetProxy(u)
	return nil
}

// target evaluates the proxy's URL and credentials.
func (p *proxyPolicy) target(x *exchange.Exchange) (*url.URL, error) {
	raw, err := p.url.String(x)
	if err != nil {
		return nil, err
	}
	u, err := proxyURL(raw)
	if err != nil {
		return nil, &pipeline.Error{Reason: "InvalidProxy", Message: "url of proxy: " + err.Error()}
	}
	var user, pass string
	if p.user != nil {
		if user, err = p.user.String(x); err != nil {
			return nil, err
		}
		if strings.Contains(user, ":") {
			return nil, &pipeline.Error{Reason: "InvalidCredentials", Message: "the username of proxy contains ':'"}
		}
	}
	if p.pass != nil {
		if pass, err = p.pass.String(x); err != nil {
			return nil, err
		}
	}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	return u, nil
}
