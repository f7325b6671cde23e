package franzgo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore/internal/tlsfiles"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Defaults applied by Config.setDefaults for zero fields.
const (
	DefaultSessionTimeout    = 45 * time.Second
	DefaultRebalanceTimeout  = 60 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultMaxPollRecords    = 5000
	DefaultFetchMaxWait      = 500 * time.Millisecond
	DefaultProducerLinger    = time.Duration(0) // Produce sends at once: the processor's batch is the batch.
)

// Config configures a franz-go Client. Zero fields take the defaults above;
// Validate is called by New, so a Client never runs with an invalid Config.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Group is the consumer group id shared by every processor instance. Required.
	Group string
	// InputTopics are the topics consumed by the group. Required.
	InputTopics []string
	// ClientID is sent to the brokers (logs, quotas). Default "leadscore".
	ClientID string

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
	// ReadCommitted consumes with read_committed isolation even without
	// ExactlyOnce (always on with ExactlyOnce): records of aborted or still open
	// upstream transactions are never returned.
	ReadCommitted bool

	// SoleOwner gives every input partition to one member of the group at a
	// time (processor.SoleOwnerProtocol); the others stand by and one of them
	// takes over when it leaves or is evicted. Every member of the group must
	// set it alike.
	SoleOwner bool

	// StartOffset says where a partition without a committed offset starts:
	// "earliest" (default) or "latest".
	StartOffset string

	// SessionTimeout: a member that does not heartbeat for this long is removed
	// from the group and its partitions are lost (Commit then returns
	// processor.ErrNotOwner). Default 45 s.
	SessionTimeout time.Duration
	// RebalanceTimeout bounds how long the group waits for members to rejoin; it
	// is also how long a member may hold a rebalance while it finishes the batch in
	// flight. Default 60 s.
	RebalanceTimeout time.Duration
	// HeartbeatInterval is how often the member heartbeats, and so how quickly it
	// notices a rebalance. Default 3 s.
	HeartbeatInterval time.Duration
	// MaxPollRecords caps the records one Poll returns. Default 5000.
	MaxPollRecords int
	// FetchMaxWait is how long a broker may hold a fetch waiting for data.
	// Default 500 ms.
	FetchMaxWait time.Duration
	// ProducerLinger is how long the producer waits to fill a batch. Default 0:
	// Produce sends its records at once.
	ProducerLinger time.Duration
	// Compression of produced batches: "none" (default), "gzip", "snappy", "lz4"
	// or "zstd".
	Compression string

	// TLS, when non-nil, encrypts connections to the brokers.
	TLS *TLSConfig
	// SASL, when non-nil, authenticates to the brokers.
	SASL *SASLConfig

	// Logger receives franz-go's warnings and errors, (info) the member's
	// partition assignments, revocations and losses, and, when it is enabled
	// at debug level, franz-go's own debug log. Default: discard.
	Logger *slog.Logger
	// Opts are extra franz-go options applied last, e.g. kgo.WithHooks for kotel
	// tracing and metrics. They may override anything above; options that change
	// the group or commit semantics (autocommit, balancers, BlockRebalanceOnPoll)
	// break the guarantees this package documents.
	Opts []kgo.Opt
}

// TLSConfig configures TLS from PEM files (CA bundle, client certificate and key,
// server name); the same settings as the Redis store's.
type TLSConfig = tlsfiles.Files

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	User      string
	Password  string
}

// SASL mechanism names accepted in SASLConfig.Mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

func (c *Config) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = "leadscore"
	}
	if c.StartOffset == "" {
		c.StartOffset = "earliest"
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
}

// Validate reports every problem of the Config (after defaults) in one error.
func (c *Config) Validate() error {
	cc := *c
	cc.setDefaults()
	var errs []error
	if len(cc.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one is required"))
	}
	if cc.Group == "" {
		errs = append(errs, errors.New("group: required"))
	}
	if len(cc.InputTopics) == 0 {
		errs = append(errs, errors.New("input topics: at least one is required"))
	}
	if cc.ExactlyOnce && cc.TransactionalID == "" {
		errs = append(errs, errors.New("transactional id: required with exactly-once"))
	}
	if !cc.ExactlyOnce && cc.TransactionalID != "" {
		errs = append(errs, errors.New("transactional id: set but exactly-once is off"))
	}
	switch cc.StartOffset {
	case "earliest", "latest":
	default:
		errs = append(errs, fmt.Errorf("start offset %q: want earliest or latest", cc.StartOffset))
	}
	for name, d := range map[string]time.Duration{
		"session timeout": cc.SessionTimeout, "rebalance timeout": cc.RebalanceTimeout,
		"heartbeat interval": cc.HeartbeatInterval, "fetch max wait": cc.FetchMaxWait,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", name, d))
		}
	}
	if cc.HeartbeatInterval >= cc.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat interval %v: must be below the session timeout %v", cc.HeartbeatInterval, cc.SessionTimeout))
	}
	if cc.ProducerLinger < 0 || cc.TransactionTimeout < 0 {
		errs = append(errs, errors.New("producer linger and transaction timeout: must not be negative"))
	}
	if cc.MaxPollRecords < 0 {
		errs = append(errs, fmt.Errorf("max poll records: must be positive, got %d", cc.MaxPollRecords))
	}
	if _, err := compression(cc.Compression); err != nil {
		errs = append(errs, err)
	}
	if cc.TLS != nil && (cc.TLS.CertFile == "") != (cc.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert file and key file go together"))
	}
	if cc.SASL != nil {
		if _, err := saslMechanism(*cc.SASL); err != nil {
			errs = append(errs, err)
		}
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
	cc.setDefaults()
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
		opts = append(opts, kgo.WithLogger(slogger{cc.Logger}))
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
	codec, _ := compression(c.Compression)
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

func saslMechanism(s SASLConfig) (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case MechanismPlain:
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism(), nil
	case MechanismScramSHA256:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism(), nil
	case MechanismScramSHA512:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}

func compression(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// slogger adapts a *slog.Logger to kgo.Logger; it passes warnings and errors,
// and everything (franz-go's request-level debug log) when the logger is
// enabled at debug level (`leadscore run --log-level debug`).
type slogger struct{ l *slog.Logger }

func (s slogger) Level() kgo.LogLevel {
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelWarn
}

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
