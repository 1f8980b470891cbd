//go:build !remote || !containers_image_openpgp || !exclude_graphdriver_btrfs

package podman

// The tests are built with the Makefile's PODMAN_TAGS (see doc.go): the
// bindings need "remote" and "containers_image_openpgp", and with cgo (the
// race detector) "exclude_graphdriver_btrfs" leaves out the btrfs driver.
// A test binary built without them would test another build than the one
// shipped.
func init() {
	panic(`berth-driver-podman: run the tests as the Makefile does: CGO_ENABLED=1 go test -race -tags "remote containers_image_openpgp exclude_graphdriver_btrfs" ./... (see doc.go)`)
}
