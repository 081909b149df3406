package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
)

// azurite starts Microsoft's Azure Storage emulator (the blob service, from
// testdata/azurite's locked npm project) over HTTPS with a certificate from ca,
// checking bearer tokens as its OAuth "basic" level does: issuer, audience,
// lifetime; no signature. It returns the account's URL. It skips when node or
// npm is missing (scripts/test.sh installs both, and the project).
func azurite(t *testing.T, ca *certtest.CA) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; scripts/test.sh installs it (apt-get install nodejs npm)")
	}
	dir, err := filepath.Abs("testdata/azurite")
	if err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "node_modules", "azurite", "dist", "src", "blob", "main.js")
	if _, err := os.Stat(main); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skip("npm is not installed; scripts/test.sh installs it")
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	tmp := t.TempDir()
	srv := ca.Server()
	cert := certtest.WriteFile(t, tmp, "azurite.pem", certtest.PEM(t, srv, true))
	keyPEM := certtest.PEM(t, srv, false)
	key := certtest.WriteFile(t, tmp, "azurite-key.pem", keyPEM[bytes.Index(keyPEM, []byte("-----BEGIN PRIVATE KEY")):])

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, main,
		"--blobHost", "127.0.0.1", "--blobPort", "0",
		"--oauth", "basic", "--cert", cert, "--key", key,
		"--inMemoryPersistence", "--extentMemoryLimit", "256", "--skipApiVersionCheck", "--disableTelemetry")
	cmd.Dir = tmp
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "NODE_NO_WARNINGS=1"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })

	// "Azurite Blob service successfully listens on https://127.0.0.1:PORT"
	listening := regexp.MustCompile(`successfully (?:listens on|listening at) (https://127\.0\.0\.1:\d+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatalf("azurite exited without listening: %s", stderr.String())
		}
		go io.Copy(io.Discard, out)
		return u + "/devstoreaccount1"
	case <-time.After(60 * time.Second):
		t.Fatalf("azurite did not start within 60 s: %s", stderr.String())
	}
	return ""
}

// TestAzureStorageEmulator puts lastmile's managed identity in front of the
// Azure Storage emulator, which accepts only tokens that look like Entra's (an
// sts.windows.net issuer, a storage audience, a valid lifetime), and drives it
// with the Azure SDK for Go's blob client: through the gateway with no
// credential of its own (the gateway adds the token), and directly with
// azidentity's ManagedIdentityCredential reading lastmile's endpoint, as a
// workload would.
func TestAzureStorageEmulator(t *testing.T) {
	ca := certtest.NewCA(t, "storage CA")
	account := azurite(t, ca)

	cfgDir := t.TempDir()
	certtest.WriteFile(t, cfgDir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, account)
	}
	doc := func(inbound string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	}
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml": `backend:
  caFile: ca.pem
identity:
  resources:
    - id: https://storage.azure.com/
      tokenProfile: entra-v1
    # An audience the emulator accepts, in lastmile's own token shape.
    - id: https://devstoreaccount1.blob.core.windows.net
    - id: api://orders
      tokenProfile: entra-v1
  managedIdentityEndpoints:
    imds:
      listen: "127.0.0.1:0"
`,
		"apis/storage/apiInformation.json":   api("storage"),
		"apis/storage/policy.xml":            doc(`<authentication-managed-identity resource="https://storage.azure.com/" />`),
		"apis/native/apiInformation.json":    api("native"),
		"apis/native/policy.xml":             doc(`<authentication-managed-identity resource="https://devstoreaccount1.blob.core.windows.net" />`),
		"apis/orders/apiInformation.json":    api("orders"),
		"apis/orders/policy.xml":             doc(`<authentication-managed-identity resource="api://orders" />`),
		"apis/anonymous/apiInformation.json": api("anonymous"),
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	ctx := context.Background()

	// The SDK talks to the gateway over plain HTTP with no credential; the
	// gateway reaches the emulator over HTTPS with its token.
	through := func(t *testing.T, api string) *azblob.Client {
		t.Helper()
		c, err := azblob.NewClientWithNoCredential(e.srv.GatewayURL()+"/"+api, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("through the gateway", func(t *testing.T) {
		c := through(t, "storage")
		if _, err := c.CreateContainer(ctx, "orders", nil); err != nil {
			t.Fatalf("create container: %v", err)
		}
		payload := bytes.Repeat([]byte("lastmile "), 100_000) // 900 KB, several blocks' worth for a stream
		if _, err := c.UploadBuffer(ctx, "orders", "big.txt", payload, nil); err != nil {
			t.Fatalf("upload: %v", err)
		}
		if _, err := c.UploadStream(ctx, "orders", "small.json", strings.NewReader(`{"id":42}`), nil); err != nil {
			t.Fatalf("upload a stream: %v", err)
		}
		// In blocks (Put Block, Put Block List), and back in ranges (206s), four at a time.
		blocks := bytes.Repeat([]byte("0123456789abcdef"), 256*1024) // 4 MiB
		if _, err := c.UploadStream(ctx, "orders", "blocks.bin", bytes.NewReader(blocks), &azblob.UploadStreamOptions{BlockSize: 1 << 20, Concurrency: 4}); err != nil {
			t.Fatalf("upload in blocks: %v", err)
		}
		ranged := make([]byte, len(blocks))
		if n, err := c.DownloadBuffer(ctx, "orders", "blocks.bin", ranged, &azblob.DownloadBufferOptions{BlockSize: 512 << 10, Concurrency: 4}); err != nil || n != int64(len(blocks)) || !bytes.Equal(ranged, blocks) {
			t.Errorf("download in ranges: %d bytes, %v; equal %t", n, err, bytes.Equal(ranged, blocks))
		}
		got := download(t, c, "orders", "big.txt")
		if !bytes.Equal(got, payload) {
			t.Errorf("downloaded %d bytes, want the %d uploaded", len(got), len(payload))
		}
		// GetProperties is a HEAD: a Content-Length and no body.
		props, err := c.ServiceClient().NewContainerClient("orders").NewBlobClient("big.txt").GetProperties(ctx, nil)
		if err != nil {
			t.Fatalf("properties: %v", err)
		}
		if props.ContentLength == nil || *props.ContentLength != int64(len(payload)) {
			t.Errorf("properties: content length %v, want %d", props.ContentLength, len(payload))
		}
		var names []string
		pager := c.NewListBlobsFlatPager("orders", nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			for _, b := range page.Segment.BlobItems {
				names = append(names, *b.Name)
			}
		}
		if strings.Join(names, ",") != "big.txt,blocks.bin,small.json" {
			t.Errorf("listed %v", names)
		}
		if _, err := c.DeleteBlob(ctx, "orders", "small.json", nil); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err = c.DownloadStream(ctx, "orders", "small.json", nil)
		if !bloberror.HasCode(err, bloberror.BlobNotFound) {
			t.Errorf("after delete: %v, want BlobNotFound", err)
		}
	})

	// The emulator refuses what it should: these show that it checks the token.
	for _, tt := range []struct {
		name, api, want string
	}{
		{"no token", "anonymous", "AuthorizationFailure"},
		{"lastmile's own token shape", "native", "Invalid token issuer"},
		{"another resource's token", "orders", "Invalid token audience"},
	} {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			_, err := through(t, tt.api).CreateContainer(ctx, "refused", nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || (re.StatusCode != 401 && re.StatusCode != 403) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("create container: %v, want 401 or 403 with %q", err, tt.want)
			}
		})
	}

	t.Run("a workload with azidentity", func(t *testing.T) {
		for _, k := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_CLIENT_ID"} {
			t.Setenv(k, "")
		}
		env := e.srv.WorkloadEnvironment()
		t.Setenv("IDENTITY_ENDPOINT", env.IdentityEndpoint)
		t.Setenv("IDENTITY_HEADER", env.IdentityHeader)
		cred, err := azidentity.NewManagedIdentityCredential(nil)
		if err != nil {
			t.Fatal(err)
		}
		transport := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
		c, err := azblob.NewClient(account, cred, &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: transport}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.UploadBuffer(ctx, "orders", "direct.txt", []byte("from a workload"), nil); err != nil {
			t.Fatalf("upload: %v", err)
		}
		if got := download(t, c, "orders", "direct.txt"); string(got) != "from a workload" {
			t.Errorf("downloaded %q", got)
		}
	})
}

func download(t *testing.T, c *azblob.Client, container, blob string) []byte {
	t.Helper()
	resp, err := c.DownloadStream(context.Background(), container, blob, nil)
	if err != nil {
		t.Fatalf("download %s/%s: %v", container, blob, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("download %s/%s: %v", container, blob, err)
	}
	return data
}
