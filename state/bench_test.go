package state

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// benchLeads is the population the benchmark updates (LEADSCORE_BENCH_LEADS,
// default 200000), with Buckets sized as docs/state.md recommends (leads/32,
// rounded).
func benchLeads() int {
	if n, err := strconv.Atoi(os.Getenv("LEADSCORE_BENCH_LEADS")); err == nil && n > 0 {
		return n
	}
	return 200_000
}

type benchFixture struct {
	st   *Store
	recs []Record
	rnd  *rand.Rand
	off  atomic.Int64
}

var benchFixtures = map[string]*benchFixture{}

// benchPerBucket is the number of leads per record bucket the benchmark
// sizes Buckets for (LEADSCORE_BENCH_PER_BUCKET, default 32 as docs/state.md
// recommends).
func benchPerBucket() int {
	if n, err := strconv.Atoi(os.Getenv("LEADSCORE_BENCH_PER_BUCKET")); err == nil && n > 0 {
		return n
	}
	return 32
}

func setupBench(b testing.TB) *benchFixture {
	addr := os.Getenv("LEADSCORE_REDIS_ADDR")
	if addr == "" {
		b.Skip("LEADSCORE_REDIS_ADDR not set: the write benchmark needs a real Redis (miniredis is far too slow to measure)")
	}
	if f := benchFixtures[addr]; f != nil {
		return f
	}
	n := benchLeads()
	buckets := max(256, n/benchPerBucket()/256*256)
	prefix := fmt.Sprintf("lsbench%d", rand.Uint64()%1e9)
	st, err := New(context.Background(), Options{Addrs: []string{addr}, KeyPrefix: prefix, Buckets: buckets, TimerShards: 64})
	if err != nil {
		b.Fatal(err)
	}
	f := &benchFixture{st: st, recs: make([]Record, n), rnd: rand.New(rand.NewPCG(1, 2))}
	for i := range f.recs {
		f.recs[i] = Record{LeadID: HomeLeadID("anon:bench-" + strconv.Itoa(i))}
	}
	// Populate: every lead with data, offsets, a stage and a timer.
	for i := 0; i < n; i += 500 {
		idx := make([]int, 0, 500)
		for j := i; j < min(i+500, n); j++ {
			idx = append(idx, j)
		}
		if _, err := f.write(context.Background(), f.rnd, idx, true); err != nil {
			b.Fatal(err)
		}
	}
	benchFixtures[addr] = f
	return f
}

