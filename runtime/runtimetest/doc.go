// Package runtimetest is the conformance suite every berth driver passes:
// the fake, the in-tree drivers and third-party drivers alike, in process
// and over the plugin wire.
//
// A driver runs it from an ordinary test:
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, runtimetest.Config{
//			New: func(t testing.TB) runtime.Runtime {
//				d, err := mydriver.New(...)
//				if err != nil {
//					t.Fatal(err)
//				}
//				t.Cleanup(func() { d.Close() })
//				return d
//			},
//		})
//	}
//
// and, to prove the driver over the wire as berth will use it, once more
// with New opening the built plugin binary with wire.Open (or wrapping the
// driver with wire.Pair).
//
// # What the suite does
//
// Every case is a subtest ("Lifecycle/WaitCancelled", "Commit/SecretEnv",
// ...) with fresh state: it calls Config.New for a runtime of its own and
// labels every container and image it creates with LabelKey set to a value
// unique to the case, so that listing by label sees only the case's objects
// even on a real engine shared with other tests. Whatever a case creates is
// removed when it ends (t.Cleanup), containers before images.
//
// Unless Config.BaseImage names an existing busybox image, each case loads
// its own base image made by package testimage (a static busybox, read from
// the host unless Config.Busybox gives its bytes; the driver must declare
// runtime.CapLoad) and removes it afterwards.
//
// Cases adapt to the capabilities the driver declares in Info and to
// nothing else (never to the driver's name): for an undeclared capability
// the suite checks that the operation returns runtime.ErrNotImplemented.
// Errors are checked by class with errors.Is.
//
// # Commands
//
// Containers run only the small sh subset that both busybox sh and the fake
// runtime's interpreter understand: sh -c with ';', '&&', '||', quoting,
// $VAR, redirections (> FILE, >> FILE, >&2, 2>&1) and the builtins echo,
// cat, mkdir, rm, touch, sleep, exit, true, false, test, trap (to ignore
// or restore TERM), env, pwd, cd, head -c, ls and wc -c.
//
// # Requirements a real engine must meet
//
// A job that does not trap SIGTERM must be ended by it (Stop/HonoursTERM
// expects exit code 143). When the engine makes the job PID 1 of a PID
// namespace, the kernel ignores SIGTERM for it, so the driver must run the
// job under an init that forwards signals (Docker's HostConfig.Init, podman
// --init or an equivalent). Jobs sleep 30 seconds where a stop or kill is
// expected, so nothing depends on timing but a generous upper bound.
package runtimetest
