package deploy_test

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile reads the instructions of the Dockerfile at the root of the
// repository; comments and blank lines are dropped.
func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(src), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// goVersion is the go directive of go.mod.
func goVersion(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// TestDockerfile checks the Dockerfile without Docker: pinned base images
// (the build stage on go.mod's Go version), an empty final base, a numeric
// non-root user that matches the pods' runAsUser, no secret in the image or
// its build arguments, no HEALTHCHECK, and a static, reproducible build.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t)
	var froms, users []instruction
	var run instruction
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in)
		case "USER":
			users = append(users, in)
		case "RUN":
			if strings.Contains(in.args, "go build") {
				run = in
			}
		case "HEALTHCHECK":
			t.Errorf("Dockerfile:%d: HEALTHCHECK runs a command in the container, which has none but lastmile; Kubernetes ignores it and probes over HTTP", in.line)
		case "ENV", "ARG":
			for _, f := range strings.Fields(in.args) {
				name, value, _ := strings.Cut(f, "=")
				if regexp.MustCompile(`(?i)key|secret|password|token|credential`).MatchString(name) {
					t.Errorf("Dockerfile:%d: %s %s: a secret in the image or its build; give it at run time from a Secret", in.line, in.cmd, name)
				}
				if value != "" && regexp.MustCompile(`-----BEGIN|\$argon2`).MatchString(value) {
					t.Errorf("Dockerfile:%d: %s %s holds key material", in.line, in.cmd, name)
				}
			}
		case "COPY", "ADD":
			if regexp.MustCompile(`(?i)\.(pem|key|pfx|p12|env)\b|lastmile\.yaml|identity-header|subscription-keys`).MatchString(in.args) {
				t.Errorf("Dockerfile:%d: %s %s copies configuration or key material into the image", in.line, in.cmd, in.args)
			}
		}
	}

	if len(froms) < 2 {
		t.Fatalf("%d FROM instructions; want a build stage and a final one", len(froms))
	}
	imageRef := regexp.MustCompile(`^(?:--platform=\S+\s+)?(\S+)`)
	for _, f := range froms {
		ref := imageRef.FindStringSubmatch(f.args)[1]
		if ref == "scratch" {
			continue
		}
		name, tag, hasTag := strings.Cut(ref, ":")
		if !hasTag && !strings.Contains(ref, "@sha256:") || tag == "latest" || strings.Contains(name, "$") {
			t.Errorf("Dockerfile:%d: FROM %s is not pinned by a tag (not latest) or a digest", f.line, ref)
		}
		if name == "golang" && !strings.HasPrefix(tag, goVersion(t)) {
			t.Errorf("Dockerfile:%d: FROM %s builds with another Go than go.mod's %s", f.line, ref, goVersion(t))
		}
	}
	final := imageRef.FindStringSubmatch(froms[len(froms)-1].args)[1]
	if final != "scratch" && !strings.HasPrefix(final, "gcr.io/distroless/static") {
		t.Errorf("the final stage is FROM %s; want scratch or a distroless static base", final)
	}

	if len(users) != 1 {
		t.Fatalf("%d USER instructions; want one, in the final stage", len(users))
	}
	uid, gid, _ := strings.Cut(users[0].args, ":")
	u, errU := strconv.Atoi(uid)
	g, errG := strconv.Atoi(gid)
	if errU != nil || errG != nil || u == 0 || g == 0 || users[0].line < froms[len(froms)-1].line {
		t.Errorf("Dockerfile:%d: USER %s; want a numeric uid:gid, not root, in the final stage (runAsNonRoot needs a number to check)", users[0].line, users[0].args)
	}
	_, objs := loadDir(t, baseDir)
	gw := find[*appsv1.Deployment](t, objs, "lastmile-gateway")
	if sc := gw.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != int64(u) || sc.RunAsGroup == nil || *sc.RunAsGroup != int64(g) {
		t.Errorf("the gateway pods run as another user than the image's USER %s", users[0].args)
	}

	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil || !regexp.MustCompile(`(?m)^\.git$`).Match(ignore) {
		t.Errorf(".dockerignore does not keep .git out of the build context (%v)", err)
	}

	if run.line == 0 {
		t.Fatal("no RUN go build")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/lastmile"} {
		if !strings.Contains(run.args, want) {
			t.Errorf("Dockerfile:%d: the build has no %s", run.line, want)
		}
	}
}

