package wire

// SetTestHookVerified makes f run each time a driver binary has been opened
// and checked, right before it is executed, with the binary's path. It
// returns a function that restores the previous hook.
func SetTestHookVerified(f func(path string)) (restore func()) {
	old := testHookVerified
	testHookVerified = f
	return func() { testHookVerified = old }
}
