package policies

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/jwtverify"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// validate-jwt checks a JWT from a header, a query parameter or an expression:
// its signature (keys from <openid-config> or <issuer-signing-keys>), or its
// encryption (<decryption-keys>), then lifetime, audience, issuer and required
// claims. A failure goes to on-error with API Management's reason; the caller
// gets failed-validation-httpcode (401) and failed-validation-error-message, or
// "JWT not present." / "Invalid JWT.", never the verifier's text.
type jwtPolicy struct {
	where         tokenLocation
	status        pipeline.Value
	message       pipeline.Value
	hasMessage    bool
	requireExp    pipeline.Value
	requireSigned pipeline.Value
	skew          pipeline.Value
	hasSkew       bool
	outputVar     string

	static    []jwtverify.Key // issuer-signing-keys
	sources   []*keySource    // openid-config
	dec       []jwtverify.DecryptionKey
	audiences []pipeline.Value
	issuers   []pipeline.Value
	claims    []claimRule

	// tenant gives validate-azure-ad-token's sources per request, when its
	// tenant-id is an expression; nil otherwise.
	tenant func(x *exchange.Exchange) ([]*keySource, error)
	// alsoIssuers are issuers the <openid-config> keys vouch for besides the
	// configuration's own (singleSourceIssuers).
	alsoIssuers []string
	// clientApps, when not nil, must hold the token's appid or azp
	// (validate-azure-ad-token).
	clientApps []string
}

// tokenLocation is where the token is: exactly one of a header, a query
// parameter or an expression.
type tokenLocation struct {
	header, query, value pipeline.Value
	kind                 string // "header", "query" or "value"
	scheme               pipeline.Value
	hasScheme            bool
}

// keySource is one <openid-config>'s keys, with the conversion of its latest
// set kept so that requests do not convert it again.
type keySource struct {
	src       *jwks.Source
	converted atomic.Pointer[convertedSet]
}

type convertedSet struct {
	set  *jwks.Set
	keys []jwtverify.Key
}

// claimRule is one <required-claims><claim>.
type claimRule struct {
	name      string
	any       bool
	separator string
	values    []pipeline.Value
}

func (d Deps) validateJWT(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
		"failed-validation-error-message", "require-expiration-time", "require-scheme", "require-signed-tokens",
		"clock-skew", "output-token-variable-name")
	c.CheckChildren(el, "openid-config", "issuer-signing-keys", "decryption-keys", "audiences", "issuers", "required-claims")
	p := &jwtPolicy{}
	p.where = compileTokenLocation(c, el, "")
	p.compileCommon(c, el)
	p.requireExp = c.BoolValue(el, "require-expiration-time", true)
	p.requireSigned = c.BoolValue(el, "require-signed-tokens", true)
	if v, ok := c.Attr(el, "clock-skew"); ok {
		p.skew, p.hasSkew = v, true
		if lit, isLit := v.Literal(); isLit {
			if _, err := parseClockSkew(lit); err != nil {
				c.Report(c.Errorf(el.Attr("clock-skew").Value.Pos(), "clock-skew of <validate-jwt>: %v", err))
			}
		}
	}
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "openid-config":
			c.CheckAttrs(ch, "url")
			c.CheckChildren(ch)
			url, ok := c.LiteralAttr(ch, "url")
			if !ok {
				if ch.Attr("url") == nil {
					c.Report(c.Errorf(ch.Pos, "<openid-config> needs a url attribute: the issuer's discovery document, such as https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"))
				}
				continue
			}
			url = strings.TrimSpace(url)
			if msg := jwks.CheckURL(url, d.AllowInsecureIssuer); msg != "" {
				c.Report(c.Errorf(ch.Attr("url").Value.Pos(), "url of <openid-config>: %s", msg))
				continue
			}
			p.sources = append(p.sources, d.keySource(url))
		case "issuer-signing-keys":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "key")
			for _, k := range ch.Elements() {
				if key, ok := d.signingKey(c, k); ok {
					p.static = append(p.static, key)
				}
			}
		case "decryption-keys":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "key")
			for _, k := range ch.Elements() {
				if key, ok := d.decryptionKey(c, k); ok {
					p.dec = append(p.dec, key)
				}
			}
		case "issuers":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "issuer")
			for _, v := range ch.Elements() {
				c.CheckAttrs(v)
				c.CheckChildren(v)
				p.issuers = append(p.issuers, c.Value(v.Text()))
			}
		}
	}
	signed := true
	if lit, isLit := p.requireSigned.Literal(); isLit && strings.EqualFold(strings.TrimSpace(lit), "false") {
		signed = false
	}
	p.alsoIssuers = p.singleSourceIssuers()
	if len(p.static) == 0 && len(p.sources) == 0 && (signed || len(p.dec) == 0) && !c.Failed() {
		c.Report(c.Errorf(el.Pos, "<validate-jwt> has no keys to verify signatures with, so it would refuse every token: add <openid-config url=\"...\"/> or <issuer-signing-keys>"))
	}
	if c.Failed() {
		return nil, nil
	}
	return p, nil
}

