package wire

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/berth-dev/berth/runtime"
	pb "github.com/berth-dev/berth/runtime/wire/wirepb"
)

// decoded is what the host makes of one message's bytes read as each of the
// messages the driver answers with.
type decoded struct {
	info       *runtime.Info
	image      *runtime.Image
	images     []runtime.Image
	container  *runtime.Container
	containers []runtime.Container
	spec       *runtime.ContainerSpec
	exit       *runtime.ExitStatus
}

// decode reads data as each message it can be, converting each that
// unmarshals into the contract's type.
func decode(data []byte) decoded {
	var d decoded
	if m := new(pb.Info); proto.Unmarshal(data, m) == nil {
		v := fromInfo(m)
		d.info = &v
	}
	if m := new(pb.Image); proto.Unmarshal(data, m) == nil {
		v := fromImage(m)
		d.image = &v
	}
	if m := new(pb.ListImagesResponse); proto.Unmarshal(data, m) == nil {
		d.images = fromImages(m.GetImages())
	}
	if m := new(pb.Container); proto.Unmarshal(data, m) == nil {
		v := fromContainer(m)
		d.container = &v
	}
	if m := new(pb.ListContainersResponse); proto.Unmarshal(data, m) == nil {
		d.containers = fromContainers(m.GetContainers())
	}
	if m := new(pb.ContainerSpec); proto.Unmarshal(data, m) == nil {
		v := fromSpec(m)
		d.spec = &v
	}
	if m := new(pb.ExitStatus); proto.Unmarshal(data, m) == nil {
		v := fromExit(m)
		d.exit = &v
	}
	return d
}

// again sends v through its message, its bytes and back.
func again[V, M any](t *testing.T, v V, to func(V) M, from func(M) V) V {
	t.Helper()
	m := to(v)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(any(m).(proto.Message))
	require.NoError(t, err, "marshal %T", m)
	back := reflect.New(reflect.TypeOf(m).Elem()).Interface().(proto.Message)
	require.NoError(t, proto.Unmarshal(b, back), "unmarshal %T", m)
	return from(back.(M))
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	require.True(t, reflect.DeepEqual(got, want), "%s changed on the wire:\n got %#v\nwant %#v", what, got, want)
}

