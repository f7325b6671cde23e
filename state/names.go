package state

import (
	"context"
	"errors"
	"maps"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// NameDict is a copy of the store's name dictionary: the names lead states
// draw from their rules (rule and stage names, model versions…), each with
// the id the store gave it when a process first wrote it, 1, 2, … in that
// order. The processor encodes lead states with one (it implements
// scoring.NameTable), so that each record carries ids instead of the
// names; every reader of lead records decodes them with one.
//
// A copy never changes and holds every id from 1 to Len: the dictionary is
// append-only and an id is never given another name, so a copy decodes
// every state written with an older one, and a reader whose copy is too
// old for a record (its ids reach past Len) takes a newer one (NamesUpTo).
type NameDict struct {
	ids   map[string]uint64
	names []string // names[id-1]
}

// NameID returns the id of name, false when the dictionary has none.
func (d *NameDict) NameID(name string) (uint64, bool) {
	if d == nil {
		return 0, false
	}
	id, ok := d.ids[name]
	return id, ok
}

// Name returns the name of id, false when this copy does not know it.
func (d *NameDict) Name(id uint64) (string, bool) {
	if d == nil || id == 0 || id > uint64(len(d.names)) {
		return "", false
	}
	return d.names[id-1], true
}

// Len is the largest id of the copy: it knows every id from 1 to Len.
func (d *NameDict) Len() uint64 {
	if d == nil {
		return 0
	}
	return uint64(len(d.names))
}

// with returns a copy of d that also knows more, the names of ids Len+1,
// Len+2, ….
func (d *NameDict) with(more []string) *NameDict {
	n := &NameDict{ids: make(map[string]uint64, len(d.names)+len(more)), names: make([]string, 0, len(d.names)+len(more))}
	maps.Copy(n.ids, d.ids)
	n.names = append(n.names, d.names...)
	for _, name := range more {
		n.names = append(n.names, name)
		n.ids[name] = uint64(len(n.names))
	}
	return n
}

// Names returns the process's current copy of the name dictionary, without
// a round trip. Encode with it and the names it lacks are written in the
// record itself (EnsureNames adds them first); decode with it only records
// whose ids it knows (NamesUpTo).
func (s *Store) Names() *NameDict { return s.nameDict.Load() }

// EnsureNames returns a copy of the name dictionary that knows every name
// of names, adding those the dictionary lacks, in one round trip (none when
// the current copy knows them all). Several processes may add the same
// names at once: the dictionary's script gives each name one id. Empty
// names and names longer than 200 bytes are not added (a state writes them
// itself).
func (s *Store) EnsureNames(ctx context.Context, names []string) (*NameDict, error) {
	d := s.nameDict.Load()
	var miss []interface{}
	seen := map[string]bool{}
	for _, n := range names {
		if _, ok := d.ids[n]; ok || n == "" || len(n) > maxNameLen || seen[n] {
			continue
		}
		seen[n] = true
		miss = append(miss, n)
	}
	if len(miss) == 0 {
		return d, nil
	}
	d, err := s.loadNames(ctx, miss)
	return d, wrapErr("add names", err)
}

// NamesUpTo returns a copy of the name dictionary that knows every id up
// to id, when the dictionary does: the current copy, or, when that one is
// older, a newer one read in one round trip. A record written by another
// process may name ids this one has not seen yet; its largest is
// scoring.MaxNameID of the record's data. The copy returned may still stop
// short of id when the dictionary does (a record inconsistent with it).
func (s *Store) NamesUpTo(ctx context.Context, id uint64) (*NameDict, error) {
	if d := s.nameDict.Load(); id <= d.Len() {
		return d, nil
	}
	d, err := s.loadNames(ctx, nil)
	return d, wrapErr("load names", err)
}

// loadNames runs namesLua: it adds the names of add the dictionary lacks
// and brings the copy up to date.
func (s *Store) loadNames(ctx context.Context, add []interface{}) (*NameDict, error) {
	known := s.nameDict.Load().Len()
	args := append([]interface{}{strconv.FormatUint(known, 10)}, add...)
	res, err := namesLua.Run(ctx, s.rdb, []string{s.lay.metaKey()}, args...).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	more := make([]string, 0, len(res))
	for _, v := range res {
		n, ok := v.(string)
		if !ok {
			break // a gap: never written by the script, which sets both fields at once
		}
		more = append(more, n)
	}
	return s.extendNames(known, more), nil
}

// extendNames publishes a copy of the dictionary that also knows more, the
// names of ids from+1, from+2, …: read when the copy ended at from, which
// another goroutine may have extended since.
func (s *Store) extendNames(from uint64, more []string) *NameDict {
	s.nameMu.Lock()
	defer s.nameMu.Unlock()
	d := s.nameDict.Load()
	if skip := d.Len() - from; skip < uint64(len(more)) {
		d = d.with(more[skip:])
		s.nameDict.Store(d)
	}
	return d
}

// setNames takes the names of the meta hash's fields ("n@<id>" → name), as
// far as their ids run without a gap from 1.
func (s *Store) setNames(m map[string]string) {
	var more []string
	for id := uint64(1); ; id++ {
		n, ok := m["n@"+strconv.FormatUint(id, 10)]
		if !ok {
			break
		}
		more = append(more, n)
	}
	s.extendNames(0, more)
}

// namesLua adds names to the name dictionary and returns the names of the
// ids the caller does not know. KEYS[1] is the meta key; ARGV[1] the
// largest id the caller knows (it knows 1 to ARGV[1]); the rest are names
// to add. A name gets the next id ("n#") once; its fields are "n:<name>" →
// id and "n@<id>" → name, like the topic and stage dictionaries. Returns
// the names of ids ARGV[1]+1 to the last, in order.
var namesLua = redis.NewScript(`
local known = tonumber(ARGV[1])
for i = 2, #ARGV do
  local f = 'n:' .. ARGV[i]
  if redis.call('HEXISTS', KEYS[1], f) == 0 then
    local id = redis.call('HINCRBY', KEYS[1], 'n#', 1)
    redis.call('HSET', KEYS[1], f, id, 'n@' .. id, ARGV[i])
  end
end
local top = tonumber(redis.call('HGET', KEYS[1], 'n#') or '0')
local out = {}
local id = known + 1
while id <= top do
  local last = math.min(top, id + 499)
  local fs = {}
  for j = id, last do fs[#fs+1] = 'n@' .. j end
  local vs = redis.call('HMGET', KEYS[1], unpack(fs))
  for j = 1, #vs do out[#out+1] = vs[j] end
  id = last + 1
end
return out
`)
