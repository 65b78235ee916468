package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

func TestSlowReport(t *testing.T) {
	c := client(t)
	resp, err := c.Describe(t.Context(), &providerv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	for _, tool := range resp.GetTools() {
		want := ""
		if tool.GetName() == "slow_report" {
			want = `{"taskSupport":"optional"}`
		}
		if tool.GetExecutionJson() != want {
			t.Errorf("%s execution = %q, want %q", tool.GetName(), tool.GetExecutionJson(), want)
		}
	}

	tests := []struct {
		name, tool, args string
		want             *providerv1.ToolResult
	}{
		{"unknown key", "report_status", `{"key":"k"}`, structured(`{"state":"unknown"}`)},
		{"report", "slow_report", `{"steps":3,"ms":1,"key":"k"}`,
			&providerv1.ToolResult{ContentJson: text("report ready: 3 sections")}},
		{"done", "report_status", `{"key":"k"}`, structured(`{"state":"done"}`)},
		{"too many steps", "slow_report", `{"steps":1001,"ms":1}`,
			failed("steps must be 1 to 1000 and ms 0 to 60000")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := call(t.Context(), c, tc.tool, tc.args)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSlowReportCancelled(t *testing.T) {
	c := client(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := call(ctx, c, "slow_report", `{"steps":1000,"ms":60000,"key":"c"}`); err == nil {
		t.Fatal("a report of 1000 minutes ended before the caller's deadline")
	}
	// The handler notices the cancellation after the call already ended.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := call(t.Context(), c, "report_status", `{"key":"c"}`)
		if err != nil {
			t.Fatalf("report_status: %v", err)
		}
		if got.GetStructuredContentJson() == `{"state":"cancelled"}` {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("report state %s, want cancelled", got.GetStructuredContentJson())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSlowReportConfirm(t *testing.T) {
	c := client(t)
	for _, tc := range []struct{ action, want, state string }{
		{"accept", "report ready: 1 sections", "done"},
		{"decline", "report declined", "declined"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			stream, err := c.CallTool(t.Context())
			if err != nil {
				t.Fatalf("open call: %v", err)
			}
			args := `{"steps":1,"ms":0,"confirm":true,"key":"` + tc.action + `"}`
			err = stream.Send(&providerv1.CallToolRequest{
				Message: &providerv1.CallToolRequest_Start{Start: &providerv1.CallToolStart{
					Name: "slow_report", ArgumentsJson: args}}})
			if err != nil {
				t.Fatalf("send start: %v", err)
			}
			msg, err := stream.Recv()
			if err != nil || msg.GetRequest().GetMethod() != "elicitation/create" {
				t.Fatalf("first message %v, %v; want elicitation/create", msg, err)
			}
			err = stream.Send(&providerv1.CallToolRequest{
				Message: &providerv1.CallToolRequest_Response{Response: &providerv1.ClientResponse{
					Id: msg.GetRequest().GetId(), ResultJson: `{"action":"` + tc.action + `"}`}}})
			if err != nil {
				t.Fatalf("send answer: %v", err)
			}
			msg, err = stream.Recv()
			if err != nil || msg.GetResult().GetContentJson() != text(tc.want) {
				t.Fatalf("result %v, %v; want %q", msg, err, tc.want)
			}
			got, err := call(t.Context(), c, "report_status", `{"key":"`+tc.action+`"}`)
			if err != nil || got.GetStructuredContentJson() != `{"state":"`+tc.state+`"}` {
				t.Errorf("report_status %v, %v; want %s", got, err, tc.state)
			}
		})
	}
}
