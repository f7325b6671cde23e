package kafkago

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/leadscore/leadscore/internal/tlsfiles"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Defaults applied by Config.setDefaults for zero fields (the same as the
// franz-go backend's where both have the setting).
const (
	DefaultSessionTimeout    = 45 * time.Second
	DefaultRebalanceTimeout  = 60 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultMaxPollRecords    = 5000
	DefaultFetchMaxWait      = 500 * time.Millisecond
	DefaultDialTimeout       = 10 * time.Second
)

// ErrExactlyOnce is returned by Validate when ExactlyOnce is set.
var ErrExactlyOnce = errors.New("kafka-go backend is at-least-once only; use the franz-go backend for exactly-once")

// Config configures a kafka-go Client. It has the shape of the franz-go backend's
// Config where the setting applies; Validate is called by New.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Group is the consumer group id shared by every processor instance. Required.
	Group string
	// InputTopics are the topics consumed by the group. Required.
	InputTopics []string
	// ClientID is sent to the brokers. Default "leadscore".
	ClientID string

	// ExactlyOnce is not supported by this backend: Validate refuses it
	// (ErrExactlyOnce). It exists so that one configuration can select either
	// backend.
	ExactlyOnce bool
	// TransactionalID is refused like ExactlyOnce.
	TransactionalID string
	// ReadCommitted consumes with read_committed isolation: records of aborted or
	// still open upstream transactions are never returned.
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
	// from the group. A member stops heartbeating while it holds a rebalance for
	// its batch in flight, so a batch must finish well within this. Default 45 s.
	SessionTimeout time.Duration
	// RebalanceTimeout bounds how long the group waits for members to rejoin.
	// Default 60 s.
	RebalanceTimeout time.Duration
	// HeartbeatInterval is how often the member heartbeats, and so how quickly it
	// notices a rebalance. Default 3 s.
	HeartbeatInterval time.Duration
	// MaxPollRecords caps the records one Poll returns; it is also the size of
	// the prefetch buffer. Default 5000.
	MaxPollRecords int
	// FetchMaxWait is how long a broker may hold a fetch waiting for data.
	// Default 500 ms.
	FetchMaxWait time.Duration
	// ProducerLinger is how long the writer waits to fill a batch before sending.
	// Default 0: each Produce call is sent at once, one batch per partition.
	ProducerLinger time.Duration
	// Compression of produced batches: "none" (default), "gzip", "snappy", "lz4"
	// or "zstd".
	Compression string
	// DialTimeout bounds connection set-up (TCP, TLS, SASL). Default 10 s.
	DialTimeout time.Duration

	// TLS, when non-nil, encrypts connections to the brokers.
	TLS *TLSConfig
	// SASL, when non-nil, authenticates to the brokers.
	SASL *SASLConfig

	// Logger receives kafka-go's error logs. Default: discard.
	Logger *slog.Logger
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
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
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
	if cc.ExactlyOnce || cc.TransactionalID != "" {
		errs = append(errs, ErrExactlyOnce)
	}
	if len(cc.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one is required"))
	}
	if cc.Group == "" {
		errs = append(errs, errors.New("group: required"))
	}
	if len(cc.InputTopics) == 0 {
		errs = append(errs, errors.New("input topics: at least one is required"))
	}
	switch cc.StartOffset {
	case "earliest", "latest":
	default:
		errs = append(errs, fmt.Errorf("start offset %q: want earliest or latest", cc.StartOffset))
	}
	for name, d := range map[string]time.Duration{
		"session timeout": cc.SessionTimeout, "rebalance timeout": cc.RebalanceTimeout,
		"heartbeat interval": cc.HeartbeatInterval, "fetch max wait": cc.FetchMaxWait,
		"dial timeout": cc.DialTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", name, d))
		}
	}
	if cc.HeartbeatInterval >= cc.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat interval %v: must be below the session timeout %v", cc.HeartbeatInterval, cc.SessionTimeout))
	}
	if cc.ProducerLinger < 0 {
		errs = append(errs, errors.New("producer linger: must not be negative"))
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
		return fmt.Errorf("kafkago: invalid config: %w", err)
	}
	return nil
}

func saslMechanism(s SASLConfig) (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Mechanism{Username: s.User, Password: s.Password}, nil
	case "SCRAM-SHA-256":
		m, err := scram.Mechanism(scram.SHA256, s.User, s.Password)
		if err != nil {
			return nil, fmt.Errorf("sasl SCRAM-SHA-256: %w", err)
		}
		return m, nil
	case "SCRAM-SHA-512":
		m, err := scram.Mechanism(scram.SHA512, s.User, s.Password)
		if err != nil {
			return nil, fmt.Errorf("sasl SCRAM-SHA-512: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("sasl mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}

func compression(name string) (kafka.Compression, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// errorLogger adapts a *slog.Logger to kafka-go's Logger.
func errorLogger(l *slog.Logger, what string) kafka.Logger {
	if l == nil {
		return nil
	}
	return kafka.LoggerFunc(func(format string, args ...any) {
		l.Warn("kafka-go " + what + ": " + fmt.Sprintf(format, args...))
	})
}
