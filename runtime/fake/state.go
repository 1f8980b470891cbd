package fake

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/archive"
)

// state is everything the fake knows but the layers' contents (blobs).
type state struct {
	Seq        uint64               `json:"seq"`
	Images     map[string]*imageRec `json:"images"`
	Layers     map[string]*layerRec `json:"layers"` // by chain ID
	Containers map[string]*ctrRec   `json:"containers"`
	Calls      map[string]int       `json:"calls,omitempty"` // of the operations faults target
	refs       map[string]string    // reference -> image ID, from the images' Refs
	order      []*imageRec          // the images, oldest first
}

func newState() *state {
	return &state{Images: map[string]*imageRec{}, Layers: map[string]*layerRec{}, Containers: map[string]*ctrRec{}, Calls: map[string]int{}, refs: map[string]string{}}
}

func (st *state) next() uint64 {
	st.Seq++
	return st.Seq
}

// addImage records img, the newest image.
func (st *state) addImage(img *imageRec) {
	st.Images[img.ID] = img
	st.order = append(st.order, img)
	if l := st.Layers[img.Top]; l != nil {
		l.Users++
	}
}

func (st *state) dropImage(img *imageRec) {
	for _, ref := range slices.Clone(img.Refs) {
		st.setRef(ref, "")
	}
	delete(st.Images, img.ID)
	st.order = slices.DeleteFunc(st.order, func(i *imageRec) bool { return i == img })
}

// setRef points ref at image id ("": at none), taking it from another.
func (st *state) setRef(ref, id string) {
	if old := st.Images[st.refs[ref]]; old != nil {
		old.Refs, old.view = slices.DeleteFunc(old.Refs, func(r string) bool { return r == ref }), nil
	}
	delete(st.refs, ref)
	if img := st.Images[id]; img != nil {
		st.refs[ref] = id
		img.Refs, img.view = append(img.Refs, ref), nil
		slices.Sort(img.Refs)
	}
}

// imageRec is an image: a chain of layers and a config.
type imageRec struct {
	ID      string      `json:"id"`
	Refs    []string    `json:"refs,omitempty"` // sorted
	Top     string      `json:"top,omitempty"`  // chain ID of the top layer
	Config  imageConfig `json:"config"`
	Created time.Time   `json:"created"`
	Seq     uint64      `json:"seq"`
	// Pushed are the digests of the configs PushImage pushed it as, by
	// which PullDigest knows it.
	Pushed []string `json:"pushed,omitempty"`
	view   *runtime.Image
}

// imageConfig is an image's config (the fake ignores its Entrypoint).
type imageConfig = archive.ImageConfig

// layerRec is a layer named by its chain ID (of it and those below, as in
// Docker); its content is the blob Diff.
type layerRec struct {
	Parent string `json:"parent,omitempty"`
	Diff   string `json:"diff"`
	Depth  int    `json:"depth"` // layers from the bottom, this one included
	Size   int64  `json:"size"`  // bytes of this layer and those below
	Users  int    `json:"users"` // images and layers on top of it
}

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
	Upper   string                 `json:"upper,omitempty"` // blob of its changes, once exited
	Owner   owner                  `json:"owner"`
	// Signal and SignalSeq carry Stop requests from other processes to
	// the process running the container.
	Signal    int `json:"signal,omitempty"`
	SignalSeq int `json:"signalSeq,omitempty"`
}

// addLayer puts blob diff on the chain parent and returns the chain's ID.
func addLayer(st *state, parent, diff string, size int64) string {
	id := diff
	if parent != "" {
		sum := sha256.Sum256([]byte(parent + " " + diff))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	if st.Layers[id] == nil {
		rec := &layerRec{Parent: parent, Diff: diff, Depth: 1, Size: size}
		if p := st.Layers[parent]; p != nil {
			rec.Depth, rec.Size = p.Depth+1, p.Size+size
			p.Users++
		}
		st.Layers[id] = rec
	}
	return id
}

// putBlob stores layer l as blob id; in a state dir, once, as a gob.
func (r *Runtime) putBlob(id string, l *layer) error {
	if r.dir != "" {
		if _, err := os.Stat(r.blobPath(id)); err != nil {
			var b bytes.Buffer
			err := gob.NewEncoder(&b).Encode(l)
			if err == nil {
				err = writeAtomic(r.blobPath(id), b.Bytes())
			}
			if err != nil {
				return unavailable("write layer", err)
			}
		}
	}
	r.blobs[id] = l
	return nil
}

func (r *Runtime) blob(id string) (*layer, error) {
	if l := r.blobs[id]; l != nil {
		return l, nil
	} else if r.dir == "" {
		return nil, fmt.Errorf("fake: layer %s missing: %w", id, runtime.ErrNotFound)
	}
	f, err := os.Open(r.blobPath(id))
	if err != nil {
		return nil, unavailable("read layer "+id, err)
	}
	defer f.Close()
	l := &layer{}
	if err := gob.NewDecoder(bufio.NewReader(f)).Decode(l); err != nil {
		return nil, unavailable("read layer "+id, err)
	}
	r.blobs[id] = l
	return l, nil
}

// flat returns the file system of the chain top, shared: do not modify it.
func (r *Runtime) flat(st *state, top string) (map[string]*file, error) {
	if top == "" {
		return map[string]*file{}, nil
	}
	if m := r.flats[top]; m != nil {
		return m, nil
	}
	rec := st.Layers[top]
	if rec == nil {
		return nil, fmt.Errorf("fake: layer %s missing: %w", top, runtime.ErrNotFound)
	}
	below, err := r.flat(st, rec.Parent)
	if err != nil {
		return nil, err
	}
	l, err := r.blob(rec.Diff)
	if err != nil {
		return nil, err
	}
	m := maps.Clone(below)
	apply(m, l)
	r.flats[top] = m
	return m, nil
}

// release drops a use of the chain id, and the layers nothing uses any more.
func (r *Runtime) release(st *state, id string) {
	for rec := st.Layers[id]; rec != nil; rec = st.Layers[id] {
		if rec.Users--; rec.Users > 0 {
			return
		}
		delete(st.Layers, id)
		delete(r.flats, id)
		r.dropBlob(st, rec.Diff)
		id = rec.Parent
	}
}

// dropBlob deletes blob id unless a layer or a container's changes use it.
func (r *Runtime) dropBlob(st *state, id string) {
	for _, l := range st.Layers {
		if l.Diff == id {
			return
		}
	}
	for _, c := range st.Containers {
		if c.Upper == id {
			return
		}
	}
	delete(r.blobs, id)
	if r.dir != "" && id != "" {
		_ = os.Remove(r.blobPath(id))
	}
}

// owner identifies the process running a container.
type owner struct {
	Pid   int    `json:"pid"`
	Start string `json:"start,omitempty"` // process start time, against pid reuse
}

var self = owner{Pid: os.Getpid(), Start: procStart(os.Getpid())}

func (o owner) alive() bool {
	if o.Pid == self.Pid || o.Pid <= 0 {
		return o == self
	}
	if err := syscall.Kill(o.Pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	s := procStart(o.Pid)
	return o.Start == "" || s == "" || s == o.Start
}

// procStart returns field 22 of /proc/PID/stat (the start time), or "".
func procStart(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(fields) >= 20 {
		return fields[19]
	}
	return ""
}
