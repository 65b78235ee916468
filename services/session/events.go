package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"switchboard.dev/pkg/redisx"
)

// A session's event log is one Redis Stream for all of its streams: the
// standalone stream "_" and one per request answered with SSE. Each entry
// has the fields s (stream name), m (JSON-RPC message) and f ("1" for the
// final event of a request stream). An SSE event id is "<stream>:<entry
// id>", so that Last-Event-ID names the stream to resume.
//
// The script that appends an entry also publishes it on the session's
// live channel, so watchers never see one without the other. Messages on
// the live channel are newline-separated fields, the message last since
// it may hold newlines:
//
//	e <entry id> <stream> <final> <message>   an appended event
//	t <watch id>                              a new watch of "_" started
//	d                                         the session was deleted
//
// The id of the newest watch of "_" is also kept in the session's
// ":watch" key, so that an older watch that missed the takeover message
// learns of it at its next read of the log.

// Standalone is the name of a session's standalone (GET) stream.
const Standalone = "_"

// maxStreamLen is the length of the longest request stream name.
const maxStreamLen = 64

// CheckStream returns an error wrapping ErrInvalidArgument unless name is
// Standalone or 1 to 64 ASCII letters and digits.
func CheckStream(name string) error {
	if name == Standalone {
		return nil
	}
	if name == "" || len(name) > maxStreamLen {
		return fmt.Errorf("%w: stream name must be %q or 1 to %d letters and digits",
			ErrInvalidArgument, Standalone, maxStreamLen)
	}
	for i := range len(name) {
		c := name[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return fmt.Errorf("%w: stream name holds %q; want letters and digits",
				ErrInvalidArgument, c)
		}
	}
	return nil
}

// entryID is a Redis Stream entry id, "<ms>-<seq>".
type entryID struct{ ms, seq uint64 }

// parseEntryID parses "<ms>-<seq>", and "0" as the id before every entry.
func parseEntryID(s string) (entryID, bool) {
	if s == "0" {
		return entryID{}, true
	}
	msText, seqText, ok := strings.Cut(s, "-")
	if !ok || !digits(msText) || !digits(seqText) {
		return entryID{}, false
	}
	ms, err1 := strconv.ParseUint(msText, 10, 64)
	seq, err2 := strconv.ParseUint(seqText, 10, 64)
	return entryID{ms, seq}, err1 == nil && err2 == nil
}

// digits reports whether s is 1 or more ASCII digits; ParseUint alone
// would also take a sign.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (a entryID) less(b entryID) bool {
	return a.ms < b.ms || a.ms == b.ms && a.seq < b.seq
}

func (a entryID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// eventID returns the SSE event id of entry id on stream.
func eventID(stream string, id entryID) string { return stream + ":" + id.String() }

// parseAfter parses after_event_id for a watch of stream. ok is false when
// after is empty, which means "only new events".
func parseAfter(stream, after string) (id entryID, ok bool, err error) {
	if after == "" {
		return entryID{}, false, nil
	}
	name, entry, found := strings.Cut(after, ":")
	if !found || name != stream {
		return entryID{}, false, fmt.Errorf(
			"%w: after_event_id must name stream %q", ErrInvalidArgument, stream)
	}
	id, valid := parseEntryID(entry)
	if !valid {
		return entryID{}, false, fmt.Errorf(
			"%w: after_event_id %q is not an event id", ErrInvalidArgument, after)
	}
	return id, true, nil
}

// checkMessage accepts a JSON object, or "" for a pure marker when empty
// is true. The text itself is stored verbatim, never re-encoded.
func checkMessage(text string, empty bool) error {
	if text == "" && empty {
		return nil
	}
	if !json.Valid([]byte(text)) || strings.TrimLeft(text, " \t\r\n")[0] != '{' {
		return fmt.Errorf("%w: message_json is not a JSON object", ErrInvalidArgument)
	}
	return nil
}

// liveChannel is the pub/sub channel of session id's live events.
func (s *Store) liveChannel(id string) string { return redisx.Tag(s.ns, id) + ":live" }

// broadcastChannel is the channel every instance forwards to every open
// watch of a standalone stream.
func (s *Store) broadcastChannel() string { return s.ns + ":broadcast" }

// appendScript appends an event and publishes it, atomically.
//
// KEYS are the session's keys. ARGV: stream, message, final ("1" or "0"),
// max length, max age in ms, live channel, and a URI the session must be
// subscribed to ("" for none). It replies the entry id, false when the
// session does not exist, or 0 when it is not subscribed to the URI. The
// log takes the session hash's remaining life, so that it expires with
// the session, and age is measured on Redis's clock, which also makes
// the entry ids.
var appendScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
if ARGV[7] ~= '' and redis.call('SISMEMBER', KEYS[3], ARGV[7]) == 0 then return 0 end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*',
  's', ARGV[1], 'm', ARGV[2], 'f', ARGV[3])
