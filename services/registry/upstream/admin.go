package upstream

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// Applier runs the upstreams it is given; Manager implements it.
type Applier interface {
	// Set reconciles the running upstreams with specs.
	Set(ctx context.Context, specs []Spec) error
	// Health reports every running upstream.
	Health() []Health
}

// AdminOptions configures an Admin. Zero values mean the documented
// defaults.
type AdminOptions struct {
	// Token, when not empty, is required of every admin request as
	// "Authorization: Bearer <token>".
	Token string
	// File is the upstreams file's version at start. Zero means no file.
	File File
	// PollInterval is how often the declarations in Redis are reread,
	// besides when a change is published. Default 2s.
	PollInterval time.Duration
	// Providers, when set, lists the names of the live providers, so that
	// an upstream is not declared under the name of a provider that is not
	// an upstream: its registration would replace that provider.
	Providers func(context.Context) ([]string, error)
}

// Admin merges the upstreams of the file and of the admin API into the
// set its Applier runs, and serves the admin API (UpstreamAdminService).
// A file declaration wins over an API declaration of the same name.
//
// Usage:
//
//	a := upstream.NewAdmin(log, upstream.NewStore(rdb, ns), manager, opts)
//	go a.Run(ctx)                     // follows the API declarations
//	go file.Watch(ctx, func(f upstream.File) { a.SetFile(ctx, f) })
type Admin struct {
	registryv1.UnimplementedUpstreamAdminServiceServer
	log     *slog.Logger
	store   *Store
	applier Applier
	token   [sha256.Size]byte
	auth    bool
	poll    time.Duration
	// providers lists the live providers' names; nil skips the check.
	providers func(context.Context) ([]string, error)

	// mu serializes changes of the sets and the calls to Set, so that
	// the Applier sees them in order.
	mu      sync.Mutex
	file    File
	api     []Spec
	applied []Spec
	started bool // the API declarations were read once
	set     bool // applied holds a set given to the Applier
}

// NewAdmin returns an Admin that applies the file of opts and, once Run
// starts, the API declarations in store.
func NewAdmin(log *slog.Logger, store *Store, applier Applier, opts AdminOptions) *Admin {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	a := &Admin{log: log, store: store, applier: applier, poll: opts.PollInterval,
		file: opts.File, auth: opts.Token != "", providers: opts.Providers}
	if a.auth {
		a.token = sha256.Sum256([]byte(opts.Token))
	}
	return a
}

// Run applies the declarations and follows the changes of those in
// Redis until ctx ends.
func (a *Admin) Run(ctx context.Context) {
	changes, unsubscribe, err := a.store.Subscribe(ctx)
	if err != nil {
		// Polling alone still sees every change, only later.
		a.log.Warn("upstream changes not subscribed; polling only", "err", err)
	} else {
		defer unsubscribe()
	}
	a.refresh(ctx)
	t := time.NewTicker(a.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-t.C:
		}
		a.refresh(ctx)
	}
}

// SetFile applies a new version of the upstreams file.
func (a *Admin) SetFile(ctx context.Context, f File) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.file = f
	a.applyLocked(ctx)
}

