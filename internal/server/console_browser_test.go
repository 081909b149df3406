package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium to drive, or skips the test saying what is
// missing (scripts/test.sh installs Debian's chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: the console's browser test needs it (apt-get install chromium; scripts/test.sh installs it)")
	return ""
}

// browser starts a headless Chromium and returns a context driving one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	// The first call starts the browser, which lives as long as its
	// context: without a deadline. The actions get one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTime)
	return ctx
}

// TestConsoleBrowser opens the console in a real headless Chromium: it
// lists the sample configuration's APIs, shows an operation's effective
// policy with each policy's origin, runs "Try it" on the managed identity
// operation and shows the trace with the token issued, then from the cache;
// the live traffic, identity and validation pages load; and no page holds a
// token, a subscription key or the secret named value. Screenshots of each
// page are the test's artifacts (go test -artifacts keeps them).
func TestConsoleBrowser(t *testing.T) {
	ctx := browser(t)
	backend := newEchoBackend(t)
	_, c := startConsole(t, consoleConfig(backend.srv.URL, "127.0.0.1:0", ""))
	shots := t.ArtifactDir()
	var pages []string
	// capture saves a screenshot of the page and keeps its HTML.
	capture := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatalf("HTML of %s: %v", name, err)
		}
		pages = append(pages, html)
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// open loads the console at page (a deep link: each a new document, the
	// query string keeps a change of fragment from being a same-document
	// navigation) and waits for the element ready.
	open := func(page, ready, shot string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(wctx, chromedp.Navigate(c.base+"/?page="+shot+page), chromedp.WaitVisible(chromedp.CSS(ready))); err != nil {
			main, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("%s: %v; the page shows: %s", page, err, main)
		}
		capture(shot)
	}

	// The APIs of the sample configuration.
	open("", `#apis tr[data-api="status"]`, "1-apis")
	if apis := text("#apis"); !strings.Contains(apis, "Orders") || !strings.Contains(apis, "/orders") || !strings.Contains(apis, "key required") ||
		!strings.Contains(apis, "orders-pool") {
		t.Errorf("the API list shows %q", apis)
	}

	// An API: its operations, and the backend pool its policies name with
	// the members' breakers.
	open("#/api/orders", `#operations tr[data-operation="get-order"]`, "1b-api")
	if page := text("main"); !strings.Contains(page, "GET") || !strings.Contains(page, "/orders/{id}") ||
		!strings.Contains(page, "orders-pool") || !strings.Contains(page, "priority 1, weight 3") {
		t.Errorf("the API page shows %q", page)
	}

	// The operation's effective policy in product shop's context, with origins.
	open("#/op/orders/get-order?product=shop", `#policy .step[data-policy="set-variable"]`, "2-effective-policy")
	policy := text("#policy")
	for _, want := range []string{"policy.xml:3", "products/shop/policy.xml:4", "apis/orders/policy.xml:6", "authentication-managed-identity",
		"apis/orders/operations/get-order/policy.xml:4", "{{backend-key}}"} {
		if !strings.Contains(policy, want) {
			t.Errorf("the effective policy lacks %q:\n%s", want, policy)
		}
	}

	// Try it, twice: the token is issued, then served from the cache.
	tryOnce := func(outcome, shot string) string {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.getElementById("try-result").replaceChildren(); true`)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#try-send")), chromedp.WaitVisible(chromedp.CSS("#try-trace .token-outcome"))); err != nil {
			t.Fatal(err)
		}
		capture(shot)
		got := text("#try-trace .token-outcome")
		if !strings.Contains(got, outcome) {
			t.Errorf("try's token outcome: %q, want %s", got, outcome)
		}
		return text("#try-result")
	}
	first := tryOnce("issued", "3-try-issued")
	tryOnce("hit", "4-try-hit")
	if !strings.Contains(first, "200") || !strings.Contains(first, "forward-request") || !strings.Contains(first, "[redacted]") {
		t.Errorf("try's result lacks the status, the backend call or a redaction:\n%s", first)
	}

	open("#/traffic", `#recent tr:nth-child(3)`, "5-traffic")
	if chart := text(`[data-traffic="orders"]`); !strings.Contains(chart, "requests/s") || !strings.Contains(chart, "p99 ms") {
		t.Errorf("no traffic charts for orders: %q", chart)
	}
	open("#/identity", `#token-cache tr:nth-child(2)`, "6-identity")
	if tc := text("#token-cache"); !strings.Contains(tc, "api://orders") || !strings.Contains(tc, "fresh") {
		t.Errorf("the token cache shows %q", tc)
	}
	open("#/validation", `#warnings`, "7-validation")
	open("#/backends", `#backends tr[data-backend="orders-pool"]`, "8-backends")
	if bs := text("#backends"); !strings.Contains(bs, "priority 1, weight 3") || !strings.Contains(bs, "closed") {
		t.Errorf("the backends show %q", bs)
	}

	toks := backend.tokens()
	if len(toks) < 2 || toks[0] == "" {
		t.Fatalf("the backend got no token: %q", toks)
	}
	for i, html := range pages {
		for _, s := range []string{toks[0], toks[1], consoleShopKey, consoleShopKey2, consoleSecretValue} {
			if strings.Contains(html, s) {
				t.Errorf("page %d shows a token, key or secret (%.12q...)", i+1, s)
			}
		}
		if strings.Contains(html, "eyJ") {
			t.Errorf("page %d shows something shaped like a JWT", i+1)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// TestConsoleBrowserSignIn opens a console that needs a token: the page asks
// for one, and with a token lastmile issued to an application assigned the
// console's role it lists the APIs; the token is not in the page.
func TestConsoleBrowserSignIn(t *testing.T) {
	ctx := browser(t)
	backend := newEchoBackend(t)
	s, c := startConsole(t, consoleConfig(backend.srv.URL, "0.0.0.0:0", `console:
  auth:
    lastmile:
      audience: api://lastmile-console
      role: Console.Admin
`))
	token := clientToken(t, s, "5d2f4a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b", consoleOpsSecret, "api://lastmile-console")
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(c.base+"/"), chromedp.WaitVisible(chromedp.CSS("#login-token"))); err != nil {
		t.Fatal(err)
	}
	shot("1-sign-in")
	if msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#login-error"))); !strings.Contains(msg, "bearer token") {
		t.Errorf("the sign-in dialog says %q, want why", msg)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#login-token"), token),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#apis tr[data-api="orders"]`)),
	); err != nil {
		t.Fatal(err)
	}
	shot("2-signed-in")
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, token) {
		t.Error("the page holds the token")
	}
}
