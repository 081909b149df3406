// Package deploy_test checks what deploys lastmile: the container image's
// Dockerfile (image_test.go) and the Kubernetes manifests under kubernetes/.
// The Kubernetes API types are linked only here, never into the binary.
package deploy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
)

const (
	baseDir     = "kubernetes"
	examplesDir = "kubernetes/examples"
	namespace   = "lastmile"
)

// object is one document of a manifest file, decoded into its API type.
type object struct {
	where string // file and document number, for messages
	kind  string
	name  string
	obj   any
}

// newObject returns an empty object of the API type that apiVersion and kind
// name, or nil for a kind the manifests are not expected to hold.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Service":
		return &corev1.Service{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "batch/v1 Job":
		return &batchv1.Job{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}
	}
	return nil
}

// decodeStrict decodes one YAML document the way kubectl sends it to the API
// server (YAML to JSON without a target type, so an unquoted yes is a
// boolean), then into v as the API server's strict field validation does:
// unknown fields, duplicate fields and fields in the wrong case are errors.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return fmt.Errorf("strict decoding: %v", strict)
	}
	return nil
}

// splitDocuments splits a YAML stream at its --- lines, dropping empty
// documents.
func splitDocuments(src []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(src), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// decodeStream decodes every document of a YAML stream strictly.
func decodeStream(t *testing.T, name string, src []byte) []object {
	t.Helper()
	var out []object
	for i, doc := range splitDocuments(src) {
		where := fmt.Sprintf("%s, document %d", name, i+1)
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		obj := newObject(tm.APIVersion, tm.Kind)
		if obj == nil {
			t.Errorf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
			continue
		}
		if err := decodeStrict(doc, obj); err != nil {
			t.Errorf("%s (%s): %v", where, tm.Kind, err)
			continue
		}
		meta := obj.(metav1.Object)
		for _, msg := range validation.IsDNS1123Subdomain(meta.GetName()) {
			t.Errorf("%s: name %q: %s", where, meta.GetName(), msg)
		}
		for k, v := range meta.GetLabels() {
			for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				t.Errorf("%s: label %s=%s: %s", where, k, v, msg)
			}
		}
		out = append(out, object{where: where, kind: tm.Kind, name: meta.GetName(), obj: obj})
	}
	return out
}

// kustomization is the part of kustomize's Kustomization the manifests use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// loadDir decodes the kustomization of dir and every manifest it lists, and
// checks that it lists every manifest in dir.
func loadDir(t *testing.T, dir string) (kustomization, []object) {
	t.Helper()
	var k kustomization
	src, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeStrict(src, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || k.Namespace != namespace {
		t.Errorf("%s/kustomization.yaml: %s %s in namespace %q; want a Kustomization for namespace %s", dir, k.APIVersion, k.Kind, k.Namespace, namespace)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var manifests []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			manifests = append(manifests, b)
		}
	}
	if diff := cmp.Diff(manifests, slices.Sorted(slices.Values(k.Resources))); diff != "" {
		t.Errorf("%s: the kustomization's resources are not the manifests in the folder (-files +resources):\n%s", dir, diff)
	}
	var objs []object
	for _, r := range k.Resources {
		src, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		objs = append(objs, decodeStream(t, filepath.Join(dir, r), src)...)
	}
	for _, o := range objs {
		if ns := o.obj.(metav1.Object).GetNamespace(); ns != "" && ns != namespace {
			t.Errorf("%s: namespace %q; the kustomization sets %s", o.where, ns, namespace)
		}
	}
	return k, objs
}

// find returns the object of type T named name; the test fails without it.
func find[T any](t *testing.T, objs []object, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.obj.(T); ok && o.name == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, name)
	return zero
}

// all returns every object of type T.
func all[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// podSpecs returns every pod template of the objects, by workload.
func podSpecs(objs []object) map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			out["Deployment "+v.Name] = &v.Spec.Template
		case *appsv1.StatefulSet:
			out["StatefulSet "+v.Name] = &v.Spec.Template
		case *batchv1.Job:
			out["Job "+v.Name] = &v.Spec.Template
		}
	}
	return out
}

