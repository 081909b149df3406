package policies

import (
	"context"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// The reasons context.LastError gets when validate-odata-request refuses a
// request.
const (
	ReasonInvalidODataVersion      = "InvalidODataVersion"
	ReasonODataVersionNotSupported = "ODataVersionNotSupported"
	ReasonInvalidQueryOption       = "InvalidQueryOption"
	ReasonUnknownQueryOption       = "UnknownQueryOption"
	ReasonPayloadTooLarge          = "PayloadTooLarge"
)

// maxODataFindings bounds the findings of one request: a query of thousands
// of bad options is refused for the first, and the errors variable stays
// small.
const maxODataFindings = 10

// odataVersion is an OData version as one number, its minor part read as
// decimals: 4.0 is 40000, 4.01 is 40100, 4.1 would be 41000.
type odataVersion int

const (
	odata40  odataVersion = 40000
	odata401 odataVersion = 40100
	// noMaxVersion is above every version: no max-odata-version.
	noMaxVersion odataVersion = 1e8
)

// parseODataVersion reads major.minor, each of 1 to 4 digits.
func parseODataVersion(s string) (odataVersion, bool) {
	major, minor, ok := strings.Cut(s, ".")
	if !ok || !digits(major, 4) || !digits(minor, 4) {
		return 0, false
	}
	maj, _ := strconv.Atoi(major)
	frac, _ := strconv.Atoi((minor + "000")[:4])
	return odataVersion(maj*10000 + frac), true
}

func (v odataVersion) String() string {
	frac := strings.TrimRight(strconv.Itoa(int(v)%10000 + 10000)[1:], "0")
	if frac == "" {
		frac = "0"
	}
	return strconv.Itoa(int(v)/10000) + "." + frac
}

// digits reports whether s is 1 to max ASCII digits.
func digits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validate-odata-request checks a request to an OData API before the backend:
// its OData-Version and OData-MaxVersion headers against the versions the
// policy accepts, its system query options against OData 4's URL
// conventions, and its body's size. Every finding prevents the request.
type validateODataRequestPolicy struct {
	validation
	def      odataVersion
	min, max odataVersion // 0 and noMaxVersion when not set
	maxSize  int64        // -1 when not set
}

func validateODataRequest(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "error-variable-name", "default-odata-version", "min-odata-version", "max-odata-version", "max-size")
	c.CheckChildren(el)
	if c.Scope() == "operation" {
		c.Report(c.Errorf(el.Pos, "<validate-odata-request> cannot be used in an operation's policy: API Management allows it in the global, product and API policies, where it covers the whole OData API"))
	}
	p := &validateODataRequestPolicy{validation: validation{name: el.Name, errorsVar: errorsVarAttr(c, el, "error-variable-name")},
		def: odata40, max: noMaxVersion, maxSize: -1}
	valid := true
	version := func(name string, v *odataVersion) {
		s, ok := c.LiteralAttr(el, name)
		if !ok {
			valid = valid && el.Attr(name) == nil
			return
		}
		if *v, ok = parseODataVersion(strings.TrimSpace(s)); !ok {
			c.Report(c.Errorf(el.Attr(name).Value.Pos(), "%s of <validate-odata-request> must be an OData version such as 4.0 or 4.01, not %q", name, s))
			valid = false
		}
	}
	version("default-odata-version", &p.def)
	version("min-odata-version", &p.min)
	version("max-odata-version", &p.max)
	switch {
	case !valid: // reported
	case p.min > p.max:
		c.Report(c.Errorf(el.Attr("max-odata-version").Value.Pos(), "max-odata-version %s of <validate-odata-request> is below min-odata-version %s", p.max, p.min))
	case !p.accepts(p.def):
		pos, what := el.Pos, "the default OData version "+p.def.String()+" (default-odata-version is not set)"
		if a := el.Attr("default-odata-version"); a != nil {
			pos, what = a.Value.Pos(), "default-odata-version "+p.def.String()
		}
		c.Report(c.Errorf(pos, "%s of <validate-odata-request> is outside the versions it accepts (%s): requests without OData-Version would all be refused", what, p.accepted()))
	}
	if s, ok := c.LiteralAttr(el, "max-size"); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 0 {
			c.Report(c.Errorf(el.Attr("max-size").Value.Pos(), "max-size of <validate-odata-request> must be a whole number of bytes, such as 102400, not %q", s))
		}
		p.maxSize = n
	}
	return p, nil
}

// accepts reports whether v is within min-odata-version and
// max-odata-version.
func (p *validateODataRequestPolicy) accepts(v odataVersion) bool {
	return v >= p.min && v <= p.max
}

// accepted says which versions the policy accepts, for messages.
func (p *validateODataRequestPolicy) accepted() string {
	switch {
	case p.min != 0 && p.min == p.max:
		return "OData " + p.min.String() + " only"
	case p.min != 0 && p.max != noMaxVersion:
		return "OData " + p.min.String() + " to " + p.max.String()
	case p.min != 0:
		return "OData " + p.min.String() + " or later"
	case p.max != noMaxVersion:
		return "OData " + p.max.String() + " or earlier"
	}
	return "any OData version"
}