local now = redis.call('TIME')
local minid = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[5])
if minid > 0 then
  redis.call('XTRIM', KEYS[2], 'MINID', '~', string.format('%.0f', minid))
end
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('PUBLISH', ARGV[6], 'e\n' .. id .. '\n' .. ARGV[1] .. '\n' .. ARGV[3] .. '\n' .. ARGV[2])
return id
`)

// Append adds a message to a stream of session id and returns its SSE
// event id. It returns ErrNotFound, and writes nothing, when the session
// does not exist.
func (s *Store) Append(ctx context.Context, id, stream, message string, final bool) (
	string, error,
) {
	if err := s.checkAppend(id, stream, message, final); err != nil {
		return "", err
	}
	entry, err := appendScript.Run(ctx, s.rdb, s.keys(id), s.appendArgs(id, stream, message,
		final, "")...).Text()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("append event: %w", err)
	}
	return stream + ":" + entry, nil
}

func (s *Store) checkAppend(id, stream, message string, final bool) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if err := CheckStream(stream); err != nil {
		return err
	}
	// A final event on the standalone stream would end every later watch
	// of it at once.
	if final && stream == Standalone {
		return fmt.Errorf("%w: the standalone stream has no final event", ErrInvalidArgument)
	}
	// Only a final event may be a pure marker, which ends the stream.
	return checkMessage(message, final)
}

// appendArgs returns the ARGV of appendScript.
func (s *Store) appendArgs(id, stream, message string, final bool, uri string) []any {
	return []any{stream, message, formatBool(final), s.maxLen, s.maxAge.Milliseconds(),
		s.liveChannel(id), uri}
}

// Broadcast publishes message to every open watch of a standalone stream,
// on every instance, without logging it.
func (s *Store) Broadcast(ctx context.Context, message string) error {
	if err := checkMessage(message, false); err != nil {
		return err
	}
	if err := s.rdb.Publish(ctx, s.broadcastChannel(), message).Err(); err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	return nil
}

// readEventsScript reads a page of a session's log for one stream.
//
// KEYS are the session's keys. ARGV: the id to read after ("$" for the
// log's last entry, which reads nothing), page size, stream, live
// channel, the watch id for a watch of the standalone stream ("" for
// others), and "1" on a watch's first read. It replies false when the
// session does not exist, else {last id read, 1 when the page was full,
// the owner's watch id, 1 when the stream ended at the id read after,
// then id, message, final of each entry of the stream}.
//
// The first read of the standalone stream makes the watch its owner: it
// stores the watch id (with the session's remaining life) and publishes a
// takeover, so that older watches end at once when they hear it, or at
// their next read when they do not. The first read of a request stream
// tells whether the resume point is its final event, after which nothing
// can come.
var readEventsScript = redis.NewScript(`
local function decode(e)
  local f, s, m, fin = e[2], nil, '', '0'
  for i = 1, #f, 2 do
    if f[i] == 's' then s = f[i + 1] elseif f[i] == 'm' then m = f[i + 1]
    elseif f[i] == 'f' then fin = f[i + 1] end
  end
  return s, m, fin
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
local owner, ended = '', 0
if ARGV[5] ~= '' then
  if ARGV[6] == '1' then
    redis.call('SET', KEYS[4], ARGV[5])
    if ttl > 0 then redis.call('PEXPIRE', KEYS[4], ttl) end
    redis.call('PUBLISH', ARGV[4], 't\n' .. ARGV[5])
  end
  owner = redis.call('GET', KEYS[4]) or ''
