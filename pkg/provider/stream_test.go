package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// streamed serves a provider with one raw tool, h, and returns a client.
func streamed(t *testing.T, h provider.Handler) providerv1.ProviderServiceClient {
	t.Helper()
	p := provider.New("test", nil)
	p.AddTool(provider.Tool{Name: "t"}, h)
	return providertest.Serve(t, p.Service())
}

func runCall(t *testing.T, c providerv1.ProviderServiceClient, start *providerv1.CallToolStart,
	answer providertest.Answerer) *providertest.Call {
	t.Helper()
	call, err := providertest.RunCall(t.Context(), c, start, answer)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	return call
}

func notification(method, params string) *providerv1.CallToolResponse {
	return &providerv1.CallToolResponse{Message: &providerv1.CallToolResponse_Notification{
		Notification: &providerv1.Notification{Method: method, ParamsJson: params},
	}}
}

func TestProgress(t *testing.T) {
	c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		for _, step := range []struct {
			p, total float64
			msg      string
		}{{0, 100, "start"}, {50.5, 100, ""}, {3, 0, "unknown total"}} {
			if err := req.Progress(ctx, step.p, step.total, step.msg); err != nil {
				return nil, err
			}
		}
		return provider.Text(string(req.ProgressToken())), nil
	})
	tests := []struct {
		name  string
		meta  string
		token string // as it must reach the client; empty for none
	}{
		{"string token", `{"progressToken": "progress-test-1"}`, `"progress-test-1"`},
		{"integer token", `{"progressToken": 7}`, `7`},
		{"big integer token", `{"progressToken": 123456789012345678901234567890}`,
			`123456789012345678901234567890`},
		{"token with escapes", `{"progressToken": "a\u00e9\"b"}`, `"a\u00e9\"b"`},
		{"no token", `{"other": 1}`, ""},
		{"null token", `{"progressToken": null}`, ""},
		{"no meta", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := runCall(t, c, &providerv1.CallToolStart{Name: "t", MetaJson: tt.meta}, nil)
			var want []*providerv1.CallToolResponse
			if tt.token != "" {
				want = []*providerv1.CallToolResponse{
					notification("notifications/progress",
						`{"progressToken":`+tt.token+`,"progress":0,"total":100,"message":"start"}`),
					notification("notifications/progress",
						`{"progressToken":`+tt.token+`,"progress":50.5,"total":100}`),
					notification("notifications/progress",
						`{"progressToken":`+tt.token+`,"progress":3,"message":"unknown total"}`),
				}
			}
			if diff := cmp.Diff(want, call.Messages, protocmp.Transform()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(text(tt.token), call.Result.GetContentJson()); diff != "" {
				t.Errorf("ProgressToken (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLog(t *testing.T) {
	tests := []struct {
		name       string
		level      provider.LogLevel
		logger     string
		data       any
		wantParams string
		wantErr    string
	}{
		{"string", provider.LogInfo, "", "started",
			`{"level":"info","data":"started"}`, ""},
		{"object with logger", provider.LogWarning, "db", map[string]int{"retries": 3},
			`{"level":"warning","logger":"db","data":{"retries":3}}`, ""},
		{"raw JSON kept exact", provider.LogDebug, "",
			json.RawMessage(`{"n": 18446744073709551617}`),
			`{"level":"debug","data":{"n":18446744073709551617}}`, ""},
		{"text with markup", provider.LogEmergency, "", "a < b & c",
			`{"level":"emergency","data":"a < b & c"}`, ""},
		{"unknown level", "verbose", "", "x", "", "unknown level"},
		{"data that is not JSON", provider.LogInfo, "", func() {}, "", "unsupported type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
				if err := req.Log(ctx, tt.level, tt.logger, tt.data); err != nil {
					return provider.Errorf("%v", err), nil
				}
				return provider.Text("ok"), nil
			})
			call := runCall(t, c, &providerv1.CallToolStart{Name: "t"}, nil)
			if tt.wantErr != "" {
				got := call.Result.GetContentJson()
				if !strings.Contains(got, tt.wantErr) || len(call.Messages) > 0 {
					t.Errorf("result %v after %d messages, want an error containing %q",
						call.Result, len(call.Messages), tt.wantErr)
				}
				return
			}
			want := []*providerv1.CallToolResponse{
				notification("notifications/message", tt.wantParams),
			}
			if diff := cmp.Diff(want, call.Messages, protocmp.Transform()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequestRoundTrip has a tool ask the client three things at once;
// the answers arrive in the opposite order, and each reaches the
// goroutine that asked.
func TestRequestRoundTrip(t *testing.T) {
	c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		methods := []string{"sampling/createMessage", "elicitation/create", "roots/list"}
		answers := make([]string, len(methods))
		var wg sync.WaitGroup
		for i, m := range methods {
			wg.Go(func() {
				res, err := req.Request(ctx, m, map[string]int{"i": i})
				answers[i] = fmt.Sprintf("%s=%s", m, res)
				var ce *provider.ClientError
				if errors.As(err, &ce) {
					answers[i] = fmt.Sprintf("%s failed %d %s %s", m, ce.Code, ce.Message, ce.Data)
				}
			})
		}
		wg.Wait()
		return provider.Text(strings.Join(answers, "; ")), nil
	})

	stream, err := c.CallTool(t.Context())
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	send(t, stream, &providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
		Start: &providerv1.CallToolStart{Name: "t"},
	}})
	reqs := make(map[string]*providerv1.ClientRequest)
	for range 3 {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("receive request: %v", err)
		}
		r := msg.GetRequest()
		reqs[r.GetMethod()] = r
	}
	ids := map[int64]bool{}
	for _, r := range reqs {
		ids[r.GetId()] = true
	}
	if len(ids) != 3 {
		t.Fatalf("request ids %v are not distinct", ids)
	}
	answer(t, stream, reqs["roots/list"].GetId(), `{"roots":[]}`, "")
	answer(t, stream, reqs["elicitation/create"].GetId(), "",
		`{"code":-32603,"message":"client does not support elicitation","data":{"x":1}}`)
	answer(t, stream, reqs["sampling/createMessage"].GetId(), "", "")

	res, err := stream.Recv()
	if err != nil {
		t.Fatalf("receive result: %v", err)
	}
	want := text(`sampling/createMessage={}; ` +
		`elicitation/create failed -32603 client does not support elicitation {"x":1}; ` +
		`roots/list={"roots":[]}`)
	if diff := cmp.Diff(want, res.GetResult().GetContentJson()); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(`{"i":0}`, reqs["sampling/createMessage"].GetParamsJson()); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
}

type callClient = providerv1.ProviderService_CallToolClient

func send(t *testing.T, stream callClient, msg *providerv1.CallToolRequest) {
	t.Helper()
	if err := stream.Send(msg); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func answer(t *testing.T, stream callClient, id int64, result, errJSON string) {
	t.Helper()
	send(t, stream, &providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Response{
		Response: &providerv1.ClientResponse{Id: id, ResultJson: result, ErrorJson: errJSON},
	}})
}

func TestTypedRequests(t *testing.T) {
	c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		s, err := req.CreateMessage(ctx, map[string]any{"maxTokens": 10})
		if err != nil {
			return nil, err
		}
		e, err := req.Elicit(ctx, json.RawMessage(`{"message": "name?"}`))
		if err != nil {
			return nil, err
		}
		roots, err := req.ListRoots(ctx)
		if err != nil {
			return nil, err
		}
		return provider.Text(fmt.Sprintf("%s %s %s %s | %s %s | %v",
			s.Role, s.Content, s.Model, s.StopReason, e.Action, e.Content, roots)), nil
	})
	answers := map[string]string{
		"sampling/createMessage": `{"role":"assistant","content":{"type":"text","text":"hi"},` +
			`"model":"m","stopReason":"endTurn"}`,
		"elicitation/create": `{"action":"accept","content":{"name":"Ada","n":12345678901234567890}}`,
		"roots/list":         `{"roots":[{"uri":"file:///src","name":"src"},{"uri":"file:///tmp"}]}`,
	}
	var params []string
	call := runCall(t, c, &providerv1.CallToolStart{Name: "t"},
		func(r *providerv1.ClientRequest) *providerv1.ClientResponse {
			params = append(params, r.GetMethod()+" "+r.GetParamsJson())
			return &providerv1.ClientResponse{Id: r.GetId(), ResultJson: answers[r.GetMethod()]}
		})
	want := text(`assistant {"type":"text","text":"hi"} m endTurn | ` +
		`accept {"name":"Ada","n":12345678901234567890} | [{file:///src src} {file:///tmp }]`)
	if diff := cmp.Diff(want, call.Result.GetContentJson()); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	wantParams := []string{
		`sampling/createMessage {"maxTokens":10}`,
		`elicitation/create {"message":"name?"}`,
		`roots/list {}`,
	}
	if diff := cmp.Diff(wantParams, params); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestRequestContextCancel checks that a handler stops waiting for an
