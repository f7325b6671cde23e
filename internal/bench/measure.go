package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// procStatus reads a "VmXxx:   123 kB" line of /proc/self/status, in bytes; 0 where
// there is no /proc.
func procStatus(field string) int64 { return procStatusOf("self", field) }

// procStatusOf reads a "VmXxx:   123 kB" line of /proc/<pid>/status, in bytes;
// 0 where there is none.
func procStatusOf(pid, field string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// rss is the process's resident set size now; peakRSS its high-water mark since
// the last resetPeakRSS (Linux: /proc/self/clear_refs, "5").
func rss() int64     { return procStatus("VmRSS") }
func peakRSS() int64 { return procStatus("VmHWM") }
func resetPeakRSS()  { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// redisStats is what INFO says about the server's work and memory.
type redisStats struct {
	commands int64   // total_commands_processed
	memory   int64   // used_memory
	cpu      float64 // used_cpu_user + used_cpu_sys, seconds
	version  string
	ok       bool
}

func readRedisStats(ctx context.Context, rdb redis.UniversalClient) redisStats {
	var s redisStats
	info, err := rdb.Info(ctx, "server", "stats", "memory", "cpu").Result()
	if err != nil {
		return s
	}
	s.ok = true
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "total_commands_processed":
			s.commands, _ = strconv.ParseInt(v, 10, 64)
		case "used_memory":
			s.memory, _ = strconv.ParseInt(v, 10, 64)
		case "used_cpu_user", "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			s.cpu += f
		case "redis_version":
			s.version = v
		}
	}
	return s
}

// deletePrefix removes every key starting with prefix (synchronously, so that the
// next scenario's memory baseline is not still being freed).
func deletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 2000).Result()
		if err != nil {
			return fmt.Errorf("bench: cleaning up %s*: %w", prefix, err)
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("bench: cleaning up %s*: %w", prefix, err)
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// percentile returns the q-quantile (0..1) of sorted durations, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Latency summarises latencies from an event's produce to its stage change (its
// copy, for the ceiling) being read from the output topic.
type Latency struct {
	// OfferedRate is the fixed input rate, events/s (half the measured maximum).
	OfferedRate float64 `json:"offered_rate"`
	// Events is how many events were offered; Samples how many outputs were timed.
	Events  int `json:"events"`
	Samples int `json:"samples"`
	// P50, P99, P999 and Max are in milliseconds.
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
	// Kept says whether the scenario kept up: every offered event was committed
	// within a few seconds of the last one being produced.
	Kept bool `json:"kept_up"`
	// CPUPerMillion is this process's CPU seconds per million events offered,
	// from the first produce to the last commit: with small fetches and batches
	// each event costs more than in the throughput phase.
	CPUPerMillion float64 `json:"cpu_s_per_million"`
}

func summarise(l *Latency, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }
	l.Samples = len(ds)
	l.P50, l.P99, l.P999 = ms(percentile(ds, 0.5)), ms(percentile(ds, 0.99)), ms(percentile(ds, 0.999))
	if len(ds) > 0 {
		l.Max = ms(ds[len(ds)-1])
	}
}
