package session

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionv1 "switchboard.dev/proto/switchboard/session/v1"
)

// Hash fields of a stored session, named after the Session fields.
const (
	fieldID                 = "id"
	fieldProtocolVersion    = "protocol_version"
	fieldClientInfo         = "client_info_json"
	fieldClientCapabilities = "client_capabilities_json"
	fieldInitialized        = "initialized"
	fieldLogLevel           = "log_level"
	fieldCreateTime         = "create_time"
	// fieldTTL holds a session's own lifetime in ms, when it has one
	// shorter than the service's.
	fieldTTL = "ttl_ms"
)

// The scripts take the session's keys (Store.keys), hash first. readScript
// and touchScript reply {PTTL in ms, HGETALL of the hash}, or nil when the
// hash does not exist.
var (
	readScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
return {ttl, redis.call('HGETALL', KEYS[1])}
`)

	// touchScript slides the expiry of every key to ARGV[1] ms and sets
	// the field/value pairs in ARGV[2..]. Nothing happens when the hash is
	// missing, so a renewal racing a deletion cannot resurrect the session.
	touchScript = redis.NewScript(`
local ttl = redis.call('HGET', KEYS[1], 'ttl_ms') or ARGV[1]
if redis.call('PEXPIRE', KEYS[1], ttl) == 0 then return false end
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
return {redis.call('PTTL', KEYS[1]), redis.call('HGETALL', KEYS[1])}
`)

	// deleteScript removes every key, publishes the "deleted" control
	// message on the live channel ARGV[1] and replies {1 if the hash
	// existed, the URIs the session was subscribed to}.
	deleteScript = redis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
local uris = redis.call('SMEMBERS', KEYS[3])
redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[1], 'd')
return {existed, uris}
`)
)

// encode returns the hash fields of a new session.
func encode(s *sessionv1.Session) []any {
	return []any{
		fieldID, s.GetId(),
		fieldProtocolVersion, s.GetProtocolVersion(),
		fieldClientInfo, s.GetClientInfoJson(),
		fieldClientCapabilities, s.GetClientCapabilitiesJson(),
		fieldInitialized, formatBool(s.GetInitialized()),
		fieldLogLevel, s.GetLogLevel(),
		fieldCreateTime, s.GetCreateTime().AsTime().Format(time.RFC3339Nano),
	}
}

func formatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// decodeReply turns a script reply read at now into a session.
func decodeReply(now time.Time, reply []any) (*sessionv1.Session, error) {
	if len(reply) != 2 {
		return nil, fmt.Errorf("%w: script replied %d values", ErrCorrupt, len(reply))
	}
	ttl, ok := reply[0].(int64)
	flat, ok2 := reply[1].([]any)
	if !ok || !ok2 || len(flat)%2 != 0 {
		return nil, fmt.Errorf("%w: unexpected script reply", ErrCorrupt)
	}
	fields := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		fields[k] = v
	}
	sess, err := decodeFields(fields)
	if err != nil {
		return nil, err
	}
	// PTTL is -1 only if someone removed the expiry by hand.
	if ttl >= 0 {
		sess.ExpireTime = timestamppb.New(now.Add(time.Duration(ttl) * time.Millisecond))
	}
	return sess, nil
}

// decodeFields is the inverse of encode.
func decodeFields(f map[string]string) (*sessionv1.Session, error) {
	if f[fieldID] == "" {
		return nil, fmt.Errorf("%w: no %s field", ErrCorrupt, fieldID)
	}
	initialized, err := strconv.ParseBool(f[fieldInitialized])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, fieldInitialized, err)
	}
	created, err := time.Parse(time.RFC3339Nano, f[fieldCreateTime])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, fieldCreateTime, err)
	}
	return &sessionv1.Session{
		Id:                     f[fieldID],
		ProtocolVersion:        f[fieldProtocolVersion],
		ClientInfoJson:         f[fieldClientInfo],
		ClientCapabilitiesJson: f[fieldClientCapabilities],
		Initialized:            initialized,
		LogLevel:               f[fieldLogLevel],
		CreateTime:             timestamppb.New(created),
	}, nil
}
