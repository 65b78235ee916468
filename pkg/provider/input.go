package provider

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Prompts and resources of the stateless generation (2026-07-28) may ask
// the client for input too, though not while they run: a prompts/get or
// resources/read is one unary call. The handler answers with an
// InputRequired instead (SEP-2322, Multi Round-Trip Requests); the client
// answers its requests and sends the same request again with the answers
// (inputResponses) and the requestState, which the handler finds in its
// Caller.

// StatelessRevision is the first MCP revision whose clients accept
// input_required results.
const StatelessRevision = "2026-07-28"

// InputRequired answers a prompts/get or resources/read with an MCP
// input_required result in place of the prompt or the contents. A handler
// returns it as its error:
//
//	if _, ok := req.ElicitResponse("topic"); !ok {
//		return nil, &provider.InputRequired{Requests: map[string]provider.InputRequest{
//			"topic": provider.ElicitInput(params),
//		}}
//	}
//
// Only a client whose Caller.AcceptsInputRequired can answer one; for any
// other the request fails with gRPC FAILED_PRECONDITION.
type InputRequired struct {
	// Requests are the requests to the client, keyed by the name under
	// which the client answers each: 1 to MaxKeyLen bytes of UTF-8.
	Requests map[string]InputRequest
	// State travels through the client to its retry, where the handler
	// finds it again in Caller.State. The provider signs it, so that a
	// handler can rely on it: the client sees it but cannot alter it
	// unnoticed. Empty means none. At least one request or a state is
	// required.
	State string
}

func (e *InputRequired) Error() string { return "provider: input required from the client" }

// InputRequest is one request to the client in an InputRequired.
type InputRequest struct {
	// Method is the MCP method, such as "elicitation/create".
	Method string
	// Params is any value that encodes as a JSON object; nil means {}.
	Params any
}

// ElicitInput returns an elicitation/create request; params is as for
// Request.Elicit.
func ElicitInput(params any) InputRequest {
	return InputRequest{Method: "elicitation/create", Params: params}
}

// SamplingInput returns a sampling/createMessage request; params is as
// for Request.CreateMessage.
func SamplingInput(params any) InputRequest {
	return InputRequest{Method: "sampling/createMessage", Params: params}
}

// RootsInput returns a roots/list request.
func RootsInput() InputRequest { return InputRequest{Method: "roots/list"} }

// Caller is what a prompt or resource handler knows of the client and,
// for a retried request of the stateless generation, of the rounds before.
type Caller struct {
	// ClientCapabilities is the client's MCP ClientCapabilities object,
	// or nil when the caller did not pass it.
	ClientCapabilities json.RawMessage
	// ProtocolVersion is the MCP revision the client speaks, or empty
	// when the caller did not say.
	ProtocolVersion string
	// InputResponses holds the client's answers to an InputRequired by
	// key, verbatim as the client sent them; nil when it sent none. It may
	// hold answers nobody asked for, which a handler ignores, and answers
	// of the wrong shape, which the typed accessors report as missing.
	InputResponses map[string]json.RawMessage
	// State is the State of the InputRequired that this request answers,
	// checked to be one this provider issued for the same prompt or URI;
	// empty when the client sent none.
	State string
}

// ClientSupports reports whether the client declared the named top-level
// capability, such as "sampling", "elicitation" or "roots".
func (c *Caller) ClientSupports(capability string) bool {
	return supports(c.ClientCapabilities, capability)
}

// AcceptsInputRequired reports whether the client speaks a revision that
// accepts an InputRequired answer.
func (c *Caller) AcceptsInputRequired() bool {
	return c.ProtocolVersion >= StatelessRevision
}

// ElicitResponse returns the client's answer to the elicitation named
// key, or false when there is none or it is not an ElicitResult.
func (c *Caller) ElicitResponse(key string) (*ElicitResult, bool) {
	var res ElicitResult
	if !c.response(key, &res) || res.Action == "" {
		return nil, false
	}
	return &res, true
}

// SamplingResponse returns the client's answer to the sampling request
// named key, or false when there is none or it is not a sampling result.
func (c *Caller) SamplingResponse(key string) (*SamplingResult, bool) {
	var res SamplingResult
	if !c.response(key, &res) || len(res.Content) == 0 {
		return nil, false
	}
	return &res, true
}

// RootsResponse returns the roots the client answered the roots/list
// request named key with, or false when there is no such answer.
func (c *Caller) RootsResponse(key string) ([]Root, bool) {
	var res struct {
		Roots *[]Root `json:"roots"`
	}
	if !c.response(key, &res) || res.Roots == nil {
		return nil, false
	}
	return *res.Roots, true
}