// compileCommon compiles what validate-jwt and validate-azure-ad-token share:
// the failure status and message, the output variable, audiences and
// required claims.
func (p *jwtPolicy) compileCommon(c *pipeline.Compiler, el *policyxml.Element) {
	p.status = pipeline.Literal("401")
	if v, ok := c.Attr(el, "failed-validation-httpcode"); ok {
		p.status = v
		if lit, isLit := v.Literal(); isLit {
			if _, perr := parseStatus(lit); perr != nil {
				c.Report(c.Errorf(el.Attr("failed-validation-httpcode").Value.Pos(), "failed-validation-httpcode of <%s>: %s", el.Name, perr.Message))
			}
		}
	}
	p.message, p.hasMessage = c.Attr(el, "failed-validation-error-message")
	p.outputVar, _ = c.LiteralAttr(el, "output-token-variable-name")
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "audiences":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "audience")
			for _, v := range ch.Elements() {
				c.CheckAttrs(v)
				c.CheckChildren(v)
				p.audiences = append(p.audiences, c.Value(v.Text()))
			}
		case "required-claims":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "claim")
			for _, cl := range ch.Elements() {
				if r, ok := compileClaim(c, cl); ok {
					p.claims = append(p.claims, r)
				}
			}
		}
	}
}

func compileTokenLocation(c *pipeline.Compiler, el *policyxml.Element, defaultHeader string) tokenLocation {
	var t tokenLocation
	n := 0
	if v, ok := c.Attr(el, "header-name"); ok {
		t.header, t.kind = v, "header"
		n++
		if lit, isLit := v.Literal(); isLit {
			literalHeaderName(c, el.Attr("header-name").Value.Pos(), "header-name of <"+el.Name+">", strings.TrimSpace(lit))
		}
	}
	if v, ok := c.Attr(el, "query-parameter-name"); ok {
		t.query, t.kind = v, "query"
		n++
	}
	if v, ok := c.Attr(el, "token-value"); ok {
		t.value, t.kind = v, "value"
		n++
	}
	switch {
	case n == 0 && defaultHeader != "":
		t.header, t.kind = pipeline.Literal(defaultHeader), "header"
	case n != 1:
		c.Report(c.Errorf(el.Pos, "<%s> needs exactly one of header-name, query-parameter-name and token-value", el.Name))
	}
	if v, ok := c.Attr(el, "require-scheme"); ok {
		t.scheme, t.hasScheme = v, true
	}
	return t
}

