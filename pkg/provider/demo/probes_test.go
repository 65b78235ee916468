package demo_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// exchange starts a call and returns every message the provider sends
// until the stream ends, answering each request to the client with
// answer.
func exchange(ctx context.Context, t *testing.T, c providerv1.ProviderServiceClient,
	start *providerv1.CallToolStart,
	answer *providerv1.ClientResponse) []*providerv1.CallToolResponse {
	t.Helper()
	stream, err := c.CallTool(ctx)
	if err != nil {
		t.Fatalf("open call: %v", err)
	}
	err = stream.Send(&providerv1.CallToolRequest{
		Message: &providerv1.CallToolRequest_Start{Start: start}})
	if err != nil {
		t.Fatalf("send start: %v", err)
	}
	var got []*providerv1.CallToolResponse
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		got = append(got, msg)
		if req := msg.GetRequest(); req != nil && answer != nil {
			answer.Id = req.GetId()
			err := stream.Send(&providerv1.CallToolRequest{
				Message: &providerv1.CallToolRequest_Response{Response: answer}})
			if err != nil {
				t.Fatalf("send answer: %v", err)
			}
		}
	}
}

func notification(method, params string) *providerv1.CallToolResponse {
	return &providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Notification{
		Notification: &providerv1.Notification{Method: method, ParamsJson: params}}}
}

func result(r *providerv1.ToolResult) *providerv1.CallToolResponse {
	return &providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Result{Result: r}}
}

func TestProbes(t *testing.T) {
	c := client(t)
	const meta = `{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",` +
		`"progressToken":9007199254740993}`
	tests := []struct {
		name   string
		start  *providerv1.CallToolStart
		answer *providerv1.ClientResponse
		want   []*providerv1.CallToolResponse
	}{
		{"meta echoed verbatim", &providerv1.CallToolStart{Name: "meta", ArgumentsJson: `{}`,
			MetaJson: meta},
			nil, []*providerv1.CallToolResponse{result(&providerv1.ToolResult{
				ContentJson: text(meta), MetaJson: meta})}},
		{"meta absent", &providerv1.CallToolStart{Name: "meta", ArgumentsJson: `{}`}, nil,
			[]*providerv1.CallToolResponse{result(&providerv1.ToolResult{ContentJson: text("null")})}},
		{"link", &providerv1.CallToolStart{Name: "link", ArgumentsJson: `{"uri":"demo://x"}`}, nil,
			[]*providerv1.CallToolResponse{result(&providerv1.ToolResult{ContentJson: `[{"type":` +
				`"resource_link","uri":"demo://x","name":"linked","mimeType":"text/plain"}]`})}},
		{"count with progress", &providerv1.CallToolStart{Name: "count",
			ArgumentsJson: `{"steps":2,"ms":1}`, MetaJson: `{"progressToken":"p"}`}, nil,
			[]*providerv1.CallToolResponse{
				notification("notifications/progress",
					`{"progressToken":"p","progress":1,"total":2,"message":"step 1 of 2"}`),
				notification("notifications/progress",
					`{"progressToken":"p","progress":2,"total":2,"message":"step 2 of 2"}`),
				result(&providerv1.ToolResult{ContentJson: text("counted 2")}),
			}},
		{"count without a token", &providerv1.CallToolStart{Name: "count",
			ArgumentsJson: `{"steps":1,"ms":0}`}, nil,
			[]*providerv1.CallToolResponse{result(&providerv1.ToolResult{ContentJson: text("counted 1")})}},
		{"count out of range", &providerv1.CallToolStart{Name: "count",
			ArgumentsJson: `{"steps":1001,"ms":0}`}, nil,
			[]*providerv1.CallToolResponse{result(failed("steps must be 1 to 1000 and ms 0 to 60000"))}},
		{"log", &providerv1.CallToolStart{Name: "log", ArgumentsJson: `{}`}, nil, logged()},
		{"roots", &providerv1.CallToolStart{Name: "roots", ArgumentsJson: `{}`},
			&providerv1.ClientResponse{ResultJson: `{"roots":[{"uri":"file:///w","name":"w"}]}`},
			[]*providerv1.CallToolResponse{
				{Message: &providerv1.CallToolResponse_Request{Request: &providerv1.ClientRequest{
					Id: 1, Method: "roots/list", ParamsJson: `{}`}}},
				result(&providerv1.ToolResult{ContentJson: text(`[{"uri":"file:///w","name":"w"}]`)}),
			}},
		{"roots refused", &providerv1.CallToolStart{Name: "roots", ArgumentsJson: `{}`},
			&providerv1.ClientResponse{ErrorJson: `{"code":-32603,"message":"no roots"}`},
			[]*providerv1.CallToolResponse{
				{Message: &providerv1.CallToolResponse_Request{Request: &providerv1.ClientRequest{
					Id: 1, Method: "roots/list", ParamsJson: `{}`}}},
				result(failed("roots/list failed: client error -32603: no roots")),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exchange(t.Context(), t, c, tt.start, tt.answer)
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// logged is what the log tool sends: a message per level, then its result.
func logged() []*providerv1.CallToolResponse {
	var out []*providerv1.CallToolResponse
	for _, l := range []string{"debug", "info", "notice", "warning", "error", "critical", "alert",
		"emergency"} {
		out = append(out, notification("notifications/message",
			`{"level":"`+l+`","logger":"demo","data":{"level":"`+l+`"}}`))
	}
	return append(out, result(&providerv1.ToolResult{ContentJson: text("logged 8 messages")}))
}

func TestCountCancelled(t *testing.T) {
	c := client(t)
	cancelled := func(key string) string {
		t.Helper()
		res, err := call(t.Context(), c, "cancelled", `{"key":"`+key+`"}`)
		if err != nil {
			t.Fatalf("cancelled: %v", err)
		}
		return res.GetStructuredContentJson()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := call(ctx, c, "count", `{"steps":1000,"ms":60000,"key":"k1"}`); err == nil {
		t.Fatal("count ended without its caller's deadline")
	}
	// The handler sees the cancellation after the caller does.
	deadline := time.Now().Add(10 * time.Second)
	for cancelled("k1") != `{"cancelled":true}` && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := cancelled("k1"); got != `{"cancelled":true}` {
		t.Errorf("cancelled k1 = %s, want true", got)
	}
	if got := cancelled("k2"); got != `{"cancelled":false}` {
		t.Errorf("cancelled k2 = %s, want false", got)
	}
}
