package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"switchboard.dev/pkg/redisx"
	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// MaxIDLen is the length of the longest session id the store accepts.
const MaxIDLen = 128

// NewID returns a fresh session id: 24 bytes from crypto/rand (192 bits)
// in unpadded base64url, which is 32 visible-ASCII characters that need
// no escaping in a URL path or an HTTP header.
func NewID() string {
	b := make([]byte, 24)
	rand.Read(b) // Never fails: the runtime crashes instead.
	return base64.RawURLEncoding.EncodeToString(b)
}

// CheckID returns an error wrapping ErrInvalidID unless id is 1 to
// MaxIDLen characters of visible ASCII (0x21 to 0x7E), the alphabet MCP
// allows in Mcp-Session-Id.
func CheckID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidID, MaxIDLen)
	}
	for i := range len(id) {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: byte 0x%02x at offset %d is not visible ASCII",
				ErrInvalidID, c, i)
		}
	}
	return nil
}

// Store keeps sessions in Redis. A session is a hash at
// redisx.Tag(namespace, id)+":session" whose fields are named after the
// Session fields, with a PEXPIRE of the session TTL. expire_time is not
// stored: it is derived from the key's PTTL on every read. Beside it live
// the session's event log (":events", a Redis Stream), its resource
// subscriptions (":subs", a set) and the id of the newest watch of its
// standalone stream (":watch"), which all expire with it.
//
// Every call that takes an id checks it with CheckID before touching Redis.
type Store struct {
	rdb    redis.UniversalClient
	ns     string
	ttl    time.Duration
	maxLen int64
	maxAge time.Duration
}

// EventLog bounds each session's event log. Zero fields mean the defaults.
type EventLog struct {
	// MaxLen is how many events a log keeps, about: Redis trims whole
	// nodes of a stream, so a log may hold up to a node's worth (100
	// entries by default) more. Default 1000.
	MaxLen int64
	// MaxAge is how long an event stays in the log, trimmed the same
	// approximate way when the next event is appended. Default 10m.
	MaxAge time.Duration
}

// Defaults of EventLog.
const (
	DefaultEventLogMaxLen = 1000
	DefaultEventLogMaxAge = 10 * time.Minute
)

// NewStore returns a store writing under namespace whose sessions live
// for ttl after their last renewal, with event logs bounded by events.
func NewStore(rdb redis.UniversalClient, namespace string, ttl time.Duration,
	events EventLog,
) *Store {
	if events.MaxLen <= 0 {
		events.MaxLen = DefaultEventLogMaxLen
	}
	if events.MaxAge <= 0 {
		events.MaxAge = DefaultEventLogMaxAge
	}
	return &Store{rdb: rdb, ns: namespace, ttl: ttl, maxLen: events.MaxLen,
		maxAge: events.MaxAge}
}

// keySuffixes lists the suffix of every per-session key, the session hash
// first. A new per-session key must be added here, so that renewals slide
// its expiry and DeleteSession removes it. The scripts address them by
// position: KEYS[1] hash, KEYS[2] event log, KEYS[3] subscriptions,
// KEYS[4] owner of the standalone stream.
var keySuffixes = []string{":session", ":events", ":subs", ":watch"}

// keys returns every key of session id. They share one hash tag, so the
// scripts below, which touch them together, also run on Redis Cluster.
func (s *Store) keys(id string) []string {
	tag := redisx.Tag(s.ns, id)
	keys := make([]string, len(keySuffixes))
	for i, suffix := range keySuffixes {
		keys[i] = tag + suffix
	}
	return keys
}

// Create stores a new session with a fresh id.
func (s *Store) Create(ctx context.Context, req *sessionv1.CreateSessionRequest) (
	*sessionv1.Session, error,
) {
	if err := checkObject("client_info_json", req.GetClientInfoJson()); err != nil {
		return nil, err
	}
	if err := checkObject("client_capabilities_json", req.GetClientCapabilitiesJson()); err != nil {
		return nil, err
	}
	now := time.Now()
	sess := &sessionv1.Session{
		Id:                     NewID(),
		ProtocolVersion:        req.GetProtocolVersion(),
		ClientInfoJson:         req.GetClientInfoJson(),
		ClientCapabilitiesJson: req.GetClientCapabilitiesJson(),
		CreateTime:             timestamppb.New(now),
		ExpireTime:             timestamppb.New(now.Add(s.ttl)),
	}
	ttl, fields := s.ttl, encode(sess)
	if own := req.GetTtl().AsDuration(); req.GetTtl() != nil && own > 0 && own < s.ttl {
		ttl = max(own, time.Millisecond)
		fields = append(fields, fieldTTL, ttl.Milliseconds())
		sess.ExpireTime = timestamppb.New(now.Add(ttl))
	}
	key := s.keys(sess.Id)[0]
	// MULTI/EXEC: a session never exists without its expiry.
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, fields...)
		p.PExpire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// Get reads a session without extending its life.
