package scoring

import (
	"fmt"
	"slices"
	"strings"
)

// The e-mail-domain fallback for account membership: when a sender names no
// account (no Segment group call, no context.groupId), a person whose address
// is at a company's domain can still be put in that company's account. An
// address at a consumer mailbox provider says nothing about the employer, so
// those domains are excluded.

// DomainAccountPrefix starts every account id AccountFromEmail derives
// ("domain:acme.example"). The prefix keeps inferred ids apart from the
// sender's own groupIds, which are free-form and could be a bare domain too:
// a caller that wants to merge the two maps one onto the other explicitly,
// rather than by accident.
const DomainAccountPrefix = "domain:"

// FreeMail is a set of consumer and free-mail domains (gmail.com, yahoo.*, …)
// whose addresses name no company. It is built once by NewFreeMail and never
// changes, so one value may be shared by any number of goroutines.
type FreeMail struct {
	exact  map[string]struct{} // registrable domains: "gmail.com"
	brands map[string]struct{} // first labels matching under any suffix: "yahoo" for yahoo.*
}

// defaultFreeMail lists the built-in free-mail domains. "name.*" matches the
// provider's domain under any public suffix (yahoo.com, yahoo.co.uk, yahoo.fr);
// it is kept to providers whose name no company domain is likely to share.
var defaultFreeMail = []string{
	// Global providers.
	"gmail.com", "googlemail.com",
	"yahoo.*", "ymail.com", "rocketmail.com",
	"outlook.*", "hotmail.*", "live.com", "live.co.uk", "live.fr", "live.de", "live.nl", "live.it", "live.ca",
	"msn.com", "windowslive.com",
	"icloud.com", "me.com", "mac.com",
	"aol.com", "aim.com",
	"gmx.*", "mail.com", "email.com",
	"proton.me", "protonmail.com", "protonmail.ch", "pm.me",
	"tutanota.com", "tutanota.de", "tuta.io", "tuta.com",
	"zoho.com", "zohomail.com", "fastmail.com", "fastmail.fm", "hey.com", "hushmail.com",
	// Europe.
	"web.de", "t-online.de", "freenet.de", "posteo.de", "mailbox.org",
	"orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr",
	"libero.it", "virgilio.it", "alice.it", "tiscali.it",
	"btinternet.com", "sky.com", "virginmedia.com", "ntlworld.com",
	"seznam.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl",
	// Russia and Asia.
	"yandex.*", "ya.ru", "mail.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru",
	"qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "sina.com", "sohu.com", "aliyun.com",
	"naver.com", "daum.net", "hanmail.net", "rediffmail.com",
	// Americas and Oceania (ISP mailboxes).
	"comcast.net", "verizon.net", "att.net", "sbcglobal.net", "cox.net", "charter.net",
	"shaw.ca", "rogers.com", "sympatico.ca", "bigpond.com", "optusnet.com.au",
	"uol.com.br", "bol.com.br", "terra.com.br",
}

// DefaultFreeMailDomains returns the built-in free-mail list, in the notation
// NewFreeMail reads ("gmail.com", "yahoo.*"). The slice is the caller's own.
func DefaultFreeMailDomains() []string { return slices.Clone(defaultFreeMail) }

// builtinFreeMail is the built-in list, built once; nothing modifies it.
var builtinFreeMail = mustFreeMail(defaultFreeMail)

func mustFreeMail(domains []string) *FreeMail {
	f, err := newFreeMail(domains)
	if err != nil {
		panic(err) // the built-in list is a constant: a bad entry is a bug caught by any test
	}
	return f
}

// NewFreeMail returns the built-in free-mail list extended with extra
// domains. An entry is a domain ("mail.example", matched after reduction to
// its registrable domain, see AccountFromEmail) or a provider name followed by
// ".*" ("yahoo.*": that name under any public suffix). Entries are
// case-insensitive; an empty entry, one with '@' or spaces, or a bare "*" is
// an error.
func NewFreeMail(extra ...string) (*FreeMail, error) {
	return newFreeMail(append(slices.Clone(defaultFreeMail), extra...))
}

