package state

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Load reads the records of the given leads in one round trip. The map has
// an entry for every requested id: leads without a record get a Record with
// only LeadID set (Version 0), which is the Base to create them with. A
// tombstone is returned as such; the caller follows MergedInto. On error
// nothing is returned; an error wrapping ErrUnavailable means Redis could not
// answer and the caller should retry later; any other error (a record that
// does not decode) is not transient.
func (s *Store) Load(ctx context.Context, leadIDs []string) (map[string]Record, error) {
	out := make(map[string]Record, len(leadIDs))
	if len(leadIDs) == 0 {
		return out, nil
	}
	ids := make([]string, 0, len(leadIDs))
	for _, id := range leadIDs {
		if err := validLeadID(id); err != nil {
			return nil, fmt.Errorf("state: load: %w", err)
		}
		if _, dup := out[id]; !dup {
			out[id] = Record{LeadID: id}
			ids = append(ids, id)
		}
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, s.lay.recordKey(s.lay.bucket(id)), id)
		}
	})
	for i, id := range ids {
		raw, err := cmds[i].Bytes()
		if err == redis.Nil {
			continue
		}
		if err != nil {
			return nil, wrapErr("load "+id, err)
		}
		snap, data, err := decodeRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("state: load %s: %w", id, err)
		}
		rec, err := s.record(ctx, id, snap, data)
		if err != nil {
			return nil, err
		}
		out[id] = rec
	}
	return out, nil
}

// Get returns one lead's record, or ErrNotFound. It is the read side's
// lookup; a tombstone is returned as such (see Record.MergedInto).
func (s *Store) Get(ctx context.Context, leadID string) (Record, error) {
	m, err := s.Load(ctx, []string{leadID})
	if err != nil {
		return Record{}, err
	}
	r := m[leadID]
	if r.Version == 0 {
		return Record{}, fmt.Errorf("state: get %s: %w", leadID, ErrNotFound)
	}
	return r, nil
}

// Resolve maps identities to leads in one round trip: for each identity, the
// lead its index entry names, or else its home lead (HomeLeadID). Every
// requested identity gets an answer, which is a hint to check with Load:
//
//   - the lead does not exist: the identity is new, and its lead is to be
//     created under that id;
//   - the lead is a tombstone: follow MergedInto (a stitch in progress or
//     done; see docs/state.md);
//   - the lead exists but does not list the identity: a home-id collision
//     (two identities with the same 64-bit digest prefix: about 0.03
//     expected colliding pairs among a billion identities); create the lead
//     with another id and pass the identity in Update.Identities, which
//     indexes it explicitly.
func (s *Store) Resolve(ctx context.Context, identities []string) (map[string]string, error) {
	out := make(map[string]string, len(identities))
	if len(identities) == 0 {
		return out, nil
	}
	type q struct {
		ident string
		home  string
		cmd   *redis.StringCmd
	}
	qs := make([]q, 0, len(identities))
	for _, ident := range identities {
		if ident == "" || len(ident) > maxIdentityLen {
			return nil, fmt.Errorf("state: resolve: invalid identity %.40q", ident)
		}
		if _, dup := out[ident]; dup {
			continue
		}
		out[ident] = ""
		qs = append(qs, q{ident: ident})
	}
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		for i := range qs {
			loc := s.lay.index(qs[i].ident)
			qs[i].home = loc.home
			qs[i].cmd = p.HGet(ctx, loc.key, loc.field)
		}
	})
	for _, x := range qs {
		v, err := x.cmd.Result()
		switch {
		case err == redis.Nil:
			out[x.ident] = x.home
		case err != nil:
			return nil, wrapErr("resolve", err)
		default:
			out[x.ident] = v
		}
	}
	return out, nil
}

// Ranked is one leaderboard entry.
type Ranked struct {
	LeadID string
	// Rank is the rank last written for the lead, at the store's
	// resolution (1/RankScale).
	Rank float64
}

// Top returns up to limit leads of stage's leaderboard, best rank first
// (ties by lead id, descending). A lead's rank lives in its record, and each
// record bucket keeps the best rank of each stage as a summary; Top runs one
// script per shard (all in one round trip) that reads the summaries, decodes
// the records of the buckets that can still make the top in decreasing
// order of summary, and merges. It costs Redis one small read per record
// bucket plus a few dozen bucket scans per shard (about 0.2 s at a million
// leads): cache its answer rather than call it per request. limit must be in
// [1, 1000].
func (s *Store) Top(ctx context.Context, stage string, limit int) ([]Ranked, error) {
	if limit < 1 || limit > 1000 {
		return nil, fmt.Errorf("state: top: limit %d not in [1, 1000]", limit)
	}
	if err := validName("stage", stage); err != nil {
		return nil, fmt.Errorf("state: top: %w", err)
	}
	sid, ok := s.dictID('s', stage)
	if !ok {
		if err := s.refreshDict(ctx); err != nil {
			return nil, wrapErr("top", err)
		}
		if sid, ok = s.dictID('s', stage); !ok {
			return nil, nil // no lead ever reached this stage
		}
	}
	cmds, err := s.evalPerShard(ctx, topLua, s.lay.shardRecordKeys, boardField+strconv.FormatUint(sid, 10), sid, limit)
	if err != nil {
		return nil, wrapErr("top", err)
	}
	var all []Ranked
	for _, c := range cmds {
		vals, err := c.StringSlice()
		if err != nil {
			return nil, wrapErr("top", err)
		}
		for i := 0; i+1 < len(vals); i += 2 {
			v, err := strconv.ParseInt(vals[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("state: top: bad rank %q", vals[i+1])
			}
			all = append(all, Ranked{LeadID: vals[i], Rank: float64(v-rankBias) / s.scale})
		}
	}
	slices.SortFunc(all, func(a, b Ranked) int {
		if a.Rank != b.Rank {
			if a.Rank > b.Rank {
				return -1
			}
			return 1
		}
		return -bytes.Compare([]byte(a.LeadID), []byte(b.LeadID))
	})
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// evalPerShard runs one script call per shard in one pipeline (again with
// EVAL for nodes that lost the script).
func (s *Store) evalPerShard(ctx context.Context, sc *redis.Script, keys func(uint64) []string, args ...interface{}) ([]*redis.Cmd, error) {
	n := s.lay.shards
	cmds := make([]*redis.Cmd, n)
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		for sh := uint64(0); sh < n; sh++ {
			cmds[sh] = sc.EvalSha(ctx, p, keys(sh), args...)
		}
	})
	var retry []uint64
	for sh, c := range cmds {
		if isNoScript(c.Err()) {
			retry = append(retry, uint64(sh))
		} else if err := c.Err(); err != nil {
			return nil, err
		}
	}
	if len(retry) > 0 {
		_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
			for _, sh := range retry {
				cmds[sh] = sc.Eval(ctx, p, keys(sh), args...)
			}
		})
		for _, sh := range retry {
			if err := cmds[sh].Err(); err != nil {
				return nil, err
			}
		}
	}
	return cmds, nil
}
