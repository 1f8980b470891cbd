package runtimetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// LabelKey is the label the suite puts on every container and image a case
// creates. Its value is unique per case, so a case that lists objects by
// label sees only its own, even on an engine shared with other tests; a
// cleanup script can find leftovers of an interrupted run with it.
const LabelKey = "io.berth.test"

// BaseLabelKey labels the base image the suite loads for a case when
// Config.BaseImage is empty (same value as LabelKey). It is a separate key
// so that listing by LabelKey does not see the base image.
const BaseLabelKey = "io.berth.test.base"

// Config says how to get the runtime under test.
type Config struct {
	// New returns a runtime for one case. The suite calls it once per
	// case, so each case starts from fresh driver state; New registers
	// whatever clean-up the runtime needs (closing a plugin, removing a
	// state dir) with t.Cleanup. Required.
	New func(t testing.TB) runtime.Runtime

	// BaseImage is the reference of an image that already exists in the
	// engine and has busybox (sh, echo, cat, sleep, ...) on its PATH, with
	// /work and /tmp directories. The suite never removes it. If empty,
	// every case loads its own copy of testimage.Tar with LoadImage (the
	// driver must declare runtime.CapLoad) and removes it afterwards.
	BaseImage string

	// Busybox is the busybox binary the test images carry when BaseImage is
	// empty (testimage.Options.Busybox); nil reads testimage.DefaultBusybox
	// from the host. A runtime that never executes it, such as the fake,
	// may give any bytes, so that its suite needs no busybox on the host.
	Busybox []byte

	// Registry is the OCI registry ("host:port") the Registry cases push
	// to and pull from, for a driver that declares runtime.CapRegistry;
	// empty: the environment's RegistryEnv. A loopback registry needs no
	// TLS (scripts/registry.sh starts one). Without either the cases skip,
	// and fail in CI (CI=true).
	Registry string
}

// group is a named set of cases, run as a subtest holding one subtest per
// case.
type group struct {
	name  string
	cases []testCase
}

// testCase is one conformance check. It gets a harness with fresh state.
type testCase struct {
	name string
	run  func(h *harness)
}

// groups lists every case of the suite, one group per file.
func groups() []group {
	return []group{
		{"Info", infoCases},
		{"Lifecycle", lifecycleCases},
		{"Stop", stopCases},
		{"Logs", logsCases},
		{"Process", processCases},
		{"Containers", containerCases},
		{"Images", imageCases},
		{"Commit", commitCases},
		{"Copy", copyCases},
		{"Diff", diffCases},
		{"Registry", registryCases},
		{"NotFound", notFoundCases},
	}
}

// Run runs every conformance case against the runtime cfg.New returns, each
// as a subtest (t.Run("Group/Case")) with a runtime of its own. Cases adapt
// to the capabilities the driver declares (Info.Capabilities) and to nothing
// else: a case needing an undeclared capability checks instead that the
// operation returns runtime.ErrNotImplemented.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	require.NotNil(t, cfg.New, "runtimetest: Config.New is nil")
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(newHarness(t, cfg))
				})
			}
		})
	}
}
