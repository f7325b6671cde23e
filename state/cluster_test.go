package state

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/rediscluster"
	"github.com/leadscore/leadscore/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// startCluster starts three redis-server masters on free loopback ports in
// a temp dir, joins them with redis-cli --cluster create and waits until the
// cluster is ok. Everything is torn down in t.Cleanup.
func startCluster(t *testing.T) []*redisserver.Server {
	t.Helper()
	if !rediscluster.Available() {
		t.Skip("redis-cli not installed")
	}
	root := t.TempDir()
	var nodes []*redisserver.Server
	var addrs []string
	for i := 0; i < 3; i++ {
		dir := filepath.Join(root, "n"+string(rune('0'+i)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		n := startRedis(t, dir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no")
		nodes = append(nodes, n)
		addrs = append(addrs, n.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rediscluster.Join(ctx, addrs); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// TestStoreCluster runs the suite on a real 3-master Redis Cluster, where
// scripts may only touch keys of one slot (miniredis never checks that).
func TestStoreCluster(t *testing.T) {
	if os.Getenv("LEADSCORE_REDIS_CLUSTER") != "1" {
		t.Skip("LEADSCORE_REDIS_CLUSTER not set to 1: skipping the suite against a 3-master Redis Cluster started from redis-server binaries")
	}
	start := time.Now()
	nodes := startCluster(t)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr())
	}
	opts := func() Options {
		return Options{Addrs: addrs, Cluster: true, Buckets: 1024, TimerShards: 64, KeyPrefix: uniquePrefix(t)}
	}
	runStoreSuite(t, func(t *testing.T) *Store { return newRealStore(t, opts()) })

	t.Run("SlotsSpreadOverMasters", func(t *testing.T) {
		st := newRealStore(t, opts())
		cc := st.rdb.(*redis.ClusterClient)
		masters := map[string]bool{}
		var mu sync.Mutex
		for sh := uint64(0); sh < st.lay.shards; sh++ {
			key := st.lay.recordKey(st.lay.shardBuckets(sh)[0])
			n, err := cc.MasterForKey(tctx(t), key)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			masters[n.Options().Addr] = true
			mu.Unlock()
		}
		if len(masters) != 3 {
			t.Fatalf("64 shards on %d masters", len(masters))
		}
	})

	// One master dies: leads in its slots fail with a retryable error, the
	// others are written; the caller learns which.
	t.Run("MasterDown", func(t *testing.T) {
		o := opts()
		o.ReadTimeout, o.DialTimeout = 500*time.Millisecond, 500*time.Millisecond
		st := newRealStore(t, o)
		ids := leadIDs(300, "down")
		recs := mustLoad(t, st, ids...)
		var us []Update
		for _, id := range ids {
			us = append(us, Update{Base: recs[id], Data: []byte("1"), Stage: "mql", Rank: 1})
		}
		res := mustWrite(t, st, us...)
		cc := st.rdb.(*redis.ClusterClient)
		dead := nodes[2].Addr()
		onDead := map[string]bool{}
		for _, id := range ids {
			n, err := cc.MasterForKey(tctx(t), st.lay.recordKey(st.lay.bucket(id)))
			if err != nil {
				t.Fatal(err)
			}
			onDead[id] = n.Options().Addr == dead
		}
		nodes[2].Stop()
		for i := range us {
			us[i] = Update{Base: res[i].Record, Data: []byte("2"), Stage: "mql", Rank: 2}
		}
		wres, err := st.Write(tctx(t), us)
		if err != nil {
			t.Fatalf("batch error with two masters up: %v", err)
		}
		ok, failed := 0, 0
		for i, r := range wres {
			switch {
			case onDead[ids[i]] && IsRetryable(r.Err):
				failed++
			case !onDead[ids[i]] && r.Err == nil:
				ok++
			default:
				t.Fatalf("lead %s (on dead master: %v): %v", ids[i], onDead[ids[i]], r.Err)
			}
		}
		if ok == 0 || failed == 0 {
			t.Fatalf("ok %d failed %d", ok, failed)
		}
		var live []string
		for _, id := range ids {
			if !onDead[id] {
				live = append(live, id)
			}
		}
		got := mustLoad(t, st, live...)
		for _, id := range live {
			if string(got[id].Data) != "2" {
				t.Fatalf("lead %s not written: %+v", id, got[id])
			}
		}
	})
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("cluster test took %v, budget 60s", d)
	}
}