// refresh rereads the API declarations and applies them. When Redis
// fails, the last set read stays in force.
func (a *Admin) refresh(ctx context.Context) {
	specs, err := a.store.List(ctx)
	if err != nil {
		a.log.Warn("upstream declarations not read", "err", err)
		if specs == nil {
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.api = specs
	a.started = true
	a.applyLocked(ctx)
}

// applyLocked hands the merged set to the Applier when it changed.
func (a *Admin) applyLocked(ctx context.Context) {
	if !a.started {
		return
	}
	specs, shadowed := a.mergedLocked()
	if a.set && reflect.DeepEqual(specs, a.applied) {
		return
	}
	for _, name := range shadowed {
		a.log.Warn("upstream declared by the file and the admin API; the file's wins",
			"upstream", name)
	}
	a.applied, a.set = specs, true
	if err := a.applier.Set(ctx, specs); err != nil {
		a.log.Error("upstreams not all started", "err", err)
	}
}

// mergedLocked returns the upstreams of both sources, ordered by name,
// and the names of the API declarations that the file's shadow.
// Known shortcoming: an API declaration whose name the file also
// declares is neither run nor listed (a warning is logged when the set is
// applied); RemoveUpstream still deletes it.
func (a *Admin) mergedLocked() ([]Spec, []string) {
	specs := slices.Clone(a.file.Upstreams)
	inFile := make(map[string]bool, len(specs))
	for _, s := range specs {
		inFile[s.Name] = true
	}
	var shadowed []string
	for _, s := range a.api {
		if inFile[s.Name] {
			shadowed = append(shadowed, s.Name)
			continue
		}
		specs = append(specs, s)
	}
	slices.SortFunc(specs, func(x, y Spec) int { return strings.Compare(x.Name, y.Name) })
	return specs, shadowed
}

// AddUpstream creates or replaces an upstream declared through the API.
func (a *Admin) AddUpstream(ctx context.Context, req *registryv1.AddUpstreamRequest) (
	*registryv1.AddUpstreamResponse, error) {
	spec, err := a.add(ctx, req.GetUpstream())
	if err != nil {
		return nil, a.toStatus("AddUpstream", err)
	}
	a.log.Info("upstream declared", "upstream", spec.Name, "transport", spec.Transport)
	return &registryv1.AddUpstreamResponse{Upstream: a.status(spec)}, nil
}

// checkProviderName refuses a new upstream name that a live provider
// other than an upstream already has: registering the upstream would
// replace that provider in the catalogue. Replacing an API upstream is
// fine.
func (a *Admin) checkProviderName(ctx context.Context, name string) error {
	if a.providers == nil {
		return nil
	}
	a.mu.Lock()
	known := slices.ContainsFunc(a.api, func(s Spec) bool { return s.Name == name })
	a.mu.Unlock()
	if known {
		return nil
	}
	names, err := a.providers(ctx)
	if err != nil {
		return fmt.Errorf("list providers: %w", err)
	}
	if slices.Contains(names, name) {
		return refuse(adminConflict, "%s: a provider of that name is registered; an upstream "+
			"of the same name would replace it, so choose another name", name)
	}
	return nil
}

func (a *Admin) add(ctx context.Context, m *registryv1.Upstream) (Spec, error) {
	if err := a.authorize(ctx); err != nil {
		return Spec{}, err
	}
	if m == nil {
		return Spec{}, refuse(adminInvalid, "upstream: required")
	}
	spec := specFromProto(m)
	spec.Source = SourceAPI
	if err := Validate(spec); err != nil {
		return spec, refuse(adminInvalid, "%w", err)
	}
	a.mu.Lock()
	inFile := slices.ContainsFunc(a.file.Upstreams, func(s Spec) bool { return s.Name == spec.Name })
	allowStdio := a.file.AllowAdminStdio
	a.mu.Unlock()
	if spec.Transport == TransportStdio && !allowStdio {
		return spec, refuse(adminDenied, "%s: stdio upstreams run a command on every registry "+
			"replica; the upstreams file must set allowAdminStdio: true to allow them", spec.Name)
	}
	if inFile {
		return spec, refuse(adminConflict, "%s: the upstreams file declares an upstream of "+
			"that name; choose another name or edit the file", spec.Name)
	}
	if err := a.checkProviderName(ctx, spec.Name); err != nil {
		return spec, err
	}
	if err := a.store.Put(ctx, spec); err != nil {
		return spec, err
	}
	// Applied here at once, so that the answer and the next read on this
	// replica see the change; detached from the request, whose end must
	// not cut short the start of the upstream.
	a.refresh(context.WithoutCancel(ctx))
	return spec, nil
}

// RemoveUpstream removes an upstream declared through the API.
func (a *Admin) RemoveUpstream(ctx context.Context, req *registryv1.RemoveUpstreamRequest) (
	*registryv1.RemoveUpstreamResponse, error) {
	if err := a.remove(ctx, req.GetName()); err != nil {
		return nil, a.toStatus("RemoveUpstream", err)
	}
	a.log.Info("upstream removed", "upstream", req.GetName())
	return &registryv1.RemoveUpstreamResponse{}, nil
}

func (a *Admin) remove(ctx context.Context, name string) error {
	if err := a.authorize(ctx); err != nil {
		return err
	}
	if name == "" {
		return refuse(adminInvalid, "name: required")
	}
	deleted, err := a.store.Delete(ctx, name)
	if err != nil {
		return err
	}
	if !deleted {
		a.mu.Lock()
		inFile := slices.ContainsFunc(a.file.Upstreams, func(s Spec) bool { return s.Name == name })
		a.mu.Unlock()
		if inFile {
			return refuse(adminConflict, "%s: declared by the upstreams file; remove it there",
				name)
		}
		return refuse(adminNotFound, "%s: no such upstream", name)
	}
	// Detached for the reason given in add.
	a.refresh(context.WithoutCancel(ctx))
	return nil
}

// ListUpstreams lists the upstreams of both sources with their health.
func (a *Admin) ListUpstreams(ctx context.Context, _ *registryv1.ListUpstreamsRequest) (
	*registryv1.ListUpstreamsResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, a.toStatus("ListUpstreams", err)
	}
	specs := a.merged()
	health := a.health()
	out := &registryv1.ListUpstreamsResponse{
		Upstreams: make([]*registryv1.UpstreamStatus, 0, len(specs)),
	}
	for _, s := range specs {
		out.Upstreams = append(out.Upstreams, statusOf(s, health))
	}
	return out, nil
}

// GetUpstream returns one upstream with its health.
func (a *Admin) GetUpstream(ctx context.Context, req *registryv1.GetUpstreamRequest) (
	*registryv1.GetUpstreamResponse, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, a.toStatus("GetUpstream", err)
	}
	for _, s := range a.merged() {
		if s.Name == req.GetName() {
			return &registryv1.GetUpstreamResponse{Upstream: a.status(s)}, nil
		}
	}
	err := refuse(adminNotFound, "%s: no such upstream", req.GetName())
	return nil, a.toStatus("GetUpstream", err)
}

