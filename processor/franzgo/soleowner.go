package franzgo

import (
	"sync/atomic"

	"github.com/leadscore/leadscore/processor"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// soleOwner is the kgo.GroupBalancer of processor.SoleOwnerProtocol: one
// member gets every partition. It is eager, like the sticky balancer the
// client uses otherwise (config.go says why not cooperative).
type soleOwner struct {
	// owned is the generation in which this member last got partitions
	// (-1: never): kgo passes JoinGroupMetadata no assignment after an
	// eager revocation, so the member keeps count itself.
	owned *atomic.Int32
}

func (soleOwner) ProtocolName() string { return processor.SoleOwnerProtocol }
func (soleOwner) IsCooperative() bool  { return false }

// JoinGroupMetadata claims, in the user data, the partitions of the
// generation the member leaves if it owned them, so that the leader keeps
// them where they are.
func (s soleOwner) JoinGroupMetadata(interests []string, _ map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	claim := int32(-1)
	if generation >= 0 && s.owned.Load() == generation {
		claim = generation
	}
	meta.UserData = processor.SoleOwnerClaim(claim)
	return meta.AppendTo(nil)
}

func (soleOwner) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (s soleOwner) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(s, members)
	if err != nil {
		return nil, nil, err
	}
	return b, b.MemberTopics(), nil
}

// Balance gives every partition of every topic some member subscribes to to
// the member processor.SoleOwner picks.
func (soleOwner) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var (
		members []*kmsg.JoinGroupResponseMember
		metas   []*kmsg.ConsumerMemberMetadata
		ids     []string
		owned   []int32
	)
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		members, metas = append(members, m), append(metas, meta)
		ids = append(ids, m.MemberID)
		owned = append(owned, processor.ParseSoleOwnerClaim(meta.UserData))
	})
	plan := b.NewPlan()
	i := processor.SoleOwner(ids, owned)
	if i < 0 {
		return plan
	}
	subscribed := map[string]bool{}
	for _, t := range metas[i].Topics {
		subscribed[t] = true
	}
	for topic, n := range topics {
		if !subscribed[topic] {
			continue
		}
		ps := make([]int32, n)
		for p := range ps {
			ps[p] = int32(p)
		}
		plan.AddPartitions(members[i], topic, ps)
	}
	return plan
}
