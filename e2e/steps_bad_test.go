package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// badInput: every mistake at the command line ends with exit code 125 and
// one line on stderr naming the problem, and leaves nothing behind: no
// container, no image, no snapshot entry.
func badInput(t *testing.T, e *env) {
	base, p := e.s.base, e.project
	run := func(flags ...string) []string {
		args := append([]string{"run", "--project", p, "--work-item", "item-bad"}, flags...)
		return append(args, "--", "sh", "-c", "echo x > /work/x")
	}
	for _, c := range []struct {
		name   string
		config string // config file content, if any
		args   []string
		words  []string // the line must name these
	}{
		{"missing image", "", run(), []string{"--image"}},
		{"missing command", "", []string{"run", "--image", base, "--project", p}, []string{"command"}},
		{"unknown runtime", "", run("--runtime", "nosuch", "--image", base), []string{"nosuch"}},
		{"env without =", "", run("--image", base, "--env", "NOEQUALS"), []string{"NOEQUALS"}},
		{"env with empty key", "", run("--image", base, "--env", "=value"), []string{"--env", "entry 1"}}, // never the value
		{"secret env without =", "", run("--image", base, "--secret-env", "TOKEN"), []string{"TOKEN"}},
		{"label without =", "", run("--image", base, "--label", "novalue"), []string{"novalue"}},
		{"negative timeout", "", run("--image", base, "--timeout", "-1s"), []string{"--timeout"}},
		{"malformed timeout", "", run("--image", base, "--timeout", "soon"), []string{"timeout", "soon"}},
		{"malformed memory", "", run("--image", base, "--memory", "12q"), []string{"--memory", "12q"}},
		{"negative cpus", "", run("--image", base, "--cpus", "-1"), []string{"--cpus"}},
		{"unknown flag", "", run("--image", base, "--bogus"), []string{"bogus"}},
		{"image not in the engine", "", run("--image", "berth-e2e/missing:"+randomID()), []string{"berth-e2e/missing"}},
		{"engine down", runtimeConfig("down", e.s.tg.name, "", e.s.tg.down), run("--runtime", "down", "--image", base),
			[]string{"down"}},
		{"driver checksum mismatch", runtimeConfig("tampered", e.s.tg.name, strings.Repeat("0", 64), nil),
			run("--runtime", "tampered", "--image", base), []string{"checksum"}},
		{"unknown config key", "snapshots:\n  tll: 1h\n", run("--image", base), []string{"snapshots.tll"}},
		{"malformed config duration", "gc:\n  orphan_grace: soon\n", run("--image", base), []string{"gc.orphan_grace"}},
		{"malformed config size", "job:\n  memory: lots\n", run("--image", base), []string{"job.memory"}},
		{"negative orphan grace", "", []string{"gc", "--orphan-grace", "-1s"}, []string{"--orphan-grace"}},
		{"import of a missing file", "", []string{"images", "import", e.dir + "/missing.tar"}, []string{"missing.tar"}},
		{"snapshots rm without work item", "", []string{"snapshots", "rm", "--project", p}, []string{"work-item"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.config = ""
			if c.config != "" {
				e.writeConfig(c.config)
			}
			out := e.berth(c.args...)
			e.config = ""
			assert.Equal(t, 125, out.code, "exit code of berth %s: %v", strings.Join(c.args, " "), out)
			assert.Empty(t, out.stdout, "stdout")
			oneLine(t, out, c.words...)
			assert.Empty(t, e.snapshots(), "snapshots left")
			e.noContainers()
			assert.Empty(t, e.images(), "images left")
		})
	}
}

// runtimeConfig is a config file naming one runtime, name, that runs the
// driver of runtime driver with options and the checksum sum.
func runtimeConfig(name, driver, sum string, options map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "runtimes:\n  %s:\n    driver: %s\n", name, driver)
	if sum != "" {
		fmt.Fprintf(&b, "    sha256: %q\n", sum)
	}
	if len(options) > 0 {
		b.WriteString("    options:\n")
		for _, k := range slices.Sorted(maps.Keys(options)) {
			v, _ := json.Marshal(options[k])
			fmt.Fprintf(&b, "      %s: %s\n", k, v)
		}
	}
	return b.String()
}
