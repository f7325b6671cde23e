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
	q, err := s.loadQuery(leadIDs)
	if err != nil {
		return nil, err
	}
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) { q.queue(ctx, p) })
	return q.finish(ctx)
}

// loadQ is a Load split in two halves, so that it can share a pipeline.
type loadQ struct {
	s    *Store
	out  map[string]Record
	ids  []string
	cmds []*redis.StringCmd
}

func (s *Store) loadQuery(leadIDs []string) (*loadQ, error) {
	q := &loadQ{s: s, out: make(map[string]Record, len(leadIDs)), ids: make([]string, 0, len(leadIDs))}
	for _, id := range leadIDs {
		if err := validLeadID(id); err != nil {
			return nil, fmt.Errorf("state: load: %w", err)
		}
		if _, dup := q.out[id]; !dup {
			q.out[id] = Record{LeadID: id}
			q.ids = append(q.ids, id)
		}
	}
	return q, nil
}

func (q *loadQ) queue(ctx context.Context, p redis.Pipeliner) {
	q.cmds = make([]*redis.StringCmd, len(q.ids))
	for i, id := range q.ids {
		q.cmds[i] = p.HGet(ctx, q.s.lay.recordKey(q.s.lay.bucket(id)), id)
	}
}

func (q *loadQ) finish(ctx context.Context) (map[string]Record, error) {
	for i, id := range q.ids {
		raw, err := q.cmds[i].Bytes()
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
		rec, err := q.s.record(ctx, id, snap, data)
		if err != nil {
			return nil, err
		}
		q.out[id] = rec
	}
	return q.out, nil
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
	q, err := s.resolveQuery(identities)
	if err != nil {
		return nil, err
	}
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) { q.queue(ctx, p) })
	return q.finish()
}

// ResolveLoad is Resolve of the identities and Load of the same strings as
// lead ids, in one round trip: for callers that name leads by an identity
// key (as leadscore's processor does), the leads an identity may belong to
// without an index entry. Leads the index names elsewhere still need a Load.
// Every identity must be a valid lead id too.
func (s *Store) ResolveLoad(ctx context.Context, identities []string) (map[string]string, map[string]Record, error) {
	rq, err := s.resolveQuery(identities)
	if err != nil {
		return nil, nil, err
	}
	lq, err := s.loadQuery(identities)
	if err != nil {
		return nil, nil, err
	}
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		rq.queue(ctx, p)
		lq.queue(ctx, p)
	})
	idx, err := rq.finish()
	if err != nil {
		return nil, nil, err
	}
	recs, err := lq.finish(ctx)
	if err != nil {
		return nil, nil, err
	}
	return idx, recs, nil
}

// resolveQ is a Resolve split in two halves, so that it can share a pipeline.
type resolveQ struct {
	s   *Store
	out map[string]string
	qs  []resolveOne
}

type resolveOne struct {
	ident string
	home  string
	cmd   *redis.StringCmd
}

func (s *Store) resolveQuery(identities []string) (*resolveQ, error) {
	q := &resolveQ{s: s, out: make(map[string]string, len(identities)), qs: make([]resolveOne, 0, len(identities))}
	for _, ident := range identities {
		if ident == "" || len(ident) > maxIdentityLen {
			return nil, fmt.Errorf("state: resolve: invalid identity %.40q", ident)
		}
		if _, dup := q.out[ident]; dup {
			continue
		}
		q.out[ident] = ""
		q.qs = append(q.qs, resolveOne{ident: ident})
	}
	return q, nil
}

func (q *resolveQ) queue(ctx context.Context, p redis.Pipeliner) {
	for i := range q.qs {
		loc := q.s.lay.index(q.qs[i].ident)
		q.qs[i].home = loc.home
		q.qs[i].cmd = p.HGet(ctx, loc.key, loc.field)
	}
}

func (q *resolveQ) finish() (map[string]string, error) {
	for _, x := range q.qs {
		v, err := x.cmd.Result()
		switch {
		case err == redis.Nil:
			q.out[x.ident] = x.home
		case err != nil:
			return nil, wrapErr("resolve", err)
		default:
			q.out[x.ident] = v
		}
	}
	return q.out, nil
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
	cmds, err := s.evalShards(ctx, topLua, s.lay.allShards(), s.lay.shardRecordKeys, boardField+strconv.FormatUint(sid, 10), sid, limit)
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

// evalShards runs one script call per shard of shards in one pipeline (again
// with EVAL for nodes that lost the script); cmds[i] answers shards[i].
func (s *Store) evalShards(ctx context.Context, sc *redis.Script, shards []uint64, keys func(uint64) []string, args ...interface{}) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(shards))
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, sh := range shards {
			cmds[i] = sc.EvalSha(ctx, p, keys(sh), args...)
		}
	})
	var retry []int
	for i, c := range cmds {
		if isNoScript(c.Err()) {
			retry = append(retry, i)
		} else if err := c.Err(); err != nil {
			return nil, err
		}
	}
	if len(retry) > 0 {
		_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
			for _, i := range retry {
				cmds[i] = sc.Eval(ctx, p, keys(shards[i]), args...)
			}
		})
		for _, i := range retry {
			if err := cmds[i].Err(); err != nil {
				return nil, err
			}
		}
	}
	return cmds, nil
}