func compileClaim(c *pipeline.Compiler, el *policyxml.Element) (claimRule, bool) {
	c.CheckAttrs(el, "name", "match", "separator")
	c.CheckChildren(el, "value")
	var r claimRule
	name, ok := c.LiteralAttr(el, "name")
	if !ok || strings.TrimSpace(name) == "" {
		if el.Attr("name") == nil || ok {
			c.Report(c.Errorf(el.Pos, "<claim> needs a name attribute: the claim's name, such as roles"))
		}
		return r, false
	}
	r.name = strings.TrimSpace(name)
	if m, ok := c.LiteralAttr(el, "match"); ok {
		switch strings.ToLower(strings.TrimSpace(m)) {
		case "all":
		case "any":
			r.any = true
		default:
			c.Report(c.Errorf(el.Attr("match").Value.Pos(), "match of <claim> must be all or any, not %q", m))
		}
	}
	r.separator, _ = c.LiteralAttr(el, "separator")
	for _, v := range el.Elements() {
		c.CheckAttrs(v)
		c.CheckChildren(v)
		r.values = append(r.values, c.Value(v.Text()))
	}
	return r, true
}

// keySource returns the policy's view of a discovery URL's keys.
func (d Deps) keySource(url string) *keySource {
	if d.Keys == nil { // only compiling: nothing is fetched
		return &keySource{src: jwks.NewSource(url, noKeys{}, jwks.Options{})}
	}
	return &keySource{src: d.Keys.Source(url)}
}

// noKeys is the fetcher of a policy compiled only to be checked.
type noKeys struct{}

func (noKeys) Fetch(context.Context) (*jwks.Set, error) {
	return nil, errors.New("validation only: keys are not fetched")
}

// signingKey compiles an <issuer-signing-keys><key>: a base64 symmetric key,
// an RSA modulus and exponent, or a certificate-id.
func (d Deps) signingKey(c *pipeline.Compiler, el *policyxml.Element) (jwtverify.Key, bool) {
	c.CheckAttrs(el, "certificate-id", "n", "e")
	c.CheckChildren(el)
	var k jwtverify.Key
	if a := el.Attr("id"); a != nil {
		k.ID = strings.TrimSpace(a.Value.String())
	}
	text := el.Text()
	hasText := strings.TrimSpace(text.String()) != ""
	certID, hasCert := c.LiteralAttr(el, "certificate-id")
	n, hasN := c.LiteralAttr(el, "n")
	e, hasE := c.LiteralAttr(el, "e")
	forms := 0
	for _, b := range []bool{hasText, hasCert, hasN || hasE} {
		if b {
			forms++
		}
	}
	if forms != 1 {
		c.Report(c.Errorf(el.Pos, "<key> in <issuer-signing-keys> needs exactly one of: a base64 symmetric key as its text, certificate-id, or n and e"))
		return k, false
	}
	switch {
	case hasText:
		secret, ok := symmetricKey(c, text, "issuer-signing-keys")
		if !ok {
			return k, false
		}
		if len(secret) < 32 {
			c.Report(c.Errorf(text.Pos(), "the symmetric key in <issuer-signing-keys> is %d bytes; HMAC keys must be at least 32 bytes (HS256; 48 for HS384, 64 for HS512)", len(secret)))
			return k, false
		}
		k.Key = secret
	case hasCert:
		cert, ok := d.certificate(c, el, "certificate-id", certID)
		if !ok {
			return k, false
		}
		if cert.Leaf == nil { // lastmile validate on one file: the store is not read
			k.Key = []byte{}
			return k, true
		}
		if err := directory.CheckPublicKey(cert.Leaf.PublicKey); err != nil {
			c.Report(c.Errorf(el.Attr("certificate-id").Value.Pos(), "certificate %q cannot verify tokens: %v", certID, err))
			return k, false
		}
		k.Key = cert.Leaf.PublicKey
	default:
		if !hasN || !hasE {
			c.Report(c.Errorf(el.Pos, "<key> needs both n and e (the RSA modulus and exponent, base64url)"))
			return k, false
		}
		nb, err1 := decodeBase64(n)
		eb, err2 := decodeBase64(e)
		if err1 != nil || err2 != nil || len(eb) > 4 || len(eb) == 0 {
			c.Report(c.Errorf(el.Pos, "n and e of <key> must be the RSA modulus and exponent in base64url"))
			return k, false
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}
		if err := directory.CheckPublicKey(pub); err != nil {
			c.Report(c.Errorf(el.Attr("n").Value.Pos(), "the RSA key of <key>: %v", err))
			return k, false
		}
		k.Key = pub
	}
	return k, true
}

