package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/berth-dev/berth/runtime"
	pb "github.com/berth-dev/berth/runtime/wire/wirepb"
)

// server is the plugin-side shim: it serves any runtime.Runtime over gRPC.
// The context of each call is the gRPC call's, so the host cancelling its
// context cancels the driver's.
type server struct {
	pb.UnimplementedRuntimeServer
	impl runtime.Runtime
}

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.InfoResponse{Info: toInfo(info)}, nil
}

func (s *server) Ping(ctx context.Context, _ *pb.PingRequest) (*pb.PingResponse, error) {
	if err := s.impl.Ping(ctx); err != nil {
		return nil, toStatus(err)
	}
	return &pb.PingResponse{}, nil
}

func (s *server) InspectImage(ctx context.Context, req *pb.InspectImageRequest) (*pb.InspectImageResponse, error) {
	img, err := s.impl.InspectImage(ctx, req.GetRef())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.InspectImageResponse{Image: toImage(img)}, nil
}

func (s *server) PullImage(ctx context.Context, req *pb.PullImageRequest) (*pb.PullImageResponse, error) {
	img, err := s.impl.PullImage(ctx, req.GetRef())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PullImageResponse{Image: toImage(img)}, nil
}

func (s *server) LoadImage(stream pb.Runtime_LoadImageServer) error {
	imgs, err := s.impl.LoadImage(stream.Context(), &chunkReader{stream: stream})
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&pb.LoadImageResponse{Images: toImages(imgs)})
}

// chunkReader reads the LoadImage stream as one byte stream.
type chunkReader struct {
	stream pb.Runtime_LoadImageServer
	buf    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		chunk, err := r.stream.Recv()
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		if err != nil {
			if ctxErr := r.stream.Context().Err(); ctxErr != nil {
				return 0, ctxErr
			}
			return 0, err
		}
		r.buf = chunk.GetData()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *server) RemoveImage(ctx context.Context, req *pb.RemoveImageRequest) (*pb.RemoveImageResponse, error) {
	if err := s.impl.RemoveImage(ctx, req.GetRef()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.RemoveImageResponse{}, nil
}

func (s *server) ListImages(ctx context.Context, req *pb.ListImagesRequest) (*pb.ListImagesResponse, error) {
	imgs, err := s.impl.ListImages(ctx, req.GetFilter())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ListImagesResponse{Images: toImages(imgs)}, nil
}

func (s *server) Run(ctx context.Context, req *pb.RunRequest) (*pb.RunResponse, error) {
	c, err := s.impl.Run(ctx, fromSpec(req.GetSpec()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RunResponse{Container: toContainer(c)}, nil
}

func (s *server) Wait(ctx context.Context, req *pb.WaitRequest) (*pb.WaitResponse, error) {
	st, err := s.impl.Wait(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.WaitResponse{Status: toExit(st)}, nil
}

func (s *server) Stop(ctx context.Context, req *pb.StopRequest) (*pb.StopResponse, error) {
	opts := runtime.StopOptions{Signal: req.GetSignal(), Grace: req.GetGrace().AsDuration()}
	if err := s.impl.Stop(ctx, req.GetId(), opts); err != nil {
		return nil, toStatus(err)
	}
	return &pb.StopResponse{}, nil
}

func (s *server) Logs(req *pb.LogsRequest, stream pb.Runtime_LogsServer) error {
	var (
		mu   sync.Mutex // Send must not be called concurrently
		done bool       // the call has returned: Send must not be called
	)
	send := func(which pb.LogChunk_Stream) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if done {
				return 0, io.ErrClosedPipe
			}
			if err := stream.Send(&pb.LogChunk{Stream: which, Data: p}); err != nil {
				return 0, err
			}
			return len(p), nil
		})
	}
	opts := runtime.LogOptions{Follow: req.GetFollow()}
	err := s.impl.Logs(stream.Context(), req.GetId(), opts, send(pb.LogChunk_STREAM_STDOUT), send(pb.LogChunk_STREAM_STDERR))
	mu.Lock()
	done = true
	mu.Unlock()
	return toStatus(err)
}

// writerFunc is an io.Writer made of a function.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (s *server) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	ch := req.GetChanges()
	img, err := s.impl.Commit(ctx, req.GetId(), runtime.CommitOptions{
		Ref:    req.GetRef(),
		Labels: req.GetLabels(),
		Changes: runtime.ConfigChanges{
			Env:        ch.GetEnv(),
			Cmd:        ch.GetCmd(),
			WorkingDir: ch.GetWorkingDir(),
		},
		Squash: req.GetSquash(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CommitResponse{Image: toImage(img)}, nil
}

// CopyImage serves a driver that implements runtime.ImageCopier, and
// answers runtime.ErrNotImplemented for one that does not.
func (s *server) CopyImage(ctx context.Context, req *pb.CopyImageRequest) (*pb.CopyImageResponse, error) {
	cp, ok := s.impl.(runtime.ImageCopier)
	if !ok {
		return nil, toStatus(fmt.Errorf("copy image: %w", runtime.ErrNotImplemented))
	}
	img, err := cp.CopyImage(ctx, req.GetSrc(), runtime.CopyOptions{Ref: req.GetRef(), Labels: req.GetLabels()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CopyImageResponse{Image: toImage(img)}, nil
}

// Changed serves a driver that implements runtime.ChangeChecker, and
// answers runtime.ErrNotImplemented for one that does not.
func (s *server) Changed(ctx context.Context, req *pb.ChangedRequest) (*pb.ChangedResponse, error) {
	cc, ok := s.impl.(runtime.ChangeChecker)
	if !ok {
		return nil, toStatus(fmt.Errorf("changed: %w", runtime.ErrNotImplemented))
	}
	changed, err := cc.Changed(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ChangedResponse{Changed: changed}, nil
}

// PushImage serves a driver that implements runtime.RegistryClient, and
// answers runtime.ErrNotImplemented for one that does not.
func (s *server) PushImage(ctx context.Context, req *pb.PushImageRequest) (*pb.PushImageResponse, error) {
	rc, ok := s.impl.(runtime.RegistryClient)
	if !ok {
		return nil, toStatus(fmt.Errorf("push image: %w", runtime.ErrNotImplemented))
	}
	digest, err := rc.PushImage(ctx, req.GetRef(), req.GetDest(), fromRegistryOptions(req.GetOptions()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PushImageResponse{Digest: digest}, nil
}

// PullDigest serves a driver that implements runtime.RegistryClient, and
// answers runtime.ErrNotImplemented for one that does not.
func (s *server) PullDigest(ctx context.Context, req *pb.PullDigestRequest) (*pb.PullDigestResponse, error) {
	rc, ok := s.impl.(runtime.RegistryClient)
	if !ok {
		return nil, toStatus(fmt.Errorf("pull digest: %w", runtime.ErrNotImplemented))
	}
	img, err := rc.PullDigest(ctx, req.GetSrc(), fromRegistryOptions(req.GetOptions()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PullDigestResponse{Image: toImage(img)}, nil
}

func (s *server) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	if err := s.impl.Remove(ctx, req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.RemoveResponse{}, nil
}

func (s *server) InspectContainer(ctx context.Context, req *pb.InspectContainerRequest) (*pb.InspectContainerResponse, error) {
	c, err := s.impl.InspectContainer(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.InspectContainerResponse{Container: toContainer(c)}, nil
}

func (s *server) ListContainers(ctx context.Context, req *pb.ListContainersRequest) (*pb.ListContainersResponse, error) {
	cs, err := s.impl.ListContainers(ctx, req.GetFilter())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ListContainersResponse{Containers: toContainers(cs)}, nil
}
