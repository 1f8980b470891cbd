package wire

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/berth-dev/berth/runtime"
	pb "github.com/berth-dev/berth/runtime/wire/wirepb"
)

// chunkSize is the size of the LoadImage chunks the client sends.
const chunkSize = 64 << 10

// client is the host-side shim: runtime.Runtime over a gRPC connection.
type client struct {
	conn grpc.ClientConnInterface
	rpc  pb.RuntimeClient
}

var (
	_ runtime.Runtime        = (*client)(nil)
	_ runtime.ImageCopier    = (*client)(nil)
	_ runtime.ChangeChecker  = (*client)(nil)
	_ runtime.RegistryClient = (*client)(nil)
)

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{conn: conn, rpc: pb.NewRuntimeClient(conn)}
}

func (c *client) Info(ctx context.Context) (runtime.Info, error) {
	resp, err := c.rpc.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return runtime.Info{}, fromStatus(ctx, err)
	}
	return fromInfo(resp.GetInfo()), nil
}

func (c *client) Ping(ctx context.Context) error {
	_, err := c.rpc.Ping(ctx, &pb.PingRequest{})
	return fromStatus(ctx, err)
}

func (c *client) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	resp, err := c.rpc.InspectImage(ctx, &pb.InspectImageRequest{Ref: ref})
	if err != nil {
		return runtime.Image{}, fromStatus(ctx, err)
	}
	return fromImage(resp.GetImage()), nil
}

func (c *client) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	resp, err := c.rpc.PullImage(ctx, &pb.PullImageRequest{Ref: ref})
	if err != nil {
		return runtime.Image{}, fromStatus(ctx, err)
	}
	return fromImage(resp.GetImage()), nil
}

// LoadImage sends r in chunks. If the driver ends the call early (an error,
// or it stopped reading), the driver's answer is returned.
func (c *client) LoadImage(ctx context.Context, r io.Reader) ([]runtime.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.LoadImage(ctx)
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	buf := make([]byte, chunkSize)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := stream.Send(&pb.LoadImageChunk{Data: buf[:n]}); err != nil {
				if errors.Is(err, io.EOF) {
					break // the driver has answered; CloseAndRecv reports it
				}
				return nil, fromStatus(ctx, err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			cancel()
			return nil, fmt.Errorf("load image: read: %w", rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return fromImages(resp.GetImages()), nil
}

func (c *client) RemoveImage(ctx context.Context, ref string) error {
	_, err := c.rpc.RemoveImage(ctx, &pb.RemoveImageRequest{Ref: ref})
	return fromStatus(ctx, err)
}

func (c *client) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	resp, err := c.rpc.ListImages(ctx, &pb.ListImagesRequest{Filter: filter})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return fromImages(resp.GetImages()), nil
}

func (c *client) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	resp, err := c.rpc.Run(ctx, &pb.RunRequest{Spec: toSpec(spec)})
	if err != nil {
		return runtime.Container{}, fromStatus(ctx, err)
	}
	return fromContainer(resp.GetContainer()), nil
}

func (c *client) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	resp, err := c.rpc.Wait(ctx, &pb.WaitRequest{Id: id})
	if err != nil {
		return runtime.ExitStatus{}, fromStatus(ctx, err)
	}
	return fromExit(resp.GetStatus()), nil
}

func (c *client) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	_, err := c.rpc.Stop(ctx, &pb.StopRequest{Id: id, Signal: opts.Signal, Grace: durationpb.New(opts.Grace)})
	return fromStatus(ctx, err)
}

// Logs writes each chunk to the writer of its stream, in order. A writer's
// error ends the call (and the driver's Logs, through its context).
func (c *client) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Logs(ctx, &pb.LogsRequest{Id: id, Follow: opts.Follow})
	if err != nil {
		return fromStatus(ctx, err)
	}
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fromStatus(ctx, err)
		}
		w := stdout
		if chunk.GetStream() == pb.LogChunk_STREAM_STDERR {
			w = stderr
		}
		if _, err := w.Write(chunk.GetData()); err != nil {
			return fmt.Errorf("logs %s: write: %w", id, err)
		}
	}
}

func (c *client) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	resp, err := c.rpc.Commit(ctx, &pb.CommitRequest{
		Id:     id,
		Ref:    opts.Ref,
		Labels: opts.Labels,
		Changes: &pb.ConfigChanges{
			Env:        opts.Changes.Env,
			Cmd:        opts.Changes.Cmd,
			WorkingDir: opts.Changes.WorkingDir,
		},
		Squash: opts.Squash,
	})
	if err != nil {
		return runtime.Image{}, fromStatus(ctx, err)
	}
	return fromImage(resp.GetImage()), nil
}

func (c *client) CopyImage(ctx context.Context, src string, opts runtime.CopyOptions) (runtime.Image, error) {
	resp, err := c.rpc.CopyImage(ctx, &pb.CopyImageRequest{Src: src, Ref: opts.Ref, Labels: opts.Labels})
	if err != nil {
		return runtime.Image{}, fromStatus(ctx, err)
	}
	return fromImage(resp.GetImage()), nil
}

func (c *client) Changed(ctx context.Context, id string) (bool, error) {
	resp, err := c.rpc.Changed(ctx, &pb.ChangedRequest{Id: id})
	if err != nil {
		return false, fromStatus(ctx, err)
	}
	return resp.GetChanged(), nil
}

func (c *client) PushImage(ctx context.Context, ref, dest string, opts runtime.RegistryOptions) (string, error) {
	resp, err := c.rpc.PushImage(ctx, &pb.PushImageRequest{Ref: ref, Dest: dest, Options: toRegistryOptions(opts)})
	if err != nil {
		return "", fromStatus(ctx, err)
	}
	return resp.GetDigest(), nil
}

func (c *client) PullDigest(ctx context.Context, src string, opts runtime.RegistryOptions) (runtime.Image, error) {
	resp, err := c.rpc.PullDigest(ctx, &pb.PullDigestRequest{Src: src, Options: toRegistryOptions(opts)})
	if err != nil {
		return runtime.Image{}, fromStatus(ctx, err)
	}
	return fromImage(resp.GetImage()), nil
}

func (c *client) Remove(ctx context.Context, id string) error {
	_, err := c.rpc.Remove(ctx, &pb.RemoveRequest{Id: id})
	return fromStatus(ctx, err)
}

func (c *client) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	resp, err := c.rpc.InspectContainer(ctx, &pb.InspectContainerRequest{Id: id})
	if err != nil {
		return runtime.Container{}, fromStatus(ctx, err)
	}
	return fromContainer(resp.GetContainer()), nil
}

func (c *client) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	resp, err := c.rpc.ListContainers(ctx, &pb.ListContainersRequest{Filter: filter})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return fromContainers(resp.GetContainers()), nil
}