// decryptionKey compiles a <decryption-keys><key>: a base64 symmetric key
// (direct encryption or AES key wrap) or a certificate-id with an RSA private
// key (RSA-OAEP).
func (d Deps) decryptionKey(c *pipeline.Compiler, el *policyxml.Element) (jwtverify.DecryptionKey, bool) {
	c.CheckAttrs(el, "certificate-id")
	c.CheckChildren(el)
	var k jwtverify.DecryptionKey
	if a := el.Attr("id"); a != nil {
		k.ID = strings.TrimSpace(a.Value.String())
	}
	text := el.Text()
	hasText := strings.TrimSpace(text.String()) != ""
	certID, hasCert := c.LiteralAttr(el, "certificate-id")
	if hasText == hasCert {
		c.Report(c.Errorf(el.Pos, "<key> in <decryption-keys> needs exactly one of: a base64 symmetric key as its text, or certificate-id"))
		return k, false
	}
	if hasText {
		secret, ok := symmetricKey(c, text, "decryption-keys")
		if !ok {
			return k, false
		}
		if !slices.Contains([]int{16, 24, 32, 48, 64}, len(secret)) {
			c.Report(c.Errorf(text.Pos(), "the symmetric key in <decryption-keys> is %d bytes; a content or key wrapping key is 16, 24, 32, 48 or 64 bytes", len(secret)))
			return k, false
		}
		k.Key = secret
		return k, true
	}
	cert, ok := d.certificate(c, el, "certificate-id", certID)
	if !ok {
		return k, false
	}
	if cert.Leaf == nil {
		k.Key = []byte{}
		return k, true
	}
	priv, isRSA := cert.PrivateKey.(*rsa.PrivateKey)
	if !isRSA {
		c.Report(c.Errorf(el.Attr("certificate-id").Value.Pos(), "certificate %q has no RSA private key, so it cannot decrypt tokens; give a PFX, or a PEM file with the key", certID))
		return k, false
	}
	k.Key = priv
	return k, true
}

// certificate returns the certificate lastmile.yaml names id.
func (d Deps) certificate(c *pipeline.Compiler, el *policyxml.Element, attr, id string) (*tls.Certificate, bool) {
	id = strings.TrimSpace(id)
	var cert *tls.Certificate
	ok := false
	if d.Certificates != nil {
		cert, ok = d.Certificates.ByID(id)
	}
	if !ok {
		c.Report(c.Errorf(el.Attr(attr).Value.Pos(), "certificate %q is not in lastmile.yaml's certificates; add it there (id, file, passwordEnv)", id))
	}
	return cert, ok
}

// symmetricKey decodes a key given as base64 text. The key is a secret: the
// messages never show it.
func symmetricKey(c *pipeline.Compiler, text policyxml.Value, where string) ([]byte, bool) {
	if text.IsExpression() {
		c.Report(c.Errorf(text.Pos(), "a key in <%s> does not accept policy expressions; use a named value", where))
		return nil, false
	}
	b, err := decodeBase64(text.String())
	if err != nil {
		c.Report(c.Errorf(text.Pos(), "the key in <%s> is not base64", where))
		return nil, false
	}
	return b, true
}

