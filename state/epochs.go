package state

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// TopicEpoch says under which name the offsets of one incarnation of an input
// topic are kept.
//
// Lead records remember, per source topic partition, the offset of the last
// event applied, so that a redelivered event adds nothing. A topic that is
// deleted and created again (a Kafka cluster rebuilt, `docker compose down`
// without a Kafka volume) starts its offsets at 0 again: under the topic's
// name, its new events would look like replays and be skipped. So each
// incarnation — told apart by the topic id Kafka gives a topic when it is
// created — gets its own source name: the first one the store saw keeps the
// topic's name (records written before epochs existed stay valid), later ones
// are "<topic>~<n>".
type TopicEpoch struct {
	Topic string
	// ID is the topic id of this incarnation.
	ID string
	// Epoch counts incarnations: 0 for the first seen.
	Epoch int
	// Source is the name to key offsets by (SourceKey, Record.Applied).
	Source string
	// New is set when this call registered a new incarnation after an
	// earlier one: the topic was recreated since the store last saw it.
	New bool
	// Previous is the id of the incarnation before, when New.
	Previous string
}

// epochLua registers topic ids: ARGV holds pairs (topic, id). For each it
// returns the id's position among the topic's incarnations (0-based), and
// whether it was added by this call after others.
var epochLua = redis.NewScript(`
local out = {}
for i = 1, #ARGV, 2 do
  local f = 'e:' .. ARGV[i]
  local ids = redis.call('HGET', KEYS[1], f)
  local pos, added, prev = -1, 0, ''
  if not ids then
    redis.call('HSET', KEYS[1], f, ARGV[i+1])
    pos = 0
  else
    local n = 0
    for id in string.gmatch(ids, '[^,]+') do
      if id == ARGV[i+1] then pos = n end
      prev = id
      n = n + 1
    end
    if pos < 0 then
      redis.call('HSET', KEYS[1], f, ids .. ',' .. ARGV[i+1])
      pos, added = n, 1
    end
  end
  out[#out+1] = pos
  out[#out+1] = added
  out[#out+1] = prev
end
return out
`)

// TopicEpochs registers the current topic id of each input topic (topic name →
// id, as the Kafka admin API reports it) and returns, per topic, the source
// name its offsets are kept under. A topic whose id the store has not seen
// before, while it has seen another, was recreated: its epoch is New, and its
// events are applied even at offsets that the previous incarnation used.
func (s *Store) TopicEpochs(ctx context.Context, ids map[string]string) (map[string]TopicEpoch, error) {
	topics := make([]string, 0, len(ids))
	for t := range ids {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	args := make([]interface{}, 0, 2*len(topics))
	for _, t := range topics {
		if ids[t] == "" {
			return nil, fmt.Errorf("state: topic epochs: topic %q has no id", t)
		}
		args = append(args, t, ids[t])
	}
	if len(args) == 0 {
		return map[string]TopicEpoch{}, nil
	}
	res, err := epochLua.Run(ctx, s.rdb, []string{s.lay.metaKey()}, args...).Slice()
	if err != nil {
		return nil, wrapErr("topic epochs", err)
	}
	if len(res) != 3*len(topics) {
		return nil, fmt.Errorf("state: topic epochs: %d values for %d topics", len(res), len(topics))
	}
	out := make(map[string]TopicEpoch, len(topics))
	for i, t := range topics {
		pos, _ := res[3*i].(int64)
		added, _ := res[3*i+1].(int64)
		prev, _ := res[3*i+2].(string)
		e := TopicEpoch{Topic: t, ID: ids[t], Epoch: int(pos), Source: EpochSource(t, int(pos)), New: added == 1}
		if e.New {
			e.Previous = prev
		}
		out[t] = e
	}
	return out, nil
}

// EpochSource is the source name of incarnation epoch of topic.
func EpochSource(topic string, epoch int) string {
	if epoch == 0 {
		return topic
	}
	return topic + "~" + strconv.Itoa(epoch)
}
