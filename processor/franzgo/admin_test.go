package franzgo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestEnsureAndCheckTopics(t *testing.T) {
	c := kafkatest.NewCluster(t, []kafkatest.Topic{{Name: "existing", Partitions: 2}})
	brokers := c.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	err := franzgo.CheckTopics(ctx, brokers, []string{"existing", "web", "stages"})
	if !errors.Is(err, franzgo.ErrMissingTopics) || !strings.Contains(err.Error(), "stages, web") {
		t.Fatalf("CheckTopics before creation: %v, want ErrMissingTopics naming stages, web", err)
	}

	retention := "1048576"
	specs := []franzgo.TopicSpec{
		{Name: "existing", Partitions: 8}, // left as it is
		{Name: "web", Partitions: 6, Replication: 1, Configs: map[string]*string{"retention.bytes": &retention}},
		{Name: "stages", Partitions: 3},
	}
	if err := franzgo.EnsureTopics(ctx, brokers, specs); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	if err := franzgo.EnsureTopics(ctx, brokers, specs); err != nil {
		t.Fatalf("EnsureTopics again (idempotent): %v", err)
	}
	if err := franzgo.CheckTopics(ctx, brokers, []string{"existing", "web", "stages"}); err != nil {
		t.Fatalf("CheckTopics after creation: %v", err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx, "existing", "web", "stages")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"existing": 2, "web": 6, "stages": 3} {
		if got := len(details[name].Partitions); got != want {
			t.Errorf("topic %s: %d partitions, want %d", name, got, want)
		}
	}
	cfgs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, kv := range rc.Configs {
		if kv.Key == "retention.bytes" && kv.MaybeValue() == retention {
			found = true
		}
	}
	if !found {
		t.Errorf("topic web: retention.bytes not set to %s", retention)
	}
}
