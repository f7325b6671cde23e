package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/internal/bench"
)

func TestBenchCLI(t *testing.T) {
	t.Setenv("LEADSCORE_REDIS_ADDR", "") // CI sets it; these cases are about its absence
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no Redis", []string{"bench", "--scenarios", "naive", "--quiet"}, 1, "no Redis given"},
		{"both Redis flags", []string{"bench", "--start-redis", "--redis-addr", "127.0.0.1:1", "--quiet"}, 1, "exclude each other"},
		{"negative events", []string{"bench", "--events=-3", "--allow-miniredis", "--quiet"}, 1, "events must be positive"},
		{"unknown scenario", []string{"bench", "--scenarios", "flink", "--allow-miniredis", "--quiet"}, 1, `unknown scenario "flink"`},
		{"bad workload", []string{"bench", "--workload", "zipf"}, 2, "--workload"},
		{"bad compression", []string{"bench", "--compression", "brotli"}, 2, "--compression"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(c.args, &out, &errb); code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, errb.String())
			}
		})
	}
}

// A tiny ceiling-only run (no Redis needed) writes JSON and a CPU profile.
func TestBenchCeilingJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an in-process Kafka broker")
	}
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	var out, errb bytes.Buffer
	code := run([]string{"bench", "--scenarios", "ceiling", "--events", "500", "--leads", "50", "--partitions", "1",
		"--latency-duration", "300ms", "--json", "--quiet", "--cpuprofile", prof}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, errb.String())
	}
	var res bench.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(res.Scenarios) != 1 || res.Scenarios[0].Name != bench.Ceiling || res.Scenarios[0].Outputs != 500 || res.Scenarios[0].EventsPerSec <= 0 {
		t.Errorf("unexpected result: %s", out.String())
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("no CPU profile written: %v", err)
	}
}