// decodeBase64 reads standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// parseClockSkew reads clock-skew: whole seconds, or a TimeSpan (hh:mm:ss).
func parseClockSkew(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= pipeline.MaxSeconds {
		return time.Duration(n) * time.Second, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) == 3 {
		var d time.Duration
		for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
			f, err := strconv.ParseFloat(parts[i], 64)
			if err != nil || f < 0 || strings.ContainsAny(parts[i], "eE+-") {
				return 0, errors.New("must be whole seconds (such as 300) or a time span (00:05:00), not " + strconv.Quote(s))
			}
			d += time.Duration(f * float64(unit))
		}
		if d <= pipeline.MaxSeconds*time.Second {
			return d, nil
		}
	}
	return 0, errors.New("must be whole seconds from 0 to 86400 (such as 300) or a time span (00:05:00), not " + strconv.Quote(s))
}

// Apply validates the token.
func (p *jwtPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	raw, err := p.where.token(x)
	if err != nil {
		return p.fail(x, err)
	}
	requireSigned, err := p.requireSigned.Bool(x)
	if err != nil {
		return err
	}
	tok, err := jwtverify.Parse(raw, p.dec, requireSigned)
	if err != nil {
		return p.fail(x, err)
	}
	sources := p.sources
	if p.tenant != nil {
		if sources, err = p.tenant(x); err != nil {
			return err
		}
	}
	payload, key, err := p.verify(ctx, tok, sources)
	if err != nil {
		return p.fail(x, err)
	}
	claims, err := jwtverify.ParseClaims(payload)
	if err != nil {
		return p.fail(x, err)
	}
	rules, err := p.rules(x, key, sources)
	if err != nil {
		return err
	}
	if err := rules.Check(claims); err != nil {
		return p.fail(x, err)
	}
	if len(p.claims) == 0 && p.outputVar == "" && p.clientApps == nil {
		return nil
	}
	jwt, err := claimsView(tok, payload)
	if err != nil {
		return p.fail(x, err)
	}
	if p.clientApps != nil {
		if err := checkClientApp(jwt, p.clientApps); err != nil {
			return p.fail(x, err)
		}
	}
	if err := p.checkClaims(x, jwt); err != nil {
		return p.fail(x, err)
	}
	if p.outputVar != "" {
		x.SetVar(p.outputVar, jwt)
	}
	return nil
}

// token reads the token from where the policy says.
func (t *tokenLocation) token(x *exchange.Exchange) (string, error) {
	var values []string
	isAuthorization := false
	switch t.kind {
	case "header":
		name, err := t.header.String(x)
		if err != nil {
			return "", err
		}
		name = strings.TrimSpace(name)
		if err := checkHeaderName(name); err != nil {
			return "", err
		}
		isAuthorization = strings.EqualFold(name, "Authorization")
		values = x.Request.Headers.Values(name)
	case "query":
		name, err := t.query.String(x)
		if err != nil {
			return "", err
		}
		if u := x.Request.OriginalURL; u != nil {
			values = u.Query()[strings.TrimSpace(name)]
		}
	default:
		v, err := t.value.String(x)
		if err != nil {
			return "", err
		}
		values = []string{v}
	}
	var raw string
	for i, v := range values {
		// Two different tokens: the backend might read the other one.
		if i > 0 && strings.TrimSpace(v) != raw {
			return "", &jwtverify.Error{Reason: jwtverify.JwtInvalid, Message: "The request carries more than one token where the policy looks for one. Access denied."}
		}
		raw = strings.TrimSpace(v)
	}
	if raw == "" {
		return "", notPresent()
	}
	if isAuthorization {
		scheme, rest, hasScheme := strings.Cut(raw, " ")
		if t.hasScheme {
			want, err := t.scheme.String(x)
			if err != nil {
				return "", err
			}
			if !hasScheme || !strings.EqualFold(scheme, strings.TrimSpace(want)) {
				return "", notPresent()
			}
		}
		if hasScheme {
			raw = strings.TrimSpace(rest)
		}
	}
	if raw == "" {
		return "", notPresent()
	}
	return raw, nil
}

