package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Resource subscriptions are kept twice: in the session's own set
// (":subs", expiring with the session) and in a reverse index, one set of
// session ids per URI at namespace+":sub:"+uri, which is what
// PublishResourceUpdated reads. The index cannot share the session's hash
// tag, so it is updated outside the scripts and may hold ids of sessions
// that are gone or no longer subscribed; PublishResourceUpdated drops
// those when it meets them.

// maxURILen is the length of the longest URI a subscription takes.
const maxURILen = 8192

// subscribeScript adds ARGV[1] to the session's subscriptions, which
// take the session hash's remaining life. It replies false when the
// session does not exist.
var subscribeScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
redis.call('SADD', KEYS[3], ARGV[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
return 1
`)

// unsubscribeScript removes ARGV[1] from the session's subscriptions. It
// replies false when the session does not exist.
var unsubscribeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('SREM', KEYS[3], ARGV[1])
return 1
`)

// indexKey is the reverse-index key of uri.
func (s *Store) indexKey(uri string) string { return s.ns + ":sub:" + uri }

// checkURI accepts 1 to maxURILen bytes of UTF-8, which the notification
// can carry unchanged.
func checkURI(uri string) error {
	if uri == "" || len(uri) > maxURILen || !utf8.ValidString(uri) {
		return fmt.Errorf("%w: uri must be 1 to %d bytes of UTF-8", ErrInvalidArgument,
			maxURILen)
	}
	return nil
}

// Subscribe records that session id wants notifications/resources/updated
// for uri.
func (s *Store) Subscribe(ctx context.Context, id, uri string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if err := checkURI(uri); err != nil {
		return err
	}
	// Index first: a crash between the two steps then leaves a stale index
	// entry, which is harmless, rather than a subscription never notified.
	if err := s.rdb.SAdd(ctx, s.indexKey(uri), id).Err(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	err := subscribeScript.Run(ctx, s.rdb, s.keys(id), uri).Err()
	if errors.Is(err, redis.Nil) {
		s.rdb.SRem(ctx, s.indexKey(uri), id) // Best effort: stale entries are dropped later.
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// Unsubscribe drops a subscription; dropping an absent one is not an
// error. It returns ErrNotFound when the session does not exist.
func (s *Store) Unsubscribe(ctx context.Context, id, uri string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if err := checkURI(uri); err != nil {
		return err
	}
	err := unsubscribeScript.Run(ctx, s.rdb, s.keys(id), uri).Err()
	missing := errors.Is(err, redis.Nil)
	if err != nil && !missing {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	// Even for a missing session: its index entry is stale now.
	if err := s.rdb.SRem(ctx, s.indexKey(uri), id).Err(); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	if missing {
		return ErrNotFound
	}
	return nil
}

// publishBatch is how many sessions PublishResourceUpdated handles per
// round trip.
const publishBatch = 128

// PublishResourceUpdated appends notifications/resources/updated for uri
// to the standalone stream of every session subscribed to it, and returns
// how many there were. Index entries of sessions that are gone or no
// longer subscribed are dropped on the way.
//
// Known shortcoming: the per-URI index has no expiry of its own; entries
// of sessions that expired stay until that URI is next published.
func (s *Store) PublishResourceUpdated(ctx context.Context, uri string) (int, error) {
	if err := checkURI(uri); err != nil {
		return 0, err
	}
	message, err := resourceUpdated(uri)
	if err != nil {
		return 0, err
	}
	ids, err := s.rdb.SMembers(ctx, s.indexKey(uri)).Result()
	if err != nil {
		return 0, fmt.Errorf("publish resource updated: %w", err)
	}
	told := 0
	for len(ids) > 0 {
		n := min(len(ids), publishBatch)
		sent, err := s.notify(ctx, ids[:n], uri, message)
		told += sent
		if err != nil {
			return told, fmt.Errorf("publish resource updated: %w", err)
		}
		ids = ids[n:]
	}
	return told, nil
}

// notify appends message to the standalone stream of each session in ids
// that is subscribed to uri, in one pipeline, and drops the others from
// the index. It returns how many sessions it told.
func (s *Store) notify(ctx context.Context, ids []string, uri, message string) (int, error) {
	cmds := make([]*redis.Cmd, len(ids))
	// Errors are read from each command below: a false reply (a session
	// that is gone) is one too.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			// Eval, not Run: a pipeline cannot fall back from EVALSHA.
			cmds[i] = appendScript.Eval(ctx, p, s.keys(id),
				s.appendArgs(id, Standalone, message, false, uri)...)
		}
		return nil
	})
	told := 0
	var stale []any
	for i, cmd := range cmds {
		switch v, err := cmd.Result(); {
		case errors.Is(err, redis.Nil), v == int64(0):
			stale = append(stale, ids[i])
		case err != nil:
			return told, err
		default:
			told++
		}
	}
	if len(stale) > 0 {
		if err := s.rdb.SRem(ctx, s.indexKey(uri), stale...).Err(); err != nil {
			return told, err
		}
	}
	return told, nil
}

// dropFromIndex removes session id from the reverse index of each URI in
// uris, the reply of deleteScript.
func (s *Store) dropFromIndex(ctx context.Context, id string, uris []any) error {
	if len(uris) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range uris {
			if uri, ok := u.(string); ok {
				p.SRem(ctx, s.indexKey(uri), id)
			}
		}
		return nil
	})
	return err
}

// resourceUpdated returns the notification for uri. HTML escaping is off
// so that the URI reads as it was given.
func resourceUpdated(uri string) (string, error) {
	type params struct {
		URI string `json:"uri"`
	}
	msg := struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  params `json:"params"`
	}{"2.0", "notifications/resources/updated", params{uri}}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return "", fmt.Errorf("%w: uri: %v", ErrInvalidArgument, err)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}
