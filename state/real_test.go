package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leadscore/internal/redisserver"
)

// realAddr returns LEADSCORE_REDIS_ADDR or skips: these tests need a
// disposable Redis server (they write under unique prefixes and delete
// their keys afterwards).
func realAddr(t *testing.T) string {
	t.Helper()
	a := os.Getenv("LEADSCORE_REDIS_ADDR")
	if a == "" {
		t.Skip("LEADSCORE_REDIS_ADDR not set: skipping the store suite against a real Redis " +
			"(e.g. redis-server --port 6391 --save '' & LEADSCORE_REDIS_ADDR=127.0.0.1:6391 go test ./state)")
	}
	return a
}

// dropPrefix deletes every key of a prefix (every master in Cluster).
func dropPrefix(rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	drop := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Unlink(ctx, iter.Val())
		}
		return iter.Err()
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		_ = cc.ForEachMaster(ctx, drop)
		return
	}
	if c, ok := rdb.(*redis.Client); ok {
		_ = drop(ctx, c)
	}
}

func newRealStore(t *testing.T, o Options) *Store {
	t.Helper()
	if o.KeyPrefix == "" {
		o.KeyPrefix = uniquePrefix(t)
	}
	if o.Buckets == 0 {
		o.Buckets, o.TimerShards = 1024, 32
	}
	st, err := New(tctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dropPrefix(st.rdb, o.KeyPrefix)
		st.Close()
	})
	return withHook(st)
}

func TestStoreRealRedis(t *testing.T) {
	addr := realAddr(t)
	runStoreSuite(t, func(t *testing.T) *Store { return newRealStore(t, Options{Addrs: []string{addr}}) })
}

// TestACLRealRedis creates a restricted ACL user (its keys only, no
// dangerous commands) and runs the store with it.
func TestACLRealRedis(t *testing.T) {
	addr := realAddr(t)
	ctx := tctx(t)
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	prefix := uniquePrefix(t)
	user := prefix + "-user"
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">pw-"+prefix, "~"+prefix+":*", "+@all", "-@dangerous").Err(); err != nil {
		t.Skipf("cannot create an ACL user: %v", err)
	}
	defer admin.Do(context.Background(), "ACL", "DELUSER", user)
	o := Options{Addrs: []string{addr}, KeyPrefix: prefix, Username: user, Password: "wrong"}
	if _, err := New(ctx, o); err == nil || IsRetryable(err) {
		t.Fatalf("wrong password: %v", err)
	}
	o.Password = "pw-" + prefix
	st := newRealStore(t, o)
	id := HomeLeadID("email:acl@example.com")
	res := mustWrite(t, st, Update{Base: mustLoad(t, st, id)[id], Data: []byte("acl"), Stage: "mql", Rank: 1, Deadline: 1000,
		Identities: []string{"email:acl@example.com"}})
	if g := mustGet(t, st, id); g.Version != res[0].Version {
		t.Fatal(g)
	}
	if ts := claimAll(t, st, 2000, time.Second); len(ts) != 1 {
		t.Fatal(ts)
	}
	if err := st.Erase(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The user cannot touch keys outside its prefix.
	o.KeyPrefix = prefix + "x"
	if _, err := New(ctx, o); err == nil || !redis.HasErrorPrefix(errors.Unwrap(err), "NOPERM") && !containsNoPerm(err) {
		t.Fatalf("prefix outside the ACL: %v", err)
	}
}

func containsNoPerm(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if redis.HasErrorPrefix(e, "NOPERM") {
			return true
		}
	}
	return err != nil && (strings.Contains(err.Error(), "NOPERM") || strings.Contains(err.Error(), "no permissions"))
}

// startRedis starts a private redis-server in dir (no persistence,
// hash-max-listpack-value 1024, zset-max-listpack-entries 256, then extra) and
// kills it in t.Cleanup. It skips the test without redis-server.
func startRedis(t *testing.T, dir string, extra ...string) *redisserver.Server {
	t.Helper()
	return startRedisWith(t, redisserver.Options{Dir: dir, Args: append([]string{"--save", "", "--appendonly", "no",
		"--hash-max-listpack-value", "1024", "--zset-max-listpack-entries", "256"}, extra...)})
}

