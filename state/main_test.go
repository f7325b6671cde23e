package state

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...interface{}) {}

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the outage tests cause them on purpose.
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}
