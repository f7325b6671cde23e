package reliability

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/longtest"
)

// binary is the leadscore executable built by TestMain; skipReason, when set,
// is why every test skips.
var (
	binary     string
	skipReason string
	size       = smallSize
)

// suiteSize is how much work a run does.
type suiteSize struct {
	Name string
	// Leads and Span shape the generated history; MaxEvents cuts it (0: all).
	Leads     int
	Span      time.Duration
	MaxEvents int
	// Partitions of every topic.
	Partitions int
	// Rounds of SIGKILL (and of SIGSTOP in the zombie test).
	Rounds int
	// Outage is how long Redis (and, for at most 3 s, the broker) stays down.
	Outage time.Duration
	// FeedTime is how long feeding the log should take, so that faults strike
	// mid-stream.
	FeedTime time.Duration
	// Deadline bounds one test.
	Deadline time.Duration
}

var (
	smallSize = suiteSize{Name: "small", Leads: 150, Span: 60 * 24 * time.Hour, Partitions: 4, Rounds: 3,
		Outage: 5 * time.Second, FeedTime: 8 * time.Second, Deadline: 4 * time.Minute}
	fullSize = suiteSize{Name: "full", Leads: 20000, Span: 365 * 24 * time.Hour, MaxEvents: 200000, Partitions: 12,
		Rounds: 10, Outage: 20 * time.Second, FeedTime: 45 * time.Second, Deadline: 20 * time.Minute}
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(setup(m))
}

func setup(m *testing.M) int {
	if os.Getenv("LEADSCORE_RELIABILITY") == "full" {
		size = fullSize
	}
	if v := os.Getenv("LEADSCORE_RELIABILITY_ROUNDS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			size.Rounds = n
		}
	}
	switch {
	case raceEnabled:
		skipReason = "reliability: skipped in race-detector builds: the suite drives leadscore subprocesses, which are not race-built, so -race would only add time (run `go test ./reliability` without -race)"
	case testing.Short():
		skipReason = "reliability: skipped with -short (the crash, zombie and outage suite starts processes and takes minutes)"
	default:
		if _, err := exec.LookPath("redis-server"); err != nil {
			skipReason = "reliability: skipped: redis-server is not on PATH (install Debian's redis-server to run the crash, zombie and outage suite)"
		}
	}
	if skipReason != "" {
		return m.Run()
	}
	// The scenarios mostly wait (session timeouts, outages, paced feeds) and use
	// little CPU at the small size: run four at once unless -parallel says.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit && size.Name == "small" {
		_ = flag.Set("test.parallel", "4")
	}
	dir, err := os.MkdirTemp("", "leadscore-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "leadscore")
	t0 := time.Now()
	cmd := exec.Command(goTool(), "build", "-o", binary, "github.com/leadscore/leadscore/cmd/leadscore")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: building leadscore:", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Printf("reliability: built leadscore in %.1fs; size %s\n", time.Since(t0).Seconds(), size.Name)
	}
	defer func() {
		for _, w := range workloads {
			os.RemoveAll(w.dir)
		}
	}()
	return m.Run()
}

// goTool is the go command: `go test` puts its own toolchain's bin first on
// the PATH of the test binary.
func goTool() string { return "go" }

// inDefaultRun are the scenarios of the default `go test ./...`, one per kind
// of fault, spreading the backends: a SIGKILLed exactly-once processor, a
// fenced zombie, a Redis outage under kafka-go, a broker restart under
// franz-go. The others (the rest of the backend matrix, the zombie across a
// stitch, exactly-once under outages, the control and the one-batch stitch)
// are long tests: LEADSCORE_LONG=1 (set by .ci/run) or
// LEADSCORE_RELIABILITY=full runs them.
var inDefaultRun = []string{
	"TestSIGKILLRecovery/franz-go-exactly-once",
	"TestZombieIsFenced/franz-go",
	"TestRedisOutage/kafka-go",
	"TestBrokerRestart/franz-go",
}

// needScenario skips the test when the suite cannot run here, or when it is
// a long scenario outside the default run.
func needScenario(t *testing.T) {
	t.Helper()
	needSuite(t)
	if size.Name != "full" && !slices.Contains(inDefaultRun, t.Name()) {
		longtest.Skip(t)
	}
}

// needSuite skips the test when the suite cannot run here.
func needSuite(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}
