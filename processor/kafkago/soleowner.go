package kafkago

import (
	"sync/atomic"

	"github.com/leadscore/leadscore/processor"
	"github.com/segmentio/kafka-go"
)

// soleOwner is the kafka.GroupBalancer of processor.SoleOwnerProtocol: one
// member gets every partition.
type soleOwner struct {
	// claim is the generation the member was last in if it got partitions
	// in it, else -1.
	claim *atomic.Int32
}

func (soleOwner) ProtocolName() string { return processor.SoleOwnerProtocol }

// UserData claims the partitions of the generation the member leaves if it
// owned them, so that the leader keeps them where they are.
func (s soleOwner) UserData() ([]byte, error) {
	return processor.SoleOwnerClaim(s.claim.Load()), nil
}

// AssignGroups gives every partition to the member processor.SoleOwner picks.
func (soleOwner) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	ids := make([]string, len(members))
	owned := make([]int32, len(members))
	for i, m := range members {
		ids[i] = m.ID
		owned[i] = processor.ParseSoleOwnerClaim(m.UserData)
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
