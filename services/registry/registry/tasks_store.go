package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"switchboard.dev/pkg/redisx"
	registryv1 "switchboard.dev/proto/switchboard/registry/v1"
)

// Tasks live under the hash tag of the session that created them, beside
// the session's own keys, so that a task is bound to its session by its
// very key (another session's id names another key) and one script may
// touch a session's tasks together even on Redis Cluster:
//
//	<ns>:{<session>}:task:<id>  HASH  status, message, created and updated
//	                                  (Unix ms, Redis clock), created_us
//	                                  (the same in µs), ttl and poll
//	                                  (ms), stream, tool, pending (JSON
//	                                  array of request messages), result
//	                                  and error (JSON)
//	<ns>:{<session>}:tasks      ZSET  "<created µs, 16 digits>:<id>",
//	                                  score 0: creation order (scripts
//	                                  run one at a time, so two tasks
//	                                  never share a microsecond)
//
// A task's hash expires ttl after creation, whatever its status. The
// index lives as long as its longest-lived task, and loses the members of
// expired tasks as they are listed.
//
// Known shortcoming: deleting a session does not delete its tasks; they
// stay, unreachable, until their ttl (at most -max-task-ttl) ends.

// The MCP task statuses (2025-11-25, Tasks, Task Status).
const (
	taskWorking       = "working"
	taskInputRequired = "input_required"
	taskCompleted     = "completed"
	taskFailed        = "failed"
	taskCancelled     = "cancelled"
)

// terminal tells whether a status is final.
func terminal(status string) bool {
	return status == taskCompleted || status == taskFailed || status == taskCancelled
}

// taskLua holds the helpers of the task scripts.
const taskLua = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function terminal(status)
  return status == 'completed' or status == 'failed' or status == 'cancelled'
end
`

// createTaskScript stores a new task in status working and indexes it.
//
// KEYS: the task, the session's index. ARGV: id, ttl ms, poll ms, stream,
// tool. Returns the creation time in Unix µs.
var createTaskScript = redis.NewScript(taskLua + `
local us = now_us()
local now = string.format('%.0f', math.floor(us / 1000))
local created_us = string.format('%016.0f', us)
redis.call('HSET', KEYS[1], 'status', 'working', 'message', '', 'created', now,
  'created_us', created_us, 'updated', now, 'ttl', ARGV[2], 'poll', ARGV[3],
  'stream', ARGV[4], 'tool', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, created_us .. ':' .. ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return created_us
`)

// updateTaskScript moves a task to a status, unless it is in a terminal
// one already, which never changes (2025-11-25, Tasks, Task Status
// Lifecycle). The update time moves only when the status or its message
// changes.
//
// KEYS: the task. ARGV: status, message, pending, result, error. Returns
// false when the task does not exist, else {changed (0 or 1), then the
// task's fields and values as HGETALL lists them}.
var updateTaskScript = redis.NewScript(taskLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local cur = redis.call('HMGET', KEYS[1], 'status', 'message')
local changed = 0
if not terminal(cur[1]) then
  if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then
    changed = 1
    redis.call('HSET', KEYS[1], 'status', ARGV[1], 'message', ARGV[2],
      'updated', string.format('%.0f', now_ms()))
  end
  redis.call('HSET', KEYS[1], 'pending', ARGV[3], 'result', ARGV[4], 'error', ARGV[5])
end
local out = {changed}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
`)

// listTasksScript reads up to ARGV[3] tasks of a session in creation
// order, from the ZRANGEBYLEX bound ARGV[2], dropping the index members
// of tasks that expired. The task keys are built from the prefix ARGV[1];
// they share the index's hash tag, so they live on its cluster slot.
//
// KEYS: the session's index. Returns a flat list of (member, the task's
// HGETALL list) pairs.
var listTasksScript = redis.NewScript(`
local prefix, start, want = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out, found = {}, 0
while found < want do
  local members = redis.call('ZRANGEBYLEX', KEYS[1], start, '+', 'LIMIT', 0, want - found)
  if #members == 0 then break end
  for _, m in ipairs(members) do
    local fields = redis.call('HGETALL', prefix .. string.sub(m, 18))
    if #fields == 0 then
      redis.call('ZREM', KEYS[1], m)
    else
      out[#out + 1] = m
      out[#out + 1] = fields
      found = found + 1
    end
    start = '(' .. m
  end
end
return out
`)

// taskRecord is a task as stored, with its outcome once it has one.
type taskRecord struct {
	task *registryv1.Task
	// result is the CallToolResult, error the JSON-RPC error object; at
	// most one is set, and only in a terminal status.
	result, err string
}

// taskSpec describes a task to create.
type taskSpec struct {
	session, id, stream, tool string
	ttl, poll                 time.Duration
}

// taskKey is the key of a session's task.
func (s *Store) taskKey(session, id string) string {
	return redisx.Tag(s.ns, session) + ":task:" + id
}

// taskIndex is the key of a session's task index.
func (s *Store) taskIndex(session string) string {
	return redisx.Tag(s.ns, session) + ":tasks"
}

// taskMember is a task's member in its session's index.
func taskMember(t *registryv1.Task) string {
	return fmt.Sprintf("%016d:%s", t.GetCreateTime().AsTime().UnixMicro(), t.GetTaskId())
}

