package redisserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leadscore/internal/redisserver"
)

func start(t *testing.T, o redisserver.Options) *redisserver.Server {
	t.Helper()
	if !redisserver.Available() {
		t.Skip("redis-server is not on PATH: skipping the redisserver tests")
	}
	s, err := redisserver.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func ping(s *redisserver.Server, d time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: d, ReadTimeout: d})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Ping(ctx).Err()
}

// A server answers, is down after Stop and answers again on the same port
// after Restart, with its data when it persists them in its directory.
func TestStartStopRestart(t *testing.T) {
	for _, c := range []struct {
		name     string
		args     []string
		keepData bool
	}{
		{"no persistence", []string{"--save", "", "--appendonly", "no"}, false},
		{"aof", []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "redis.log")
			s := start(t, redisserver.Options{Dir: dir, Args: c.args, LogFile: log})
			if err := ping(s, time.Second); err != nil {
				t.Fatal(err)
			}
			rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
			defer rdb.Close()
			ctx := context.Background()
			if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			s.Stop()
			if err := ping(s, 200*time.Millisecond); err == nil {
				t.Fatal("ping answered after Stop")
			}
			s.Stop() // again: nothing to do
			addr := s.Addr()
			if err := s.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			if s.Addr() != addr {
				t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
			}
			got, err := rdb.Get(ctx, "k").Result()
			switch {
			case c.keepData && (err != nil || got != "v"):
				t.Fatalf("after restart: %q %v, want the key kept", got, err)
			case !c.keepData && err != redis.Nil:
				t.Fatalf("after restart: %q %v, want no key", got, err)
			}
			if b, err := os.ReadFile(log); err != nil || !strings.Contains(string(b), "Ready to accept connections") {
				t.Fatalf("log file: %v\n%s", err, b)
			}
			if !strings.Contains(s.LogTail(50), "Ready to accept connections") {
				t.Fatalf("log tail:\n%s", s.LogTail(50))
			}
		})
	}
}

// SIGSTOP makes an outage with the connection open; SIGCONT ends it.
func TestSignal(t *testing.T) {
	s := start(t, redisserver.Options{Dir: t.TempDir(), Args: []string{"--save", ""}})
	for _, step := range []struct {
		sig    syscall.Signal
		answer bool
	}{
		{syscall.SIGSTOP, false},
		{syscall.SIGCONT, true},
	} {
		if err := s.Signal(step.sig); err != nil {
			t.Fatal(err)
		}
		if err := ping(s, 300*time.Millisecond); (err == nil) != step.answer {
			t.Fatalf("after %v: ping %v, want answer %v", step.sig, err, step.answer)
		}
	}
	s.Stop()
	if err := s.Signal(syscall.SIGCONT); err == nil {
		t.Fatal("signalled a stopped server")
	}
}

// Start fails with a clear error when redis-server is missing or refuses its
// arguments.
func TestStartErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		path string // PATH for the test; "" keeps it
		o    redisserver.Options
		want string
	}{
		{"not installed", t.TempDir(), redisserver.Options{}, "redis-server not found in PATH"},
		{"bad argument", "", redisserver.Options{Args: []string{"--no-such-option", "1"}}, "exited at start"},
		{"no answer", "", redisserver.Options{StartTimeout: 300 * time.Millisecond,
			Ready: func(context.Context, string) error { return os.ErrDeadlineExceeded }}, "did not answer within 300ms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.path != "" {
				t.Setenv("PATH", c.path)
			} else if !redisserver.Available() {
				t.Skip("redis-server is not on PATH")
			}
			s, err := redisserver.Start(context.Background(), c.o)
			if err == nil {
				s.Stop()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}
