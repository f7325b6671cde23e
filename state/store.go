package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Store is the Redis store of per-lead state. It is safe for concurrent use.
// Every method that talks to Redis takes a context, makes a fixed number of
// round trips whatever the batch size, never retries by itself, and returns
// errors that wrap ErrUnavailable (see IsRetryable) when Redis is
// unreachable, times out or is failing over.
type Store struct {
	rdb     redis.UniversalClient
	cluster bool
	lay     layout
	scale   float64
	// groupSize overrides maxGroup (benchmarks: 1 = one script per lead).
	groupSize int

	mu    sync.RWMutex
	ids   map[dictName]uint64 // ('t', topic), ('s', stage) -> id
	names map[dictID]string   // ('t', id), ('s', id) -> name
	// Caches of derived strings. Plain maps under their own lock, not
	// sync.Map: boxing a uint64 key for sync.Map allocates on every lookup.
	cacheMu sync.RWMutex
	fields  map[uint64]string // stage id -> "~b<id>"
	srcs    map[uint64]string // topic id<<32 | partition -> "topic/partition"
	// nameDict is the current copy of the name dictionary (names.go),
	// read without a lock by every encoding and decoding of a lead;
	// nameMu orders the writers that publish a newer one.
	nameMu   sync.Mutex
	nameDict atomic.Pointer[NameDict]
}

// sourceName is the Offsets key of a dictionary topic id and a partition
// ("" while the topic id is unknown).
func (s *Store) sourceName(topic, partition uint64) string {
	k := topic<<32 | partition
	s.cacheMu.RLock()
	v, ok := s.srcs[k]
	s.cacheMu.RUnlock()
	if ok {
		return v
	}
	name, ok := s.dictName('t', topic)
	if !ok {
		return ""
	}
	v = name + "/" + strconv.FormatUint(partition, 10)
	s.cacheMu.Lock()
	s.srcs[k] = v
	s.cacheMu.Unlock()
	return v
}

// stageField is the leaderboard summary field of a stage id.
func (s *Store) stageField(stage uint64) string {
	s.cacheMu.RLock()
	f, ok := s.fields[stage]
	s.cacheMu.RUnlock()
	if ok {
		return f
	}
	f = boardField + strconv.FormatUint(stage, 10)
	s.cacheMu.Lock()
	s.fields[stage] = f
	s.cacheMu.Unlock()
	return f
}

// New validates opts, connects, checks (or, on first use of the prefix,
// records) the key layout and loads the scripts. It fails with an error that
// wraps ErrUnavailable when Redis cannot be reached, so a caller can retry
// with backoff, and with a plain error when the options are invalid or
// differ from the layout already stored under the prefix.
func New(ctx context.Context, opts Options) (*Store, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := opts.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	s := &Store{
		rdb:     newClient(&opts, tlsCfg),
		cluster: opts.Cluster,
		lay:     newLayout(&opts),
		scale:   opts.RankScale,
		ids:     map[dictName]uint64{},
		names:   map[dictID]string{},
		fields:  map[uint64]string{},
		srcs:    map[uint64]string{},
	}
	s.nameDict.Store(&NameDict{ids: map[string]uint64{}})
	if err := s.init(ctx); err != nil {
		_ = s.rdb.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	if err := s.loadScripts(ctx); err != nil {
		return wrapErr("connect", err)
	}
	meta, err := metaLua.Run(ctx, s.rdb, []string{s.lay.metaKey()}, s.lay.describe()).StringSlice()
	if err != nil {
		return wrapErr("connect", err)
	}
	m := pairs(meta)
	if got, want := m["layout"], s.lay.describe(); got != want {
		return fmt.Errorf("state: prefix %q holds a store with layout %q; options give %q (changing Buckets or TimerShards needs a migration)", s.lay.prefix, got, want)
	}
	s.setDict(m)
	return nil
}

// loadScripts preloads the scripts on every master so that the first
// pipelined EVALSHA finds them; a node that lost them (restart, failover,
// SCRIPT FLUSH) is handled by a fallback to EVAL.
func (s *Store) loadScripts(ctx context.Context) error {
	load := func(ctx context.Context, c redis.Cmdable) error {
		for _, sc := range allScripts {
			if err := sc.Load(ctx, c).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return load(ctx, c) })
	}
	return load(ctx, s.rdb)
}

