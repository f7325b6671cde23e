package kafkago

import (
	"sync/atomic"

	"github.com/leadscore/leadscore/processor"
	"github.com/segmentio/kafka-go"
)

// soleOwner is the kafka.GroupBalancer of processor.SoleOwnerProtocol: one
// member gets every partition.
type soleOwner struct {
	owns *atomic.Bool // the member owned partitions in its last generation
}

func (soleOwner) ProtocolName() string { return processor.SoleOwnerProtocol }

// UserData marks a member that owned partitions in the last generation, so
// that the leader keeps them where they are.
func (s soleOwner) UserData() ([]byte, error) {
	if s.owns.Load() {
		return []byte{1}, nil
	}
	return []byte{0}, nil
}

// AssignGroups gives every partition to the member processor.SoleOwner picks.
func (soleOwner) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	ids := make([]string, len(members))
	owned := make([]bool, len(members))
	for i, m := range members {
		ids[i] = m.ID
		owned[i] = len(m.UserData) > 0 && m.UserData[0] == 1
	}
	out := kafka.GroupMemberAssignments{}
	for _, m := range members {
		out[m.ID] = map[string][]int{} // standing by: an empty assignment, not none
	}
	i := processor.SoleOwner(ids, owned)
	if i < 0 {
		return out
	}
	subscribed := map[string]bool{}
	for _, t := range members[i].Topics {
		subscribed[t] = true
	}
	mine := map[string][]int{}
	for _, p := range partitions {
		if subscribed[p.Topic] {
			mine[p.Topic] = append(mine[p.Topic], p.ID)
		}
	}
	out[members[i].ID] = mine
	return out
}
