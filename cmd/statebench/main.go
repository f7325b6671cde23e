// Command statebench measures the state store on a real Redis: it writes N
// typical leads through state.Store (a ~120-byte scoring state, two source
// offsets, two identities, a leaderboard entry and a decay timer each) and
// prints the Redis memory per lead from INFO memory, then the write
// throughput of batches of 500 updates.
//
//	redis-server --port 6391 --save '' --appendonly no --daemonize yes \
//	    --hash-max-listpack-value 4096 --hash-max-listpack-entries 512 --zset-max-listpack-entries 256
//	go run ./cmd/statebench --redis-addr 127.0.0.1:6391 --leads 1000000
//
// It writes under its own key prefix in an empty database (it refuses a
// non-empty one unless --force) and deletes nothing: use a disposable
// server.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leadscore/state"
)

func main() {
	if err := run(); err != nil {
		slog.Error("statebench", "err", err)
		os.Exit(1)
	}
}

type config struct {
	addr      string
	leads     int
	buckets   int
	shards    int
	batch     int
	updates   int
	writers   int
	dataBytes int
	force     bool
}

func run() error {
	var c config
	flag.StringVar(&c.addr, "redis-addr", "127.0.0.1:6379", "Redis address (a disposable server)")
	flag.IntVar(&c.leads, "leads", 1_000_000, "number of synthetic leads")
	flag.IntVar(&c.buckets, "buckets", 0, "state.Options.Buckets (0: leads/32 rounded to a multiple of 4*shards)")
	flag.IntVar(&c.shards, "shards", 64, "state.Options.TimerShards")
	flag.IntVar(&c.batch, "batch", 500, "updates per Write")
	flag.IntVar(&c.updates, "updates", 200_000, "updates in the throughput phase (0: skip)")
	flag.IntVar(&c.writers, "writers", 1, "concurrent writers in the throughput phase")
	flag.IntVar(&c.dataBytes, "data-bytes", 120, "size of the opaque scoring state")
	flag.BoolVar(&c.force, "force", false, "run on a non-empty database")
	flag.Parse()
	if c.buckets == 0 {
		unit := 4 * c.shards
		c.buckets = max(unit, (c.leads/32+unit/2)/unit*unit)
	}
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: c.addr})
	defer admin.Close()
	if n, err := admin.DBSize(ctx).Result(); err != nil {
		return fmt.Errorf("dbsize: %w", err)
	} else if n > 0 && !c.force {
		return fmt.Errorf("database at %s holds %d keys: use an empty one (or --force)", c.addr, n)
	}
	printConfig(ctx, admin)

	st, err := state.New(ctx, state.Options{Addrs: []string{c.addr}, KeyPrefix: fmt.Sprintf("sb%d", time.Now().Unix()%100000),
		Buckets: c.buckets, TimerShards: c.shards})
	if err != nil {
		return err
	}
	defer st.Close()
	g := newGen(c)

	before, err := usedMemory(ctx, admin)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := 0; i < c.leads; i += c.batch {
		idx := make([]int, 0, c.batch)
		for j := i; j < min(i+c.batch, c.leads); j++ {
			idx = append(idx, j)
		}
		if err := g.write(ctx, st, idx, true); err != nil {
			return err
		}
	}
	el := time.Since(start)
	after, err := usedMemory(ctx, admin)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %d leads in %v (%.0f creates/s), %d buckets, %d shards\n", c.leads, el.Round(time.Millisecond), float64(c.leads)/el.Seconds(), c.buckets, c.shards)
	fmt.Printf("INFO memory used_memory: %d -> %d bytes: %.1f bytes per lead\n", before, after, float64(after-before)/float64(c.leads))
	printEncodings(ctx, admin)
	if err := readSide(ctx, st); err != nil {
		return err
	}

	if c.updates > 0 {
		if err := throughput(ctx, c, st, g, admin); err != nil {
			return err
		}
	}
	return nil
}

// gen makes typical leads: an anonymous visitor (UUID anonymousId) later
// identified by e-mail, events from a web and an e-mail topic, a stage and
// a decay deadline.
type gen struct {
	c    config
	recs []state.Record
	anon []string
}

var stages = []string{"visitor", "visitor", "visitor", "lead", "lead", "mql", "hmql", "sql"}

