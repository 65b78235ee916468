package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	providerv1 "switchboard.dev/proto/switchboard/provider/v1"
)

// Request is one tool call. Besides the call's inputs it carries the means
// to talk to the client while the tool runs: notifications (Progress, Log,
// Notify), requests that wait for the client's answer (CreateMessage,
// Elicit, ListRoots, Request) and CloseStream. These methods are safe for
// concurrent use and fail with ErrCallEnded once the result is sent.
type Request struct {
	// Name is the tool's name inside the provider.
	Name string
	// Arguments is the arguments object exactly as the caller sent it;
	// never empty, and already checked against the input schema.
	Arguments json.RawMessage
	// Meta is the request's _meta object, or nil.
	Meta json.RawMessage
	// SessionID identifies the client session, or is empty.
	SessionID string
	// ClientCapabilities is the client's MCP ClientCapabilities object,
	// or nil when the caller did not pass it.
	ClientCapabilities json.RawMessage
	// ProtocolVersion is the MCP revision the client speaks, such as
	// "2025-11-25", or empty when the caller did not say.
	ProtocolVersion string

	// x is the call's stream; nil for a Request built outside a call.
	x *exchange
}

var (
	// ErrCallEnded is returned by a Request's methods when the call's
	// stream can carry no more such messages: the result was sent, the
	// call was cancelled, or (for requests to the client) the caller
	// closed its side of the stream so that no answer can arrive.
	ErrCallEnded = errors.New("provider: tool call has ended")
	// ErrNoStream is returned by a Request's methods when the Request was
	// not made by the provider for a call, as in a unit test that calls a
	// handler directly, or is nil, as RequestFromContext returns outside a
	// call.
	ErrNoStream = errors.New("provider: request has no call stream")
)

type requestKey struct{}