// batch picks size distinct leads in [lo, hi).
func (f *benchFixture) batch(r *rand.Rand, size, lo, hi int) []int {
	seen := make(map[int]bool, size)
	out := make([]int, 0, size)
	for len(out) < size {
		i := lo + r.IntN(hi-lo)
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

var benchStages = []string{"visitor", "visitor", "visitor", "lead", "lead", "mql", "hmql", "sql"}

// update is one typical lead update: new 120-byte state, a new offset, a new
// rank and deadline, occasionally a stage change.
func (f *benchFixture) update(rnd *rand.Rand, i int, create bool) Update {
	data := make([]byte, 120)
	for k := 0; k < len(data); k += 8 {
		binary.LittleEndian.PutUint64(data[k:], rnd.Uint64())
	}
	off := f.off.Add(1)
	r := f.recs[i]
	stage := r.Stage
	if stage == "" || rnd.IntN(20) == 0 {
		stage = benchStages[rnd.IntN(len(benchStages))]
	}
	u := Update{
		Base:     r,
		Data:     data,
		Offsets:  map[string]int64{"web-events/" + strconv.Itoa(i%12): off},
		Stage:    stage,
		Rank:     float64(rnd.IntN(1_000_000)) / 1000,
		Deadline: time.Now().Add(time.Duration(1+rnd.IntN(90*24)) * time.Hour).UnixMilli(),
	}
	if create {
		u.Offsets["email-events/"+strconv.Itoa(i%6)] = off
		u.Identities = []string{"anon:bench-" + strconv.Itoa(i), fmt.Sprintf("email:lead%07d@example.com", i)}
	}
	return u
}

// updates is one update per lead of idx.
func (f *benchFixture) updates(rnd *rand.Rand, idx []int, create bool) []Update {
	us := make([]Update, len(idx))
	for k, i := range idx {
		us[k] = f.update(rnd, i, create)
	}
	return us
}

func (f *benchFixture) write(ctx context.Context, rnd *rand.Rand, idx []int, create bool) (int, error) {
	us := f.updates(rnd, idx, create)
	res, err := f.st.Write(ctx, us)
	if err != nil {
		return 0, err
	}
	for k, r := range res {
		if r.Err != nil {
			return 0, r.Err
		}
		f.recs[idx[k]] = r.Record
	}
	return len(res), nil
}

func redisCPU(b testing.TB, c redis.UniversalClient) float64 {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var t float64
	for _, l := range strings.Split(info, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			x, _ := strconv.ParseFloat(v, 64)
			t += x
		}
	}
	return t
}

// selfCPU is the CPU seconds (user and system) this process has used: the
// client's side of an update, GC included, which on a 2-core machine
// competes with Redis for the same cores.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkWriteBatch500 writes batches of 500 typical lead updates
// (LEADSCORE_REDIS_ADDR; LEADSCORE_BENCH_LEADS leads, default 200000).
// Sub-benchmarks, in the same run:
//
//   - batched: the store as shipped, one writer (one script call per 500
//     leads, one round trip per batch);
//   - batched-4-writers: four concurrent writers on disjoint leads, as a
//     processor with several partitions in flight;
//   - script-per-lead-pipelined: one script call per lead, all 500 in one
//     pipeline;
//   - script-per-lead-unbatched: one script call and one round trip per
//     lead (the naive design).
//
// Metrics: updates/s, Redis CPU µs per update (INFO cpu) and client CPU µs
// per update (this process, generating the updates included), which are
// less sensitive to other load on a shared machine.
func BenchmarkWriteBatch500(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, group, writers int, unbatched bool) {
		f := setupBench(b)
		f.st.groupSize = group
		defer func() { f.st.groupSize = 0 }()
		cpu0, self0 := redisCPU(b, f.st.rdb), selfCPU()
		b.ResetTimer()
		start := time.Now()
		var n atomic.Int64
		var wg sync.WaitGroup
		per := len(f.recs) / writers
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
				for it := w; it < b.N; it += writers {
					idx := f.batch(rnd, 500, w*per, (w+1)*per)
					if unbatched {
						for _, i := range idx {
							k, err := f.write(ctx, rnd, []int{i}, false)
							if err != nil {
								b.Error(err)
								return
							}
							n.Add(int64(k))
						}
						continue
					}
					k, err := f.write(ctx, rnd, idx, false)
					if err != nil {
						b.Error(err)
						return
					}
					n.Add(int64(k))
				}
			}(w)
		}
		wg.Wait()
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(n.Load())/el.Seconds(), "updates/s")
		b.ReportMetric((redisCPU(b, f.st.rdb)-cpu0)*1e6/float64(n.Load()), "redis-µs/update")
		b.ReportMetric((selfCPU()-self0)*1e6/float64(n.Load()), "client-µs/update")
	}
	b.Run("batched", func(b *testing.B) { run(b, 0, 1, false) })
	b.Run("batched-4-writers", func(b *testing.B) { run(b, 0, 4, false) })
	b.Run("script-per-lead-pipelined", func(b *testing.B) { run(b, 1, 1, false) })
	b.Run("script-per-lead-unbatched", func(b *testing.B) { run(b, 1, 1, true) })
}