func (s *Store) Get(ctx context.Context, id string) (*sessionv1.Session, error) {
	sess, err := s.eval(ctx, readScript, id)
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	return sess, nil
}

// Renew reads a session and slides its expiry to a full TTL from now.
func (s *Store) Renew(ctx context.Context, id string) (*sessionv1.Session, error) {
	sess, err := s.eval(ctx, touchScript, id, s.ttl.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("renew session: %w", err)
	}
	return sess, nil
}

// Update sets the fields present in req and slides the session's expiry,
// like Renew.
func (s *Store) Update(ctx context.Context, req *sessionv1.UpdateSessionRequest) (
	*sessionv1.Session, error,
) {
	args := []any{s.ttl.Milliseconds()}
	if req.Initialized != nil {
		args = append(args, fieldInitialized, formatBool(req.GetInitialized()))
	}
	if req.LogLevel != nil {
		if err := checkLogLevel(req.GetLogLevel()); err != nil {
			return nil, err
		}
		args = append(args, fieldLogLevel, req.GetLogLevel())
	}
	more, err := initializeArgs(req)
	if err != nil {
		return nil, err
	}
	args = append(args, more...)
	sess, err := s.eval(ctx, touchScript, req.GetId(), args...)
	if err != nil {
		return nil, fmt.Errorf("update session: %w", err)
	}
	return sess, nil
}

// initializeArgs returns the field/value pairs of what initialize
// negotiated, for sessions created before it arrived.
func initializeArgs(req *sessionv1.UpdateSessionRequest) ([]any, error) {
	var args []any
	if req.ProtocolVersion != nil {
		args = append(args, fieldProtocolVersion, req.GetProtocolVersion())
	}
	if req.ClientInfoJson != nil {
		if err := checkObject("client_info_json", req.GetClientInfoJson()); err != nil {
			return nil, err
		}
		args = append(args, fieldClientInfo, req.GetClientInfoJson())
	}
	if req.ClientCapabilitiesJson != nil {
		err := checkObject("client_capabilities_json", req.GetClientCapabilitiesJson())
		if err != nil {
			return nil, err
		}
		args = append(args, fieldClientCapabilities, req.GetClientCapabilitiesJson())
	}
	return args, nil
}

// Delete removes every key of a session and tells its watchers, which end
// with NOT_FOUND. It returns ErrNotFound when the session did not exist,
// after removing any stray keys all the same.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	reply, err := deleteScript.Run(ctx, s.rdb, s.keys(id), s.liveChannel(id)).Slice()
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if len(reply) != 2 {
		return fmt.Errorf("delete session: %w: script replied %d values", ErrCorrupt, len(reply))
	}
	existed, _ := reply[0].(int64)
	uris, _ := reply[1].([]any)
	// The reverse index lives outside the session's hash tag, so it cannot
	// be cleaned in the script. This is best effort: the session is gone
	// either way, and PublishResourceUpdated drops what a failure leaves.
	s.dropFromIndex(ctx, id, uris)
	if existed == 0 {
		return ErrNotFound
	}
	return nil
}

// eval runs readScript or touchScript for session id and decodes the reply.
func (s *Store) eval(ctx context.Context, script *redis.Script, id string, args ...any) (
	*sessionv1.Session, error,
) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	// Taken before the call, so that expire_time errs on the early side.
	now := time.Now()
	reply, err := script.Run(ctx, s.rdb, s.keys(id), args...).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeReply(now, reply)
}

// checkObject accepts "" (not known) or a JSON object. The text itself is
// stored verbatim, never re-encoded.
func checkObject(field, text string) error {
	if text == "" {
		return nil
	}
	if !json.Valid([]byte(text)) {
		return fmt.Errorf("%w: %s is not valid JSON", ErrInvalidArgument, field)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &obj); err != nil || obj == nil {
		return fmt.Errorf("%w: %s is not a JSON object", ErrInvalidArgument, field)
	}
	return nil
}

// logLevels are the levels of MCP's logging/setLevel (RFC 5424 names).
var logLevels = map[string]bool{
	"debug": true, "info": true, "notice": true, "warning": true,
	"error": true, "critical": true, "alert": true, "emergency": true,
}

// checkLogLevel accepts an MCP log level, or "" to clear it.
func checkLogLevel(level string) error {
	if level != "" && !logLevels[level] {
		return fmt.Errorf("%w: unknown log_level %q", ErrInvalidArgument, level)
	}
	return nil
}
