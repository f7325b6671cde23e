package state

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

type testPKI struct {
	dir                       string
	caFile, certFile, keyFile string
	serverCertFile, serverKey string
	serverCert                tls.Certificate
	pool                      *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leadscore"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		f := filepath.Join(p.dir, name)
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	sDER, sKey := issue(2, x509.ExtKeyUsageServerAuth)
	sKeyDER, _ := x509.MarshalECPrivateKey(sKey)
	sc, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sKeyDER}))
	if err != nil {
		t.Fatal(err)
	}
	p.serverCert = sc
	p.serverCertFile = write("server.pem", "CERTIFICATE", sDER)
	p.serverKey = write("server-key.pem", "EC PRIVATE KEY", sKeyDER)
	cDER, cKey := issue(3, x509.ExtKeyUsageClientAuth)
	cKeyDER, _ := x509.MarshalECPrivateKey(cKey)
	p.certFile = write("client.pem", "CERTIFICATE", cDER)
	p.keyFile = write("client-key.pem", "EC PRIVATE KEY", cKeyDER)
	return p
}

// TestTLSMiniredis wires TLS with a private CA and a client certificate
// (mutual TLS), against a miniredis TLS listener.
func TestTLSMiniredis(t *testing.T) {
	p := newTestPKI(t)
	mr, err := miniredis.RunTLS(&tls.Config{
		Certificates: []tls.Certificate{p.serverCert},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)
	o := miniOptions(t, mr)
	o.DialTimeout = time.Second
	o.TLS = &TLSOptions{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}
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
	noCert.TLS = &TLSOptions{CAFile: p.caFile}
	if _, err := New(tctx(t), noCert); err == nil {
		t.Fatal("connected without the required client certificate")
	}
	otherCA := o
	otherCA.TLS = &TLSOptions{CertFile: p.certFile, KeyFile: p.keyFile} // system roots: server not trusted
	if _, err := New(tctx(t), otherCA); err == nil {
		t.Fatal("trusted a server signed by an unknown CA")
	}
	missing := o
	missing.TLS = &TLSOptions{CAFile: filepath.Join(p.dir, "nope.pem")}
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
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH: the real-Redis TLS test needs it (CI installs it)")
	}
	p := newTestPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", p.serverCertFile, "--tls-key-file", p.serverKey, "--tls-ca-cert-file", p.caFile,
		"--tls-auth-clients", "yes", "--save", "", "--appendonly", "no", "--dir", t.TempDir(),
		"--hash-max-listpack-value", "1024",
		"--user", "default", "off",
		"--user", "scorer", "on", ">s3cret-pw", "~tlsreal:*", "+@all", "-@dangerous")
	out := &lockedOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	good := Options{Addrs: []string{addr}, KeyPrefix: "tlsreal", Username: "scorer", Password: "s3cret-pw",
		DialTimeout: time.Second, TLS: &TLSOptions{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}}
	var st *Store
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err = New(context.Background(), good)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mutual TLS with the ACL user: %v\nredis-server:\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
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
		{"no client certificate", func(o *Options) { o.TLS = &TLSOptions{CAFile: p.caFile} }},
		{"server CA not trusted", func(o *Options) { o.TLS = &TLSOptions{CertFile: p.certFile, KeyFile: p.keyFile} }},
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

// lockedOutput collects a subprocess's output.
type lockedOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedOutput) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
