package franzgo_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The processor's cycle against an in-process kfake broker: Poll, Produce,
// Commit, and a clean Close.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "web", "stages"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// An upstream producer writes one event.
	up, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		log.Fatal(err)
	}
	if err := up.ProduceSync(ctx, &kgo.Record{Topic: "web", Key: []byte("lead-1"), Value: []byte("page_view")}).FirstErr(); err != nil {
		log.Fatal(err)
	}
	up.Close()

	cl, err := franzgo.New(ctx, franzgo.Config{Config: kafkaconfig.Config{
		Brokers:     cluster.ListenAddrs(),
		Group:       "scorer",
		InputTopics: []string{"web"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	recs, err := cl.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	out := []processor.Record{{Topic: "stages", Key: recs[0].Key, Value: []byte("MQL")}}
	if err := cl.Produce(ctx, out); err != nil {
		log.Fatal(err)
	}
	if err := cl.Commit(ctx); err != nil { // offsets only after the produce succeeded
		log.Fatal(err)
	}
	if err := cl.Close(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s -> %s\n", recs[0].Key, recs[0].Value, out[0].Value)
	// Output: lead-1 page_view -> MQL
}