// merged returns the upstreams of both sources, ordered by name.
func (a *Admin) merged() []Spec {
	a.mu.Lock()
	defer a.mu.Unlock()
	specs, _ := a.mergedLocked()
	return specs
}

// health indexes the Applier's reports by upstream name.
func (a *Admin) health() map[string]Health {
	list := a.applier.Health()
	out := make(map[string]Health, len(list))
	for _, h := range list {
		out[h.Name] = h
	}
	return out
}

// status describes one upstream with its health.
func (a *Admin) status(s Spec) *registryv1.UpstreamStatus {
	return statusOf(s, a.health())
}

func statusOf(s Spec, health map[string]Health) *registryv1.UpstreamStatus {
	st := &registryv1.UpstreamStatus{Upstream: specToProto(redact(s)), Source: string(s.Source)}
	if h, ok := health[s.Name]; ok {
		st.Health = healthToProto(h)
	}
	return st
}

// redacted stands for a header or environment value in answers, which
// often holds a credential.
const redacted = "<redacted>"

// redact replaces the header and environment values of s.
func redact(s Spec) Spec {
	hide := func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]string, len(m))
		for k := range m {
			out[k] = redacted
		}
		return out
	}
	s.Headers, s.Env = hide(s.Headers), hide(s.Env)
	s.URL = redactURL(s.URL)
	return s
}

// redactURL hides the values of a URL's query, where API keys often
// travel, and any password in it.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{redacted}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// authorize checks the admin token, when there is one. The REST gateway
// passes the Authorization header on as the metadata "authorization".
func (a *Admin) authorize(ctx context.Context) error {
	if !a.auth {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		scheme, token, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		// Comparing digests keeps the time independent of the token's
		// length as well as of its content.
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1 {
			return nil
		}
	}
	return refuse(adminUnauthenticated, "admin token required: send Authorization: Bearer <token>")
}

// adminKind classifies the admin API's refusals; toStatus maps each to a
// gRPC code, which the REST gateway maps to an HTTP status.
type adminKind int

const (
	adminInvalid         adminKind = iota + 1 // INVALID_ARGUMENT, 400
	adminNotFound                             // NOT_FOUND, 404
	adminConflict                             // FAILED_PRECONDITION, 400
	adminDenied                               // PERMISSION_DENIED, 403
	adminUnauthenticated                      // UNAUTHENTICATED, 401
)

// adminError is a refusal of the admin API with its kind.
type adminError struct {
	kind adminKind
	err  error
}

