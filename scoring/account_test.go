package scoring

import (
	"strings"
	"testing"
)

func TestAccountFromEmail(t *testing.T) {
	extra, err := NewFreeMail("mail.example", "Inbox.Example", "post.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		email string
		free  *FreeMail
		want  string // "" when ok must be false
	}{
		{"claire.martin@acme-industries.example", nil, "domain:acme-industries.example"},
		{"  Claire.Martin@ACME-Industries.Example ", nil, "domain:acme-industries.example"},
		{"ann@eu.sales.acme.com", nil, "domain:acme.com"},
		{"ann@acme.com.", nil, "domain:acme.com"},
		{"bob@acme.co.uk", nil, "domain:acme.co.uk"},
		{"bob@mail.acme.co.uk", nil, "domain:acme.co.uk"},
		{"bob@co.uk", nil, ""},
		{"kim@initech.com.au", nil, "domain:initech.com.au"},
		{"x@a@acme.com", nil, "domain:acme.com"}, // the domain is after the last '@'
		// Free mail, exact and under any suffix.
		{"someone@gmail.com", nil, ""},
		{"someone@GoogleMail.com", nil, ""},
		{"someone@yahoo.com", nil, ""},
		{"someone@yahoo.co.uk", nil, ""},
		{"someone@uk.yahoo.com", nil, ""},
		{"someone@hotmail.fr", nil, ""},
		{"someone@outlook.com", nil, ""},
		{"someone@live.com", nil, ""},
		{"someone@icloud.com", nil, ""},
		{"someone@gmx.de", nil, ""},
		{"someone@gmx.net", nil, ""},
		{"someone@web.de", nil, ""},
		{"someone@proton.me", nil, ""},
		{"someone@yandex.ru", nil, ""},
		{"someone@qq.com", nil, ""},
		{"someone@163.com", nil, ""},
		{"someone@zoho.com", nil, ""},
		{"someone@optusnet.com.au", nil, ""},
		// A company whose name merely contains a provider's is a company.
		{"ceo@yahoo-partners.com", nil, "domain:yahoo-partners.com"},
		{"ceo@livenation.com", nil, "domain:livenation.com"},
		{"ceo@gmail.company.example", nil, "domain:company.example"},
		// The caller's extension, on top of the built-in list.
		{"p@mail.example", nil, "domain:mail.example"},
		{"p@mail.example", extra, ""},
		{"p@inbox.example", extra, ""},
		{"p@post.example", extra, ""},
		{"p@gmail.com", extra, ""},
		{"p@acme.example", extra, "domain:acme.example"},
		// No usable domain.
		{"", nil, ""},
		{"no-at-sign", nil, ""},
		{"@acme.com", nil, ""},
		{"ann@", nil, ""},
		{"ann@localhost", nil, ""},
		{"ann@[203.0.113.7]", nil, ""},
		{"ann@acme..com", nil, ""},
		{"ann@.acme.com", nil, ""},
		{"ann@ac me.com", nil, ""},
	} {
		got, ok := AccountFromEmail(c.email, c.free)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("AccountFromEmail(%q) = %q, %v; want %q, %v", c.email, got, ok, c.want, c.want != "")
		}
	}
}

func TestNewFreeMail(t *testing.T) {
	for _, bad := range []string{"", " ", "*", ".*", "a@b.com", "a b.com", "com", "*.example", "ya.hoo.*"} {
		if _, err := NewFreeMail(bad); err == nil || !strings.HasPrefix(err.Error(), "scoring: free-mail entry") {
			t.Errorf("NewFreeMail(%q) error = %v", bad, err)
		}
	}
	f, err := NewFreeMail()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range DefaultFreeMailDomains() {
		probe := strings.Replace(d, ".*", ".com", 1)
		if !f.Contains(probe) || !(*FreeMail)(nil).Contains(probe) {
			t.Errorf("built-in list does not contain its own entry %q", d)
		}
	}
	if f.Contains("acme.example") {
		t.Error("acme.example is free mail")
	}
	// The returned list is a copy: changing it changes nobody's defaults.
	DefaultFreeMailDomains()[0] = "acme.example"
	if _, ok := AccountFromEmail("a@acme.example", nil); !ok {
		t.Error("changing DefaultFreeMailDomains' result changed the built-in list")
	}
}
