// Package redisserver starts and stops redis-server processes on the loopback
// interface: for the tests that need a real Redis (the state store's suite,
// the reliability suite) and for `leadscore bench --start-redis`.
//
// It runs the process and nothing more: persistence, memory settings, TLS,
// Sentinel or cluster mode are arguments the caller passes (package
// rediscluster joins cluster-enabled nodes into a cluster).
package redisserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leadscore/internal/freeport"
)

// DefaultStartTimeout is how long Start and Restart wait for the server to
// answer when Options.StartTimeout is zero.
const DefaultStartTimeout = 10 * time.Second

// tailMax is how much of the server's latest output a Server keeps in memory.
const tailMax = 64 << 10

// Options configure Start.
type Options struct {
	// Port is the port to listen on; 0 picks a free one.
	Port int
	// Dir is the server's working directory and --dir (its AOF, RDB and
	// cluster config files); "" leaves both to the current directory.
	Dir string
	// Config is a config file passed before every other argument (a Sentinel
	// needs one it can rewrite); "" for none.
	Config string
	// Args are more redis-server arguments, after --port, --bind 127.0.0.1
	// and --dir: persistence (--save "" --appendonly no), memory settings,
	// --cluster-enabled yes, --sentinel, TLS files, ACL users.
	Args []string
	// TLS makes Port the --tls-port and turns the plain-text port off
	// (--port 0). Pass the certificate arguments in Args and a Ready that
	// speaks TLS.
	TLS bool
	// LogFile, if set, receives the server's output, appended across
	// restarts. The latest output is kept in memory either way (LogTail).
	LogFile string
	// Ready reports whether the server at addr answers. Nil: a plain-text
	// PING as the default user.
	Ready func(ctx context.Context, addr string) error
	// StartTimeout bounds how long Start and Restart wait for Ready; 0 means
	// DefaultStartTimeout.
	StartTimeout time.Duration
}

// Server is a redis-server process started by Start. Its methods are not
// safe for concurrent use.
type Server struct {
	opts Options
	bin  string
	addr string
	out  *tail
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd's exit error, after done
}

// Available reports whether redis-server is on PATH.
func Available() bool {
	_, err := exec.LookPath("redis-server")
	return err == nil
}

// Start runs redis-server from PATH on 127.0.0.1 with o and waits until it
// answers (o.Ready), for at most o.StartTimeout or until ctx ends. The server
// outlives ctx: stop it with Stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found in PATH: %w", err)
	}
	if o.Port == 0 {
		if o.Port, err = freeport.Get(); err != nil {
			return nil, fmt.Errorf("redis-server: %w", err)
		}
	}
	s := &Server{opts: o, bin: bin, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)), out: &tail{}}
	if err := s.run(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Port is the server's port (the TLS port with Options.TLS).
func (s *Server) Port() int { return s.opts.Port }

// Stop kills the server (SIGKILL, after SIGCONT in case it was stopped: a
// crash, so what it has not written to disk is lost) and waits for it to
// exit. Stopping a server that has exited does nothing.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Restart stops the server if it runs and starts it again on the same port
// with the same options (so with its data in Options.Dir), waiting until it
// answers as Start does.
func (s *Server) Restart(ctx context.Context) error {
	s.Stop()
	return s.run(ctx)
}

// Signal sends sig to the server: SIGSTOP and SIGCONT make an outage that
// keeps connections open.
func (s *Server) Signal(sig os.Signal) error {
	select {
	case <-s.done:
		return fmt.Errorf("signalling redis-server on %s: it has exited: %v", s.addr, s.err)
	default:
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signalling redis-server on %s: %w", s.addr, err)
	}
	return nil
}

// LogTail returns the last n lines of the server's output (of its latest
// runs, up to 64 KiB).
func (s *Server) LogTail(n int) string { return s.out.lines(n) }

// args are the command line of a run.
func (s *Server) args() []string {
	o := s.opts
	var args []string
	if o.Config != "" {
		args = append(args, o.Config)
	}
	if o.TLS {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(o.Port))
	} else {
		args = append(args, "--port", strconv.Itoa(o.Port))
	}
	args = append(args, "--bind", "127.0.0.1")
	if o.Dir != "" {
		args = append(args, "--dir", o.Dir)
	}
	return append(args, o.Args...)
}

// run starts the process and waits until it answers; on failure the process
// is stopped.
func (s *Server) run(ctx context.Context) error {
	var out io.Writer = s.out
	var logFile *os.File
	if s.opts.LogFile != "" {
		f, err := os.OpenFile(s.opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("redis-server on %s: opening its log: %w", s.addr, err)
		}
		logFile, out = f, io.MultiWriter(s.out, f)
	}
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.opts.Dir
	cmd.Stdout, cmd.Stderr = out, out
	// A child forked for a background save may hold the output pipe after a
	// kill: do not wait for it.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return fmt.Errorf("starting redis-server on %s: %w", s.addr, err)
	}
	done := make(chan struct{})
	s.cmd, s.done, s.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		s.err = err
		close(done)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// waitReady polls Options.Ready every 20 ms until it succeeds, the process
// exits, the start timeout passes or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	ready := s.opts.Ready
	if ready == nil {
		c := redis.NewClient(&redis.Options{Addr: s.addr, DialTimeout: time.Second, MaxRetries: -1})
		defer c.Close()
		ready = func(ctx context.Context, _ string) error { return c.Ping(ctx).Err() }
	}
	timeout := s.opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(wctx, 2*time.Second)
		err := ready(actx, s.addr)
		acancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("redis-server on %s exited at start (%v):\n%s", s.addr, s.err, s.LogTail(20))
		case <-wctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for redis-server on %s: %w", s.addr, ctx.Err())
			}
			return fmt.Errorf("redis-server on %s did not answer within %s: %w\n%s", s.addr, timeout, err, s.LogTail(20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tail keeps the latest tailMax bytes written to it.
type tail struct {
	mu sync.Mutex
	b  []byte
}

// Write appends p, dropping the oldest bytes beyond tailMax.
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append([]byte(nil), t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

// lines returns the last n lines.
func (t *tail) lines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(t.b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