// answer when its context ends, and that a late answer is dropped.
func TestRequestContextCancel(t *testing.T) {
	c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		wait, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err := req.Request(wait, "roots/list", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			return provider.Errorf("first request: %v", err), nil
		}
		res, err := req.Request(ctx, "roots/list", nil)
		if err != nil {
			return nil, err
		}
		return provider.Text(string(res)), nil
	})
	stream, err := c.CallTool(t.Context())
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	send(t, stream, &providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
		Start: &providerv1.CallToolStart{Name: "t"},
	}})
	var ids []int64
	for range 2 {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("receive request: %v", err)
		}
		ids = append(ids, msg.GetRequest().GetId())
	}
	// The first request was given up on before the second was sent: its
	// late answer must not be taken for the second's.
	answer(t, stream, ids[0], `{"late":true}`, "")
	answer(t, stream, ids[1], `{}`, "")
	res, err := stream.Recv()
	if err != nil || res.GetResult().GetContentJson() != text("{}") {
		t.Errorf("result = %v, %v; want the second request's answer", res, err)
	}
}

func TestRequestAfterCallerCancels(t *testing.T) {
	errc := make(chan error, 1)
	c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		_, err := req.Request(ctx, "roots/list", nil)
		errc <- err
		return nil, err
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := c.CallTool(ctx)
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	send(t, stream, &providerv1.CallToolRequest{Message: &providerv1.CallToolRequest_Start{
		Start: &providerv1.CallToolStart{Name: "t"},
	}})
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("receive request: %v", err)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) && !errors.Is(err, provider.ErrCallEnded) {
			t.Errorf("pending request = %v, want Canceled or ErrCallEnded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending request not released by the cancelled call")
	}
}