func newFreeMail(domains []string) (*FreeMail, error) {
	f := &FreeMail{exact: make(map[string]struct{}, len(domains)), brands: map[string]struct{}{}}
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if brand, ok := strings.CutSuffix(d, ".*"); ok {
			if brand == "" || strings.ContainsAny(brand, "@.* \t") {
				return nil, fmt.Errorf("scoring: free-mail entry %q: want a provider name before .*, as in yahoo.*", d)
			}
			f.brands[brand] = struct{}{}
			continue
		}
		dom, ok := registrableDomain(d)
		if !ok || strings.Contains(d, "*") {
			return nil, fmt.Errorf("scoring: free-mail entry %q is not a domain", d)
		}
		f.exact[dom] = struct{}{}
	}
	return f, nil
}

// Contains reports whether domain, reduced to its registrable domain, is a
// free-mail domain. A nil FreeMail is the built-in list.
func (f *FreeMail) Contains(domain string) bool {
	dom, ok := registrableDomain(strings.ToLower(domain))
	return ok && f.contains(dom)
}

func (f *FreeMail) contains(registrable string) bool {
	if f == nil {
		f = builtinFreeMail
	}
	if _, ok := f.exact[registrable]; ok {
		return true
	}
	first, _, _ := strings.Cut(registrable, ".")
	_, ok := f.brands[first]
	return ok
}

// AccountFromEmail returns the account id implied by an e-mail address:
// DomainAccountPrefix and the address's registrable domain, lower-cased
// ("Claire@EU.Acme-Industries.example" → "domain:acme-industries.example").
// ok is false when the address has no usable domain (no '@', an IP literal,
// a single label) or its domain is in freeMail; a nil freeMail is the
// built-in list (NewFreeMail with no extras).
//
// Subdomains fold into their registrable domain, so that people writing from
// eu.acme.com, mail.acme.com and acme.com land in one account: a company's
// mail subdomains are rarely separate companies. The registrable domain is
// the last two labels, or three under a common two-level public suffix
// (co.uk, com.au, co.jp, com.br, …) — an approximation of the Public Suffix
// List that is right for company domains without a dependency; hosted
// subdomains of shared platforms are not told apart.
func AccountFromEmail(email string, freeMail *FreeMail) (string, bool) {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return "", false
	}
	dom, ok := registrableDomain(strings.ToLower(strings.TrimSpace(email[at+1:])))
	if !ok || freeMail.contains(dom) {
		return "", false
	}
	return DomainAccountPrefix + dom, true
}

// registrableDomain reduces a lower-case host name to its registrable domain
// (see AccountFromEmail); ok is false for what is not a DNS name with at
// least two labels.
func registrableDomain(host string) (string, bool) {
	host = strings.TrimSuffix(host, ".") // a fully qualified name is the same domain
	if host == "" || host[0] == '[' {    // an address literal names a machine, not a company
		return "", false
	}
	labels, last := 0, len(host)
	cut := [3]int{} // starts of the last three labels, nearest first
	for i := len(host) - 1; i >= -1; i-- {
		if i >= 0 && host[i] != '.' {
			if c := host[i]; c <= ' ' || c == '@' || c == '/' || c == '\\' || c == ',' || c == ';' || c == '"' {
				return "", false
			}
			continue
		}
		if i+1 == last { // an empty label: "acme..com", ".com"
			return "", false
		}
		if labels < len(cut) {
			cut[labels] = i + 1
		}
		labels++
		last = i
	}
	if labels < 2 {
		return "", false
	}
	if labels >= 3 {
		if _, ok := twoLevelSuffixes[host[cut[1]:]]; ok {
			return host[cut[2]:], true
		}
	}
	if _, ok := twoLevelSuffixes[host[cut[1]:]]; ok {
		return "", false // a bare public suffix ("co.uk") is nobody's domain
	}
	return host[cut[1]:], true
}

// twoLevelSuffixes are the common public suffixes of two labels, under which a
// registrable domain has three.
var twoLevelSuffixes = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, s := range []string{
		"co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk",
		"com.au", "net.au", "org.au", "edu.au", "gov.au",
		"co.nz", "org.nz", "net.nz",
		"co.jp", "ne.jp", "or.jp", "ac.jp",
		"co.kr", "or.kr",
		"com.cn", "net.cn", "org.cn", "com.hk", "com.tw", "com.sg", "com.my", "com.ph", "co.id", "co.th",
		"co.in", "net.in", "org.in", "firm.in",
		"com.br", "net.br", "org.br", "com.mx", "com.ar", "com.co", "com.pe", "com.uy",
		"co.za", "co.il", "com.tr", "com.ua", "com.pl", "com.eg", "com.sa", "com.ng",
	} {
		m[s] = struct{}{}
	}
	return m
}()
