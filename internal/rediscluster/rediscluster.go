// Package rediscluster joins redis-server processes started by a test into a
// Redis Cluster, for the suites that run against a real one (the state store's
// and the reliability suite's).
package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoCLI is returned by Join when redis-cli is not on PATH: the callers skip.
var ErrNoCLI = errors.New("rediscluster: redis-cli is not on PATH (Debian's redis-tools)")

// Available reports whether Join can run here (redis-cli is on PATH).
func Available() bool {
	_, err := exec.LookPath("redis-cli")
	return err == nil
}

// Join makes the masters at addrs (started with --cluster-enabled yes) one
// cluster without replicas, with redis-cli --cluster create, and waits until
// every node reports it ok and knows the others.
func Join(ctx context.Context, addrs []string) error {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return ErrNoCLI
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("rediscluster: redis-cli --cluster create: %w\n%s", err, out)
	}
	known := fmt.Sprintf("cluster_known_nodes:%d", len(addrs))
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, known) {
				break
			}
			if ctx.Err() != nil {
				c.Close()
				return fmt.Errorf("rediscluster: node %s not ok: %v %s", a, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return nil
}