// RequestFromContext returns the tool call that ctx belongs to, so that a
// typed handler (see AddFunc) can report progress or ask the client. It
// returns nil outside a tool call.
func RequestFromContext(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// ProgressToken returns the client's _meta.progressToken exactly as sent
// (a JSON string or number), or nil when the client asked for no
// progress.
func (r *Request) ProgressToken() json.RawMessage {
	var meta struct {
		ProgressToken json.RawMessage `json:"progressToken"`
	}
	if r == nil || len(r.Meta) == 0 || json.Unmarshal(r.Meta, &meta) != nil {
		return nil
	}
	if len(meta.ProgressToken) == 0 || string(meta.ProgressToken) == "null" {
		return nil
	}
	return meta.ProgressToken
}

// Progress sends notifications/progress for this call, carrying the
// client's progress token verbatim. It does nothing when the client sent
// no token. A total of zero or less means the total is unknown; an empty
// message means none. Progress should increase with every call.
func (r *Request) Progress(ctx context.Context, progress, total float64, message string) error {
	token := r.ProgressToken()
	if token == nil {
		return nil
	}
	return r.Notify(ctx, "notifications/progress", struct {
		ProgressToken json.RawMessage `json:"progressToken"`
		Progress      float64         `json:"progress"`
		Total         float64         `json:"total,omitempty"`
		Message       string          `json:"message,omitempty"`
	}{token, progress, max(total, 0), message})
}

// LogLevel is an MCP logging level: an RFC 5424 severity.
type LogLevel string

// The MCP logging levels, from the least to the most severe.
const (
	LogDebug     LogLevel = "debug"
	LogInfo      LogLevel = "info"
	LogNotice    LogLevel = "notice"
	LogWarning   LogLevel = "warning"
	LogError     LogLevel = "error"
	LogCritical  LogLevel = "critical"
	LogAlert     LogLevel = "alert"
	LogEmergency LogLevel = "emergency"
)

func (l LogLevel) valid() bool {
	switch l {
	case LogDebug, LogInfo, LogNotice, LogWarning, LogError, LogCritical, LogAlert, LogEmergency:
		return true
	}
	return false
}

// Log sends notifications/message to the client. The registry drops
// messages below the level the client chose with logging/setLevel. The
// logger names the source and may be empty; data is any value that
// encodes as JSON, such as a string or a map (a json.RawMessage is sent
// verbatim). Log messages must hold no secrets.
func (r *Request) Log(ctx context.Context, level LogLevel, logger string, data any) error {
	if !level.valid() {
		return fmt.Errorf("log: unknown level %q", level)
	}
	return r.Notify(ctx, "notifications/message", struct {
		Level  LogLevel `json:"level"`
		Logger string   `json:"logger,omitempty"`
		Data   any      `json:"data"`
	}{level, logger, data})
}

// Notify sends a JSON-RPC notification about this call to the client.
// Params is any value that encodes as a JSON object; nil means {}.
func (r *Request) Notify(ctx context.Context, method string, params any) error {
	p, err := encodeParams(params)
	if err != nil {
		return fmt.Errorf("notify %s: %w", method, err)
	}
	if r == nil || r.x == nil {
		return ErrNoStream
	}
	return r.x.send(ctx, &providerv1.CallToolResponse{
		Message: &providerv1.CallToolResponse_Notification{
			Notification: &providerv1.Notification{Method: method, ParamsJson: p},
		},
	})
}

// Request sends a JSON-RPC request to the client, such as
// "sampling/createMessage", and waits until the client answers or ctx
// ends. Params is any value that encodes as a JSON object; nil means {}.
// It returns the result object verbatim; an error answer is returned as a
// *ClientError. The registry answers for a client that lacks the
// capability the method needs, with a *ClientError too.
func (r *Request) Request(ctx context.Context, method string, params any) (json.RawMessage, error) {
	return r.RequestWith(ctx, method, params, RequestOptions{})
}

// MaxKeyLen is the longest key a request to the client may have, in
// bytes.
const MaxKeyLen = 128

// ErrDuplicateKey is returned by a Request's methods when a call names a
// second request to the client with a key it already used.
var ErrDuplicateKey = errors.New("provider: request key already used in this call")

// RequestOptions tunes one request to the client.
type RequestOptions struct {
	// Key names the request when the gateway turns it into one of the
	// inputRequests of an input_required result, as it does for a client
	// of the stateless generation (2026-07-28): the client answers it
	// under this name, in this round or, for a client that already knows
	// the name, in the call's first request. Empty lets Switchboard choose
	// a name. A key is at most MaxKeyLen bytes of UTF-8 and names one
	// request per call: a question asked again needs a new key. Clients of
	// the session-based revisions never see it.
	Key string
}

// RequestWith is Request with options, such as a key that names the
// request for stateless clients.
func (r *Request) RequestWith(ctx context.Context, method string, params any,
	opts RequestOptions) (json.RawMessage, error) {
	p, err := encodeParams(params)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", method, err)
	}
	if err := checkKey(opts.Key); err != nil {
		return nil, fmt.Errorf("request %s: %w", method, err)
	}
	if r == nil || r.x == nil {
		return nil, ErrNoStream
	}
	return r.x.request(ctx, method, p, opts.Key)
}

// checkKey checks a request key's form; its uniqueness is checked when
// the request is sent.
func checkKey(key string) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("request key: longer than %d bytes", MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return errors.New("request key: not valid UTF-8")
	}
	return nil
}

// SamplingResult is the client's answer to sampling/createMessage.
type SamplingResult struct {
	// Role is the role of the generated message, normally "assistant".
	Role string `json:"role"`
	// Content is the generated content: one content block, or an array
	// of them.
	Content json.RawMessage `json:"content"`
	// Model names the model that generated the message.
	Model string `json:"model"`
	// StopReason says why generation stopped, such as "endTurn".
	StopReason string `json:"stopReason,omitempty"`
	// Meta is the result's _meta object, or nil.
	Meta json.RawMessage `json:"_meta,omitempty"`
}

// CreateMessage asks the client to sample a language model
// (sampling/createMessage). Params is the request's params object, such
// as a map holding "messages" and "maxTokens".
func (r *Request) CreateMessage(ctx context.Context, params any) (*SamplingResult, error) {
	return r.CreateMessageAs(ctx, "", params)
}

