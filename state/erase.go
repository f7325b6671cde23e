package state

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// maxEraseDepth bounds how deep Erase follows Absorbed lists.
const maxEraseDepth = 32

// Erase removes a lead for good (GDPR erasure): its record (which holds its
// leaderboard position and timer), the index entries of its identities that still point
// at it, and, recursively, the tombstones of the leads it absorbed. It is
// idempotent: erasing an unknown or already erased lead does nothing. After
// it, events for the same identities resolve to their home leads, which do
// not exist: they start from nothing. A writer that still holds the erased
// record gets ErrConflict.
//
// Erase makes two round trips per level of absorbed leads. On a retryable
// error, part of the erasure may have happened: call Erase again.
func (s *Store) Erase(ctx context.Context, leadID string) error {
	if err := validLeadID(leadID); err != nil {
		return fmt.Errorf("state: erase: %w", err)
	}
	seen := map[string]bool{}
	level := []string{leadID}
	for depth := 0; len(level) > 0 && depth < maxEraseDepth; depth++ {
		var next []string
		erased, err := s.eraseRecords(ctx, level, seen)
		if err != nil {
			return err
		}
		type un struct {
			lead string
			loc  indexLoc
		}
		var uns []un
		for id, snap := range erased {
			for _, ident := range snap.identities {
				if loc := s.lay.index(ident); loc.home != id {
					uns = append(uns, un{id, loc})
				}
			}
			for _, a := range snap.absorbed {
				if !seen[a] {
					next = append(next, a)
				}
			}
		}
		if len(uns) > 0 {
			cmds := make([]*redis.Cmd, len(uns))
			_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
				for i, u := range uns {
					cmds[i] = unindexLua.Eval(ctx, p, []string{u.loc.key}, u.loc.field, u.lead)
				}
			})
			for _, c := range cmds {
				if err := c.Err(); err != nil {
					return wrapErr("erase: index", err)
				}
			}
		}
		level = next
	}
	return nil
}

// eraseRecords deletes the records (and timers and board entries) of ids, in
// one round trip, and returns the decoded records that existed.
func (s *Store) eraseRecords(ctx context.Context, ids []string, seen map[string]bool) (map[string]*snapshot, error) {
	cmds := make([]*redis.Cmd, len(ids))
	_, _ = s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			seen[id] = true
			b := s.lay.bucket(id)
			cmds[i] = eraseLua.Eval(ctx, p, []string{s.lay.recordKey(b)}, id)
		}
	})
	out := map[string]*snapshot{}
	for i, c := range cmds {
		v, err := c.Result()
		if err == redis.Nil || (err == nil && v == nil) {
			continue
		}
		if err != nil {
			return nil, wrapErr("erase "+ids[i], err)
		}
		raw, ok := v.(string)
		if !ok {
			continue
		}
		snap, _, err := decodeRecord([]byte(raw))
		if err != nil {
			// A corrupt record is deleted all the same; its identities are
			// unknown.
			continue
		}
		out[ids[i]] = snap
	}
	return out, nil
}
