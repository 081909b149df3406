package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// llm-content-safety sends the request's prompt to Azure AI Content Safety
// before the backend is called: text:analyze with the configured categories,
// severity levels and blocklists, and text:shieldPrompt when shield-prompt is
// true (REST API version 2024-09-01). A category at or above its threshold, a
// blocklist match or a detected attack blocks the request with 403; a failing
// service, or a text over the service's limit, fails it with 500. Nothing is
// sent to the backend then.

// contentSafetyVersion is the Azure AI Content Safety REST API version used.
const contentSafetyVersion = "2024-09-01"

// maxContentSafetyChars is the service's limit on the text of one request, in
// Unicode code points (AnalyzeTextOptions.text, ShieldPromptOptions.userPrompt).
const maxContentSafetyChars = 10000

// maxContentSafetyResponse bounds the service's answer.
const maxContentSafetyResponse = 1 << 20

// contentSafetyCategories are the categories text:analyze knows.
var contentSafetyCategories = []string{"Hate", "SelfHarm", "Sexual", "Violence"}

// Reasons of the errors llm-content-safety raises, for context.LastError.
const (
	ReasonContentSafetyBlocked = "ContentSafetyBlocked"
	ReasonContentSafetyFailure = "ContentSafetyFailure"
)

// contentSafetyBlockedMessage is the body message of a blocked request, as
// API Management is seen to answer (its documentation gives only the 403).
const contentSafetyBlockedMessage = "Request failed content safety check"

type contentSafetyPolicy struct {
	backendID  pipeline.Value
	deps       *Deps
	shield     pipeline.Value
	outputType pipeline.Value
	categories []safetyCategory
	blocklists []pipeline.Value
	log        *slog.Logger
}

type safetyCategory struct {
	name, threshold pipeline.Value
}

func (d *Deps) contentSafety(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "backend-id", "shield-prompt")
	c.CheckChildren(el, "categories", "blocklists")
	p := &contentSafetyPolicy{deps: d, log: d.Logger, outputType: pipeline.Literal("FourSeverityLevels")}
	id, ok := c.RequiredAttr(el, "backend-id")
	if lit, isLit := id.Literal(); ok && isLit {
		if _, err := d.aiBackend(strings.TrimSpace(lit)); err != nil {
			c.Report(c.Errorf(el.Attr("backend-id").Value.Pos(), "backend-id: %s", err))
		}
	}
	p.backendID = id
	p.shield = c.BoolValue(el, "shield-prompt", false)
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "categories":
			c.CheckAttrs(ch, "output-type")
			c.CheckChildren(ch, "category")
			if v, present := c.Attr(ch, "output-type"); present {
				if lit, isLit := v.Literal(); isLit && !validOutputType(lit) {
					c.Report(c.Errorf(ch.Attr("output-type").Value.Pos(), "output-type must be FourSeverityLevels or EightSeverityLevels, not %q", lit))
				}
				p.outputType = v
			}
			for _, cat := range ch.Elements() {
				c.CheckAttrs(cat, "name", "threshold")
				name, ok1 := c.RequiredAttr(cat, "name")
				th, ok2 := c.RequiredAttr(cat, "threshold")
				if lit, isLit := name.Literal(); ok1 && isLit && canonicalCategory(lit) == "" {
					c.Report(c.Errorf(cat.Attr("name").Value.Pos(), "category name must be Hate, SelfHarm, Sexual or Violence, not %q", lit))
				}
				if lit, isLit := th.Literal(); ok2 && isLit {
					if _, err := parseSeverity(lit); err != nil {
						c.Report(c.Errorf(cat.Attr("threshold").Value.Pos(), "category threshold %s", err))
					}
				}
				p.categories = append(p.categories, safetyCategory{name: name, threshold: th})
			}
		case "blocklists":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "id")
			for _, idEl := range ch.Elements() {
				c.CheckAttrs(idEl)
				p.blocklists = append(p.blocklists, c.Value(idEl.Text()))
			}
		}
	}
	if !ok {
		return nil, nil
	}
	return p, nil
}

func validOutputType(s string) bool {
	s = strings.TrimSpace(s)
	return s == "FourSeverityLevels" || s == "EightSeverityLevels"
}

// canonicalCategory returns a category's name as the service spells it, or
// "" for an unknown one.
func canonicalCategory(s string) string {
	for _, c := range contentSafetyCategories {
		if strings.EqualFold(strings.TrimSpace(s), c) {
			return c
		}
	}
	return ""
}

func parseSeverity(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 7 {
		return 0, fmt.Errorf("must be a severity from 0 to 7, not %q", s)
	}
	return n, nil
}

// safetyRequest is the evaluated policy for one request.
type safetyRequest struct {
	backend    *aiBackend
	outputType string
	thresholds map[string]int // category -> threshold
	blocklists []string
	shield     bool
}