func (p *validateODataRequestPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	var fs []finding
	v := p.def
	if got, f, ok := odataHeader(x.Request.Headers, "OData-Version", "Odata-Version"); f != nil {
		fs = append(fs, *f)
	} else if ok && p.accepts(got) {
		v = got
	} else if ok {
		d := "OData version " + got.String() + " in the header OData-Version is not supported: the API accepts " + p.accepted() + "."
		fs = append(fs, odataFinding("OData-Version", "RequestHeader", validationRuleIncorrect, d, ReasonODataVersionNotSupported))
	}
	if got, f, ok := odataHeader(x.Request.Headers, "OData-MaxVersion", "Odata-Maxversion"); f != nil {
		fs = append(fs, *f)
	} else if ok && p.min != 0 && got < p.min {
		d := "OData version " + got.String() + " in the header OData-MaxVersion is below " + p.min.String() + ", the lowest version the API accepts."
		fs = append(fs, odataFinding("OData-MaxVersion", "RequestHeader", validationRuleIncorrect, d, ReasonODataVersionNotSupported))
	}
	// The query follows the request's version, or the default when it has
	// none or one the policy refuses. Only OData 4's query language is known:
	// an older version (when min-odata-version allows one) has its version
	// and size checked.
	if u := x.Request.OriginalURL; u != nil && u.RawQuery != "" && v >= odata40 {
		fs = checkODataQuery(fs, u.RawQuery, v >= odata401)
	}
	// A body of unknown length is read only for a request not already refused.
	if b := x.Request.Body; p.maxSize >= 0 && (len(fs) == 0 || b.Len() >= 0) {
		n, err := bodySize(b, p.maxSize)
		if err != nil {
			return pipeline.BodyFailure(p.name, err)
		}
		if n >= 0 && n <= p.maxSize {
			return p.finish(x, fs)
		}
		f := sizeFinding("Request", sizeText(n, p.maxSize), p.maxSize)
		f.Action, f.Reason, f.Status = actionPrevent, ReasonPayloadTooLarge, http.StatusRequestEntityTooLarge
		fs = append(fs, f)
	}
	return p.finish(x, fs)
}

// odataHeader reads a version header, name under its canonical key: ok when
// it holds one version, a finding when it is malformed or given twice.
func odataHeader(h http.Header, name, key string) (odataVersion, *finding, bool) {
	vs := h[key]
	switch {
	case len(vs) == 0:
		return 0, nil, false
	case len(vs) > 1:
		f := odataFinding(name, "RequestHeader", validationRuleIncorrect, "Request cannot contain multiple values for the header "+name+".", ReasonInvalidODataVersion)
		return 0, &f, false
	}
	v, ok := parseODataVersion(strings.TrimSpace(vs[0]))
	if !ok {
		f := odataFinding(name, "RequestHeader", validationRuleIncorrect,
			"Value of the header "+name+" is not an OData version such as 4.0 or 4.01: "+quoteClipped(vs[0])+".", ReasonInvalidODataVersion)
		return 0, &f, false
	}
	return v, nil, true
}

func odataFinding(name, typ, rule, details, reason string) finding {
	return finding{Name: name, Type: typ, Rule: rule, Details: details, Public: details, Action: actionPrevent, Reason: reason}
}

// quoteClipped quotes a client's text for a message: at most 100 bytes, with
// control characters and invalid UTF-8 escaped, so that it can go into a log
// line or a header unchanged.
func quoteClipped(s string) string { return strconv.Quote(clipValue(s)) }

// odataOptions are OData 4.01's system query options (URL conventions §5.1,
// the ABNF's systemQueryOption), $apply from the Data Aggregation extension
// and $levels, which OData defines inside $expand and which is accepted
// here at the top level too.
var odataOptions = [...]string{"$apply", "$compute", "$count", "$deltatoken", "$expand", "$filter", "$format", "$id",
	"$index", "$levels", "$orderby", "$schemaversion", "$search", "$select", "$skip", "$skiptoken", "$top"}

// systemOption returns the index in odataOptions of the system query option
// name is, if it is one. OData 4.0 names them in lower case with $; 4.01 in
// any case, with or without $.
func systemOption(name string, v401 bool) (int, bool) {
	for i, o := range odataOptions {
		if name == o || v401 && (strings.EqualFold(name, o) || strings.EqualFold(name, o[1:])) {
			return i, true
		}
	}
	return 0, false
}