end
if ARGV[1] == '$' then
  local tail = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #tail == 0 then return {'0-0', 0, owner, 0} end
  return {tail[1][1], 0, owner, 0}
end
if ARGV[6] == '1' then
  local at = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
  if #at == 1 then
    local s, _, fin = decode(at[1])
    if s == ARGV[3] and fin == '1' then ended = 1 end
  end
end
local page = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
local out = {ARGV[1], 0, owner, ended}
if #page == tonumber(ARGV[2]) then out[2] = 1 end
for _, e in ipairs(page) do
  out[1] = e[1]
  local s, m, fin = decode(e)
  if s == ARGV[3] then
    out[#out + 1] = e[1]
    out[#out + 1] = m
    out[#out + 1] = fin
  end
end
return out
`)

// readPageSize is how many log entries one read scans.
const readPageSize = 256

// logEvent is an event read from the log or the live channel.
type logEvent struct {
	id      entryID
	message string
	final   bool
}

// page is what one read of the log returned.
type page struct {
	last   entryID // the last entry scanned, whatever its stream
	more   bool    // the log may hold more after last
	owner  string  // the watch id that owns the standalone stream
	ended  bool    // on a first read: the stream's final event is at after
	events []logEvent
}

// readArgs says what a read of the log is for.
type readArgs struct {
	stream string
	after  entryID
	tail   bool   // read nothing; page.last is the log's last entry
	watch  string // the watch of the standalone stream reading, if any
	first  bool   // the watch's first read
}

// read scans the log of session id for events of r.stream. It returns
// ErrNotFound when the session does not exist.
func (s *Store) read(ctx context.Context, id string, r readArgs) (page, error) {
	start := r.after.String()
	if r.tail {
		start = "$"
	}
	reply, err := readEventsScript.Run(ctx, s.rdb, s.keys(id), start, readPageSize, r.stream,
		s.liveChannel(id), r.watch, formatBool(r.first)).Slice()
	if errors.Is(err, redis.Nil) {
		return page{}, ErrNotFound
	}
	if err != nil {
		return page{}, fmt.Errorf("read events: %w", err)
	}
	return decodePage(reply)
}

// decodePage decodes a reply of readEventsScript.
func decodePage(reply []any) (page, error) {
	if len(reply) < 4 || (len(reply)-4)%3 != 0 {
		return page{}, fmt.Errorf("%w: read script replied %d values", ErrCorrupt, len(reply))
	}
	lastText, _ := reply[0].(string)
	more, _ := reply[1].(int64)
	owner, _ := reply[2].(string)
	ended, _ := reply[3].(int64)
	last, ok := parseEntryID(lastText)
	if !ok {
		return page{}, fmt.Errorf("%w: entry id %q", ErrCorrupt, lastText)
	}
	p := page{last: last, more: more == 1, owner: owner, ended: ended == 1}
	for i := 4; i < len(reply); i += 3 {
		idText, _ := reply[i].(string)
		msg, _ := reply[i+1].(string)
		final, _ := reply[i+2].(string)
		id, ok := parseEntryID(idText)
		if !ok {
			return page{}, fmt.Errorf("%w: entry id %q", ErrCorrupt, idText)
		}
		p.events = append(p.events, logEvent{id: id, message: msg, final: final == "1"})
	}
	return p, nil
}