func (p *contentSafetyPolicy) evaluate(x *exchange.Exchange) (*safetyRequest, error) {
	fail := func(msg string) error {
		return &pipeline.Error{Reason: ReasonContentSafetyFailure, Message: "llm-content-safety " + msg, Status: http.StatusInternalServerError}
	}
	id, err := p.backendID.String(x)
	if err != nil {
		return nil, err
	}
	b, err := p.deps.aiBackend(strings.TrimSpace(id))
	if err != nil {
		return nil, fail(err.Error())
	}
	r := &safetyRequest{backend: b, thresholds: map[string]int{}}
	if r.shield, err = p.shield.Bool(x); err != nil {
		return nil, err
	}
	if r.outputType, err = p.outputType.String(x); err != nil {
		return nil, err
	}
	r.outputType = strings.TrimSpace(r.outputType)
	if !validOutputType(r.outputType) {
		return nil, fail("output-type must be FourSeverityLevels or EightSeverityLevels, not " + quoteShort(r.outputType))
	}
	for _, c := range p.categories {
		n, err := c.name.String(x)
		if err != nil {
			return nil, err
		}
		name := canonicalCategory(n)
		if name == "" {
			return nil, fail("category name must be Hate, SelfHarm, Sexual or Violence, not " + quoteShort(n))
		}
		ts, err := c.threshold.String(x)
		if err != nil {
			return nil, err
		}
		th, err := parseSeverity(ts)
		if err != nil {
			return nil, fail("category threshold " + err.Error())
		}
		r.thresholds[name] = th
	}
	for _, v := range p.blocklists {
		s, err := v.String(x)
		if err != nil {
			return nil, err
		}
		if s = strings.TrimSpace(s); s != "" {
			r.blocklists = append(r.blocklists, s)
		}
	}
	return r, nil
}

func (p *contentSafetyPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	r, err := p.evaluate(x)
	if err != nil {
		return err
	}
	all, user, docs, err := safetyTexts(x)
	if err != nil {
		return err
	}
	if strings.TrimSpace(all) == "" {
		return nil // nothing to check
	}
	if n := utf8.RuneCountInString(all); n > maxContentSafetyChars && (len(r.thresholds) > 0 || len(r.blocklists) > 0) {
		return &pipeline.Error{Reason: ReasonContentSafetyFailure, Status: http.StatusInternalServerError,
			Message: fmt.Sprintf("llm-content-safety: the request's text has %d characters, more than the %d Azure AI Content Safety analyzes", n, maxContentSafetyChars)}
	}
	if len(r.thresholds) > 0 || len(r.blocklists) > 0 {
		if why, err := r.analyze(ctx, all); err != nil {
			return p.failure(err)
		} else if why != "" {
			return p.blocked(ctx, x, why)
		}
	}
	if r.shield && (strings.TrimSpace(user) != "" || len(docs) > 0) {
		if n := utf8.RuneCountInString(user); n > maxContentSafetyChars {
			return &pipeline.Error{Reason: ReasonContentSafetyFailure, Status: http.StatusInternalServerError,
				Message: fmt.Sprintf("llm-content-safety: the user prompt has %d characters, more than the %d Prompt Shields analyzes", n, maxContentSafetyChars)}
		}
		if why, err := r.shieldPrompt(ctx, user, docs); err != nil {
			return p.failure(err)
		} else if why != "" {
			return p.blocked(ctx, x, why)
		}
	}
	return nil
}

// safetyTexts returns the request's text: all of it, the users' messages (for
// Prompt Shields' userPrompt) and the tools' outputs (its documents, where
// indirect attacks hide). A body that is not a known LLM request is checked
// whole, as text.
func safetyTexts(x *exchange.Exchange) (all, user string, docs []string, err error) {
	b := x.Request.Body
	if b == nil {
		return "", "", nil, nil
	}
	pr, err := llmPromptOf(x)
	if err != nil {
		return "", "", nil, pipeline.BodyFailure("llm-content-safety could not read the request body", err)
	}
	if len(pr.Messages) == 0 {
		// Not an LLM request, or one whose prompt could not be read (a field
		// of an unexpected type the model may still accept): the whole body.
		data, err := b.Bytes(true)
		if err != nil || !utf8.Valid(data) {
			return "", "", nil, nil
		}
		return string(data), string(data), nil, nil
	}
	var texts, users []string
	for _, m := range pr.Messages {
		if m.Text == "" {
			continue // a picture
		}
		texts = append(texts, m.Text)
		switch m.Role {
		case "user":
			users = append(users, m.Text)
		case "tool":
			docs = append(docs, m.Text)
		}
	}
	return strings.Join(texts, "\n"), strings.Join(users, "\n"), docs, nil
}