// createdAt is a task's creation time, to the microsecond when stored so.
func createdAt(f map[string]string) time.Time {
	if us, err := strconv.ParseInt(f["created_us"], 10, 64); err == nil {
		return time.UnixMicro(us)
	}
	ms, _ := strconv.ParseInt(f["created"], 10, 64)
	return time.UnixMilli(ms)
}

// CreateTask stores a new task in status working and returns it.
func (s *Store) CreateTask(ctx context.Context, spec taskSpec) (*registryv1.Task, error) {
	created, err := createTaskScript.Run(ctx, s.rdb,
		[]string{s.taskKey(spec.session, spec.id), s.taskIndex(spec.session)},
		spec.id, spec.ttl.Milliseconds(), spec.poll.Milliseconds(), spec.stream,
		spec.tool).Text()
	if err != nil {
		return nil, fmt.Errorf("create task: %w", err)
	}
	us, _ := strconv.ParseInt(created, 10, 64)
	at := time.UnixMicro(us)
	return &registryv1.Task{
		TaskId: spec.id, SessionId: spec.session, Status: taskWorking,
		CreateTime: timestamppb.New(at), UpdateTime: timestamppb.New(at),
		Ttl: durationpb.New(spec.ttl), PollInterval: durationpb.New(spec.poll),
		Stream: spec.stream, Tool: spec.tool,
	}, nil
}

// Task reads a session's task. It fails with ErrNotFound when the session
// has no such task.
func (s *Store) Task(ctx context.Context, session, id string) (taskRecord, error) {
	fields, err := s.rdb.HGetAll(ctx, s.taskKey(session, id)).Result()
	if err != nil {
		return taskRecord{}, fmt.Errorf("read task: %w", err)
	}
	if len(fields) == 0 {
		return taskRecord{}, errNoTask(id)
	}
	return decodeTask(session, id, fields)
}

// taskUpdate is the state a task moves to.
type taskUpdate struct {
	status, message string
	// pending lists the unanswered requests to the client.
	pending []string
	// result or err is the outcome, for a terminal status.
	result, err string
}

// UpdateTask moves a task to u unless its status is terminal already. It
// returns the task as it is now, and whether its status or message
// changed. It fails with ErrNotFound when the task no longer exists.
func (s *Store) UpdateTask(ctx context.Context, session, id string, u taskUpdate) (
	taskRecord, bool, error) {
	pending := ""
	if len(u.pending) > 0 {
		b, err := json.Marshal(u.pending)
		if err != nil {
			return taskRecord{}, false, fmt.Errorf("encode pending requests: %w", err)
		}
		pending = string(b)
	}
	res, err := updateTaskScript.Run(ctx, s.rdb, []string{s.taskKey(session, id)},
		u.status, u.message, pending, u.result, u.err).Slice()
	if errors.Is(err, redis.Nil) {
		return taskRecord{}, false, errNoTask(id)
	}
	if err != nil {
		return taskRecord{}, false, fmt.Errorf("update task: %w", err)
	}
	rec, err := decodeTask(session, id, fieldMap(res[1:]))
	return rec, asInt(res[0]) == 1, err
}

// ListTasks returns up to limit live tasks of a session created after
// the index member after (from the first when empty), oldest first.
func (s *Store) ListTasks(ctx context.Context, session, after string, limit int) (
	[]*registryv1.Task, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	res, err := listTasksScript.Run(ctx, s.rdb, []string{s.taskIndex(session)},
		s.taskKey(session, ""), start, limit).Slice()
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	out := make([]*registryv1.Task, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		member := asString(res[i])
		fields, _ := res[i+1].([]any)
		rec, err := decodeTask(session, member[min(17, len(member)):], fieldMap(fields))
		if err != nil {
			return nil, err
		}
		out = append(out, rec.task)
	}
	return out, nil
}

func errNoTask(id string) error {
	return errorf(ErrNotFound, "task %q not found: it never existed, expired or belongs "+
		"to another session", id)
}

// fieldMap turns an HGETALL list into a map.
func fieldMap(list []any) map[string]string {
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		m[asString(list[i])] = asString(list[i+1])
	}
	return m
}

// decodeTask builds a task from its stored fields.
func decodeTask(session, id string, f map[string]string) (taskRecord, error) {
	ms := func(name string) int64 {
		n, _ := strconv.ParseInt(f[name], 10, 64)
		return n
	}
	t := &registryv1.Task{
		TaskId: id, SessionId: session, Status: f["status"], StatusMessage: f["message"],
		CreateTime:   timestamppb.New(createdAt(f)),
		UpdateTime:   timestamppb.New(time.UnixMilli(ms("updated"))),
		Ttl:          durationpb.New(time.Duration(ms("ttl")) * time.Millisecond),
		PollInterval: durationpb.New(time.Duration(ms("poll")) * time.Millisecond),
		Stream:       f["stream"], Tool: f["tool"],
	}
	if p := f["pending"]; p != "" {
		if err := json.Unmarshal([]byte(p), &t.PendingRequestsJson); err != nil {
			return taskRecord{}, fmt.Errorf("decode task %q: pending: %w", id, err)
		}
	}
	return taskRecord{task: t, result: f["result"], err: f["error"]}, nil
}
