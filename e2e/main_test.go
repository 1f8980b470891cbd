package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binDir holds the built berth binary and the drivers; berth finds the
// drivers there, next to itself.
var binDir string

// repoRoot is the root of the berth module.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir

	builds := []buildSpec{
		{out: "berth", pkg: "./cmd/berth"},
		{out: "berth-driver-fake", pkg: "./cmd/berth-driver-fake"},
	}
	names, err := requested()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	for _, name := range names {
		if tg := targets[name]; tg.module != "" {
			builds = append(builds, buildSpec{dir: tg.module, tags: tg.tags, env: tg.buildEnv,
				out: "berth-driver-" + name, pkg: mainPackage(tg.module, tg.tags, name)})
		}
	}
	for _, b := range builds {
		if err := b.build(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	return m.Run()
}

// buildSpec says how to build one binary.
type buildSpec struct {
	dir      string   // the module, relative to the repository root ("" for the root module)
	tags     string   // build tags
	env      []string // added to the environment
	out, pkg string   // binDir/out is built from pkg
}

// build compiles the binary into binDir.
func (b buildSpec) build() error {
	args := []string{"build", "-o", filepath.Join(binDir, b.out)}
	if os.Getenv("BERTH_E2E_RACE") == "1" && b.dir == "" {
		args = append(args, "-race") // slow: about a second more per command
	}
	if b.tags != "" {
		args = append(args, "-tags", b.tags)
	}
	cmd := exec.Command("go", append(args, b.pkg)...)
	cmd.Dir = filepath.Join(repoRoot, b.dir)
	cmd.Env = append(os.Environ(), b.env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s (%s in %s): %v\n%s", b.out, b.pkg, cmd.Dir, err, msg)
	}
	return nil
}

// mainPackage returns the driver's main package in module: the module's
// root, else cmd/berth-driver-NAME, else cmd.
func mainPackage(module, tags, name string) string {
	for _, pkg := range []string{".", "./cmd/berth-driver-" + name, "./cmd"} {
		cmd := exec.Command("go", "list", "-tags", tags, "-f", "{{.Name}}", pkg)
		cmd.Dir = filepath.Join(repoRoot, module)
		if out, err := cmd.Output(); err == nil && strings.TrimSpace(string(out)) == "main" {
			return pkg
		}
	}
	return "."
}

// requested returns the runtimes named in BERTH_E2E_RUNTIMES (default
// "fake").
func requested() ([]string, error) {
	names := strings.Fields(os.Getenv("BERTH_E2E_RUNTIMES"))
	if len(names) == 0 {
		names = []string{"fake"}
	}
	for _, n := range names {
		if _, ok := targets[n]; !ok {
			return nil, fmt.Errorf("BERTH_E2E_RUNTIMES: unknown runtime %q (known: fake docker podman containerd)", n)
		}
	}
	return names, nil
}