// checkODataQuery appends to fs the findings of a raw query, read as
// context.Request.OriginalUrl.Query reads it: system query options that are
// unknown, repeated or malformed. Custom options and parameter aliases (@p)
// are the service's own and are not checked. v401 applies OData 4.01's
// naming rules.
func checkODataQuery(fs []finding, raw string, v401 bool) []finding {
	q := expr.ParseQuery(raw)
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)        // findings in a stable order
	var seen, repeated uint32 // bits by index in odataOptions
	for _, name := range names {
		if len(fs) >= maxODataFindings {
			break
		}
		if name == "" || name[0] == '@' {
			continue
		}
		i, ok := systemOption(name, v401)
		if !ok {
			if name[0] == '$' {
				fs = append(fs, unknownOption(name, v401))
			}
			continue
		}
		opt, bit := odataOptions[i], uint32(1)<<i
		if vs := q[name]; len(vs) > 1 || seen&bit != 0 {
			if repeated&bit == 0 {
				fs = append(fs, odataFinding(opt, "QueryParameter", validationRuleIncorrect,
					"Request cannot contain multiple values for the system query option "+opt+".", ReasonInvalidQueryOption))
			}
			seen, repeated = seen|bit, repeated|bit
			continue
		}
		seen |= bit
		if problem := checkOptionValue(opt, q[name][0]); problem != "" {
			fs = append(fs, odataFinding(opt, "QueryParameter", validationRuleIncorrect,
				"Value of the system query option "+opt+" "+problem+".", ReasonInvalidQueryOption))
		}
	}
	return fs
}

func unknownOption(name string, v401 bool) finding {
	d := "Unknown system query option " + quoteClipped(name) + ": names that begin with $ are reserved for OData's system query options."
	if i, ok := systemOption(name, true); ok && !v401 {
		d = "Unknown system query option " + quoteClipped(name) + ": OData 4.0 names system query options in lower case, as " + odataOptions[i] + "."
	}
	return odataFinding(clipValue(name), "QueryParameter", validationRuleUnspecified, d, ReasonUnknownQueryOption)
}

// checkOptionValue checks a system query option's value as far as OData's
// ABNF allows without the service's model, and says what is wrong ("must be
// true or false, not \"yes\""), or "".
func checkOptionValue(opt, v string) string {
	if strings.TrimSpace(v) == "" {
		return "needs a value"
	}
	switch opt {
	case "$top", "$skip":
		if !digits(v, 19) || !fitsInt64(v) {
			return "must be a whole number of 0 or more, not " + quoteClipped(v)
		}
	case "$index":
		if n := strings.TrimPrefix(v, "-"); !digits(n, 19) || !fitsInt64(n) {
			return "must be a whole number, not " + quoteClipped(v)
		}
	case "$levels":
		if !strings.EqualFold(v, "max") && (!digits(v, 19) || v[0] == '0' || !fitsInt64(v)) {
			return "must be a whole number of 1 or more or max, not " + quoteClipped(v)
		}
	case "$count":
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return "must be true or false, not " + quoteClipped(v)
		}
	case "$format":
		if !isODataFormat(v) {
			return "must be json, xml, atom or a media type such as application/json, not " + quoteClipped(v)
		}
	case "$schemaversion":
		if v != "*" && strings.TrimLeft(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != "" {
			return "must be * or a version made of letters, digits, -, ., _ and ~, not " + quoteClipped(v)
		}
	case "$filter", "$orderby", "$select", "$expand", "$apply", "$compute", "$search":
		if problem := checkExpression(v, opt == "$search"); problem != "" {
			return "is not well-formed: " + problem
		}
	}
	// $id, $skiptoken and $deltatoken are the service's own text.
	return ""
}

func fitsInt64(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

func isODataFormat(v string) bool {
	switch strings.ToLower(v) {
	case "json", "xml", "atom":
		return true
	}
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && strings.Contains(mt, "/")
}

// checkExpression checks what lastmile can of an expression option without
// OData's grammar: parentheses balance outside string literals, and the
// literals are closed. Strings are '...' with ” for a quote, or JSON's
// "..." with \ escapes; $search has only "..." phrases, and an apostrophe
// there is a plain character.
func checkExpression(s string, search bool) string {
	depth, open := 0, 0 // open: where the outermost unclosed ( is
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' && !search:
			j := i + 1
			for {
				k := strings.IndexByte(s[j:], '\'')
				if k < 0 {
					return "a string starting at byte " + strconv.Itoa(i+1) + " is not closed"
				}
				j += k + 1
				if j == len(s) || s[j] != '\'' {
					break
				}
				j++ // '' is a quote inside the string
			}
			i = j - 1
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return "a string starting at byte " + strconv.Itoa(i+1) + " is not closed"
			}
			i = j
		case c == '(':
			if depth == 0 {
				open = i
			}
			depth++
		case c == ')':
			if depth == 0 {
				return "the ) at byte " + strconv.Itoa(i+1) + " closes nothing"
			}
			depth--
		}
	}
	if depth > 0 {
		return "the ( at byte " + strconv.Itoa(open+1) + " is not closed"
	}
	return ""
}