// response decodes the answer named key, which must be a JSON object.
func (c *Caller) response(key string, v any) bool {
	raw := c.InputResponses[key]
	if t := strings.TrimSpace(string(raw)); t == "" || t[0] != '{' {
		return false
	}
	return json.Unmarshal(raw, v) == nil
}

// caller decodes the client's side of a prompts/get or resources/read,
// opening the requestState issued for kind and name.
func (p *Provider) caller(kind, name, caps, version, responses, state string) (
	Caller, error) {
	c := Caller{ProtocolVersion: version}
	var err error
	if c.ClientCapabilities, err = optionalObject("client capabilities", caps); err != nil {
		return c, err
	}
	if t := strings.TrimSpace(responses); t != "" && t != "null" {
		if json.Unmarshal([]byte(t), &c.InputResponses) != nil || c.InputResponses == nil {
			return c, fmt.Errorf("%w: inputResponses must be an object", ErrInvalidArguments)
		}
	}
	if state != "" {
		var ok bool
		if c.State, ok = p.openState(kind, name, state); !ok {
			return c, fmt.Errorf("%w: requestState is invalid or was altered", ErrInvalidArguments)
		}
	}
	return c, nil
}

// errNoInputRequired marks an InputRequired for a client that cannot
// answer one.
var errNoInputRequired = errors.New("client cannot answer input_required")

// inputRequired encodes an InputRequired as the request's result, signing
// its state for kind and name.
func (p *Provider) inputRequired(kind, name string, c *Caller, ir *InputRequired) (
	string, error) {
	if c.ProtocolVersion != "" && !c.AcceptsInputRequired() {
		return "", fmt.Errorf("%s %q: %w (revision %s)", kind, name, errNoInputRequired,
			c.ProtocolVersion)
	}
	if len(ir.Requests) == 0 && ir.State == "" {
		return "", p.invalidResult(kind, name, errors.New("input_required with no request and no state"))
	}
	requests := make(map[string]json.RawMessage, len(ir.Requests))
	for key, q := range ir.Requests {
		b, err := encodeInputRequest(key, q)
		if err != nil {
			return "", p.invalidResult(kind, name, err)
		}
		requests[key] = b
	}
	out := struct {
		ResultType    string                     `json:"resultType"`
		InputRequests map[string]json.RawMessage `json:"inputRequests,omitempty"`
		RequestState  string                     `json:"requestState,omitempty"`
	}{ResultType: "input_required", InputRequests: requests}
	if ir.State != "" {
		out.RequestState = p.sealState(kind, name, ir.State)
	}
	return encodeResult(p, kind, name, out)
}

func encodeInputRequest(key string, q InputRequest) (json.RawMessage, error) {
	if err := checkKey(key); err != nil || key == "" {
		return nil, fmt.Errorf("input request %q: key must be 1 to %d bytes of UTF-8", key, MaxKeyLen)
	}
	if q.Method == "" {
		return nil, fmt.Errorf("input request %q: no method", key)
	}
	params, err := encodeParams(q.Params)
	if err != nil {
		return nil, fmt.Errorf("input request %q: %w", key, err)
	}
	return marshal(struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}{q.Method, json.RawMessage(params)})
}

// stateKeyLen is the length of the key generated when Options.StateKey
// is unset.
const stateKeyLen = 32

// newStateKey returns a copy of key, or a random key when key is empty.
func newStateKey(key []byte) []byte {
	if len(key) > 0 {
		return append([]byte(nil), key...)
	}
	k := make([]byte, stateKeyLen)
	rand.Read(k) // never fails, as documented
	return k
}

// sealState signs state for the prompt or resource it was issued for:
// "<state>.<mac>", both base64url-encoded.
//
// Known shortcoming: a sealed state neither expires nor is bound to one
// client, so a client may replay a state it was given, for the same
// prompt or URI, at any time; a handler must not treat it as single use.
func (p *Provider) sealState(kind, name, state string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(state)) + "." + enc.EncodeToString(p.stateMAC(kind, name, state))
}

// openState returns the state that sealed holds when this provider
// sealed it for the same kind and name.
func (p *Provider) openState(kind, name, sealed string) (string, bool) {
	enc := base64.RawURLEncoding
	body, mac, ok := strings.Cut(sealed, ".")
	if !ok {
		return "", false
	}
	state, err1 := enc.DecodeString(body)
	sum, err2 := enc.DecodeString(mac)
	if err1 != nil || err2 != nil || !hmac.Equal(sum, p.stateMAC(kind, name, string(state))) {
		return "", false
	}
	return string(state), true
}

func (p *Provider) stateMAC(kind, name, state string) []byte {
	m := hmac.New(sha256.New, p.stateKey)
	// The lengths keep the fields apart, whatever bytes they hold.
	fmt.Fprintf(m, "%d:%s%d:%s%d:%s", len(kind), kind, len(name), name, len(state), state)
	return m.Sum(nil)
}
