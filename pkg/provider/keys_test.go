package provider_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchboard.dev/pkg/provider"
	"switchboard.dev/pkg/provider/providertest"
	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// TestRequestKeys checks that a request's key reaches the caller in
// ClientRequest.key, and which keys a call may use.
func TestRequestKeys(t *testing.T) {
	ask := map[string]func(ctx context.Context, r *provider.Request, key string) error{
		"request": func(ctx context.Context, r *provider.Request, key string) error {
			_, err := r.RequestWith(ctx, "ping", nil, provider.RequestOptions{Key: key})
			return err
		},
		"elicit": func(ctx context.Context, r *provider.Request, key string) error {
			_, err := r.ElicitAs(ctx, key, map[string]string{"message": "Name?"})
			return err
		},
		"sample": func(ctx context.Context, r *provider.Request, key string) error {
			_, err := r.CreateMessageAs(ctx, key, map[string]int{"maxTokens": 5})
			return err
		},
		"roots": func(ctx context.Context, r *provider.Request, key string) error {
			_, err := r.ListRootsAs(ctx, key)
			return err
		},
	}
	long := strings.Repeat("k", provider.MaxKeyLen)
	tests := []struct {
		name, how string
		keys      []string
		// wantKeys are the keys the caller sees; wantErr, the error of
		// the last request, is the call's isError text when set.
		wantKeys []string
		wantErr  string
	}{
		{name: "unnamed", how: "request", keys: []string{"", ""}, wantKeys: []string{"", ""}},
		{name: "named", how: "elicit", keys: []string{"user_name"}, wantKeys: []string{"user_name"}},
		{name: "sampling", how: "sample", keys: []string{"capital"}, wantKeys: []string{"capital"}},
		{name: "roots", how: "roots", keys: []string{"client_roots"},
			wantKeys: []string{"client_roots"}},
		{name: "several", how: "request", keys: []string{"a", "", "b", ""},
			wantKeys: []string{"a", "", "b", ""}},
		{name: "longest", how: "request", keys: []string{long}, wantKeys: []string{long}},
		{name: "reused", how: "elicit", keys: []string{"step", "step"},
			wantKeys: []string{"step"}, wantErr: provider.ErrDuplicateKey.Error()},
		{name: "too long", how: "request", keys: []string{long + "k"},
			wantErr: "request key: longer than 128 bytes"},
		{name: "not UTF-8", how: "request", keys: []string{"\xff"},
			wantErr: "request key: not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provider.New("keys", nil)
			p.AddTool(provider.Tool{Name: "ask"},
				func(ctx context.Context, r *provider.Request) (*provider.Result, error) {
					for _, key := range tt.keys {
						if err := ask[tt.how](ctx, r, key); err != nil {
							return nil, err
						}
					}
					return provider.Text("done"), nil
				})
			answer := func(q *providerv1.ClientRequest) *providerv1.ClientResponse {
				return &providerv1.ClientResponse{Id: q.GetId(),
					ResultJson: `{"action":"accept","roots":[],"content":{"type":"text"}}`}
			}
			call, err := providertest.RunCall(t.Context(), serve(t, p),
				&providerv1.CallToolStart{Name: "ask"}, answer)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			var keys []string
			for _, q := range call.Requests() {
				keys = append(keys, q.GetKey())
			}
			if diff := cmp.Diff(tt.wantKeys, keys); diff != "" {
				t.Errorf("keys sent (-want +got):\n%s", diff)
			}
			got := call.Result.GetContentJson()
			if tt.wantErr == "" && (call.Result.GetIsError() || got != text("done")) {
				t.Errorf("result %s, want done", got)
			}
			if tt.wantErr != "" && (!call.Result.GetIsError() || !strings.Contains(got, tt.wantErr)) {
				t.Errorf("result %s, want an error holding %q", got, tt.wantErr)
			}
		})
	}
}

// TestRequestKeyWithoutStream checks that a bad key is reported before
// the missing stream, so that a handler's unit test sees it.
func TestRequestKeyWithoutStream(t *testing.T) {
	var r provider.Request
	long := strings.Repeat("k", provider.MaxKeyLen+1)
	_, err := r.RequestWith(t.Context(), "ping", nil, provider.RequestOptions{Key: long})
	if err == nil || errors.Is(err, provider.ErrNoStream) {
		t.Errorf("RequestWith with a long key: %v, want a key error", err)
	}
	if _, err := r.ElicitAs(t.Context(), "k", nil); !errors.Is(err, provider.ErrNoStream) {
		t.Errorf("ElicitAs outside a call: %v, want ErrNoStream", err)
	}
}
