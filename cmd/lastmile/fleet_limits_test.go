package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// TestFleetSharesLimits runs three `lastmile serve` processes on one Redis,
// as three machines behind a load balancer would. With rate-limit-by-key
// calls="5", fifteen requests spread over the three, all at once, give
// exactly five successes; a quota counted through one instance is seen
// through the others, calls and bandwidth alike.
func TestFleetSharesLimits(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg")
	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`, path)
	}
	keyFile := filepath.Join(dir, "state.key")
	writeKeyFile(t, keyFile, stateKeyA)
	files := map[string]string{
		"lastmile.yaml":                 redisYAML(addr, keyFile),
		"apis/rate/apiInformation.json": api("rate"),
		"apis/rate/policy.xml": `<policies><inbound>
			<rate-limit-by-key calls="5" renewal-period="300" counter-key="fleet" />
			<return-response />
		</inbound></policies>`,
		"apis/quota/apiInformation.json": api("quota"),
		"apis/quota/policy.xml": `<policies><inbound>
			<quota-by-key calls="3" renewal-period="3600" counter-key="fleet" />
			<return-response />
		</inbound></policies>`,
		"apis/bytes/apiInformation.json": api("bytes"),
		"apis/bytes/policy.xml": `<policies><inbound>
			<quota-by-key bandwidth="1" renewal-period="3600" counter-key="fleet" />
			<return-response><set-body>` + strings.Repeat("b", 700) + `</set-body></return-response>
		</inbound></policies>`,
	}
	for name, content := range files {
		p := filepath.Join(cfg, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var urls []string
	for i := range 3 {
		p := startProcess(t, "serve", "--config", cfg, "--state", filepath.Join(dir, fmt.Sprint("state", i)),
			"--listen", "127.0.0.1:0", "--identity-listen", "127.0.0.1:0")
		p.waitFor(t, "lastmile is serving")
		urls = append(urls, p.logged(t, "gateway_url"))
	}
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	var mu sync.Mutex
	var statuses []int
	var wg sync.WaitGroup
	for i := range 15 {
		wg.Go(func() {
			s := get(urls[i%3] + "/rate/x")
			mu.Lock()
			statuses = append(statuses, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Ints(statuses)
	want := []int{200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429, 429, 429, 429}
	if diff := cmp.Diff(want, statuses); diff != "" {
		t.Errorf("15 calls over three instances with calls=5 (-want +got):\n%s", diff)
	}

	// calls="3": two through the first instance, one through the second;
	// the third and the first then see the quota spent.
	got := []int{get(urls[0] + "/quota/x"), get(urls[0] + "/quota/x"), get(urls[1] + "/quota/x"),
		get(urls[2] + "/quota/x"), get(urls[0] + "/quota/x")}
	if diff := cmp.Diff([]int{200, 200, 200, 403, 403}, got); diff != "" {
		t.Errorf("quota calls through a, a, b, c, a (-want +got):\n%s", diff)
	}
	// bandwidth="1" (1024 bytes), 700-byte answers: the second, through
	// another instance, crosses the limit; the third instance refuses.
	got = []int{get(urls[1] + "/bytes/x"), get(urls[2] + "/bytes/x"), get(urls[0] + "/bytes/x")}
	if diff := cmp.Diff([]int{200, 200, 403}, got); diff != "" {
		t.Errorf("bandwidth through b, c, a (-want +got):\n%s", diff)
	}
}
