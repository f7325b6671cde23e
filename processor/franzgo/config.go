package franzgo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore/processor/kafkaconfig"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Config configures a franz-go Client: the settings both backends share
// (kafkaconfig.Config, embedded; zero fields take its defaults) and franz-go's
// own. Validate is called by New, so a Client never runs with an invalid Config.
type Config struct {
	kafkaconfig.Config

	// ExactlyOnce turns on Kafka transactions: produced records and input offsets
	// commit atomically, and consumption uses read_committed. Requires
	// TransactionalID.
	ExactlyOnce bool
	// TransactionalID identifies this member's producer. It must be unique among
	// the members running at the same time and should be stable across restarts of
	// the same instance (a restarted instance then fences its former self's open
	// transaction at once instead of waiting for the transaction timeout).
	TransactionalID string
	// TransactionTimeout bounds how long a transaction may stay open before the
	// broker aborts it. Default: franz-go's (40 s).
	TransactionTimeout time.Duration

	// Opts are extra franz-go options applied last, e.g. kgo.WithHooks for kotel
	// tracing and metrics. They may override anything above; options that change
	// the group or commit semantics (autocommit, balancers, BlockRebalanceOnPoll)
	// break the guarantees this package documents.
	Opts []kgo.Opt
}

// Validate reports every problem of the Config (after defaults) in one error.
func (c *Config) Validate() error {
	errs := []error{c.Config.Validate()}
	if c.ExactlyOnce && c.TransactionalID == "" {
		errs = append(errs, errors.New("transactional id: required with exactly-once"))
	}
	if !c.ExactlyOnce && c.TransactionalID != "" {
		errs = append(errs, errors.New("transactional id: set but exactly-once is off"))
	}
	if c.ProducerLinger < 0 || c.TransactionTimeout < 0 {
		errs = append(errs, errors.New("producer linger and transaction timeout: must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("franzgo: invalid config: %w", err)
	}
	return nil
}

// ConnOpts returns the franz-go options that say how to reach the cluster:
// seed brokers, client id, TLS, SASL, logger and the extra Opts. The admin
// helpers (EnsureTopics, CheckTopics) and test consumers use them. It reads the
// TLS files, so it fails when they are missing or invalid. A client built with
// them fails with an *AuthError when the brokers refuse the SASL credentials.
func (c *Config) ConnOpts() ([]kgo.Opt, error) {
	cc := *c
	cc.SetDefaults()
	opts := []kgo.Opt{kgo.SeedBrokers(cc.Brokers...), kgo.ClientID(cc.ClientID)}
	if cc.TLS != nil {
		tc, err := cc.TLS.Build()
		if err != nil {
			return nil, fmt.Errorf("franzgo: %w", err)
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if cc.SASL != nil {
		m, err := saslMechanism(*cc.SASL)
		if err != nil {
			return nil, fmt.Errorf("franzgo: %w", err)
		}
		w := &authWatch{Mechanism: m, user: cc.SASL.User}
		opts = append(opts, kgo.SASL(w), kgo.WithHooks(w))
	}
	if cc.Logger != nil {
		opts = append(opts, kgo.WithLogger(NewLogger(cc.Logger)))
	}
	return opts, nil
}

// balancer returns the group's assignment strategy; owned counts the
// generations in which the member got partitions (sole ownership).
func (c *Config) balancer(owned *atomic.Int32) kgo.GroupBalancer {
	if c.SoleOwner {
		return soleOwner{owned: owned}
	}
	return kgo.StickyBalancer()
}

// clientOpts returns every option of the group member. c has its defaults set.
func (c *Config) clientOpts(owned *atomic.Int32) ([]kgo.Opt, error) {
	opts, err := c.ConnOpts()
	if err != nil {
		return nil, err
	}
	codec := compression(c.Compression)
	start := kgo.NewOffset().AtStart()
	if c.StartOffset == "latest" {
		start = kgo.NewOffset().AtEnd()
	}
	opts = append(opts,
		kgo.ConsumerGroup(c.Group),
		kgo.ConsumeTopics(c.InputTopics...),
		kgo.ConsumeStartOffset(start),
		// Eager, not cooperative: a cooperative member that is evicted
		// mid-batch can rejoin, keep partitions and fetch on from past its
		// uncommitted batch (docs/kafka.md, "Why not cooperative-sticky").
		kgo.Balancers(c.balancer(owned)),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(c.SessionTimeout),
		kgo.RebalanceTimeout(c.RebalanceTimeout),
		kgo.HeartbeatInterval(c.HeartbeatInterval),
		kgo.FetchMaxWait(c.FetchMaxWait),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent writes are franz-go's default
		kgo.ProducerLinger(c.ProducerLinger),
		kgo.ProducerBatchCompression(codec),
	)
	if c.ExactlyOnce {
		opts = append(opts,
			kgo.TransactionalID(c.TransactionalID),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
		)
		if c.TransactionTimeout > 0 {
			opts = append(opts, kgo.TransactionTimeout(c.TransactionTimeout))
		}
	} else if c.ReadCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return opts, nil
}

// saslMechanism returns franz-go's mechanism for s.
func saslMechanism(s kafkaconfig.SASLConfig) (sasl.Mechanism, error) {
	name, err := s.MechanismName()
	if err != nil {
		return nil, err
	}
	switch name {
	case kafkaconfig.MechanismPlain:
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism(), nil
	case kafkaconfig.MechanismScramSHA256:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism(), nil
	}
	return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism(), nil
}

// compression returns the codec of name, which Validate checked.
func compression(name string) kgo.CompressionCodec {
	switch strings.ToLower(name) {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// NewLogger adapts l to kgo.Logger, for kgo.WithLogger: it passes franz-go's
// warnings and errors, and everything (its request-level debug log) when l is
// enabled at debug level (`leadscore run --log-level debug`). Messages start
// with "franz-go: ".
func NewLogger(l *slog.Logger) kgo.Logger { return slogger{l} }

// slogger is NewLogger's kgo.Logger.
type slogger struct{ l *slog.Logger }

// Level is debug when the logger is enabled at debug level, else warn.
func (s slogger) Level() kgo.LogLevel {
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelWarn
}

// Log logs msg at the slog level of level.
func (s slogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelInfo:
		lvl = slog.LevelInfo
	case kgo.LogLevelDebug:
		lvl = slog.LevelDebug
	}
	s.l.Log(context.Background(), lvl, "franz-go: "+msg, keyvals...)
}