func notPresent() error {
	return &jwtverify.Error{Reason: jwtverify.TokenNotPresent, Message: "JWT not present."}
}

// verify checks the signature with the static keys and those of the sources.
// When the token names a kid no cached key has, each source fetches early (at
// most once per its MinInterval) before the token is refused.
func (p *jwtPolicy) verify(ctx context.Context, tok *jwtverify.Token, sources []*keySource) ([]byte, *jwtverify.Key, error) {
	if !tok.Signed() || len(sources) == 0 {
		return tok.Verify(p.static)
	}
	groups := make([][]jwtverify.Key, 0, len(sources)+1)
	groups = append(groups, p.static)
	var fetchErr error
	known := tok.Kid == "" || hasKid(p.static, tok.Kid)
	sets := make([]*jwks.Set, len(sources))
	for i, s := range sources {
		set, err := s.src.Keys(ctx, "")
		if err != nil {
			fetchErr = err
			continue
		}
		sets[i] = set
		known = known || set.Has(tok.Kid)
	}
	if !known {
		for i, s := range sources {
			if set, err := s.src.Keys(ctx, tok.Kid); err == nil {
				sets[i] = set
			}
		}
	}
	for i, s := range sources {
		if sets[i] != nil {
			groups = append(groups, s.keys(sets[i], p.alsoIssuers))
		}
	}
	payload, key, err := tok.Verify(groups...)
	var ve *jwtverify.Error
	if fetchErr != nil && errors.As(err, &ve) && ve.Reason == jwtverify.TokenSignatureKeyNotFound {
		return nil, nil, &jwtverify.Error{Reason: jwtverify.TokenSignatureKeyNotFound,
			Message: "Signature validation failed: the issuer's signing keys could not be fetched (see the gateway log). Access denied."}
	}
	return payload, key, err
}

// singleSourceIssuers are the literal <issuers> that a lone <openid-config>'s
// keys also vouch for (Entra's v2 configuration with the v1 issuer listed, say).
// With several configurations each one's keys vouch only for its own issuer.
func (p *jwtPolicy) singleSourceIssuers() []string {
	if len(p.sources) != 1 || p.tenant != nil {
		return nil
	}
	var out []string
	for _, v := range p.issuers {
		if lit, ok := v.Literal(); ok {
			out = append(out, strings.TrimSpace(lit))
		}
	}
	return out
}

func hasKid(keys []jwtverify.Key, kid string) bool {
	for i := range keys {
		if keys[i].ID == kid {
			return true
		}
	}
	return false
}

// keys converts a fetched set once, binding each key to the set's issuer.
func (s *keySource) keys(set *jwks.Set, extraIssuers []string) []jwtverify.Key {
	if c := s.converted.Load(); c != nil && c.set == set {
		return c.keys
	}
	issuers := append([]string{set.Issuer}, extraIssuers...)
	keys := make([]jwtverify.Key, len(set.Keys))
	for i, k := range set.Keys {
		keys[i] = jwtverify.Key{ID: k.KeyID, Alg: k.Algorithm, Key: k.Key, Issuers: issuers}
	}
	s.converted.Store(&convertedSet{set: set, keys: keys})
	return keys
}

// rules evaluates the lifetime, audience and issuer checks. The issuers a
// token may have are those of the key that verified it when it came from an
// <openid-config>; otherwise <issuers> and the configurations' issuers (none:
// the issuer is not checked).
func (p *jwtPolicy) rules(x *exchange.Exchange, key *jwtverify.Key, sources []*keySource) (*jwtverify.Rules, error) {
	r := &jwtverify.Rules{Now: time.Now()}
	var err error
	if r.RequireExpiration, err = p.requireExp.Bool(x); err != nil {
		return nil, err
	}
	if p.hasSkew {
		s, err := p.skew.String(x)
		if err != nil {
			return nil, err
		}
		if r.ClockSkew, err = parseClockSkew(s); err != nil {
			return nil, &pipeline.Error{Reason: "InvalidClockSkew", Message: "clock-skew " + err.Error(), Status: http.StatusInternalServerError}
		}
	}
	if r.Audiences, err = evalAll(x, p.audiences); err != nil {
		return nil, err
	}
	if key != nil && key.Issuers != nil {
		r.Issuers = key.Issuers
		return r, nil
	}
	if r.Issuers, err = evalAll(x, p.issuers); err != nil {
		return nil, err
	}
	for _, s := range sources {
		if c := s.converted.Load(); c != nil {
			r.Issuers = append(r.Issuers, c.set.Issuer)
		}
	}
	return r, nil
}

