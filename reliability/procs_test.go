package reliability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/freeport"
	"github.com/leadscore/leadscore/internal/rediscluster"
	"github.com/leadscore/leadscore/internal/redisserver"
)

// process is one child process of the suite: a broker or a
// leadscore processor. Its output goes to a log file in the test's directory.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error // after exited
}

// start runs args[0] with the rest as arguments, output to dir/name.log.
func start(t *testing.T, dir, name string, stdout io.Writer, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = lf
	cmd.Stdout = lf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// signal sends sig to the process (if it still runs).
func (p *process) signal(sig syscall.Signal) error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s has exited: %v", p.name, p.err)
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signalling %s: %w", p.name, err)
	}
	return nil
}

// kill sends SIGKILL (a stopped process is killed too) and waits for the exit.
func (p *process) kill() {
	_ = p.signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits up to d for a clean exit, then kills. It
// returns the exit error (nil for exit status 0).
func (p *process) stop(d time.Duration) error {
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		p.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, d)
	}
}

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// logTail returns the last n lines of the process's log.
func (p *process) logTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logGrep returns the last 20 lines of the log that contain any of subs.
func (p *process) logGrep(subs ...string) string {
	b, _ := os.ReadFile(p.logPath)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	if len(out) > 20 {
		out = out[len(out)-20:]
	}
	return strings.Join(out, "\n")
}

// logCount counts the lines of the log that contain s.
func (p *process) logCount(s string) int {
	b, _ := os.ReadFile(p.logPath)
	return bytes.Count(b, []byte(s))
}

// broker is a `leadscore broker` with a data directory, restartable on its port.
type broker struct {
	t    *testing.T
	dir  string
	data string
	port int
	addr string
	proc *process
	n    int
}

func startBroker(t *testing.T, dir string) *broker {
	b := &broker{t: t, dir: dir, data: filepath.Join(dir, "kafka")}
	b.start()
	return b
}

// start starts the broker (again, on the same port and data directory) and
// waits for its address line.
func (b *broker) start() {
	t := b.t
	t.Helper()
	b.n++
	pr, pw := io.Pipe()
	args := []string{binary, "broker", "--port", strconv.Itoa(b.port), "--partitions", strconv.Itoa(size.Partitions),
		"--data-dir", b.data, "--sync-writes", "--min-session-timeout", "500ms", "--log-level", "warn"}
	b.proc = start(t, b.dir, fmt.Sprintf("broker-%d", b.n), pw, args...)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() { <-b.proc.exited; pw.Close() }()
	select {
	case l, ok := <-line:
		if !ok {
			t.Fatalf("broker exited without printing its address:\n%s", b.proc.logTail(20))
		}
		if b.addr != "" && l != b.addr {
			t.Fatalf("broker restarted on %s, want %s", l, b.addr)
		}
		b.addr = l
		_, port, _ := net.SplitHostPort(l)
		b.port, _ = strconv.Atoi(port)
	case <-time.After(60 * time.Second):
		t.Fatalf("broker printed no address within 60 s:\n%s", b.proc.logTail(20))
	}
}

// startRedis starts a redis-server with AOF (appendfsync always) in
// dir/redis, restartable on its port with its data (Restart), its output in
// dir/redis.log. It is killed in t.Cleanup.
func startRedis(t *testing.T, dir string, extra ...string) *redisserver.Server {
	t.Helper()
	data := filepath.Join(dir, "redis")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := redisserver.Start(ctx, redisserver.Options{Dir: data, LogFile: filepath.Join(dir, "redis.log"), StartTimeout: 30 * time.Second,
		Args: append([]string{"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--hash-max-listpack-value", "1024",
			"--protected-mode", "no"}, extra...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// startRedisCluster starts three redis-server masters (with AOF, as
// startRedis) under dir, joins them with redis-cli --cluster create and waits
// until every node reports the cluster ok. It skips the test without
// redis-cli.
func startRedisCluster(t *testing.T, dir string) []*redisserver.Server {
	t.Helper()
	if !rediscluster.Available() {
		t.Skip("reliability: redis-cli is not on PATH (Debian's redis-tools): skipping the Redis Cluster variant")
	}
	var nodes []*redisserver.Server
	var addrs []string
	for i := range 3 {
		n := startRedis(t, filepath.Join(dir, fmt.Sprintf("node%d", i)), "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		nodes, addrs = append(nodes, n), append(addrs, n.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rediscluster.Join(ctx, addrs); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// procOpts selects how a processor runs.
type procOpts struct {
	Client      string // franz-go (default) or kafka-go
	ExactlyOnce bool
	// Instance names the processor slot: its log and transactional id. A
	// restarted processor keeps its slot, as a pod keeps its name.
	Instance string
	// Lanes is --lanes (0: the default, one per core): the owner's apply
	// lanes, or with Spread that many group members.
	Lanes int
	// Spread runs the processor with --ownership spread.
	Spread bool
}

// member is a running `leadscore run`.
type member struct {
	*process
	http string // host:port of its API
}

// startReady is startProcessor for a scenario whose fault must strike a
// processor at work: it returns once /readyz says so (30 s at most).
func (h *harness) startReady(o procOpts) *member {
	h.t.Helper()
	p := h.startProcessor(o)
	if err := p.waitReady(true, 30*time.Second); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// startProcessor starts `leadscore run` against the harness's broker and Redis.
func (h *harness) startProcessor(o procOpts) *member {
	t := h.t
	t.Helper()
	h.procSeq++
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{binary, "run", "--rules", h.w.rulesFile, "--brokers", h.broker.addr, "--redis-addrs", strings.Join(h.redisAddrs(), ","),
		"--group", h.group, "--http-addr", httpAddr, "--session-timeout", sessionTimeout.String(),
		"--rebalance-timeout", "4s", "--heartbeat-interval", "200ms", "--timer-tick", "200ms", "--shutdown-timeout", "15s",
		"--log-format", "json", "--log-level", "info"}
	if o.Client != "" {
		args = append(args, "--kafka-client", o.Client)
	}
	if o.ExactlyOnce {
		args = append(args, "--exactly-once", "--transactional-id", h.group+"-"+o.Instance)
	}
	if h.cluster != nil {
		args = append(args, "--redis-cluster")
	}
	if o.Lanes > 0 {
		args = append(args, "--lanes", strconv.Itoa(o.Lanes))
	}
	if o.Spread {
		args = append(args, "--ownership", "spread")
		h.spread = true
	}
	p := start(t, h.dir, fmt.Sprintf("run-%s-%d", o.Instance, h.procSeq), nil, args...)
	h.procs = append(h.procs, p)
	return &member{process: p, http: httpAddr}
}

// sessionTimeout is the processors' group session timeout: how long a killed
// or stopped member keeps its partitions.
const sessionTimeout = 2 * time.Second

// ready asks the processor's /readyz: true for 200, false for anything else
// (including no answer).
func (p *member) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.http+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReady polls /readyz every 50 ms until it says want, up to d. It fails
// with the log's tail when the process exits.
func (p *member) waitReady(want bool, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if !p.running() {
			return fmt.Errorf("%s exited (%v):\n%s", p.name, p.err, p.logTail(30))
		}
		if p.ready() == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: /readyz not %v within %s", p.name, want, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errStopped says a wait ended because the test is over.
var errStopped = errors.New("stopped")

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errStopped
	case <-t.C:
		return nil
	}
}
