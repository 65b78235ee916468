package gateway

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

func TestRequestedTask(t *testing.T) {
	tests := []struct {
		params string
		task   string
		ok     bool
	}{
		{`{"name":"x"}`, "", false},
		{`{"name":"x","task":null}`, "", false},
		{`{"name":"x","task":{}}`, `{}`, true},
		{`{"name":"x","task":{"ttl":60000}}`, `{"ttl":60000}`, true},
		{`{"name":"x","task":5}`, `5`, true},
		{`[1]`, "", false},
	}
	for _, tt := range tests {
		task, ok := requestedTask(json.RawMessage(tt.params))
		if ok != tt.ok || string(task) != tt.task {
			t.Errorf("requestedTask(%s) = %s, %v; want %s, %v", tt.params, task, ok, tt.task, tt.ok)
		}
	}
}

func TestTaskTTL(t *testing.T) {
	tests := []struct {
		task string
		want *durationpb.Duration
		code int
	}{
		{`{}`, nil, 0},
		{`{"ttl":null}`, nil, 0},
		{`{"ttl":60000}`, durationpb.New(time.Minute), 0},
		{`{"ttl":0}`, durationpb.New(0), 0},
		{`{"ttl":99999999999999999}`, durationpb.New(maxTaskTTL * time.Millisecond), 0},
		{`{"ttl":-1}`, nil, codeInvalidParams},
		{`{"ttl":1.5}`, nil, codeInvalidParams},
		{`{"ttl":"60000"}`, nil, codeInvalidParams},
		{`5`, nil, codeInvalidParams},
	}
	for _, tt := range tests {
		got, err := taskTTL(json.RawMessage(tt.task))
		var rerr *rpcError
		switch {
		case tt.code != 0 && (!errors.As(err, &rerr) || rerr.Code != tt.code):
			t.Errorf("taskTTL(%s) error %v, want code %d", tt.task, err, tt.code)
		case tt.code == 0 && (err != nil || got.AsDuration() != tt.want.AsDuration() ||
			(got == nil) != (tt.want == nil)):
			t.Errorf("taskTTL(%s) = %v, %v; want %v", tt.task, got, err, tt.want)
		}
	}
}

func TestTaskErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		task int // code from taskError, 0 when it passes the error on
		call int // code from taskRefused, 0 when it maps nothing
	}{
		{"not found", status.Error(codes.NotFound, "no task"), codeInvalidParams, 0},
		{"terminal", status.Error(codes.FailedPrecondition, "done"), codeInvalidParams,
			codeMethodNotFound},
		{"unavailable", status.Error(codes.Unavailable, "down"), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rerr *rpcError
			got := taskError(tt.err)
			if tt.task == 0 && got != tt.err ||
				tt.task != 0 && (!errors.As(got, &rerr) || rerr.Code != tt.task) {
				t.Errorf("taskError = %v, want code %d", got, tt.task)
			}
			if r := taskRefused(tt.err); tt.call == 0 && r != nil ||
				tt.call != 0 && (r == nil || r.Code != tt.call) {
				t.Errorf("taskRefused = %v, want code %d", r, tt.call)
			}
		})
	}
}

func TestTaskJSON(t *testing.T) {
	at := time.Date(2025, 11, 25, 10, 30, 0, 123e6, time.FixedZone("x", 3600))
	task := taskFromProto(&registryv1.Task{TaskId: "T", Status: "working",
		CreateTime: timestamppb.New(at), UpdateTime: timestamppb.New(at.Add(time.Second)),
		Ttl: durationpb.New(time.Minute), PollInterval: durationpb.New(time.Second)})
	b, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"taskId":"T","status":"working","createdAt":"2025-11-25T09:30:00.123Z",` +
		`"lastUpdatedAt":"2025-11-25T09:30:01.123Z","ttl":60000,"pollInterval":1000}`
	if string(b) != want {
		t.Errorf("task JSON %s, want %s", b, want)
	}
}

func TestRequestID(t *testing.T) {
	tests := map[string]string{
		`{"jsonrpc":"2.0","id":"sb/a/b/1","method":"elicitation/create"}`: `"sb/a/b/1"`,
		`{"jsonrpc":"2.0","id":7,"method":"roots/list"}`:                  `7`,
		`{"jsonrpc":"2.0","method":"notifications/progress"}`:             ``,
		`{"jsonrpc":"2.0","id":7,"result":{}}`:                            ``,
		``:                                                                ``,
	}
	for msg, want := range tests {
		if got := requestID(msg); got != want {
			t.Errorf("requestID(%s) = %q, want %q", msg, got, want)
		}
	}
}