// TestImageBinaryIsStatic builds lastmile with the Dockerfile's go build
// command and checks the result as the image would hold it: an ELF with no
// interpreter and no shared libraries (so it runs on scratch), built without
// cgo and with -trimpath, as go version -m reports it.
func TestImageBinaryIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	var run instruction
	for _, in := range parseDockerfile(t) {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			run = in
		}
	}
	// The RUN line's environment assignments and go build's arguments, with
	// the build arguments filled in for this machine.
	args := strings.NewReplacer("$TARGETOS", runtime.GOOS, "$TARGETARCH", runtime.GOARCH, "$VERSION", "imagetest").Replace(run.args)
	env, build, ok := strings.Cut(args, "go build ")
	if !ok {
		t.Fatalf("Dockerfile:%d: no go build", run.line)
	}
	out := filepath.Join(t.TempDir(), "lastmile")
	buildArgs := []string{"build"}
	for _, f := range splitArgs(build) {
		if f == "/out/lastmile" {
			f = out
		}
		buildArgs = append(buildArgs, f)
	}
	cmd := exec.Command("go", buildArgs...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), strings.Fields(env)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(buildArgs, " "), err, msg)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary asks for an interpreter (dynamically linked): it cannot run on scratch")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	info, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("go version -m: CGO_ENABLED=%q -trimpath=%q; want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	if v, _ := exec.Command(out, "version").Output(); !bytes.Contains(v, []byte("imagetest")) {
		t.Errorf("lastmile version printed %q; want the VERSION build argument", v)
	}
}

// splitArgs splits a shell word list, with double quotes grouping words.
func splitArgs(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`"([^"]*)"|(\S+)`).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// TestBinaryDoesNotLinkKubernetes checks that the Kubernetes API types these
// tests decode into stay out of the lastmile binary.
func TestBinaryDoesNotLinkKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../cmd/lastmile").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/") {
			t.Errorf("cmd/lastmile links %s", p)
		}
	}
}

// TestImageBuilds builds the image with Docker and runs it as Kubernetes
// would: read-only, as its user, the state on a tmpfs. It needs a Docker
// engine and skips, saying so, where none answers.
func TestImageBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not installed: the image was not built (TestDockerfile and TestImageBinaryIsStatic checked the Dockerfile)")
	}
	if out, err := exec.Command(docker, "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine answers (docker info: %s): the image was not built (TestDockerfile and TestImageBinaryIsStatic checked the Dockerfile)", lastLine(out))
	}
	tag := "lastmile-imagetest:" + strconv.Itoa(os.Getpid())
	dockerRun := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(docker, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dockerRun("build", "--build-arg", "VERSION=imagetest", "-t", tag, "..")
	t.Cleanup(func() { exec.Command(docker, "image", "rm", "-f", tag).Run() })

	inspect := dockerRun("image", "inspect", "--format", "{{.Config.User}} {{json .Config.Healthcheck}} {{json .Config.Entrypoint}}", tag)
	if got, want := strings.TrimSpace(inspect), `65532:65532 null ["/lastmile"]`; got != want {
		t.Errorf("image config %q, want %q", got, want)
	}
	runFlags := []string{"run", "--rm", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--tmpfs", "/var/lib/lastmile:uid=65532,gid=65532"}
	if out := dockerRun(append(runFlags, tag, "version")...); !strings.Contains(out, "imagetest") {
		t.Errorf("lastmile version in the image: %q", out)
	}

	// The gateway's configuration folder, as its pods see it, validated by
	// the image's lastmile.
	f := loadFleet(t)
	args := append(slices.Clone(runFlags), "-v", f.dir+":/etc/lastmile/config:ro")
	for k, v := range secretEnv(t, f.container) {
		args = append(args, "-e", k+"="+v)
	}
	dockerRun(append(args, tag, "validate", "/etc/lastmile/config")...)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