// wireSeeds are messages of every kind, as the host and driver write them.
func wireSeeds() [][]byte {
	created := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	msgs := []proto.Message{
		&pb.Info{Name: "docker", Version: "1", EngineVersion: "27.0", ProtocolVersion: 1, Capabilities: []string{"pull", "commit"}},
		toImage(runtime.Image{ID: "sha256:ab", Refs: []string{"berth/p-w-0123:g1"}, Size: 1 << 20, Layers: 3,
			Labels: map[string]string{"io.berth.instance": "i"}, Env: []string{"A=1"}, Created: created}),
		&pb.ListImagesResponse{Images: []*pb.Image{{Id: "a"}, {Id: "b", Refs: []string{"x"}}}},
		toContainer(runtime.Container{ID: "c1", Name: "berth-1", Image: "busybox", State: runtime.ContainerState("running"),
			Labels: map[string]string{"a": ""}, Created: created}),
		&pb.ListContainersResponse{Containers: []*pb.Container{{Id: "c"}}},
		toSpec(runtime.ContainerSpec{Name: "n", Image: "i", Cmd: []string{"sh", "-c", "true"}, Env: []string{"A=1"},
			SecretEnv: []string{"S=2"}, WorkingDir: "/w", MemoryBytes: 1 << 30, NanoCPUs: 1e9}),
		&pb.ExitStatus{ExitCode: -1, OomKilled: true, Error: "killed"},
		&pb.Image{Created: &timestamppb.Timestamp{Seconds: -62135596800}},             // the zero time
		&pb.Image{Created: &timestamppb.Timestamp{Seconds: 1 << 62, Nanos: -1}},       // out of range
		&pb.Container{Created: &timestamppb.Timestamp{Seconds: -1 << 63, Nanos: 2e9}}, // out of range
		&pb.ExitStatus{ExitCode: -1 << 63},
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return append(out, nil, []byte{0xff}, []byte("\x2a\x03\x0a\x01\x80"))
}

// checkConvert: what the host's conversions made of a message goes through
// the driver's conversion, the message's bytes and back unchanged.
func checkConvert(t *testing.T, d decoded) {
	t.Helper()
	if d.info != nil {
		same(t, "info", again(t, *d.info, toInfo, fromInfo), *d.info)
	}
	if d.image != nil {
		same(t, "image", again(t, *d.image, toImage, fromImage), *d.image)
	}
	if d.images != nil {
		back := again(t, d.images, func(is []runtime.Image) *pb.ListImagesResponse {
			return &pb.ListImagesResponse{Images: toImages(is)}
		}, func(m *pb.ListImagesResponse) []runtime.Image { return fromImages(m.GetImages()) })
		same(t, "images", back, d.images)
	}
	if d.container != nil {
		same(t, "container", again(t, *d.container, toContainer, fromContainer), *d.container)
	}
	if d.containers != nil {
		back := again(t, d.containers, func(cs []runtime.Container) *pb.ListContainersResponse {
			return &pb.ListContainersResponse{Containers: toContainers(cs)}
		}, func(m *pb.ListContainersResponse) []runtime.Container { return fromContainers(m.GetContainers()) })
		same(t, "containers", back, d.containers)
	}
	if d.spec != nil {
		same(t, "spec", again(t, *d.spec, toSpec, fromSpec), *d.spec)
	}
	if d.exit != nil {
		same(t, "exit status", again(t, *d.exit, toExit, fromExit), *d.exit)
	}
}

// fuzzDriver answers with what the fuzz target sets and keeps the spec it
// was asked to run.
type fuzzDriver struct {
	runtime.Runtime
	d    decoded
	err  error
	spec runtime.ContainerSpec
}

func (f *fuzzDriver) Info(context.Context) (runtime.Info, error) { return *f.d.info, nil }
func (f *fuzzDriver) Ping(context.Context) error                 { return f.err }
func (f *fuzzDriver) InspectImage(context.Context, string) (runtime.Image, error) {
	return *f.d.image, nil
}
func (f *fuzzDriver) ListImages(context.Context, runtime.LabelFilter) ([]runtime.Image, error) {
	return f.d.images, nil
}
func (f *fuzzDriver) InspectContainer(context.Context, string) (runtime.Container, error) {
	return *f.d.container, nil
}
func (f *fuzzDriver) ListContainers(context.Context, runtime.LabelFilter) ([]runtime.Container, error) {
	return f.d.containers, nil
}
func (f *fuzzDriver) Wait(context.Context, string) (runtime.ExitStatus, error) { return *f.d.exit, nil }
func (f *fuzzDriver) Run(_ context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	f.spec = spec
	return runtime.Container{}, nil
}

// fuzzPair serves a fuzzDriver over a real gRPC connection for the whole
// fuzz target (one per fuzzing process).
func fuzzPair(f *testing.F) (*fuzzDriver, runtime.Runtime) {
	drv := &fuzzDriver{}
	host, closePair := Pair(drv)
	f.Cleanup(closePair)
	return drv, host
}

// FuzzWire: the host's conversions take any message without panicking; what
// they make goes through the driver's conversion and back unchanged, in
// process and over a real gRPC connection, and the driver runs the very
// spec the host sent.
func FuzzWire(f *testing.F) {
	for _, b := range wireSeeds() {
		f.Add(b)
	}
	drv, host := fuzzPair(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		drv.d = decode(data)
		checkConvert(t, drv.d)
		check := func(what string, got, want any, err error) {
			t.Helper()
			require.NoError(t, err, what)
			same(t, what, got, want)
		}
		if d := drv.d; d.info != nil {
			got, err := host.Info(ctx)
			check("info", got, *d.info, err)
		}
		if d := drv.d; d.image != nil {
			got, err := host.InspectImage(ctx, "ref")
			check("image", got, *d.image, err)
		}
		if d := drv.d; d.images != nil {
			got, err := host.ListImages(ctx, nil)
			check("images", got, d.images, err)
		}
		if d := drv.d; d.container != nil {
			got, err := host.InspectContainer(ctx, "id")
			check("container", got, *d.container, err)
		}
		if d := drv.d; d.containers != nil {
			got, err := host.ListContainers(ctx, nil)
			check("containers", got, d.containers, err)
		}
		if d := drv.d; d.exit != nil {
			got, err := host.Wait(ctx, "id")
			check("exit status", got, *d.exit, err)
		}
		if d := drv.d; d.spec != nil {
			_, err := host.Run(ctx, *d.spec)
			check("spec", drv.spec, *d.spec, err)
		}
	})
}