func newGen(c config) *gen {
	g := &gen{c: c, recs: make([]state.Record, c.leads), anon: make([]string, c.leads)}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range g.recs {
		g.anon[i] = fmt.Sprintf("anon:%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
		g.recs[i] = state.Record{LeadID: state.HomeLeadID(g.anon[i])}
	}
	return g
}

func (g *gen) update(r *rand.Rand, i int, create bool) state.Update {
	data := make([]byte, g.c.dataBytes)
	for k := range data {
		data[k] = byte(r.Uint32())
	}
	rec := g.recs[i]
	stage := rec.Stage
	if stage == "" || r.IntN(20) == 0 {
		stage = stages[r.IntN(len(stages))]
	}
	u := state.Update{
		Base:     rec,
		Data:     data,
		Offsets:  map[string]int64{"web-events/" + strconv.Itoa(i%12): 100_000_000 + r.Int64N(900_000_000)},
		Stage:    stage,
		Rank:     600 + float64(r.IntN(100_000))/1000,
		Deadline: time.Now().Add(time.Duration(1+r.IntN(90*24)) * time.Hour).UnixMilli(),
	}
	if create {
		u.Offsets["email-events/"+strconv.Itoa(i%6)] = 100_000_000 + r.Int64N(900_000_000)
		u.Identities = []string{g.anon[i], email(i)}
	}
	return u
}

func (g *gen) write(ctx context.Context, st *state.Store, idx []int, create bool) error {
	r := rand.New(rand.NewPCG(uint64(idx[0]), uint64(time.Now().UnixNano())))
	us := make([]state.Update, len(idx))
	for k, i := range idx {
		us[k] = g.update(r, i, create)
	}
	res, err := st.Write(ctx, us)
	if err != nil {
		return err
	}
	for k, x := range res {
		if x.Err != nil {
			return fmt.Errorf("lead %s: %w", x.LeadID, x.Err)
		}
		g.recs[idx[k]] = x.Record
	}
	return nil
}

func throughput(ctx context.Context, c config, st *state.Store, g *gen, admin *redis.Client) error {
	per := c.leads / c.writers
	cpu0, err := redisCPU(ctx, admin)
	if err != nil {
		return err
	}
	start := time.Now()
	errs := make(chan error, c.writers)
	for w := 0; w < c.writers; w++ {
		go func(w int) {
			r := rand.New(rand.NewPCG(uint64(w), 99))
			lo := w * per // each writer owns a disjoint range of leads
			for done := 0; done < c.updates/c.writers; done += c.batch {
				seen := map[int]bool{}
				idx := make([]int, 0, c.batch)
				for len(idx) < c.batch {
					i := lo + r.IntN(per)
					if !seen[i] {
						seen[i] = true
						idx = append(idx, i)
					}
				}
				if err := g.write(ctx, st, idx, false); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < c.writers; w++ {
		if err := <-errs; err != nil {
			return err
		}
	}
	el := time.Since(start)
	cpu1, err := redisCPU(ctx, admin)
	if err != nil {
		return err
	}
	n := c.updates / c.writers / c.batch * c.batch * c.writers
	fmt.Printf("updates: %d in batches of %d, %d writer(s): %.0f updates/s, Redis CPU %.2f µs/update\n",
		n, c.batch, c.writers, float64(n)/el.Seconds(), (cpu1-cpu0)*1e6/float64(n))
	return nil
}

func info(ctx context.Context, c *redis.Client, section string) (map[string]string, error) {
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("info %s: %w", section, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

func usedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	m, err := info(ctx, c, "memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(m["used_memory"], 10, 64)
}

func redisCPU(ctx context.Context, c *redis.Client) (float64, error) {
	m, err := info(ctx, c, "cpu")
	if err != nil {
		return 0, err
	}
	u, _ := strconv.ParseFloat(m["used_cpu_user"], 64)
	s, _ := strconv.ParseFloat(m["used_cpu_sys"], 64)
	return u + s, nil
}

func printConfig(ctx context.Context, c *redis.Client) {
	for _, k := range []string{"hash-max-listpack-entries", "hash-max-listpack-value", "zset-max-listpack-entries", "zset-max-listpack-value"} {
		v, err := c.ConfigGet(ctx, k).Result()
		if err == nil {
			fmt.Printf("%s %s\n", k, v[k])
		}
	}
}

// printEncodings reports how many keys of each kind fell out of the compact
// listpack encoding (a sample of 2000 keys).
func printEncodings(ctx context.Context, c *redis.Client) {
	enc := map[string]int{}
	iter := c.Scan(ctx, 0, "*", 500).Iterator()
	n := 0
	for iter.Next(ctx) && n < 2000 {
		k := iter.Val()
		kind := "meta"
		if parts := strings.Split(k, ":"); len(parts) >= 3 {
			kind = parts[2]
		}
		e, _ := c.ObjectEncoding(ctx, k).Result()
		enc[kind+"/"+e]++
		n++
	}
	fmt.Printf("encodings in a sample of %d keys: %v\n", n, enc)
}

// email makes a unique, realistically sized work address (about 25
// characters with the "email:" prefix removed): first.last@company.tld.
func email(i int) string {
	first := []string{"anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "iris", "jonas"}
	last := []string{"smith", "garcia", "muller", "rossi", "dubois", "kowalski", "jensen", "novak", "silva", "brown"}
	dom := []string{"acme.com", "globex.io", "initech.com", "umbrella.de", "hooli.com", "vandelay.fr", "wayne.co", "stark.com", "tyrell.net", "cyberdyne.ai"}
	n := len(first)
	s := fmt.Sprintf("email:%s.%s", first[i%n], last[i/n%n])
	if rest := i / (n * n); rest > 0 {
		s += strconv.Itoa(rest / n)
		return s + "@" + dom[rest%n]
	}
	return s + "@" + dom[0]
}

// readSide times the read-side operations on the full data set: Top of the
// biggest stage, and one sweep of every timer shard (nothing is due yet, so
// it measures the cost of looking).
func readSide(ctx context.Context, st *state.Store) error {
	start := time.Now()
	top, err := st.Top(ctx, "visitor", 20)
	if err != nil {
		return err
	}
	fmt.Printf("Top(visitor, 20): %d leads in %v\n", len(top), time.Since(start).Round(time.Microsecond))
	start = time.Now()
	claimed := 0
	for sh := 0; sh < st.TimerShards(); sh++ {
		ts, err := st.ClaimDue(ctx, sh, time.Now().UnixMilli(), time.Minute, 1000)
		if err != nil {
			return err
		}
		claimed += len(ts)
	}
	fmt.Printf("ClaimDue over all %d shards: %d due, %v\n", st.TimerShards(), claimed, time.Since(start).Round(time.Microsecond))
	return nil
}
