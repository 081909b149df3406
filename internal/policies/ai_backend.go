package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/urlpath"
	"github.com/lastmile-gw/lastmile/internal/urlquery"
)

// The AI policies' own calls to backend entities: the embeddings backend of
// the semantic cache and the Azure AI Content Safety backend of
// llm-content-safety. Each call is a new request built by the gateway: none of
// the caller's headers, keys or cookies go with it.

// cognitiveServicesResource is the resource of the managed identity token the
// AI policies send to a backend that has no credentials of its own: the
// audience of Azure OpenAI and Azure AI Content Safety.
const cognitiveServicesResource = "https://cognitiveservices.azure.com"

// aiCallTimeout bounds a call to an embeddings or content safety backend.
const aiCallTimeout = 30 * time.Second

// aiBackend is a backend entity that a policy calls itself.
type aiBackend struct {
	id        string
	b         Backend
	base      *url.URL
	tokens    TokenSource
	transport http.RoundTripper
}

// aiBackend returns the backend entity id for a policy's own calls, or says
// why it cannot be one (it does not exist, is a pool, or has no usable URL).
func (d *Deps) aiBackend(id string) (*aiBackend, error) {
	id, b, ok := lookupBackend(d.Backends, id)
	if !ok {
		return nil, fmt.Errorf("backend %q does not exist; add backends/%s/backendInformation.json", id, id)
	}
	if b.Pool != nil {
		return nil, fmt.Errorf("backend %q is a load-balanced pool; name a single backend here", id)
	}
	u, perr := parseBaseURL(b.URL, urlpath.Clean)
	if perr != nil {
		return nil, fmt.Errorf("backend %q: %s; fix url in backends/%s/backendInformation.json", id, perr.Message, id)
	}
	return &aiBackend{id: id, b: b, base: u, tokens: d.Tokens, transport: d.SideRequests}, nil
}

// postJSON posts body to target (the backend's URL, with a path added) with the
// backend's credentials: its headers and query parameters always, and its own
// Authorization (a scheme and parameter, or a managed identity token for its
// resource) when it has one, else a token of the gateway's system-assigned
// identity for Azure Cognitive Services. It returns the status and at most
// maxBytes of the response body.
func (a *aiBackend) postJSON(ctx context.Context, target *url.URL, body []byte, maxBytes int64) (int, []byte, error) {
	u := *target
	for _, k := range slices.Sorted(maps.Keys(a.b.Query)) {
		u.RawQuery = urlquery.Set(u.RawQuery, k, a.b.Query[k])
	}
	ctx, cancel := context.WithTimeout(ctx, aiCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("backend %s: %w", a.id, err)
	}
	req.Header = http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}, "User-Agent": {""}}
	for k, v := range a.b.Header {
		req.Header[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	switch {
	case a.b.AuthScheme != "":
		req.Header.Set("Authorization", strings.TrimSpace(a.b.AuthScheme+" "+a.b.AuthParameter))
	case a.b.Resource != "":
		err = a.bearer(ctx, req, a.b.ClientID, a.b.Resource)
	case req.Header.Get("Authorization") == "" && req.Header.Get("Api-Key") == "" && req.Header.Get("Ocp-Apim-Subscription-Key") == "":
		err = a.bearer(ctx, req, "", cognitiveServicesResource)
	}
	if err != nil {
		return 0, nil, err
	}
	resp, err := a.transport.RoundTrip(req)
	if err != nil {
		return 0, nil, fmt.Errorf("backend %s at %s: %s", a.id, redactURL(u.String()), transportReason(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("backend %s: reading the response: %w", a.id, err)
	}
	if int64(len(data)) > maxBytes {
		return 0, nil, fmt.Errorf("backend %s: the response is larger than %d bytes", a.id, maxBytes)
	}
	return resp.StatusCode, data, nil
}

func (a *aiBackend) bearer(ctx context.Context, req *http.Request, clientID, resource string) error {
	if a.tokens == nil {
		return fmt.Errorf("backend %s needs a managed identity token, but the gateway has no identity", a.id)
	}
	tok, err := a.tokens.AccessToken(ctx, clientID, resource)
	if err != nil {
		// The error names the resource and the reason, never a token.
		return fmt.Errorf("backend %s: could not obtain a managed identity token: %w", a.id, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Value)
	return nil
}

// azureOpenAIVersion is the api-version added to an Azure OpenAI deployment
// URL that has none: the data plane's GA version.
const azureOpenAIVersion = "2024-10-21"

// maxEmbeddingsResponse bounds an embeddings response: 4096 numbers as JSON
// take well under 100 KB.
const maxEmbeddingsResponse = 4 << 20

// embed asks the embeddings backend for the embedding of text: a POST of
// {"input": text} to the backend's URL as written (an Azure OpenAI deployment
// .../openai/deployments/<name>/embeddings, to which api-version is added when
// the URL has none, or an OpenAI-compatible /embeddings endpoint), reading
// data[0].embedding.
func (a *aiBackend) embed(ctx context.Context, text string) ([]float32, error) {
	u := *a.base
	if strings.Contains(u.Path, "/openai/deployments/") && !urlquery.Has(u.RawQuery, "api-version") {
		u.RawQuery = urlquery.Set(u.RawQuery, "api-version", []string{azureOpenAIVersion})
	}
	body, _ := json.Marshal(struct {
		Input string `json:"input"`
	}{text})
	status, data, err := a.postJSON(ctx, &u, body, maxEmbeddingsResponse)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("embeddings backend %s answered %d%s", a.id, status, serviceError(data))
	}
	var r struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("embeddings backend %s: the response is not an embeddings list: %w", a.id, err)
	}
	if len(r.Data) == 0 || len(r.Data[0].Embedding) == 0 {
		return nil, errors.New("embeddings backend " + a.id + ": the response has no embedding")
	}
	return r.Data[0].Embedding, nil
}

// serviceError is ": <code>: <message>" from an Azure error body
// ({"error":{"code","message"}}), shortened, or "".
func serviceError(data []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || (e.Error.Code == "" && e.Error.Message == "") {
		return ""
	}
	return ": " + quoteShort(strings.TrimSpace(e.Error.Code+" "+e.Error.Message))
}
