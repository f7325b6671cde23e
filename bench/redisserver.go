package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server process started by StartRedis.
type RedisServer struct {
	// Addr is host:port of the server.
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts `redis-server` from PATH on a free loopback port, without
// persistence and with the settings the state store is sized for
// (hash-max-listpack-value 4096, hash-max-listpack-entries 512: docs/state.md), and waits until it answers. Stop it with Stop.
func StartRedis(ctx context.Context) (*RedisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("bench: redis-server not found in PATH: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: finding a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--hash-max-listpack-value", "4096", "--hash-max-listpack-entries", "512", "--protected-mode", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting redis-server: %w", err)
	}
	s := &RedisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := rdb.Ping(ctx).Err(); err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, errors.New("bench: redis-server exited at start (see its log on stderr)")
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("bench: redis-server did not answer within 10 s")
		}
	}
}

// Stop kills the server and waits for it to exit.
func (s *RedisServer) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
}
