package kafkatest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/eventually"
	"github.com/leadscore/leadscore/processor"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Under processor.SoleOwnerProtocol one member owns every partition of every
// input topic; a member that joins stands by (the owner keeps them), and when
// the owner leaves the standby takes them all, from the committed offsets:
// no record lost or committed twice.
func (s *suite) testSoleOwner(t *testing.T) {
	if s.newSole == nil {
		t.Skip("backend does not declare sole ownership (kafkatest.SoleOwner)")
	}
	web, mail := Topic{"sole-web", 3}, Topic{"sole-mail", 2}
	all := partitionsOf(web, mail)
	c := NewCluster(t, []Topic{web, mail})
	brokers := c.ListenAddrs()
	const group = "g-sole"
	var committed syncRecords
	slices.SortFunc(all, processor.CompareTopicPartitions)
	owns := func(cl processor.Client) bool {
		got := cl.Assigned()
		slices.SortFunc(got, processor.CompareTopicPartitions)
		return slices.Equal(got, all)
	}
	produce := func(chunk int) []*kgo.Record {
		recs := inputs(20, web.Name, mail.Name)
		for j, r := range recs {
			r.Value = fmt.Appendf(nil, "chunk%02d-%d", chunk, j)
		}
		return Produce(t, brokers, recs)
	}

	a := startMember("a", s.client(t, s.newSole, c, group, web.Name, mail.Name), &committed, nil)
	eventually.True(t, 20*time.Second, "the first member to own every partition", func() bool { return owns(a.c) })
	produced := produce(0)
	b := startMember("b", s.client(t, s.newSole, c, group, web.Name, mail.Name), &committed, nil)
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	eventually.True(t, 20*time.Second, "the second member to join the group", func() bool {
		ds, err := kadm.NewClient(adm).DescribeGroups(testCtx(t, 5*time.Second), group)
		if err != nil {
			return false
		}
		d, ok := ds[group]
		return ok && len(d.Members) == 2 && d.State == "Stable"
	})
	for i := 1; i <= 5; i++ {
		produced = append(produced, produce(i)...)
		time.Sleep(30 * time.Millisecond)
	}
	if !owns(a.c) || len(b.c.Assigned()) != 0 {
		t.Fatalf("after the second member joined: first owns %v, second %v; want the first to keep every partition", a.c.Assigned(), b.c.Assigned())
	}
	eventually.True(t, 30*time.Second, "the first member to commit what was produced", func() bool {
		return committed.distinct() >= len(produced)
	})
	a.stop(t)
	eventually.True(t, 30*time.Second, "the standby to take every partition", func() bool { return owns(b.c) })
	for i := 6; i <= 10; i++ {
		produced = append(produced, produce(i)...)
	}
	eventually.True(t, 30*time.Second, "every produced record to be committed", func() bool {
		return committed.distinct() >= len(produced)
	})
	b.stop(t)

	committed.mu.Lock()
	defer committed.mu.Unlock()
	for _, r := range produced {
		k := key{processor.TopicPartition{Topic: r.Topic, Partition: r.Partition}, r.Offset}
		if n := committed.recs[k]; n != 1 {
			t.Errorf("record %s/%d@%d committed %d times, want once", r.Topic, r.Partition, r.Offset, n)
		}
	}
	for _, m := range []*member{a, b} {
		m.mu.Lock()
		if len(m.committed) == 0 {
			t.Errorf("member %s committed nothing", m.name)
		}
		m.mu.Unlock()
	}
}