// TestRequestAfterHalfClose checks that a request fails at once when the
// caller has closed its side of the stream, so no answer can arrive.
func TestRequestAfterHalfClose(t *testing.T) {
	c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		// Wait until the receive side has seen the half-close.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			wait, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			_, err := req.Request(wait, "roots/list", nil)
			cancel()
			if errors.Is(err, provider.ErrCallEnded) {
				return provider.Text("ended"), nil
			}
		}
		return provider.Errorf("requests kept waiting"), nil
	})
	stream, err := c.CallTool(t.Context())
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	send(t, stream, start("t", ""))
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if res := msg.GetResult(); res != nil {
			if res.GetContentJson() != text("ended") {
				t.Errorf("result = %v, want ended", res)
			}
			return
		}
	}
}

func TestCloseStream(t *testing.T) {
	c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		for _, d := range []time.Duration{1500 * time.Millisecond, 0, time.Microsecond} {
			if err := req.CloseStream(ctx, d); err != nil {
				return nil, err
			}
		}
		return provider.Text("done"), nil
	})
	call := runCall(t, c, &providerv1.CallToolStart{Name: "t"}, nil)
	var got []int64
	for _, m := range call.Messages {
		got = append(got, m.GetCloseStream().GetRetryMs())
	}
	if diff := cmp.Diff([]int64{1500, 0, 1}, got); diff != "" {
		t.Errorf("retry hints (-want +got):\n%s", diff)
	}
}

