package state

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/leadscore/leadscore/internal/redisserver"
	"github.com/leadscore/leadscore/internal/testpki"
)

// TestTLSMiniredis wires TLS with a private CA and a client certificate
// (mutual TLS), against a miniredis TLS listener.
func TestTLSMiniredis(t *testing.T) {
	p := testpki.New(t)
	mr, err := miniredis.RunTLS(p.ServerConfig(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)
	o := miniOptions(t, mr)
	o.DialTimeout = time.Second
	o.TLS = &TLSOptions{CAFile: p.CAFile, CertFile: p.ClientCertFile, KeyFile: p.ClientKeyFile}
	st, err := New(tctx(t), o)
	if err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	defer st.Close()
	id := HomeLeadID("anon:tls")
	mustWrite(t, st, Update{Base: mustLoad(t, st, id)[id], Data: []byte("secret")})
	if g := mustGet(t, st, id); string(g.Data) != "secret" {
		t.Fatal(g)
	}

	noCert := o
	noCert.TLS = &TLSOptions{CAFile: p.CAFile}
	if _, err := New(tctx(t), noCert); err == nil {
		t.Fatal("connected without the required client certificate")
	}
	otherCA := o
	otherCA.TLS = &TLSOptions{CertFile: p.ClientCertFile, KeyFile: p.ClientKeyFile} // system roots: server not trusted
	if _, err := New(tctx(t), otherCA); err == nil {
		t.Fatal("trusted a server signed by an unknown CA")
	}
	missing := o
	missing.TLS = &TLSOptions{CAFile: filepath.Join(t.TempDir(), "nope.pem")}
	if _, err := New(tctx(t), missing); err == nil {
		t.Fatal("missing CA file accepted")
	}
	plain := o
	plain.TLS = nil
	if _, err := New(tctx(t), plain); err == nil {
		t.Fatal("plain text accepted by a TLS server")
	}
}

// TestTLSAndACLRealRedisServer runs a real redis-server of its own (when the
// binary is on PATH) that accepts only mutual TLS, with an ACL user, and
// checks that the store works with the right settings and is refused with
// each wrong one.
func TestTLSAndACLRealRedisServer(t *testing.T) {
	if !redisserver.Available() {
		t.Skip("redis-server is not on PATH: the real-Redis TLS test needs it (CI installs it)")
	}
	p := testpki.New(t)
	good := Options{KeyPrefix: "tlsreal", Username: "scorer", Password: "s3cret-pw",
		DialTimeout: time.Second, TLS: &TLSOptions{CAFile: p.CAFile, CertFile: p.ClientCertFile, KeyFile: p.ClientKeyFile}}
	srv := startRedisWith(t, redisserver.Options{Dir: t.TempDir(), TLS: true, Args: []string{
		"--tls-cert-file", p.ServerCertFile, "--tls-key-file", p.ServerKeyFile, "--tls-ca-cert-file", p.CAFile,
		"--tls-auth-clients", "yes", "--save", "", "--appendonly", "no",
		"--hash-max-listpack-value", "1024",
		"--user", "default", "off",
		"--user", "scorer", "on", ">s3cret-pw", "~tlsreal:*", "+@all", "-@dangerous"},
		// Ready when the store connects with mutual TLS as the ACL user.
		Ready: func(ctx context.Context, addr string) error {
			o := good
			o.Addrs = []string{addr}
			st, err := New(ctx, o)
			if err != nil {
				return fmt.Errorf("mutual TLS with the ACL user: %w", err)
			}
			return st.Close()
		}})
	good.Addrs = []string{srv.Addr()}
	st, err := New(context.Background(), good)
	if err != nil {
		t.Fatalf("mutual TLS with the ACL user: %v\nredis-server:\n%s", err, srv.LogTail(20))
	}
	defer st.Close()
	id := HomeLeadID("anon:tls-real")
	mustWrite(t, st, Update{Base: mustLoad(t, st, id)[id], Data: []byte("over tls")})
	if g := mustGet(t, st, id); string(g.Data) != "over tls" {
		t.Fatalf("read back %q", g.Data)
	}
	for _, c := range []struct {
		name string
		edit func(o *Options)
	}{
		{"wrong password", func(o *Options) { o.Password = "wrong" }},
		{"no user (default user is off)", func(o *Options) { o.Username, o.Password = "", "" }},
		{"prefix outside the ACL", func(o *Options) { o.KeyPrefix = "other" }},
		{"no client certificate", func(o *Options) { o.TLS = &TLSOptions{CAFile: p.CAFile} }},
		{"server CA not trusted", func(o *Options) { o.TLS = &TLSOptions{CertFile: p.ClientCertFile, KeyFile: p.ClientKeyFile} }},
		{"plain text", func(o *Options) { o.TLS = nil }},
	} {
		o := good
		c.edit(&o)
		if s, err := New(context.Background(), o); err == nil {
			s.Close()
			t.Errorf("%s: accepted", c.name)
		} else if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%s: the error shows the password: %v", c.name, err)
		}
	}
}