func pairs(kv []string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func (s *Store) setDict(m map[string]string) {
	s.setNames(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	for f, v := range m {
		if len(f) < 2 || f[0] == 'n' {
			continue // the name dictionary has its own copy (names.go)
		}
		switch f[1] {
		case ':':
			if id, err := strconv.ParseUint(v, 10, 64); err == nil {
				s.ids[dictName{f[0], f[2:]}] = id
			}
		case '@':
			if id, err := strconv.ParseUint(f[2:], 10, 64); err == nil {
				s.names[dictID{f[0], id}] = v
			}
		}
	}
}

// refreshDict reloads the dictionaries (after meeting an id that another
// process assigned).
func (s *Store) refreshDict(ctx context.Context) error {
	m, err := s.rdb.HGetAll(ctx, s.lay.metaKey()).Result()
	if err != nil {
		return err
	}
	s.setDict(m)
	return nil
}

// dictName and dictID key the in-memory dictionaries by kind ('t' topic,
// 's' stage) without building a string per lookup: Write and Applied look
// names up once per lead.
type (
	dictName struct {
		kind byte
		name string
	}
	dictID struct {
		kind byte
		id   uint64
	}
)

func (s *Store) dictID(kind byte, name string) (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.ids[dictName{kind, name}]
	return id, ok
}

func (s *Store) dictName(kind byte, id uint64) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.names[dictID{kind, id}]
	return n, ok
}

// ensureIDs registers the names not yet in the dictionary, in one round trip
// (none when all are known).
func (s *Store) ensureIDs(ctx context.Context, topics, stages map[string]bool) error {
	var missT, missS []interface{}
	for t := range topics {
		if _, ok := s.dictID('t', t); !ok {
			missT = append(missT, t)
		}
	}
	for st := range stages {
		if _, ok := s.dictID('s', st); !ok {
			missS = append(missS, st)
		}
	}
	if len(missT)+len(missS) == 0 {
		return nil
	}
	keys := []string{s.lay.metaKey()}
	cmds := make([]*redis.Cmd, 0, 2)
	_, err := s.pipelined(ctx, func(p redis.Pipeliner) {
		if len(missT) > 0 {
			cmds = append(cmds, dictLua.EvalSha(ctx, p, keys, append([]interface{}{"t"}, missT...)...))
		}
		if len(missS) > 0 {
			cmds = append(cmds, dictLua.EvalSha(ctx, p, keys, append([]interface{}{"s"}, missS...)...))
		}
	})
	if err != nil {
		// NOSCRIPT or a failure: fall back to plain EVAL, one by one.
		cmds = cmds[:0]
		if len(missT) > 0 {
			cmds = append(cmds, dictLua.Eval(ctx, s.rdb, keys, append([]interface{}{"t"}, missT...)...))
		}
		if len(missS) > 0 {
			cmds = append(cmds, dictLua.Eval(ctx, s.rdb, keys, append([]interface{}{"s"}, missS...)...))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cmds {
		vals, err := c.Int64Slice()
		if err != nil {
			return err
		}
		args := c.Args()
		kind := args[len(args)-len(vals)-1].(string)[0]
		for i, v := range vals {
			name := args[len(args)-len(vals)+i].(string)
			s.ids[dictName{kind, name}] = uint64(v)
			s.names[dictID{kind, uint64(v)}] = name
		}
	}
	return nil
}

// pipelined runs fn's commands in one pipeline and returns them. The error is
// the first command error, as go-redis reports it.
func (s *Store) pipelined(ctx context.Context, fn func(redis.Pipeliner)) ([]redis.Cmder, error) {
	p := s.rdb.Pipeline()
	fn(p)
	if p.Len() == 0 {
		return nil, nil
	}
	return p.Exec(ctx)
}

// isNoScript reports a script missing from a node's cache.
func isNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

// Ping checks that Redis answers (every master, in Cluster). Use it for a
// readiness probe; its error wraps ErrUnavailable when Redis is down.
func (s *Store) Ping(ctx context.Context) error {
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return wrapErr("ping", cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		}))
	}
	return wrapErr("ping", s.rdb.Ping(ctx).Err())
}

// addHook installs a go-redis hook on the store's client, so tests can count
// round trips. In Cluster the hook sees each pipeline once, before it is split
// per node.
func (s *Store) addHook(h redis.Hook) { s.rdb.AddHook(h) }

// Close closes the connections. A closed store returns errors that are not
// retryable.
func (s *Store) Close() error { return s.rdb.Close() }

// TimerShards is the number of timer shards: ClaimDue accepts shards 0 to
// TimerShards()-1.
func (s *Store) TimerShards() int { return int(s.lay.shards) }

// TimerShard is the timer shard of a lead: the shard a ClaimDue sweep must
// cover to see the lead's deadline. It depends only on the lead id and the
// layout.
func (s *Store) TimerShard(leadID string) int {
	return int(s.lay.shardOfBucket(s.lay.bucket(leadID)))
}

func validName(kind, n string) error {
	if n == "" || len(n) > maxNameLen || strings.ContainsAny(n, "\x00") {
		return fmt.Errorf("invalid %s name %q", kind, n)
	}
	return nil
}

func validLeadID(id string) error {
	if id == "" {
		return errors.New("empty lead id")
	}
	if id[0] == '~' || strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("lead id %q starts with '~' or holds NUL", id)
	}
	if len(id) > maxLeadIDLen {
		return fmt.Errorf("lead id %.20q… longer than %d bytes", id, maxLeadIDLen)
	}
	return nil
}
