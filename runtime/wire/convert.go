package wire

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/berth-dev/berth/runtime"
	pb "github.com/berth-dev/berth/runtime/wire/wirepb"
)

// Conversions between the contract's types and their protobuf messages. A
// zero time travels as an unset timestamp; empty maps and slices come back
// nil.

func toTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func toInfo(i runtime.Info) *pb.Info {
	caps := make([]string, len(i.Capabilities))
	for n, c := range i.Capabilities {
		caps[n] = string(c)
	}
	return &pb.Info{
		Name:            i.Name,
		Version:         i.Version,
		EngineVersion:   i.EngineVersion,
		ProtocolVersion: int64(i.ProtocolVersion),
		Capabilities:    caps,
	}
}

func fromInfo(i *pb.Info) runtime.Info {
	var caps []runtime.Capability
	for _, c := range i.GetCapabilities() {
		caps = append(caps, runtime.Capability(c))
	}
	return runtime.Info{
		Name:            i.GetName(),
		Version:         i.GetVersion(),
		EngineVersion:   i.GetEngineVersion(),
		ProtocolVersion: int(i.GetProtocolVersion()),
		Capabilities:    caps,
	}
}

// labels returns m, or nil if it is empty: protobuf makes an empty map of a
// map field it meets with another wire type, as a driver built from another
// version of the .proto may send.
func labels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func toImage(i runtime.Image) *pb.Image {
	return &pb.Image{
		Id:      i.ID,
		Refs:    i.Refs,
		Size:    i.Size,
		Layers:  int64(i.Layers),
		Labels:  i.Labels,
		Env:     i.Env,
		Created: toTime(i.Created),
	}
}

func fromImage(i *pb.Image) runtime.Image {
	return runtime.Image{
		ID:      i.GetId(),
		Refs:    i.GetRefs(),
		Size:    i.GetSize(),
		Layers:  int(i.GetLayers()),
		Labels:  labels(i.GetLabels()),
		Env:     i.GetEnv(),
		Created: fromTime(i.GetCreated()),
	}
}

func toImages(is []runtime.Image) []*pb.Image {
	out := make([]*pb.Image, len(is))
	for n, i := range is {
		out[n] = toImage(i)
	}
	return out
}

func fromImages(is []*pb.Image) []runtime.Image {
	var out []runtime.Image
	for _, i := range is {
		out = append(out, fromImage(i))
	}
	return out
}

func toRegistryOptions(o runtime.RegistryOptions) *pb.RegistryOptions {
	return &pb.RegistryOptions{Username: o.Username, Password: o.Password, Insecure: o.Insecure}
}

func fromRegistryOptions(o *pb.RegistryOptions) runtime.RegistryOptions {
	return runtime.RegistryOptions{Username: o.GetUsername(), Password: o.GetPassword(), Insecure: o.GetInsecure()}
}

func toContainer(c runtime.Container) *pb.Container {
	return &pb.Container{
		Id:      c.ID,
		Name:    c.Name,
		Image:   c.Image,
		Labels:  c.Labels,
		State:   string(c.State),
		Created: toTime(c.Created),
	}
}

func fromContainer(c *pb.Container) runtime.Container {
	return runtime.Container{
		ID:      c.GetId(),
		Name:    c.GetName(),
		Image:   c.GetImage(),
		Labels:  labels(c.GetLabels()),
		State:   runtime.ContainerState(c.GetState()),
		Created: fromTime(c.GetCreated()),
	}
}

func toContainers(cs []runtime.Container) []*pb.Container {
	out := make([]*pb.Container, len(cs))
	for n, c := range cs {
		out[n] = toContainer(c)
	}
	return out
}

func fromContainers(cs []*pb.Container) []runtime.Container {
	var out []runtime.Container
	for _, c := range cs {
		out = append(out, fromContainer(c))
	}
	return out
}

func toSpec(s runtime.ContainerSpec) *pb.ContainerSpec {
	return &pb.ContainerSpec{
		Name:        s.Name,
		Image:       s.Image,
		Cmd:         s.Cmd,
		Env:         s.Env,
		SecretEnv:   s.SecretEnv,
		Labels:      s.Labels,
		WorkingDir:  s.WorkingDir,
		MemoryBytes: s.MemoryBytes,
		NanoCpus:    s.NanoCPUs,
	}
}

func fromSpec(s *pb.ContainerSpec) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:        s.GetName(),
		Image:       s.GetImage(),
		Cmd:         s.GetCmd(),
		Env:         s.GetEnv(),
		SecretEnv:   s.GetSecretEnv(),
		Labels:      labels(s.GetLabels()),
		WorkingDir:  s.GetWorkingDir(),
		MemoryBytes: s.GetMemoryBytes(),
		NanoCPUs:    s.GetNanoCpus(),
	}
}

func toExit(e runtime.ExitStatus) *pb.ExitStatus {
	return &pb.ExitStatus{ExitCode: int64(e.ExitCode), OomKilled: e.OOMKilled, Error: e.Error}
}

func fromExit(e *pb.ExitStatus) runtime.ExitStatus {
	return runtime.ExitStatus{ExitCode: int(e.GetExitCode()), OOMKilled: e.GetOomKilled(), Error: e.GetError()}
}
