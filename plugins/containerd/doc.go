// Package containerd is berth's driver for containerd: it implements
// runtime.Runtime with the containerd Go client, including a commit-to-image
// that containerd itself lacks.
//
// Everything the driver makes lives in one containerd namespace (option
// "namespace", default "berth"), never in Docker's "moby". Containers get a
// fresh snapshot (option "snapshotter", default "overlayfs") on top of the
// unpacked image, an OCI spec built from the image config plus the job's
// command, environment, working directory, labels and limits, and a task
// whose stdout and stderr the driver copies into per-container log files
// under its state directory (option "state_dir"). When a static init
// (option "init", default /usr/bin/tini-static if present) is available it
// runs as the container's PID 1, so SIGTERM reaches the job as it would on
// Docker with --init. As on Docker and Podman, the container's own cgroups
// are mounted read-only at /sys/fs/cgroup, and MemoryBytes caps memory and
// swap together: the spec's swap limit (memory plus swap) equals its memory
// limit, where the host accounts swap (cgroup v1's
// memory.memsw.limit_in_bytes, cgroup v2's memory.swap.max), and the
// memory alone is capped where it does not.
//
// containerd refuses a label whose key and value exceed 4 KiB. A
// container's label that long (a long work item or project) is kept
// exactly in the container record's extension io.berth.containerd.labels,
// and in the record's labels with a value that fits: its first 256 bytes,
// "...sha256:" and the SHA-256 of the whole value. The labels the driver
// reports, and those its label filters match, are the exact ones. Image
// labels live in the image config, which has no such limit.
//
// Commit works on an exited container: under a lease, the diff service
// compares the container's snapshot with its parent (or, for a squash, with
// an empty snapshot) and writes the layer into the content store; the driver
// then writes the new image config (diff ID and history appended, labels and
// config changes applied, secret environment dropped) and manifest with the
// garbage-collection reference labels, and creates or updates the image
// record. The image's top snapshot is then not unpacked from the new layer
// but taken over from the container: its snapshot, which holds exactly the
// layer's files on the image's parent snapshot, is committed under the
// image's chain ID and the container gets a fresh empty snapshot on top (its
// exited task is deleted first, its exit status kept in a label), which
// halves the cost of a commit. A squash, or a snapshot that cannot serve,
// is unpacked the usual way. A commit makes no image but the one asked
// for (no intermediate image, no temporary reference): what a driver that
// dies mid-commit leaves is content under the commit's lease, which expires
// within the hour, and none of it holds the container's environment.
//
// Image references are stored in containerd's normalized form
// ("docker.io/library/x:latest") and reported in Docker's familiar form
// ("x:latest"). An image's ID is the digest of its manifest (the image
// record's target).
//
// PushImage and PullDigest (capability registry) use the client's Push
// and Pull with containerd's docker resolver. A push sends the manifest and
// its blobs as the content store holds them (a commit's layers
// uncompressed unless "layer_compression" is "gzip"), so the digest it
// returns is the image's ID; an image whose record targets an index is
// pushed as the manifest of the platform it runs as. No image record is
// made for a push. A pull by digest unpacks into the snapshotter and names
// the image record src; an image the engine has already (by that digest,
// under any name) is not fetched but gets the record src too. A loopback
// registry, or any with RegistryOptions.Insecure, is tried over HTTPS
// without verifying its certificate, then over plain HTTP if it answers
// so; the registry's failures to answer or refusals are
// runtime.ErrUnavailable naming it.
//
// # Options
//
// The plugin options (wire.DriverOptions, read by OptionsFromMap) are
// snake_case:
//
//   - "address": containerd's socket; default, by containerd's own
//     conventions, $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock.
//   - "namespace": default $CONTAINERD_NAMESPACE, else "berth"; never "moby".
//   - "snapshotter": default "overlayfs".
//   - "state_dir": default /run/berth-containerd/<namespace>.
//   - "init": a static init binary, or "none"; default /usr/bin/tini-static
//     if present.
//   - "layer_compression": "none" (default) or "gzip".
//
// Engine errors are classified from errdefs and gRPC codes and returned
// with runtime.WrapEngine: the class and containerd's error are both in
// the chain.
//
// The binary cmd/berth-driver-containerd serves the driver over berth's
// plugin wire.
package containerd