// TestNothingAfterResult checks that a goroutine outliving its handler
// cannot send after the result.
func TestNothingAfterResult(t *testing.T) {
	reqs := make(chan *provider.Request, 1)
	c := streamed(t, func(ctx context.Context, req *provider.Request) (*provider.Result, error) {
		reqs <- req
		return provider.Text("done"), nil
	})
	runCall(t, c, &providerv1.CallToolStart{Name: "t", MetaJson: `{"progressToken":1}`}, nil)
	req := <-reqs
	ctx := t.Context()
	for name, err := range map[string]error{
		"progress": req.Progress(ctx, 1, 2, ""),
		"log":      req.Log(ctx, provider.LogInfo, "", "late"),
		"close":    req.CloseStream(ctx, 0),
		"request":  func() error { _, err := req.Request(ctx, "roots/list", nil); return err }(),
	} {
		if !errors.Is(err, provider.ErrCallEnded) {
			t.Errorf("%s after the result = %v, want ErrCallEnded", name, err)
		}
	}
}

func TestRequestInputs(t *testing.T) {
	type view struct {
		Caps     string
		Version  string
		Sampling bool
		Roots    bool
		FromCtx  bool
	}
	got := make(chan view, 1)
	p := provider.New("test", nil)
	provider.AddFunc(p, "typed", "", func(ctx context.Context, _ struct{}) (string, error) {
		req := provider.RequestFromContext(ctx)
		got <- view{string(req.ClientCapabilities), req.ProtocolVersion,
			req.ClientSupports("sampling"), req.ClientSupports("roots"), req.Name == "typed"}
		return "", nil
	})
	c := providertest.Serve(t, p.Service())
	runCall(t, c, &providerv1.CallToolStart{
		Name:                   "typed",
		ClientCapabilitiesJson: `{"sampling":{},"roots":null}`,
		ProtocolVersion:        "2025-11-25",
	}, nil)
	want := view{`{"sampling":{},"roots":null}`, "2025-11-25", true, false, true}
	if diff := cmp.Diff(want, <-got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}

	_, err := providertest.RunCall(t.Context(), c, &providerv1.CallToolStart{
		Name: "typed", ClientCapabilitiesJson: "{",
	}, nil)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed capabilities: %v, want InvalidArgument", err)
	}
}

func TestNoStream(t *testing.T) {
	ctx := t.Context()
	var nilReq *provider.Request
	if nilReq = provider.RequestFromContext(ctx); nilReq != nil {
		t.Fatalf("RequestFromContext outside a call = %v, want nil", nilReq)
	}
	bare := &provider.Request{Meta: json.RawMessage(`{"progressToken":1}`)}
	for _, req := range []*provider.Request{nilReq, bare} {
		errs := []error{
			req.Log(ctx, provider.LogInfo, "", "x"),
			req.CloseStream(ctx, 0),
		}
		if req != nil {
			// A nil request has no progress token, so Progress is a no-op.
			errs = append(errs, req.Progress(ctx, 1, 1, ""))
		}
		_, err := req.Request(ctx, "roots/list", nil)
		errs = append(errs, err)
		for i, err := range errs {
			if !errors.Is(err, provider.ErrNoStream) {
				t.Errorf("method %d without a stream = %v, want ErrNoStream", i, err)
			}
		}
	}
	if nilReq.ClientSupports("sampling") || nilReq.ProgressToken() != nil {
		t.Error("a nil request reports capabilities or a progress token")
	}
}
