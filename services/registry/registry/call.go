package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// errCallTimeout is the cancellation cause of a call that outlived the
// call timeout, telling it apart from a caller's own deadline.
var errCallTimeout = errors.New("call timeout")

type providerStream = grpc.BidiStreamingClient[providerv1.CallToolRequest,
	providerv1.CallToolResponse]

// CallTool routes a call to the provider that owns the tool and relays
// the provider's answer.
func (s *Server) CallTool(req *registryv1.CallToolRequest,
	stream grpc.ServerStreamingServer[registryv1.CallToolResponse]) error {
	err := s.call(stream.Context(), req, stream.Send)
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrProvider) {
		s.log.Warn("tool call failed", "tool", req.GetName(), "reason", err)
	}
	return s.toStatus("CallTool", err)
}

func (s *Server) call(ctx context.Context, req *registryv1.CallToolRequest,
	send func(*registryv1.CallToolResponse) error) error {
	if err := validateCall(req); err != nil {
		return err
	}
	tool, addr, err := s.store.Lookup(ctx, req.GetName())
	if err != nil {
		return err
	}
	client, release, err := s.pool.acquire(addr)
	if err != nil {
		return err
	}
	defer release()

	// The provider's stream runs in the caller's context: a caller that
	// cancels or goes away cancels the provider's work.
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.CallTimeout, errCallTimeout)
	defer cancel()
	ps, err := client.CallTool(ctx)
	if err != nil {
		return s.providerErr(ctx, tool, addr, err)
	}
	start := &providerv1.CallToolStart{
		Name:          tool.GetProviderToolName(),
		ArgumentsJson: req.GetArgumentsJson(),
		MetaJson:      req.GetMetaJson(),
		SessionId:     req.GetSessionId(),
	}
	err = ps.Send(&providerv1.CallToolRequest{
		Message: &providerv1.CallToolRequest_Start{Start: start},
	})
	// io.EOF means the stream already ended; Recv reports why.
	if err != nil && !errors.Is(err, io.EOF) {
		return s.providerErr(ctx, tool, addr, err)
	}
	ps.CloseSend()
	return s.relay(ctx, tool, addr, ps, send)
}

// relay passes the provider's messages on until the result.
func (s *Server) relay(ctx context.Context, tool *registryv1.CatalogTool, addr string,
	ps providerStream, send func(*registryv1.CallToolResponse) error) error {
	for {
		msg, err := ps.Recv()
		if errors.Is(err, io.EOF) {
			return errorf(ErrProvider, "provider %q ended the call of tool %q without a result",
				tool.GetProvider(), tool.GetProviderToolName())
		}
		if err != nil {
			return s.providerErr(ctx, tool, addr, err)
		}
		// The result is the only message kind the caller's stream can carry
		// today; interim kinds a newer provider sends are skipped.
		result := msg.GetResult()
		if result == nil {
			continue
		}
		err = send(&registryv1.CallToolResponse{
			Message: &registryv1.CallToolResponse_Result{Result: result},
		})
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("send result: %w", err)
		}
		return nil
	}
}

// providerErr classifies an error from a provider's call stream.
func (s *Server) providerErr(ctx context.Context, tool *registryv1.CatalogTool, addr string,
	err error) error {
	name := tool.GetProvider()
	// The provider sees the deadline too, and its answer can beat the
	// local timer; once the deadline passed, the context ends at once.
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errCallTimeout) {
			return errorf(context.DeadlineExceeded, "tool %q got no result within %s",
				tool.GetTool().GetName(), s.cfg.CallTimeout)
		}
		return ctx.Err()
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument:
		return errorf(ErrInvalid, "%s", st.Message())
	case codes.NotFound:
		return errorf(ErrNotFound, "%s", st.Message())
	case codes.Unavailable:
		return errorf(ErrUnavailable, "provider %q at %s is unavailable: %s",
			name, addr, st.Message())
	case codes.DeadlineExceeded:
		return errorf(context.DeadlineExceeded, "provider %q: %s", name, st.Message())
	}
	return errorf(ErrProvider, "provider %q failed: %s: %s", name, st.Code(), st.Message())
}