// analyze calls text:analyze and says why the text is blocked, or "".
func (r *safetyRequest) analyze(ctx context.Context, text string) (string, error) {
	req := struct {
		Text               string   `json:"text"`
		Categories         []string `json:"categories,omitempty"`
		BlocklistNames     []string `json:"blocklistNames,omitempty"`
		HaltOnBlocklistHit bool     `json:"haltOnBlocklistHit,omitempty"`
		OutputType         string   `json:"outputType"`
	}{Text: text, BlocklistNames: r.blocklists, HaltOnBlocklistHit: len(r.blocklists) > 0, OutputType: r.outputType}
	// Without categories the service analyzes its default set; only the
	// blocklists decide then.
	for _, c := range contentSafetyCategories {
		if _, ok := r.thresholds[c]; ok {
			req.Categories = append(req.Categories, c)
		}
	}
	var res struct {
		BlocklistsMatch []struct {
			BlocklistName string `json:"blocklistName"`
		} `json:"blocklistsMatch"`
		CategoriesAnalysis []struct {
			Category string `json:"category"`
			Severity *int   `json:"severity"`
		} `json:"categoriesAnalysis"`
	}
	if err := r.call(ctx, "text:analyze", req, &res); err != nil {
		return "", err
	}
	if len(res.BlocklistsMatch) > 0 {
		return "blocklist " + res.BlocklistsMatch[0].BlocklistName + " matched", nil
	}
	for _, a := range res.CategoriesAnalysis {
		th, ok := r.thresholds[canonicalCategory(a.Category)]
		if ok && a.Severity != nil && *a.Severity >= th {
			return fmt.Sprintf("category %s at severity %d, threshold %d", a.Category, *a.Severity, th), nil
		}
	}
	return "", nil
}

// shieldPrompt calls text:shieldPrompt and says why the prompt is blocked, or
// "".
func (r *safetyRequest) shieldPrompt(ctx context.Context, user string, docs []string) (string, error) {
	req := struct {
		UserPrompt string   `json:"userPrompt"`
		Documents  []string `json:"documents"`
	}{user, docs}
	if req.Documents == nil {
		req.Documents = []string{}
	}
	var res struct {
		UserPromptAnalysis *struct {
			AttackDetected bool `json:"attackDetected"`
		} `json:"userPromptAnalysis"`
		DocumentsAnalysis []struct {
			AttackDetected bool `json:"attackDetected"`
		} `json:"documentsAnalysis"`
	}
	if err := r.call(ctx, "text:shieldPrompt", req, &res); err != nil {
		return "", err
	}
	if res.UserPromptAnalysis != nil && res.UserPromptAnalysis.AttackDetected {
		return "Prompt Shields detected an attack in the user prompt", nil
	}
	for i, d := range res.DocumentsAnalysis {
		if d.AttackDetected {
			return fmt.Sprintf("Prompt Shields detected an attack in document %d", i), nil
		}
	}
	return "", nil
}

// call posts req to the operation of the Content Safety REST API at the
// backend's URL (the resource's endpoint; "/contentsafety" is added unless the
// URL ends with it) and decodes a 200 answer into res.
func (r *safetyRequest) call(ctx context.Context, op string, req, res any) error {
	u := *r.backend.base
	path := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(path, "/contentsafety") {
		path += "/contentsafety"
	}
	u.Path, u.RawPath = path+"/"+op, ""
	u.RawQuery = url.Values{"api-version": {contentSafetyVersion}}.Encode()
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	status, data, err := r.backend.postJSON(ctx, &u, body, maxContentSafetyResponse)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("content safety backend %s answered %s with %d%s", r.backend.id, op, status, serviceError(data))
	}
	if err := json.Unmarshal(data, res); err != nil {
		return fmt.Errorf("content safety backend %s: the %s response is not JSON: %w", r.backend.id, op, err)
	}
	return nil
}

func (p *contentSafetyPolicy) failure(err error) error {
	return &pipeline.Error{Reason: ReasonContentSafetyFailure, Message: "llm-content-safety: " + err.Error(), Status: http.StatusInternalServerError, Err: err}
}

func (p *contentSafetyPolicy) blocked(ctx context.Context, x *exchange.Exchange, why string) error {
	// Why is logged and in context.LastError.Message; the caller sees API
	// Management's message only. The text is never logged.
	p.log.LogAttrs(ctx, slog.LevelInfo, "request blocked by content safety", slog.String("policy", "llm-content-safety"),
		slog.String("requestId", x.RequestID), slog.String("reason", why))
	return &pipeline.Error{Reason: ReasonContentSafetyBlocked, Message: contentSafetyBlockedMessage + ": " + why,
		Public: contentSafetyBlockedMessage, Status: http.StatusForbidden}
}
