//go:build !remote || !containers_image_openpgp

package podman

// The bindings are built for this driver with the tags "remote" and
// "containers_image_openpgp" (see doc.go); a test binary built without
// them would test another build than the one shipped.
func init() {
	panic(`berth-driver-podman: run the tests with -tags "remote containers_image_openpgp exclude_graphdriver_btrfs" (see doc.go)`)
}
