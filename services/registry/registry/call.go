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

	"switchboard.dev/pkg/mcperr"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

type providerStream = grpc.BidiStreamingClient[providerv1.CallToolRequest,
	providerv1.CallToolResponse]

// noStream is what a provider's request to the client gets in a call
// bound to its RPC, which has no way to reach the client.
const noStream = "this call has no stream to the client"

// CallTool routes a call to the provider that owns the tool. Without a
// stream name the call is bound to the RPC; with one it runs detached and
// is logged to the session (see callStreamed).
func (s *Server) CallTool(req *registryv1.CallToolRequest,
	stream grpc.ServerStreamingServer[registryv1.CallToolResponse]) error {
	var err error
	if req.GetStream() == "" {
		err = s.call(stream.Context(), req, stream.Send)
	} else {
		err = s.callStreamed(stream.Context(), req, stream.Send)
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrProvider) {
		s.log.Warn("tool call failed", "tool", req.GetName(), "reason", err)
	}
	return s.toStatus("CallTool", err)
}

// call runs a call bound to the caller's context: a caller that cancels
// or goes away cancels the provider's work.
func (s *Server) call(ctx context.Context, req *registryv1.CallToolRequest,
	send func(*registryv1.CallToolResponse) error) error {
	if err := validateCall(req); err != nil {
		return err
	}
	tool, addr, client, release, err := s.route(ctx, req.GetName())
	if err != nil {
		return err
	}
	defer release()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, stop := context.WithTimeoutCause(ctx, s.cfg.CallTimeout, errCallTimeout)
	defer stop()
	// A call that names its request can be cancelled with CancelCall too.
	if key, _ := requestKey(req.GetRequestIdJson()); key != "" {
		c, err := s.calls.add(req.GetSessionId(), key, cancel, false)
		if err != nil {
			return err
		}
		defer s.calls.remove(c)
	}
	ps, err := s.open(ctx, client, tool, req)
	if err != nil {
		return s.providerErr(ctx, tool.GetProvider(), addr, toolWhat(tool), err)
	}
	return s.relay(ctx, tool, addr, ps, send)
}

// route finds the live tool with the exposed name, checks that it may be
// called without a task, and takes a connection to its provider; release
// gives the connection back.
func (s *Server) route(ctx context.Context, name string) (tool *registryv1.CatalogTool,
	addr string, client providerv1.ProviderServiceClient, release func(), err error) {
	tool, addr, err = s.store.Lookup(ctx, name)
	if err != nil {
		return nil, "", nil, nil, err
	}
	if err := checkTaskless(tool); err != nil {
		return nil, "", nil, nil, err
	}
	client, release, err = s.pool.acquire(addr)
	if err != nil {
		return nil, "", nil, nil, err
	}
	return tool, addr, client, release, nil
}

// open starts the provider's call stream and sends the call. The send
// side stays open for the answers to the provider's requests.
func (s *Server) open(ctx context.Context, client providerv1.ProviderServiceClient,
	tool *registryv1.CatalogTool, req *registryv1.CallToolRequest) (providerStream, error) {
	ps, err := client.CallTool(ctx)
	if err != nil {
		return nil, err
	}
	start := &providerv1.CallToolStart{
		Name:                   tool.GetProviderToolName(),
		ArgumentsJson:          req.GetArgumentsJson(),
		MetaJson:               req.GetMetaJson(),
		SessionId:              req.GetSessionId(),
		ClientCapabilitiesJson: req.GetClientCapabilitiesJson(),
		ProtocolVersion:        req.GetProtocolVersion(),
	}
	err = ps.Send(&providerv1.CallToolRequest{
		Message: &providerv1.CallToolRequest_Start{Start: start},
	})
	// io.EOF means the stream already ended; Recv reports why.
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return ps, nil
}

// relay passes the provider's result on. Notifications are dropped and
// requests to the client refused, since a bound call has no stream.
func (s *Server) relay(ctx context.Context, tool *registryv1.CatalogTool, addr string,
	ps providerStream, send func(*registryv1.CallToolResponse) error) error {
	for {
		msg, err := ps.Recv()
		if errors.Is(err, io.EOF) {
			return errNoResult(tool)
		}
		if err != nil {
			return s.providerErr(ctx, tool.GetProvider(), addr, toolWhat(tool), err)
		}
		if q := msg.GetRequest(); q != nil {
			answerProvider(ps, q.GetId(), "", errorObject(codeInternalError, noStream))
			continue
		}
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

// answerProvider sends a ClientResponse. A failed send means the stream
// broke, which the next Recv reports, so its error is dropped.
func answerProvider(ps providerStream, id int64, result, errJSON string) {
	ps.Send(&providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Response{
		Response: &providerv1.ClientResponse{Id: id, ResultJson: result, ErrorJson: errJSON},
	}})
}

func errNoResult(tool *registryv1.CatalogTool) error {
	return errorf(ErrProvider, "provider %q ended the call of tool %q without a result",
		tool.GetProvider(), tool.GetProviderToolName())
}

// toolWhat names a tool call in timeout messages.
func toolWhat(tool *registryv1.CatalogTool) string {
	return fmt.Sprintf("tool %q", tool.GetTool().GetName())
}

// providerErr classifies an error from a provider's RPC; what names the
// work in a timeout message, such as `tool "x__echo"`.
func (s *Server) providerErr(ctx context.Context, name, addr, what string, err error) error {
	// The provider sees the deadline too, and its answer can beat the
	// local timer; once the deadline passed, the context ends at once.
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errCallTimeout) {
			return errorf(context.DeadlineExceeded, "%s got no result within %s",
				what, s.cfg.CallTimeout)
		}
		return ctx.Err()
	}
	if e, ok := mcperr.From(err); ok {
		return fmt.Errorf("provider %q: %w", name, e)
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