func evalAll(x *exchange.Exchange, vals []pipeline.Value) ([]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		s, err := v.String(x)
		if err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out, nil
}

// claimsView is the token as expressions see it (the Jwt object), whose claim
// values required-claims compares: strings, array items, numbers and booleans
// in their JSON text.
func claimsView(tok *jwtverify.Token, payload []byte) (*expr.Jwt, error) {
	compact := tok.Compact
	if compact == "" { // an unsigned JWE: its claims, with an empty signature
		compact = "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	j, err := expr.ParseJwt(compact)
	if err != nil {
		return nil, &jwtverify.Error{Reason: jwtverify.JwtInvalid, Message: "The token's claims cannot be read. Access denied."}
	}
	return j, nil
}

// checkClaims applies <required-claims>: every claim must be present; its
// values (split by separator) must include all listed values, or one with
// match="any".
func (p *jwtPolicy) checkClaims(x *exchange.Exchange, jwt *expr.Jwt) error {
	var missing []string
	for _, r := range p.claims {
		if _, ok := jwt.Claims[r.name]; !ok {
			missing = append(missing, r.name)
		}
	}
	if len(missing) > 0 {
		return &jwtverify.Error{Reason: jwtverify.TokenClaimNotFound,
			Message: "JWT token is missing the following claims: " + strings.Join(missing, ", ") + ". Access denied."}
	}
	for _, r := range p.claims {
		if len(r.values) == 0 {
			continue
		}
		got := jwt.Claims[r.name]
		if r.separator != "" {
			var split []string
			for _, v := range got {
				for _, s := range strings.Split(v, r.separator) {
					if s = strings.TrimSpace(s); s != "" {
						split = append(split, s)
					}
				}
			}
			got = split
		}
		want, err := evalAll(x, r.values)
		if err != nil {
			return err
		}
		found := 0
		for _, w := range want {
			if slices.Contains(got, w) {
				found++
			}
		}
		if r.any && found == 0 || !r.any && found < len(want) {
			return &jwtverify.Error{Reason: jwtverify.TokenClaimValueNotAllowed,
				Message: "Claim " + r.name + " value of " + clipValue(strings.Join(jwt.Claims[r.name], ",")) + " is not allowed. Access denied."}
		}
	}
	return nil
}

func clipValue(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// fail turns a validation failure into the policy's error: LastError gets the
// reason and message, the caller failed-validation-httpcode and
// failed-validation-error-message, or API Management's default message.
func (p *jwtPolicy) fail(x *exchange.Exchange, err error) error {
	var ve *jwtverify.Error
	if !errors.As(err, &ve) {
		return err // an expression failed: its own error
	}
	s, err := p.status.String(x)
	if err != nil {
		return err
	}
	code, perr := parseStatus(s)
	if perr != nil {
		return perr
	}
	public := "Invalid JWT."
	if ve.Reason == jwtverify.TokenNotPresent {
		public = "JWT not present."
	}
	if p.hasMessage {
		msg, err := p.message.String(x)
		if err != nil {
			return err
		}
		// An empty message would make the caller see LastError.Message.
		if strings.TrimSpace(msg) != "" {
			public = msg
		}
	}
	return &pipeline.Error{Reason: ve.Reason, Message: ve.Message, Status: code, Public: public}
}
