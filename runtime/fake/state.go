package fake

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// state is everything the fake knows: in memory, or the content of the
// state file when persisted. File system contents (layers) live apart, as
// blobs addressed by digest.
//
// Image and layer records are never modified once recorded. Whoever adds or
// deletes images, references or layers calls changedImages, so that a save
// re-encodes that part of the state only when needed.
type state struct {
	Seq        uint64               `json:"seq"`
	Images     map[string]*imageRec `json:"images"`
	Refs       map[string]string    `json:"refs"`   // reference -> image ID
	Layers     map[string]*layerRec `json:"layers"` // chain ID -> layer
	Containers map[string]*ctrRec   `json:"containers"`

	imagesChanged bool // since the last save
}

func newState() *state {
	return &state{
		Images:        map[string]*imageRec{},
		Refs:          map[string]string{},
		Layers:        map[string]*layerRec{},
		Containers:    map[string]*ctrRec{},
		imagesChanged: true,
	}
}

// changedImages notes a change of Images, Refs or Layers.
func (st *state) changedImages() {
	st.imagesChanged = true
}

// next returns the next value of the state's counter.
func (st *state) next() uint64 {
	st.Seq++
	return st.Seq
}

// imageRec is an image: a chain of layers and a config.
type imageRec struct {
	ID      string      `json:"id"`
	Top     string      `json:"top,omitempty"` // chain ID of the top layer
	Config  imageConfig `json:"config"`
	Created time.Time   `json:"created"`
	Seq     uint64      `json:"seq"`
}

// imageConfig is the part of an image config the fake knows.
type imageConfig struct {
	Env        []string          `json:"env,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// layerRec is a layer in a chain, named by its chain ID (which covers the
// layers below it, as in Docker).
type layerRec struct {
	Parent string `json:"parent,omitempty"`
	Diff   string `json:"diff"`
	Depth  int    `json:"depth"` // layers from the bottom, this one included
	Size   int64  `json:"size"`  // bytes of this layer and those below
}

// chainID names the layer diff stacked on parent.
func chainID(parent, diff string) string {
	if parent == "" {
		return diff
	}
	sum := sha256.Sum256([]byte(parent + " " + diff))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ctrRec is a container.
type ctrRec struct {
	ID      string                 `json:"id"`
	Name    string                 `json:"name"`
	Image   string                 `json:"image"` // as given in the spec
	ImageID string                 `json:"imageId"`
	Spec    runtime.ContainerSpec  `json:"spec"`
	State   runtime.ContainerState `json:"state"`
	Created time.Time              `json:"created"`
	Seq     uint64                 `json:"seq"`
	Exit    runtime.ExitStatus     `json:"exit"`
	Upper   string                 `json:"upper,omitempty"` // diff ID of the writable layer, once exited
	Owner   owner                  `json:"owner"`
	// Signal and SignalSeq carry Stop requests from other processes to
	// the process running the container.
	Signal    int `json:"signal,omitempty"`
	SignalSeq int `json:"signalSeq,omitempty"`
}

// owner identifies the process running a container.
type owner struct {
	Pid   int    `json:"pid"`
	Start string `json:"start,omitempty"` // process start time, against pid reuse
}

// self is this process.
var self = owner{Pid: os.Getpid(), Start: procStart(os.Getpid())}

// alive reports whether the owner process still runs.
func (o owner) alive() bool {
	if o.Pid == self.Pid {
		return o.Start == self.Start
	}
	if o.Pid <= 0 {
		return false
	}
	if err := syscall.Kill(o.Pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	if o.Start != "" {
		if s := procStart(o.Pid); s != "" && s != o.Start {
			return false
		}
	}
	return true
}

// procStart returns the start time of process pid from /proc, or "" if
// unknown.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; fields after it are
	// plain. Start time is field 22.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}
