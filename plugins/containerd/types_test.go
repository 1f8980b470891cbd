package containerd

import (
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/snapshots"
)

type (
	snapshotInfo = snapshots.Info
	contentInfo  = content.Info
)