// TestManifestsDecodeStrictly decodes every manifest into the Kubernetes API
// types with unknown and duplicate fields refused, and checks that each
// kustomization lists exactly the manifests of its folder.
func TestManifestsDecodeStrictly(t *testing.T) {
	for _, dir := range []string{baseDir, examplesDir} {
		_, objs := loadDir(t, dir)
		if len(objs) == 0 {
			t.Errorf("%s: no manifests", dir)
		}
	}
}

// TestStrictDecodingRefuses checks the decoder itself: what the API server's
// strict field validation would refuse, it refuses.
func TestStrictDecodingRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		into any
	}{
		{"an unknown field", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selectr: {a: b}}\n", &corev1.Service{}},
		{"a field in the wrong case", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {Selector: {a: b}}\n", &corev1.Service{}},
		{"a duplicate field", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: ClusterIP, type: NodePort}\n", &corev1.Service{}},
		{"an unquoted yes where a string goes", "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, args: [--appendonly, yes]}]}\n", &corev1.Pod{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := decodeStrict([]byte(tc.doc), tc.into); err == nil {
				t.Errorf("decoded %+v", tc.into)
			}
		})
	}
}

// TestPodsAreLockedDown checks every pod of the manifests against the
// restricted Pod Security Standard and more: not root, a read-only root
// filesystem, no privilege escalation, no capabilities, the runtime's seccomp
// profile, resources requested and memory limited, images with a tag, no
// service account token unless a projected one is asked for, and secrets only
// from Secrets.
func TestPodsAreLockedDown(t *testing.T) {
	var objs []object
	for _, dir := range []string{baseDir, examplesDir} {
		_, o := loadDir(t, dir)
		objs = append(objs, o...)
	}
	secretName := regexp.MustCompile(`(?i)key|secret|password|token|credential`)
	for name, tmpl := range podSpecs(objs) {
		spec := &tmpl.Spec
		psc := spec.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken is not false; no pod here calls the Kubernetes API", name)
		}
		if spec.HostNetwork || spec.HostPID || spec.HostIPC {
			t.Errorf("%s: uses the host's namespaces", name)
		}
		if len(spec.InitContainers) > 0 {
			t.Errorf("%s: init containers are not checked here; check them", name)
		}
		for _, c := range spec.Containers {
			where := name + " container " + c.Name
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			nonRoot := firstSet(sc.RunAsNonRoot, psc.RunAsNonRoot)
			user := firstSet(sc.RunAsUser, psc.RunAsUser)
			if nonRoot == nil || !*nonRoot || user == nil || *user == 0 {
				t.Errorf("%s: runAsNonRoot %v, runAsUser %v; want true and a numeric non-root user", where, ptrString(nonRoot), ptrString(user))
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: the root filesystem is writable", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities %+v; want drop [ALL] and nothing added", where, sc.Capabilities)
			}
			seccomp := firstSet(sc.SeccompProfile, psc.SeccompProfile)
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccomp profile %+v; want RuntimeDefault", where, seccomp)
			}
			r := c.Resources
			if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
				t.Errorf("%s: resources %+v; want cpu and memory requested and memory limited", where, r)
			}
			if image := c.Image; !regexp.MustCompile(`^[^:@]+(:[\w][\w.-]*)?(@sha256:[0-9a-f]{64})?$`).MatchString(image) ||
				!strings.ContainsAny(image, ":@") || strings.HasSuffix(image, ":latest") {
				t.Errorf("%s: image %q; want a tag (not latest) or a digest", where, image)
			}
			for _, e := range c.Env {
				if secretName.MatchString(e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("%s: %s is not taken from a Secret", where, e.Name)
				}
			}
		}
	}
	for _, s := range all[*corev1.ConfigMap](objs) {
		for k, v := range s.Data {
			if regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----|\$argon2id\$`).MatchString(v) {
				t.Errorf("ConfigMap %s: %s holds a private key or a secret's hash", s.Name, k)
			}
		}
	}
}

// firstSet returns the container's setting, or else the pod's.
func firstSet[T any](container, pod *T) *T {
	if container != nil {
		return container
	}
	return pod
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// materialize writes what a pod sees in a volume that projects ConfigMaps,
// as the kubelet writes it: the files in a timestamped folder, ..data a link
// to it, and at the top a link per first path element into ..data. extra
// gives the content of ConfigMaps that are not in the manifests (the
// cluster's kube-root-ca.crt).
func materialize(t *testing.T, items map[string][]corev1.KeyToPath, maps map[string]*corev1.ConfigMap, extra map[string]map[string]string) string {
	t.Helper()
	root := t.TempDir()
	ts := "..2026_01_01_00_00_00.000000001"
	top := map[string]bool{}
	for cmName, its := range items {
		data := extra[cmName]
		if cm, ok := maps[cmName]; ok {
			data = cm.Data
		}
		if data == nil {
			t.Fatalf("the volume projects ConfigMap %s, which is nowhere", cmName)
		}
		for _, it := range its {
			v, ok := data[it.Key]
			if !ok {
				t.Errorf("the volume projects key %s, which ConfigMap %s does not have", it.Key, cmName)
				continue
			}
			if path.IsAbs(it.Path) || slices.Contains(strings.Split(it.Path, "/"), "..") {
				t.Errorf("item path %q: must be relative, without ..", it.Path)
				continue
			}
			p := filepath.Join(root, ts, filepath.FromSlash(it.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
			top[strings.Split(it.Path, "/")[0]] = true
		}
	}
	if err := os.Symlink(ts, filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range top {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// projectedItems returns, for each ConfigMap a volume projects, its items;
// it fails when a ConfigMap is projected whole (keys must be mapped to paths).
func projectedItems(t *testing.T, v corev1.Volume) map[string][]corev1.KeyToPath {
	t.Helper()
	out := map[string][]corev1.KeyToPath{}
	switch {
	case v.ConfigMap != nil:
		out[v.ConfigMap.Name] = v.ConfigMap.Items
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.ConfigMap != nil {
				out[s.ConfigMap.Name] = append(out[s.ConfigMap.Name], s.ConfigMap.Items...)
			}
		}
	default:
		t.Fatalf("volume %s projects no ConfigMap", v.Name)
	}
	for name, its := range out {
		if len(its) == 0 {
			t.Errorf("volume %s projects ConfigMap %s whole; map each key to its path in the folder", v.Name, name)
		}
	}
	return out
}

// checkEveryKeyProjected checks that a ConfigMap's keys and a volume's
// items are the same set, each key once.
func checkEveryKeyProjected(t *testing.T, cm *corev1.ConfigMap, items []corev1.KeyToPath) {
	t.Helper()
	var keys, projected []string
	for k := range cm.Data {
		keys = append(keys, k)
	}
	for _, it := range items {
		projected = append(projected, it.Key)
	}
	slices.Sort(keys)
	slices.Sort(projected)
	if diff := cmp.Diff(keys, projected); diff != "" {
		t.Errorf("ConfigMap %s: its keys and the volume's items differ (-keys +items):\n%s", cm.Name, diff)
	}
}

// loadFolder loads lastmile.yaml from a configuration folder as lastmile
// serve does, with env set as the pod's environment would, and validates the
// folder as lastmile validate does; warnings fail the test too.
func loadFolder(t *testing.T, dir string, env map[string]string) *config.Config {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatalf("lastmile.yaml: %v", err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := snapshot.Validate(context.Background(), dir, cfg, policies.Expressions, log); err != nil {
		t.Fatalf("the configuration folder does not validate: %v", err)
	}
	if logs.Len() > 0 {
		t.Errorf("validating the configuration folder warned:\n%s", logs.String())
	}
	return cfg
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return h, n
}

// containerPort returns the container's port that a probe or a Service's
// targetPort names (by name or number), or 0.
func containerPort(c *corev1.Container, p intstr.IntOrString) int {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %+v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// fleet is the base manifests, decoded, with the gateway's configuration
// folder as its pods see it, loaded.
type fleet struct {
	objs      []object
	gw        *appsv1.Deployment
	container *corev1.Container
	cfg       *config.Config
	dir       string
}

func loadFleet(t *testing.T) *fleet {
	t.Helper()
	_, objs := loadDir(t, baseDir)
	f := &fleet{objs: objs, gw: find[*appsv1.Deployment](t, objs, "lastmile-gateway")}
	if len(f.gw.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the gateway pod has %d containers; want lastmile alone", len(f.gw.Spec.Template.Spec.Containers))
	}
	f.container = &f.gw.Spec.Template.Spec.Containers[0]
	configDir := envValue(f.container, "LASTMILE_CONFIG")
	var vol corev1.Volume
	for _, m := range f.container.VolumeMounts {
		if m.MountPath == configDir {
			vol = volume(t, &f.gw.Spec.Template.Spec, m.Name)
			if !m.ReadOnly {
				t.Errorf("the configuration folder %s is mounted writable", configDir)
			}
		}
	}
	if vol.Name == "" {
		t.Fatalf("no volume is mounted at LASTMILE_CONFIG (%q)", configDir)
	}
	items := projectedItems(t, vol)
	cm := find[*corev1.ConfigMap](t, objs, "lastmile-config")
	checkEveryKeyProjected(t, cm, items[cm.Name])
	ca := certtest.NewCA(t, "kubernetes")
	f.dir = materialize(t, items, map[string]*corev1.ConfigMap{cm.Name: cm}, map[string]map[string]string{
		"kube-root-ca.crt": {"ca.crt": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))},
	})
	f.cfg = loadFolder(t, f.dir, secretEnv(t, f.container))
	return f
}

// secretEnv gives the container's variables that come from Secrets the
// values such a Secret would hold: 32 random bytes in base64, as the state
// encryption key must be.
func secretEnv(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			b := make([]byte, 32)
			rand.Read(b)
			env[e.Name] = base64.StdEncoding.EncodeToString(b)
		}
	}
	return env
}

func envValue(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func volume(t *testing.T, spec *corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s in the pod", name)
	return corev1.Volume{}
}

// TestGatewayConfiguration loads the gateway's configuration folder as its
// pods see it (the ConfigMap's keys at their paths, the cluster's CA beside
// them, the environment from the Secret) with internal/config and validates
// it with snapshot.Validate, and checks that what the manifests say about
// lastmile agrees with it: listeners and ports, the issuer and its Service,
// Redis, the variables lastmile.yaml names, the state folder.
func TestGatewayConfiguration(t *testing.T) {
	f := loadFleet(t)
	c, cfg := f.container, f.cfg

	_, gwPort := hostPort(t, cfg.Listeners.Gateway)
	_, idPort := hostPort(t, cfg.Listeners.Identity)
	_, metricsPort := hostPort(t, cfg.Listeners.Metrics)
	got := map[string]int{}
	for _, p := range c.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			t.Errorf("port %s: protocol %s", p.Name, p.Protocol)
		}
		got[p.Name] = int(p.ContainerPort)
	}
	if diff := cmp.Diff(map[string]int{"http": gwPort, "identity": idPort, "metrics": metricsPort}, got); diff != "" {
		t.Errorf("container ports against lastmile.yaml's listeners (-listeners +ports):\n%s", diff)
	}
	for _, l := range []string{cfg.Listeners.Gateway, cfg.Listeners.Identity, cfg.Listeners.Metrics} {
		if h, _ := hostPort(t, l); h != "" && h != "0.0.0.0" && h != "::" {
			t.Errorf("listener %s: on %s, which the kubelet and the Services cannot reach; listen on all addresses", l, h)
		}
	}

	// The issuer is the identity Service's name, and that Service reaches
	// the identity listener.
	iss, err := url.Parse(cfg.Listeners.Issuer)
	if err != nil || iss.Hostname() == "" {
		t.Fatalf("listeners.issuer %q: %v; every replica must publish the same issuer", cfg.Listeners.Issuer, err)
	}
	svcName, rest, _ := strings.Cut(iss.Hostname(), ".")
	if rest != namespace+".svc.cluster.local" {
		t.Errorf("the issuer's host %s is not a Service of namespace %s", iss.Hostname(), namespace)
	}
	idSvc := find[*corev1.Service](t, f.objs, svcName)
	if !selects(t, &metav1.LabelSelector{MatchLabels: idSvc.Spec.Selector}, f.gw.Spec.Template.Labels) {
		t.Errorf("Service %s does not select the gateway's pods", svcName)
	}
	issPort, _ := strconv.Atoi(iss.Port())
	found := false
	for _, p := range idSvc.Spec.Ports {
		if int(p.Port) == issPort {
			found = true
			if containerPort(c, p.TargetPort) != idPort {
				t.Errorf("Service %s port %d goes to container port %d, not the identity listener's %d", svcName, p.Port, containerPort(c, p.TargetPort), idPort)
			}
		}
	}
	if !found {
		t.Errorf("Service %s has no port %d, the issuer's", svcName, issPort)
	}

	// Redis: the Service lastmile.yaml names, in front of the StatefulSet.
	if cfg.Store.Type != config.StoreRedis {
		t.Fatalf("store.type %s: a fleet shares its state through Redis", cfg.Store.Type)
	}
	redisHost, redisPort := hostPort(t, cfg.Store.Redis.Address)
	redisSvc := find[*corev1.Service](t, f.objs, redisHost)
	redis := find[*appsv1.StatefulSet](t, f.objs, redisSvc.Name)
	if !selects(t, &metav1.LabelSelector{MatchLabels: redisSvc.Spec.Selector}, redis.Spec.Template.Labels) ||
		len(redisSvc.Spec.Ports) != 1 || int(redisSvc.Spec.Ports[0].Port) != redisPort ||
		containerPort(&redis.Spec.Template.Spec.Containers[0], redisSvc.Spec.Ports[0].TargetPort) != redisPort {
		t.Errorf("store.redis.address %s does not reach the Redis StatefulSet through Service %s", cfg.Store.Redis.Address, redisSvc.Name)
	}
	if len(redis.Spec.VolumeClaimTemplates) == 0 {
		t.Errorf("Redis keeps the fleet's identity and has no persistent volume")
	}
	if !slices.Contains(redis.Spec.Template.Spec.Containers[0].Args, "--appendonly") {
		t.Errorf("Redis runs without its append-only file: it would lose the identity state on a restart")
	}
	np := find[*networkingv1.NetworkPolicy](t, f.objs, "lastmile-redis")
	if !selects(t, &np.Spec.PodSelector, redis.Spec.Template.Labels) || len(np.Spec.Ingress) != 1 ||
		len(np.Spec.Ingress[0].From) != 1 || !selects(t, np.Spec.Ingress[0].From[0].PodSelector, f.gw.Spec.Template.Labels) {
		t.Errorf("NetworkPolicy %s does not let the gateway, and only it, reach Redis", np.Name)
	}

	// Every variable lastmile.yaml names comes from the Secret, which the
	// manifests do not hold.
	for _, name := range []string{cfg.Store.Redis.PasswordEnv, cfg.Store.EncryptionKeyEnv} {
		var e *corev1.EnvVar
		for i := range c.Env {
			if c.Env[i].Name == name {
				e = &c.Env[i]
			}
		}
		if name == "" || e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("lastmile.yaml names the variable %q, which the container does not take from a Secret", name)
		}
	}
	if cfg.Store.EncryptionKeyEnv == "" {
		t.Errorf("the identity state in Redis has no encryption key (store.encryptionKeyEnv)")
	}
	for _, o := range f.objs {
		if o.kind == "Secret" {
			t.Errorf("%s: a Secret in the manifests; create it in the cluster instead", o.where)
		}
	}

	// The state folder is inside a writable volume, not the volume itself
	// (lastmile tightens its folder to 0700, which it can do only to a folder
	// it made), and nothing else is writable.
	state := envValue(c, "LASTMILE_STATE")
	var stateMount string
	for _, m := range c.VolumeMounts {
		if m.ReadOnly {
			continue
		}
		v := volume(t, &f.gw.Spec.Template.Spec, m.Name)
		if v.EmptyDir == nil {
			t.Errorf("volume %s is mounted writable and is not an emptyDir", m.Name)
		}
		if strings.HasPrefix(state, m.MountPath+"/") {
			stateMount = m.MountPath
		}
	}
	if stateMount == "" {
		t.Errorf("LASTMILE_STATE %q is not a folder inside a writable volume", state)
	}
	if cfg.Identity.Endpoints.AppService || cfg.Identity.Endpoints.IMDSListen != "" || cfg.Identity.Endpoints.Socket != "" {
		t.Errorf("managed identity endpoints are on: they write a secret (IDENTITY_HEADER) into the state folder for workloads the pod does not have")
	}

	// The pod can hold what lastmile may buffer.
	if limit := c.Resources.Limits.Memory().Value(); limit <= cfg.Limits.BufferedBodies {
		t.Errorf("memory limit %d is not above limits.bufferedBodies %d", limit, cfg.Limits.BufferedBodies)
	}
}

// TestGatewayProbesAndDrain checks the probes against lastmile's listeners
// and the shutdown against Kubernetes' grace period, and that the Services
// and the PodDisruptionBudget select the gateway's pods.
func TestGatewayProbesAndDrain(t *testing.T) {
	f := loadFleet(t)
	c, spec := f.container, &f.gw.Spec.Template.Spec
	_, gwPort := hostPort(t, f.cfg.Listeners.Gateway)
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		switch {
		case p == nil:
			t.Errorf("no %s probe", name)
		case p.HTTPGet == nil:
			t.Errorf("the %s probe is not an HTTP GET", name)
		case p.HTTPGet.Path != gateway.StatusPath || containerPort(c, p.HTTPGet.Port) != gwPort:
			// The status endpoint answers from memory: the liveness probe
			// never depends on Redis or a backend.
			t.Errorf("the %s probe asks %s on port %d; want %s on the data plane's %d", name, p.HTTPGet.Path, containerPort(c, p.HTTPGet.Port), gateway.StatusPath, gwPort)
		}
	}
	if p := c.LivenessProbe; p != nil && p.FailureThreshold*p.PeriodSeconds < 30 {
		t.Errorf("liveness gives up after %d s; a loaded replica would be restarted", p.FailureThreshold*p.PeriodSeconds)
	}

	pre := c.Lifecycle
	if pre == nil || pre.PreStop == nil || pre.PreStop.Sleep == nil || pre.PreStop.Sleep.Seconds < 1 {
		t.Fatalf("no preStop sleep: the listeners would close before the endpoints are gone")
	}
	grace := int64(f.cfg.Shutdown.GracePeriod.Seconds())
	if spec.TerminationGracePeriodSeconds == nil || pre.PreStop.Sleep.Seconds+grace >= *spec.TerminationGracePeriodSeconds {
		t.Errorf("preStop sleep %d s + shutdown.gracePeriod %d s must be below terminationGracePeriodSeconds %s", pre.PreStop.Sleep.Seconds, grace, ptrString(spec.TerminationGracePeriodSeconds))
	}

	pod := f.gw.Spec.Template.Labels
	if !selects(t, f.gw.Spec.Selector, pod) {
		t.Errorf("the Deployment's selector does not select its own pods")
	}
	if f.gw.Spec.Replicas == nil || *f.gw.Spec.Replicas < 2 {
		t.Errorf("replicas %s; a fleet has at least 2", ptrString(f.gw.Spec.Replicas))
	}
	pdb := find[*policyv1.PodDisruptionBudget](t, f.objs, "lastmile-gateway")
	if !selects(t, pdb.Spec.Selector, pod) {
		t.Errorf("the PodDisruptionBudget does not select the gateway's pods")
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() < 1 || pdb.Spec.MaxUnavailable.IntValue() >= int(*f.gw.Spec.Replicas) {
		t.Errorf("the PodDisruptionBudget's maxUnavailable %v must let one replica go and keep one", pdb.Spec.MaxUnavailable)
	}
	for _, tmpl := range podSpecs(f.objs) {
		if tmpl != &f.gw.Spec.Template && selects(t, pdb.Spec.Selector, tmpl.Labels) {
			t.Errorf("the PodDisruptionBudget also selects pods that are not the gateway's: %v", tmpl.Labels)
		}
	}
	svc := find[*corev1.Service](t, f.objs, "lastmile-gateway")
	if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pod) || len(svc.Spec.Ports) != 1 ||
		containerPort(c, svc.Spec.Ports[0].TargetPort) != gwPort {
		t.Errorf("Service lastmile-gateway does not reach the data plane's port %d", gwPort)
	}
	if u := f.gw.Spec.Strategy.RollingUpdate; u == nil || u.MaxUnavailable == nil || u.MaxUnavailable.IntValue() != 0 {
		t.Errorf("a rollout may take a replica away before its successor is ready")
	}
}

// TestWorkloadFederation checks the identity model: each application that
// trusts the cluster's service account tokens names a service account that
// exists, whose pods get a projected token with the credential's audience,
// and the example backend verifies the fleet's tokens at the fleet's
// issuer. The backend's configuration folder loads and validates too.
func TestWorkloadFederation(t *testing.T) {
	f := loadFleet(t)
	_, examples := loadDir(t, examplesDir)
	var federated int
	for _, app := range f.cfg.Identity.Applications {
		for _, fc := range app.FederatedCredentials {
			if !strings.HasPrefix(fc.Subject, "system:serviceaccount:") {
				continue
			}
			federated++
			ns, sa, _ := strings.Cut(strings.TrimPrefix(fc.Subject, "system:serviceaccount:"), ":")
			if ns != namespace {
				t.Errorf("application %s trusts a service account in namespace %s; the examples are in %s", app.Name, ns, namespace)
			}
			find[*corev1.ServiceAccount](t, examples, sa)
			var audiences []string
			for _, tmpl := range podSpecs(examples) {
				if tmpl.Spec.ServiceAccountName != sa {
					continue
				}
				for _, v := range tmpl.Spec.Volumes {
					if v.Projected == nil {
						continue
					}
					for _, s := range v.Projected.Sources {
						if tok := s.ServiceAccountToken; tok != nil {
							audiences = append(audiences, tok.Audience)
							if tok.ExpirationSeconds == nil || *tok.ExpirationSeconds > 24*3600 {
								t.Errorf("service account %s: a projected token that lives %s s; lastmile accepts federated tokens that live a day at most", sa, ptrString(tok.ExpirationSeconds))
							}
						}
					}
				}
			}
			if !slices.Equal(audiences, []string{fc.Audience}) {
				t.Errorf("pods of service account %s get tokens for audiences %v; application %s's federated credential wants %s", sa, audiences, app.Name, fc.Audience)
			}
			if fc.JWKSURI == "" || fc.CAFile == "" || filepath.Dir(fc.CAFile) != f.dir {
				t.Errorf("application %s: the cluster's keys come from jwksUri %q checked with caFile %q; want the API server's, checked with the projected cluster CA", app.Name, fc.JWKSURI, fc.CAFile)
			}
		}
	}
	if federated == 0 {
		t.Fatalf("no application trusts the cluster's service account tokens")
	}
	find[*rbacv1.ClusterRoleBinding](t, f.objs, "lastmile-service-account-issuer-discovery")

	// The example backend: its folder validates, and it verifies tokens
	// against the fleet's discovery document.
	backend := find[*appsv1.Deployment](t, examples, "orders-backend")
	bc := &backend.Spec.Template.Spec.Containers[0]
	var items map[string][]corev1.KeyToPath
	for _, m := range bc.VolumeMounts {
		if m.MountPath == envValue(bc, "LASTMILE_CONFIG") {
			items = projectedItems(t, volume(t, &backend.Spec.Template.Spec, m.Name))
		}
	}
	cm := find[*corev1.ConfigMap](t, examples, "orders-backend-config")
	checkEveryKeyProjected(t, cm, items[cm.Name])
	dir := materialize(t, items, map[string]*corev1.ConfigMap{cm.Name: cm}, nil)
	loadFolder(t, dir, secretEnv(t, bc))
	discovery := f.cfg.Listeners.Issuer + "/.well-known/openid-configuration"
	if !strings.Contains(cm.Data["apis.orders.policy.xml"], `<openid-config url="`+discovery+`" />`) {
		t.Errorf("the example backend does not verify tokens at the fleet's discovery document %s", discovery)
	}
}

// TestKustomizeRenders renders both folders with kubectl's kustomize, where
// kubectl is installed, and decodes what it prints strictly.
func TestKustomizeRenders(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: the kustomizations were not rendered (the manifests are decoded one by one by the other tests)")
	}
	for _, dir := range []string{baseDir, examplesDir} {
		out, err := exec.Command(kubectl, "kustomize", dir).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		_, objs := loadDir(t, dir)
		rendered := decodeStream(t, "kubectl kustomize "+dir, out)
		if len(rendered) != len(objs) {
			t.Errorf("kubectl kustomize %s: %d objects, want %d", dir, len(rendered), len(objs))
		}
		for _, o := range rendered {
			m := o.obj.(metav1.Object)
			if _, cluster := o.obj.(*rbacv1.ClusterRoleBinding); !cluster && o.kind != "Namespace" && m.GetNamespace() != namespace {
				t.Errorf("%s %s: namespace %q after kustomize, want %s", o.kind, o.name, m.GetNamespace(), namespace)
			}
		}
	}
}