// startRedisWith starts redis-server with o, kills it in t.Cleanup and skips
// the test without redis-server.
func startRedisWith(t *testing.T, o redisserver.Options) *redisserver.Server {
	t.Helper()
	if !redisserver.Available() {
		t.Skip("redis-server not installed")
	}
	srv, err := redisserver.Start(tctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// signal sends sig to srv or fails the test.
func signal(t *testing.T, srv *redisserver.Server, sig syscall.Signal) {
	t.Helper()
	if err := srv.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// TestUnavailableRealRedis stops a private redis-server (SIGSTOP) during a
// write: the write times out with a retryable error, and once the server
// runs again every lead is either wholly updated or not at all. Then it kills
// the server: connection refused is retryable too.
func TestUnavailableRealRedis(t *testing.T) {
	if os.Getenv("LEADSCORE_REDIS_ADDR") == "" && os.Getenv("LEADSCORE_REDIS_CLUSTER") == "" {
		t.Skip("LEADSCORE_REDIS_ADDR not set: skipping the real-server outage test")
	}
	srv := startRedis(t, t.TempDir())
	st := newRealStore(t, Options{Addrs: []string{srv.Addr()}, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	ids := leadIDs(300, "stop")
	recs := mustLoad(t, st, ids...)
	var us []Update
	for _, id := range ids {
		us = append(us, Update{Base: recs[id], Data: []byte("1"), Stage: "mql", Rank: 1, Deadline: 1000})
	}
	res := mustWrite(t, st, us...)
	for i := range us {
		us[i] = Update{Base: res[i].Record, Data: []byte("2"), Stage: "sql", Rank: 2, Deadline: 9000}
	}

	signal(t, srv, syscall.SIGSTOP)
	wres, err := st.Write(tctx(t), us)
	if err != nil {
		if !IsRetryable(err) {
			t.Fatalf("write to a stopped server: %v", err)
		}
	} else {
		for _, r := range wres {
			if !IsRetryable(r.Err) {
				t.Fatalf("write to a stopped server: %v, want retryable", r.Err)
			}
		}
	}
	signal(t, srv, syscall.SIGCONT)
	time.Sleep(200 * time.Millisecond)
	got := mustLoad(t, st, ids...)
	sql, _ := st.Top(tctx(t), "sql", 1000)
	onSQL := map[string]bool{}
	for _, r := range sql {
		onSQL[r.LeadID] = true
	}
	due := map[string]bool{}
	for _, tm := range claimAll(t, st, 5000, time.Hour) {
		due[tm.LeadID] = true
	}
	applied := 0
	for i, id := range ids {
		g := got[id]
		switch {
		case g.Version == res[i].Version+1 && string(g.Data) == "2" && g.Stage == "sql" && onSQL[id] && !due[id]:
			applied++
		case g.Version == res[i].Version && string(g.Data) == "1" && g.Stage == "mql" && !onSQL[id] && due[id]:
		default:
			t.Fatalf("lead %s partially written: %+v onSQL=%v due=%v", id, g, onSQL[id], due[id])
		}
	}
	t.Logf("%d of %d leads applied by the timed-out write (the reply was lost, not the command)", applied, len(ids))

	srv.Stop()
	_, err = st.Load(tctx(t), ids)
	if !IsRetryable(err) {
		t.Fatalf("load from a killed server: %v", err)
	}
	if err := st.Ping(tctx(t)); !IsRetryable(err) {
		t.Fatalf("ping a killed server: %v", err)
	}
}

// Advice names the settings that cost memory or safety with this layout,
// read from a real server started with each.
func TestAdviceRealRedis(t *testing.T) {
	for _, c := range []struct {
		name  string
		flags []string
		want  []string // substrings of the advice, in order; none: no advice
	}{
		{"recommended", []string{"--hash-max-listpack-value", "4096", "--hash-max-listpack-entries", "512", "--maxmemory-policy", "noeviction"}, nil},
		// The former advice for values (startRedis's default) and Redis's
		// default for entries.
		{"former", []string{"--hash-max-listpack-entries", "128"}, []string{"hash-max-listpack-value is 1024, set it to 4096", "hash-max-listpack-entries is 128, set it to 512"}},
		{"eviction", []string{"--hash-max-listpack-value", "8192", "--hash-max-listpack-entries", "1024", "--maxmemory-policy", "allkeys-lru"},
			[]string{"maxmemory-policy is allkeys-lru, set it to noeviction"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startRedis(t, t.TempDir(), c.flags...)
			st, err := New(tctx(t), Options{Addrs: []string{srv.Addr()}, KeyPrefix: uniquePrefix(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			got := st.Advice(tctx(t))
			if len(got) != len(c.want) {
				t.Fatalf("advice %q, want %d lines like %q", got, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("advice %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// TestSentinelRealRedis starts a private master and one Sentinel
// (redis-server --sentinel) and runs a store through MasterName.
func TestSentinelRealRedis(t *testing.T) {
	if os.Getenv("LEADSCORE_REDIS_ADDR") == "" && os.Getenv("LEADSCORE_REDIS_CLUSTER") == "" {
		t.Skip("LEADSCORE_REDIS_ADDR not set: skipping the Sentinel test (it starts private redis-server processes)")
	}
	master := startRedis(t, t.TempDir())
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor lsmaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds lsmaster 2000\n", master.Port())
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinel := startRedisWith(t, redisserver.Options{Dir: dir, Config: conf, Args: []string{"--sentinel"}})

	st := newRealStore(t, Options{Addrs: []string{sentinel.Addr()}, MasterName: "lsmaster"})
	id := HomeLeadID("anon:sentinel")
	res := mustWrite(t, st, Update{Base: mustLoad(t, st, id)[id], Data: []byte("via sentinel"), Stage: "mql", Rank: 2})
	if g := mustGet(t, st, id); g.Version != res[0].Version || string(g.Data) != "via sentinel" {
		t.Fatal(g)
	}
	direct := redis.NewClient(&redis.Options{Addr: master.Addr()})
	defer direct.Close()
	if n, err := direct.Exists(tctx(t), st.lay.recordKey(st.lay.bucket(id))).Result(); err != nil || n != 1 {
		t.Fatalf("record not on the master Sentinel names: %v %v", n, err)
	}
}
