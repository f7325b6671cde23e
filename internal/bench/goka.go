package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/leadscore/leadscore/internal/syncbuf"
	"github.com/leadscore/leadscore/processor"
)

// ErrNoGoka says the goka scenario cannot be built here: no go command, or no
// source of its module. Run skips the scenario with a warning then.
var ErrNoGoka = errors.New("bench: the goka scenario cannot be built")

// gokaModule is the goka scenario's module directory, relative to the
// repository root.
const gokaModule = "internal/bench/goka"

// FindGokaSource returns the directory of the goka scenario's module: dir when
// given, else internal/bench/goka under the working directory or one of its parents,
// else next to this package's source when it was compiled from a checkout.
func FindGokaSource(dir string) (string, error) {
	ok := func(d string) bool {
		st, err := os.Stat(filepath.Join(d, "go.mod"))
		return err == nil && !st.IsDir()
	}
	if dir != "" {
		if !ok(dir) {
			return "", fmt.Errorf("%w: no go.mod in %s", ErrNoGoka, dir)
		}
		return dir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if c := filepath.Join(d, gokaModule); ok(c) {
				return c, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, found := runtime.Caller(0); found && filepath.IsAbs(file) {
		if c := filepath.Join(filepath.Dir(file), "goka"); ok(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: no %s found from the working directory up (pass its directory)", ErrNoGoka, gokaModule)
}

// BuildGoka builds the goka scenario's module in src into the executable out
// with the go command. It fails with ErrNoGoka when there is no go command.
func BuildGoka(ctx context.Context, src, out string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if goroot := runtime.GOROOT(); goroot != "" {
			goCmd, err = exec.LookPath(filepath.Join(goroot, "bin", "go"))
		}
		if err != nil {
			return fmt.Errorf("%w: no go command: %w", ErrNoGoka, err)
		}
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("bench: building goka: %w", err)
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", abs, ".")
	cmd.Dir = src
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench: building goka in %s: %w\n%s", src, err, strings.TrimSpace(msg.String()))
	}
	return nil
}

// gokaWorker runs the goka scenario's executable as a child process that
// consumes the scenario's inputs as consumer group `group` and writes its
// stage changes; the harness measures it from outside, like the others, plus
// the child's own CPU time and memory (external).
type gokaWorker struct {
	args    []string
	bin     string
	storage string // the leveldb directory, removed after the run
	stderr  syncbuf.Buffer
	pid     atomic.Int64
	log     *slog.Logger
}

// readyWriter passes the process's output on and logs, once, how long after
// the start the process said it runs (goka: the group joined and the table
// recovered).
type readyWriter struct {
	out   io.Writer
	start time.Time
	log   *slog.Logger
	seen  atomic.Bool
}

func (r *readyWriter) Write(p []byte) (int, error) {
	if !r.seen.Load() && bytes.Contains(p, []byte("running")) && r.seen.CompareAndSwap(false, true) {
		r.log.Info("goka processor ready", "after", time.Since(r.start).Round(time.Millisecond))
	}
	return r.out.Write(p)
}

func newGoka(e *scenarioEnv, group string, t processor.Topics) (worker, error) {
	dir, err := os.MkdirTemp("", "leadscore-goka-")
	if err != nil {
		return nil, fmt.Errorf("bench: goka storage: %w", err)
	}
	w := &gokaWorker{bin: e.gokaBin, storage: dir, log: e.cfg.Logger}
	w.args = []string{"-brokers", strings.Join(e.cluster.brokers, ","), "-group", group,
		"-web", t.Web, "-email", t.Email, "-feedback", t.Feedback, "-stage-changes", t.StageChanges, "-dead-letter", t.DeadLetter,
		"-storage", dir, "-rules", e.rulesFile, "-start", strconv.FormatInt(e.clock().UnixMilli(), 10)}
	return w, nil
}

// gokaTable is the group table's topic, which goka creates.
func gokaTable(group string) string { return group + "-table" }

func (w *gokaWorker) run(ctx context.Context) error {
	defer os.RemoveAll(w.storage)
	cmd := exec.Command(w.bin, w.args...)
	out := &readyWriter{out: &w.stderr, start: time.Now(), log: w.log}
	cmd.Stdout, cmd.Stderr = out, out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("goka: starting %s: %w", w.bin, err)
	}
	w.pid.Store(int64(cmd.Process.Pid))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return fmt.Errorf("goka: the process ended (%v) while the scenario ran: %s", err, tail(w.stderr.String()))
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("goka: stopping: %w: %s", err, tail(w.stderr.String()))
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("goka: the process did not stop within 30 s of SIGTERM; killed")
	}
}

// cpu is the child's CPU time so far (user and system), 0 before it started.
func (w *gokaWorker) cpu() time.Duration {
	pid := w.pid.Load()
	if pid == 0 {
		return 0
	}
	return procCPU(int(pid))
}

// peakRSS is the child's resident-set high-water mark, bytes.
func (w *gokaWorker) peakRSS() int64 {
	pid := w.pid.Load()
	if pid == 0 {
		return 0
	}
	return procStatusOf(strconv.FormatInt(pid, 10), "VmHWM")
}

// external is a scenario that runs in a process of its own: its CPU time and
// peak RSS are added to the harness's.
type external interface {
	cpu() time.Duration
	peakRSS() int64
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procCPU reads utime+stime of /proc/<pid>/stat; 0 where there is none.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // state is field 3; utime and stime fields 14 and 15
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTicks
}

// tail is the end of a process's output, for an error message.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}