// BenchmarkEncodeWrites500 measures the client's share of a batch write
// without Redis (miniredis only to construct the store): checking, encoding
// and grouping 500 typical updates of existing leads and building their
// script arguments. Its allocations per batch are exact, unlike the CPU
// figures of BenchmarkWriteBatch500 on a shared machine.
func BenchmarkEncodeWrites500(b *testing.B) {
	mr := miniredis.RunT(b)
	st, err := New(context.Background(), Options{Addrs: []string{mr.Addr()}, Buckets: 256, TimerShards: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	f := &benchFixture{st: st, recs: make([]Record, 500), rnd: rand.New(rand.NewPCG(1, 2))}
	idx := make([]int, 500)
	for i := range f.recs {
		f.recs[i] = Record{LeadID: HomeLeadID("anon:bench-" + strconv.Itoa(i))}
		idx[i] = i
	}
	if _, err := f.write(context.Background(), f.rnd, idx, true); err != nil {
		b.Fatal(err)
	}
	us := f.updates(f.rnd, idx, false)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		seen := make(map[string]bool, len(us))
		for i := range us {
			if err := st.checkUpdate(&us[i], seen); err != nil {
				b.Fatal(err)
			}
		}
		groups, bufs, err := st.encodeWrites(us)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range groups {
			if _, args := st.scriptArgs(g); len(args) < 8*len(g) {
				b.Fatalf("%d arguments for %d leads", len(args), len(g))
			}
		}
		bufs.release()
	}
}

// BenchmarkWriteScriptFloor splits the Redis CPU of a batch write
// (LEADSCORE_REDIS_ADDR) by running the same arguments — 500 typical updates
// of existing leads, one script call — through scripts that each do a part
// of writeLua's work and change nothing stored:
//
//   - arguments: read each lead's arguments and return (what any per-lead
//     script pays for its arguments);
//   - hget: plus one HGET of the lead's record (one redis.call);
//   - hget-hset: plus one HSET writing back what HGET read (two calls: the
//     floor of a per-lead compare-and-set in a script);
//   - write-script: writeLua itself (with real writes).
//
// Metric: redis-µs/update (INFO cpu).
func BenchmarkWriteScriptFloor(b *testing.B) {
	ctx := context.Background()
	const loop = `
local out = {}
local p = 2
for i = 1, tonumber(ARGV[1]) do
  local rk, id, exp, rec, t, bf, bv, n = ARGV[p], ARGV[p+1], ARGV[p+2], ARGV[p+3], ARGV[p+4], ARGV[p+5], ARGV[p+6], tonumber(ARGV[p+7])
  p = p + 8 + 3 * n
  %s
  out[i] = 1
end
return out`
	variants := []struct{ name, call string }{
		{"arguments", ""},
		{"hget", "local r = redis.call('HGET', rk, id)"},
		{"hget-hset", "local r = redis.call('HGET', rk, id) if r then redis.call('HSET', rk, id, r) end"},
		{"write-script", ""},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			f := setupBench(b)
			sc := redis.NewScript(fmt.Sprintf(loop, v.call))
			cpu0, n := redisCPU(b, f.st.rdb), 0
			for b.Loop() {
				idx := f.batch(f.rnd, 500, 0, len(f.recs))
				if v.name == "write-script" {
					k, err := f.write(ctx, f.rnd, idx, false)
					if err != nil {
						b.Fatal(err)
					}
					n += k
					continue
				}
				groups, bufs, err := f.st.encodeWrites(f.updates(f.rnd, idx, false))
				if err != nil {
					b.Fatal(err)
				}
				for _, g := range groups {
					keys, args := f.st.scriptArgs(g)
					if err := sc.Run(ctx, f.st.rdb, keys, args...).Err(); err != nil {
						b.Fatal(err)
					}
					n += len(g)
				}
				bufs.release()
			}
			b.ReportMetric((redisCPU(b, f.st.rdb)-cpu0)*1e6/float64(n), "redis-µs/update")
		})
	}
}
