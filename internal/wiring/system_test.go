package wiring_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/internal/wiring"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

func TestBuild(t *testing.T) {
	topics := processor.DefaultTopics()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(4, append(topics.Inputs(), topics.StageChanges, topics.DeadLetter)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	mr := miniredis.RunT(t)
	eng := testrules.Load(t, "../../replay/testdata/stories.yaml")

	for _, tc := range []struct {
		name    string
		spread  bool
		lanes   int
		client  string
		exactly bool
		members int
	}{
		{name: "sole owner, 2 apply lanes", lanes: 2, members: 1},
		{name: "spread, 2 members", spread: true, lanes: 2, members: 2},
		// kafka-go sole: two kafka-go members that never poll can wait out a
		// whole rebalance in Close; the spread shape is the franz-go case's.
		{name: "kafka-go sole owner, 2 apply lanes", lanes: 2, client: wiring.KafkaGo, members: 1},
		{name: "sole owner, exactly-once", lanes: 2, exactly: true, members: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			group := "wiring-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			var idsAsked bool
			cfg := wiring.Config{
				Store: state.Options{Addrs: []string{mr.Addr()}, KeyPrefix: group},
				Prepare: func(ctx context.Context, _ *state.Store) (wiring.Inputs, error) {
					idsAsked = true
					ids, err := franzgo.TopicIDs(ctx, cluster.ListenAddrs(), topics.Inputs())
					return wiring.Inputs{Partitions: 4, TopicIDs: ids}, err
				},
				Client: tc.client,
				Kafka: franzgo.Config{Config: kafkaconfig.Config{Brokers: cluster.ListenAddrs(), Group: group, InputTopics: topics.Inputs(),
					SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond},
					ExactlyOnce: tc.exactly},
				Spread:    tc.spread,
				Lanes:     tc.lanes,
				Processor: processor.Config{Topics: topics, WorkingSet: processor.DefaultWorkingSet},
				Models:    scoring.SingleSet(eng),
			}
			if tc.exactly {
				cfg.Kafka.TransactionalID = group
			}
			sys, err := wiring.Build(ctx, cfg)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !idsAsked {
				t.Error("Prepare was not run")
			}
			if len(sys.Clients) != tc.members || len(sys.Lanes) != tc.members {
				t.Errorf("%d clients, %d processors; want %d of each", len(sys.Clients), len(sys.Lanes), tc.members)
			}
			if got := cfg.Members(); got != tc.members {
				t.Errorf("Members() = %d, want %d", got, tc.members)
			}
			if err := sys.Store.Ping(ctx); err != nil {
				t.Errorf("store after Build: %v", err)
			}
			if err := sys.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := sys.Store.Ping(ctx); err == nil {
				t.Error("store still answers after Close")
			}
			for i, cl := range sys.Clients {
				if _, err := cl.Poll(ctx); !errors.Is(err, processor.ErrClosed) {
					t.Errorf("client %d: Poll after Close = %v, want processor.ErrClosed", i, err)
				}
			}
		})
	}
}

func TestBuildFailureClosesTheStore(t *testing.T) {
	mr := miniredis.RunT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var store *state.Store
	boom := errors.New("boom")
	_, err := wiring.Build(ctx, wiring.Config{
		Store: state.Options{Addrs: []string{mr.Addr()}},
		Prepare: func(_ context.Context, s *state.Store) (wiring.Inputs, error) {
			store = s
			return wiring.Inputs{}, boom
		},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Build = %v, want Prepare's error", err)
	}
	if err := store.Ping(ctx); err == nil {
		t.Error("the store is still open after a failed Build")
	}
	if _, err := wiring.Build(ctx, wiring.Config{Client: "sarama"}); err == nil || !strings.Contains(err.Error(), "unknown kafka client") {
		t.Errorf("unknown client: %v", err)
	}
}

func TestLaneTransactionalIDs(t *testing.T) {
	seen := map[string]bool{}
	for lane := range 4 {
		id := wiring.LaneTransactionalID("leadscore-pod-7", lane)
		if seen[id] {
			t.Fatalf("lane %d reuses transactional id %q", lane, id)
		}
		seen[id] = true
		if lane == 0 && id != "leadscore-pod-7" {
			t.Errorf("lane 0 id %q, want the instance's own", id)
		}
		if again := wiring.LaneTransactionalID("leadscore-pod-7", lane); again != id {
			t.Errorf("lane %d id not stable: %q then %q", lane, id, again)
		}
	}
	if id := wiring.LaneTransactionalID("", 3); id != "" {
		t.Errorf("no transactional id became %q", id)
	}
}