// errorClasses are the classes an error can cross the wire with; the last
// is none.
var errorClasses = append(append([]error{}, runtime.Classes...), context.Canceled, context.DeadlineExceeded, errors.New("no class"))

// checkClass asserts that back, the host's error for a driver's err of
// class, is of that class and only that one.
func checkClass(t *testing.T, err, back, class error) {
	t.Helper()
	require.Error(t, back, "%v came back as no error", err)
	_ = back.Error()
	want := runtime.ClassOf(class)
	if class == context.Canceled || class == context.DeadlineExceeded {
		want = class
	}
	if want != nil {
		require.ErrorIs(t, back, want, "%q (class %v) came back not of its class", err, class)
	}
	for _, c := range errorClasses[:len(errorClasses)-1] {
		if c != want {
			require.NotErrorIs(t, back, c, "%q (class %v) came back also of another class", err, class)
		}
	}
}

// FuzzErrorClass: a driver's error keeps its class and its message across
// the status mapping and across a real gRPC connection.
func FuzzErrorClass(f *testing.F) {
	for i := range errorClasses {
		f.Add(uint8(i), "inspect busybox:latest")
	}
	f.Add(uint8(0), "")
	f.Add(uint8(7), "not valid UTF-8: \xff\xfe")
	f.Add(uint8(1), "%41 percent-encoded? \r\n\x00")
	drv, host := fuzzPair(f)
	f.Fuzz(func(t *testing.T, n uint8, msg string) {
		class := errorClasses[int(n)%len(errorClasses)]
		err := fmt.Errorf("%s: %w", msg, class)

		// A message that is not UTF-8 has its bad bytes replaced.
		want := strings.ToValidUTF8(err.Error(), "\uFFFD")

		back := fromStatus(context.Background(), toStatus(err))
		checkClass(t, err, back, class)
		require.EqualError(t, back, want, "message %q came back changed", err)

		drv.err = err
		back = host.Ping(context.Background())
		checkClass(t, err, back, class)
		require.EqualError(t, back, want, "message %q came back over the wire changed", err)
	})
}

// FuzzFromStatus: the host maps any status a driver or the transport may
// send to an error of the class its code stands for, without panicking.
func FuzzFromStatus(f *testing.F) {
	detail, err := anypb.New(&pb.DriverError{Class: runtime.ErrNotFound.Error()})
	require.NoError(f, err)
	for _, st := range []*status.Status{
		status.New(codes.NotFound, "no such image"),
		status.New(codes.Unavailable, "connection refused"),
		status.New(codes.Canceled, "closing"),
		status.New(codes.Unknown, ""),
		status.New(codes.Code(99), "from the future"),
	} {
		p := st.Proto()
		b, _ := proto.Marshal(p)
		f.Add(b, false)
		p.Details = append(p.Details, detail)
		b, _ = proto.Marshal(p)
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte("\x08\x05\x1a\x05\x0a\x01x\x12\x00"), false) // a detail of an unknown type
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	f.Fuzz(func(t *testing.T, data []byte, done bool) {
		p := status.New(codes.OK, "").Proto()
		if proto.Unmarshal(data, p) != nil {
			return
		}
		err := status.FromProto(p).Err()
		ctx := context.Background()
		if done {
			ctx = cancelled
		}
		back := fromStatus(ctx, err)
		if err == nil {
			require.NoError(t, back, "no error came back as an error")
			return
		}
		require.Error(t, back, "status %v came back as no error", p)
		_ = back.Error()
		if done {
			require.ErrorIs(t, back, context.Canceled, "status %v with the call cancelled", p)
			return
		}
		code := codes.Code(p.GetCode())
		fromDriver := false
		for _, d := range p.GetDetails() {
			fromDriver = fromDriver || d.UnmarshalTo(&pb.DriverError{}) == nil
		}
		want := classOf[code]
		if !fromDriver && (code == codes.Unavailable || code == codes.Canceled) {
			want = runtime.ErrUnavailable
		}
		if want != nil {
			require.ErrorIs(t, back, want, "status %v came back not of its class", p)
		}
		for _, c := range errorClasses[:len(errorClasses)-1] {
			if c != want {
				require.NotErrorIs(t, back, c, "status %v came back also of another class", p)
			}
		}
	})
}
