package state

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/leadscore/leadscore/internal/tlsfiles"

	"github.com/redis/go-redis/v9"
)

// Options configures a Store. The zero value (plus Addrs) is a valid
// standalone configuration; New applies the defaults documented on each
// field and validates the result once, before connecting.
//
// Buckets, TimerShards and KeyPrefix define the key layout. They are written
// into the store's meta key the first time a store is opened under a prefix,
// and New refuses to open the same prefix with a different layout: changing
// them needs a migration.
type Options struct {
	// Addrs lists Redis endpoints as host:port: one address for a standalone
	// server, the Sentinel addresses when MasterName is set, or any number of
	// seed nodes when Cluster is set. Required.
	Addrs []string
	// MasterName selects Redis Sentinel: the name of the monitored master.
	MasterName string
	// Cluster selects Redis Cluster. Every key of one lead then lives in one
	// hash slot (see docs/state.md), and writes are grouped per slot.
	Cluster bool

	// Username and Password authenticate with Redis ACLs (AUTH username
	// password); Username empty means the default user.
	Username string
	Password string
	// SentinelUsername and SentinelPassword authenticate with the Sentinels
	// when they differ from the data nodes' credentials.
	SentinelUsername string
	SentinelPassword string
	// DB selects the logical database (standalone and Sentinel only; must be 0
	// with Cluster).
	DB int

	// TLS enables TLS when non-nil.
	TLS *TLSOptions

	// PoolSize is the maximum number of connections per node; 0 uses
	// go-redis' default (10 per GOMAXPROCS).
	PoolSize int
	// DialTimeout bounds connecting (default 5s); ReadTimeout and
	// WriteTimeout bound each socket read and write (default 3s each). A
	// timeout yields an ErrUnavailable error; a Write that timed out may or
	// may not have been applied (see Store.Write).
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration

	// KeyPrefix starts every key of the store (default "ls"). It must not
	// contain '{' or '}'.
	KeyPrefix string
	// TimerShards is the number of shards of the timer index (default 64):
	// ClaimDue sweeps one shard, and TimerShard tells the shard of a lead. It
	// is also the number of Redis Cluster hash slots the store uses.
	TimerShards int
	// Buckets is the number of record buckets (default 32768), a multiple of
	// 4*TimerShards. Lead records are packed into small Redis hashes, about
	// Buckets/leads per hash; keep leads/Buckets between 10 and 60 (size it
	// as expected leads / 32) so that each hash stays listpack-encoded and
	// fast. See docs/state.md.
	Buckets int
	// RankScale is the resolution of leaderboard ranks: a rank is stored as
	// the integer round(Rank*RankScale) (default 10000), which keeps sorted
	// set entries small. Ranks must satisfy |Rank*RankScale| < 2^52.
	RankScale float64
}

// TLSOptions configures TLS to Redis from PEM files (CA bundle, client
// certificate and key for servers with tls-auth-clients, server name).
type TLSOptions = tlsfiles.Files

// DefaultKeyPrefix is Options.KeyPrefix's default.
const DefaultKeyPrefix = "ls"

const (
	defaultTimerShards = 64
	defaultBuckets     = 32768
	defaultRankScale   = 10000
	maxLeadIDLen       = 1024 // lead ids are identity keys ("user:<userId>"): as long as an identity may be
	maxNameLen         = 200
	maxIdentityLen     = 1024
)

func (o *Options) setDefaults() {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.TimerShards == 0 {
		o.TimerShards = defaultTimerShards
	}
	if o.Buckets == 0 {
		o.Buckets = defaultBuckets
	}
	if o.RankScale == 0 {
		o.RankScale = defaultRankScale
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 3 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 3 * time.Second
	}
}

// Validate reports the first problem of a configuration, after defaults. New
// calls it; it is exported so that a command can check flags before it
// connects.
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	if len(o.Addrs) == 0 {
		errs = append(errs, errors.New("no Redis address (Addrs)"))
	}
	for _, a := range o.Addrs {
		if !strings.Contains(a, ":") {
			errs = append(errs, fmt.Errorf("address %q is not host:port", a))
		}
	}
	if o.Cluster && o.MasterName != "" {
		errs = append(errs, errors.New("Cluster and MasterName (Sentinel) are exclusive"))
	}
	if !o.Cluster && o.MasterName == "" && len(o.Addrs) > 1 {
		errs = append(errs, errors.New("several addresses need Cluster or MasterName"))
	}
	if o.Cluster && o.DB != 0 {
		errs = append(errs, errors.New("Redis Cluster has only DB 0"))
	}
	if o.DB < 0 {
		errs = append(errs, errors.New("DB must not be negative"))
	}
	if o.PoolSize < 0 {
		errs = append(errs, errors.New("PoolSize must not be negative"))
	}
	if o.DialTimeout < 0 || o.ReadTimeout < 0 || o.WriteTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		errs = append(errs, fmt.Errorf("KeyPrefix %q must not contain '{' or '}'", o.KeyPrefix))
	}
	if o.TimerShards < 1 || o.TimerShards > 16384 {
		errs = append(errs, fmt.Errorf("TimerShards %d not in [1, 16384]", o.TimerShards))
	} else if o.Buckets < 4*o.TimerShards || o.Buckets%(4*o.TimerShards) != 0 {
		errs = append(errs, fmt.Errorf("Buckets %d must be a positive multiple of 4*TimerShards (%d)", o.Buckets, 4*o.TimerShards))
	}
	if o.Buckets > 1<<24 {
		errs = append(errs, fmt.Errorf("Buckets %d above %d", o.Buckets, 1<<24))
	}
	if !(o.RankScale > 0) || o.RankScale > 1e12 {
		errs = append(errs, fmt.Errorf("RankScale %v not in (0, 1e12]", o.RankScale))
	}
	if t := o.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("TLS CertFile and KeyFile go together"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("state: invalid options: %w", err)
	}
	return nil
}

// universal returns the go-redis options; the store never retries by itself
// (MaxRetries -1), so that a failed write is reported, not silently re-sent.
func (o *Options) universal(tlsCfg *tls.Config) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:            o.Addrs,
		ClientName:       "leadscore-state",
		DB:               o.DB,
		Username:         o.Username,
		Password:         o.Password,
		SentinelUsername: o.SentinelUsername,
		SentinelPassword: o.SentinelPassword,
		MasterName:       o.MasterName,
		MaxRetries:       -1,
		DialerRetries:    1,
		DialTimeout:      o.DialTimeout,
		ReadTimeout:      o.ReadTimeout,
		WriteTimeout:     o.WriteTimeout,
		PoolSize:         o.PoolSize,
		TLSConfig:        tlsCfg,
		IsClusterMode:    o.Cluster,
		DisableIdentity:  true,
	}
}

func newClient(o *Options, tlsCfg *tls.Config) redis.UniversalClient {
	u := o.universal(tlsCfg)
	switch {
	case o.Cluster:
		return redis.NewClusterClient(u.Cluster())
	case o.MasterName != "":
		return redis.NewFailoverClient(u.Failover())
	default:
		return redis.NewClient(u.Simple())
	}
}
