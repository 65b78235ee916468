package providertest

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// Serve serves a provider's gRPC API (such as provider.Service returns)
// on a loopback port until the test ends and returns a client for it.
func Serve(t testing.TB, svc providerv1.ProviderServiceServer) providerv1.ProviderServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer()
	providerv1.RegisterProviderServiceServer(s, svc)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return providerv1.NewProviderServiceClient(conn)
}

// Answerer answers a provider's request to the client, as a client
// would; a nil response leaves the request unanswered.
type Answerer func(*providerv1.ClientRequest) *providerv1.ClientResponse

// Call is what one tool call sent back.
type Call struct {
	// Messages holds every message before the result, in order:
	// notifications, requests to the client and stream closings.
	Messages []*providerv1.CallToolResponse
	// Result is the call's result.
	Result *providerv1.ToolResult
}

// Notifications returns the call's notifications with the given method.
func (c *Call) Notifications(method string) []*providerv1.Notification {
	var out []*providerv1.Notification
	for _, m := range c.Messages {
		if n := m.GetNotification(); n != nil && n.GetMethod() == method {
			out = append(out, n)
		}
	}
	return out
}

// Requests returns the call's requests to the client.
func (c *Call) Requests() []*providerv1.ClientRequest {
	var out []*providerv1.ClientRequest
	for _, m := range c.Messages {
		if r := m.GetRequest(); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// RunCall runs one tool call as the registry would: it sends start,
// answers each request to the client with answer (which may be nil when
// the tool asks nothing) and collects the messages up to the result. It
// returns the call's gRPC error when the provider refuses the call, and
// an error when the stream goes on after the result.
func RunCall(ctx context.Context, c providerv1.ProviderServiceClient,
	start *providerv1.CallToolStart, answer Answerer) (*Call, error) {
	stream, err := c.CallTool(ctx)
	if err != nil {
		return nil, err
	}
	msg := &providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{Start: start}}
	if err := stream.Send(msg); err != nil {
		return nil, err
	}
	call := &Call{}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return call, err
		}
		if call.Result = resp.GetResult(); call.Result != nil {
			break
		}
		call.Messages = append(call.Messages, resp)
		if req := resp.GetRequest(); req != nil && answer != nil {
			if err := respond(stream, answer(req)); err != nil {
				return call, err
			}
		}
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return call, errors.New("stream did not end after the result")
	}
	return call, nil
}

func respond(stream providerv1.ProviderService_CallToolClient,
	resp *providerv1.ClientResponse) error {
	if resp == nil {
		return nil
	}
	return stream.Send(&providerv1.CallToolRequest{
		Message: &providerv1.CallToolRequest_Response{Response: resp},
	})
}