// CreateMessageAs is CreateMessage with a key that names the request for
// stateless clients (see RequestOptions.Key).
func (r *Request) CreateMessageAs(ctx context.Context, key string, params any) (
	*SamplingResult, error) {
	var res SamplingResult
	if err := r.ask(ctx, "sampling/createMessage", key, params, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ElicitResult is the client's answer to elicitation/create.
type ElicitResult struct {
	// Action is "accept", "decline" or "cancel".
	Action string `json:"action"`
	// Content holds the submitted values when the user accepted, or nil.
	Content json.RawMessage `json:"content,omitempty"`
	// Meta is the result's _meta object, or nil.
	Meta json.RawMessage `json:"_meta,omitempty"`
}

// Elicit asks the user for input through the client (elicitation/create).
// Params is the request's params object: a message and a requestedSchema
// in form mode, or a url and an elicitationId in URL mode.
func (r *Request) Elicit(ctx context.Context, params any) (*ElicitResult, error) {
	return r.ElicitAs(ctx, "", params)
}

// ElicitAs is Elicit with a key that names the request for stateless
// clients (see RequestOptions.Key).
func (r *Request) ElicitAs(ctx context.Context, key string, params any) (*ElicitResult, error) {
	var res ElicitResult
	if err := r.ask(ctx, "elicitation/create", key, params, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Root is a root the client exposes, such as a project directory.
type Root struct {
	// URI is the root's URI; MCP requires file:// for now.
	URI string `json:"uri"`
	// Name is a human-readable name, or empty.
	Name string `json:"name,omitempty"`
}

// ListRoots asks the client for its roots (roots/list).
func (r *Request) ListRoots(ctx context.Context) ([]Root, error) {
	return r.ListRootsAs(ctx, "")
}

// ListRootsAs is ListRoots with a key that names the request for
// stateless clients (see RequestOptions.Key).
func (r *Request) ListRootsAs(ctx context.Context, key string) ([]Root, error) {
	var res struct {
		Roots []Root `json:"roots"`
	}
	if err := r.ask(ctx, "roots/list", key, nil, &res); err != nil {
		return nil, err
	}
	return res.Roots, nil
}

// ask sends a request to the client and decodes the result into v.
func (r *Request) ask(ctx context.Context, method, key string, params, v any) error {
	raw, err := r.RequestWith(ctx, method, params, RequestOptions{Key: key})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: decode client result: %w", method, err)
	}
	return nil
}

// CloseStream asks the gateway to end the client's current SSE stream for
// this call, as MCP's SSE polling allows: the client reconnects after
// retry (zero means the gateway's default) and resumes where it left off,
// missing nothing the call sends meanwhile.
func (r *Request) CloseStream(ctx context.Context, retry time.Duration) error {
	if r == nil || r.x == nil {
		return ErrNoStream
	}
	ms := retry.Milliseconds()
	if retry > 0 && ms == 0 {
		ms = 1
	}
	return r.x.send(ctx, &providerv1.CallToolResponse{
		Message: &providerv1.CallToolResponse_CloseStream{
			CloseStream: &providerv1.CloseStream{RetryMs: max(ms, 0)},
		},
	})
}

// ClientSupports reports whether the client declared the named top-level
// capability, such as "sampling", "elicitation" or "roots".
func (r *Request) ClientSupports(capability string) bool {
	return r != nil && supports(r.ClientCapabilities, capability)
}

// supports reports whether a ClientCapabilities object declares the
// named top-level capability.
func supports(caps json.RawMessage, capability string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(caps, &m) != nil {
		return false
	}
	v, ok := m[capability]
	return ok && string(v) != "null"
}

// ClientError is a JSON-RPC error with which the client (or the registry
// on its behalf) answered a request.
type ClientError struct {
	// Code is the JSON-RPC error code, such as -32603.
	Code int64 `json:"code"`
	// Message describes the error.
	Message string `json:"message"`
	// Data holds additional information, or is nil.
	Data json.RawMessage `json:"data,omitempty"`
}

func (e *ClientError) Error() string {
	return fmt.Sprintf("client error %d: %s", e.Code, e.Message)
}

// clientError decodes a JSON-RPC error object, keeping an undecodable one
// readable.
func clientError(raw string) *ClientError {
	var e ClientError
	if err := json.Unmarshal([]byte(raw), &e); err != nil || e.Message == "" && e.Code == 0 {
		return &ClientError{Code: -32603, Message: "malformed error from client: " + raw}
	}
	return &e
}

// encodeParams encodes a params value, which must be a JSON object.
func encodeParams(params any) (string, error) {
	if params == nil {
		return "{}", nil
	}
	b, err := marshal(params)
	if err != nil {
		return "", fmt.Errorf("encode params: %w", err)
	}
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return "", fmt.Errorf("params must be a JSON object, got %.20s", b)
	}
	return string(b), nil
}