func (e *adminError) Error() string { return e.err.Error() }
func (e *adminError) Unwrap() error { return e.err }

// refuse returns a refusal of the given kind, formatted as by fmt.Errorf.
func refuse(kind adminKind, format string, args ...any) error {
	return &adminError{kind: kind, err: fmt.Errorf(format, args...)}
}

// toStatus is the one place where the admin API's errors become gRPC
// statuses. Errors of no known kind are failures of the registry itself
// (Redis, mostly): the caller gets UNAVAILABLE and the detail goes to the
// log.
func (a *Admin) toStatus(method string, err error) error {
	var ae *adminError
	if !errors.As(err, &ae) {
		a.log.Error("admin request failed", "method", method, "err", err)
		return status.Error(codes.Unavailable, "upstream declarations unavailable")
	}
	code := map[adminKind]codes.Code{
		adminInvalid:         codes.InvalidArgument,
		adminNotFound:        codes.NotFound,
		adminConflict:        codes.FailedPrecondition,
		adminDenied:          codes.PermissionDenied,
		adminUnauthenticated: codes.Unauthenticated,
	}[ae.kind]
	if ae.kind == adminUnauthenticated || ae.kind == adminDenied {
		a.log.Warn("admin request refused", "method", method, "reason", err)
	}
	return status.Error(code, err.Error())
}

// specToProto converts a declaration to its message.
func specToProto(s Spec) *registryv1.Upstream {
	m := &registryv1.Upstream{
		Name: s.Name, Prefix: s.Prefix, Transport: string(s.Transport), Url: s.URL,
		Headers: maps.Clone(s.Headers), Command: s.Command, Args: slices.Clone(s.Args),
		Env: maps.Clone(s.Env), Dir: s.Dir,
	}
	if s.ConnectTimeout != 0 {
		m.ConnectTimeout = durationpb.New(s.ConnectTimeout)
	}
	if s.CallTimeout != 0 {
		m.CallTimeout = durationpb.New(s.CallTimeout)
	}
	if len(s.Tools.Include) > 0 || len(s.Tools.Exclude) > 0 {
		m.Tools = &registryv1.UpstreamToolFilter{Include: slices.Clone(s.Tools.Include),
			Exclude: slices.Clone(s.Tools.Exclude)}
	}
	return m
}

// specFromProto converts a message to a declaration. Empty lists and
// maps become nil, so that equal declarations compare equal.
func specFromProto(m *registryv1.Upstream) Spec {
	s := Spec{
		Name: m.GetName(), Transport: Transport(m.GetTransport()), URL: m.GetUrl(),
		Command: m.GetCommand(), Dir: m.GetDir(),
		ConnectTimeout: m.GetConnectTimeout().AsDuration(),
		CallTimeout:    m.GetCallTimeout().AsDuration(),
	}
	if m.Prefix != nil {
		p := m.GetPrefix()
		s.Prefix = &p
	}
	if len(m.GetHeaders()) > 0 {
		s.Headers = maps.Clone(m.GetHeaders())
	}
	if len(m.GetEnv()) > 0 {
		s.Env = maps.Clone(m.GetEnv())
	}
	if len(m.GetArgs()) > 0 {
		s.Args = slices.Clone(m.GetArgs())
	}
	if len(m.GetTools().GetInclude()) > 0 {
		s.Tools.Include = slices.Clone(m.GetTools().GetInclude())
	}
	if len(m.GetTools().GetExclude()) > 0 {
		s.Tools.Exclude = slices.Clone(m.GetTools().GetExclude())
	}
	return s
}

// healthToProto converts one health report.
func healthToProto(h Health) *registryv1.UpstreamHealth {
	m := &registryv1.UpstreamHealth{
		State: string(h.State), Reason: h.Reason, ProtocolVersion: h.ProtocolVersion,
		ServerName: h.ServerName, ServerVersion: h.ServerVersion,
		ToolCount: int32(h.Tools), ResourceCount: int32(h.Resources),
		ResourceTemplateCount: int32(h.Templates), PromptCount: int32(h.Prompts),
		LastError: h.LastError, Standby: h.Standby,
	}
	if !h.Since.IsZero() {
		m.Since = timestamppb.New(h.Since)
	}
	return m
}
