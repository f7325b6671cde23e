package state

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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
	data []byte
	off  int64
}

var benchFixtures = map[string]*benchFixture{}

func setupBench(b *testing.B) *benchFixture {
	addr := os.Getenv("LEADSCORE_REDIS_ADDR")
	if addr == "" {
		b.Skip("LEADSCORE_REDIS_ADDR not set: the write benchmark needs a real Redis (miniredis is far too slow to measure)")
	}
	if f := benchFixtures[addr]; f != nil {
		return f
	}
	n := benchLeads()
	buckets := max(256, n/32/256*256)
	prefix := fmt.Sprintf("lsbench%d", rand.Uint64()%1e9)
	st, err := New(context.Background(), Options{Addrs: []string{addr}, KeyPrefix: prefix, Buckets: buckets, TimerShards: 64})
	if err != nil {
		b.Fatal(err)
	}
	f := &benchFixture{st: st, recs: make([]Record, n), rnd: rand.New(rand.NewPCG(1, 2)), data: make([]byte, 120)}
	for i := range f.recs {
		f.recs[i] = Record{LeadID: HomeLeadID("anon:bench-" + strconv.Itoa(i))}
	}
	// Populate: every lead with data, offsets, a stage and a timer.
	for i := 0; i < n; i += 500 {
		idx := make([]int, 0, 500)
		for j := i; j < min(i+500, n); j++ {
			idx = append(idx, j)
		}
		if _, err := f.write(context.Background(), idx, true); err != nil {
			b.Fatal(err)
		}
	}
	benchFixtures[addr] = f
	return f
}

func (f *benchFixture) batch(size int) []int {
	seen := make(map[int]bool, size)
	out := make([]int, 0, size)
	for len(out) < size {
		i := f.rnd.IntN(len(f.recs))
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
func (f *benchFixture) update(i int, create bool) Update {
	for k := range f.data {
		f.data[k] = byte(f.rnd.Uint32())
	}
	f.off++
	r := f.recs[i]
	stage := r.Stage
	if stage == "" || f.rnd.IntN(20) == 0 {
		stage = benchStages[f.rnd.IntN(len(benchStages))]
	}
	u := Update{
		Base:     r,
		Data:     append([]byte(nil), f.data...),
		Offsets:  map[string]int64{"web-events/" + strconv.Itoa(i%12): f.off},
		Stage:    stage,
		Rank:     float64(f.rnd.IntN(1_000_000)) / 1000,
		Deadline: time.Now().Add(time.Duration(f.rnd.IntN(90*24)) * time.Hour).UnixMilli(),
	}
	if create {
		u.Offsets["email-events/"+strconv.Itoa(i%6)] = f.off
		u.Identities = []string{"anon:bench-" + strconv.Itoa(i), fmt.Sprintf("email:lead%07d@example.com", i)}
	}
	return u
}

func (f *benchFixture) write(ctx context.Context, idx []int, create bool) (int, error) {
	us := make([]Update, len(idx))
	for k, i := range idx {
		us[k] = f.update(i, create)
	}
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

func redisCPU(b *testing.B, c redis.UniversalClient) float64 {
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

// BenchmarkWriteBatch500 writes batches of 500 typical lead updates
// (LEADSCORE_REDIS_ADDR). Sub-benchmarks, in the same run:
//
//   - batched: the store as shipped (one script call per 500 leads);
//   - script-per-lead-pipelined: one script call per lead, all 500 in one
//     pipeline;
//   - script-per-lead-unbatched: one script call and one round trip per
//     lead (the naive design).
//
// Metrics: updates/s, and Redis CPU µs per update (INFO cpu), which is less
// sensitive to other load on a shared machine.
func BenchmarkWriteBatch500(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, group int, unbatched bool) {
		f := setupBench(b)
		f.st.groupSize = group
		defer func() { f.st.groupSize = 0 }()
		cpu0 := redisCPU(b, f.st.rdb)
		b.ResetTimer()
		start := time.Now()
		n := 0
		for it := 0; it < b.N; it++ {
			idx := f.batch(500)
			if unbatched {
				for _, i := range idx {
					k, err := f.write(ctx, []int{i}, false)
					if err != nil {
						b.Fatal(err)
					}
					n += k
				}
				continue
			}
			k, err := f.write(ctx, idx, false)
			if err != nil {
				b.Fatal(err)
			}
			n += k
		}
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(n)/el.Seconds(), "updates/s")
		b.ReportMetric((redisCPU(b, f.st.rdb)-cpu0)*1e6/float64(n), "redis-µs/update")
	}
	b.Run("batched", func(b *testing.B) { run(b, 0, false) })
	b.Run("script-per-lead-pipelined", func(b *testing.B) { run(b, 1, false) })
	b.Run("script-per-lead-unbatched", func(b *testing.B) { run(b, 1, true) })
}
