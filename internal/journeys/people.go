package journeys

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// fitClass is how good a buyer a person is, which the persona skews.
type fitClass uint8

const (
	fitIdeal fitClass = iota // decision maker or practitioner at a mid-market target
	fitOK                    // plausible, not ideal
	fitPoor                  // student, tiny company, off-target market
)

// person is who a simulated visitor is: what identify sends as traits, and the
// devices and addresses their events come from.
type person struct {
	first, last string
	email       string // as the person typed it (identify, forms)
	mail        string // lower-cased, as SendGrid sends it and leadscore keys it
	title       string
	company     string // empty for free-mail addresses without a company
	head, tail  uint8  // the company's name as indices of companyHeads and companyTails
	role        string // Role* in the buying group; empty when alone
	industry    string
	employees   int
	country     string
	locale      string
	browser     string // web user agent
	mailAgent   string // user agent of human opens and clicks
	apple       bool   // Apple Mail Privacy Protection: every delivered message gets a machine open
	ip          string
	anon        string // anonymousId (UUID v4)
	user        string // userId, the CRM id ("crm-004211")
	skew        int64  // device clock error, ms
	fit         fitClass
}

var targetIndustries = map[string]bool{"software": true, "saas": true, "manufacturing": true,
	"fintech": true, "professional services": true}

// companySize is the head count of company (head, tail): a property of the company,
// the same for everyone who works there.
func companySize(head, tail int) int {
	h := mix64(uint64(head)<<8 | uint64(tail) | 0xc0ffee<<16)
	u := float64(h%10000) / 10000
	return int(math.Round(math.Exp(u * math.Log(25000)))) // 1 .. 25 000, log-uniform
}

func newPerson(r *rand.Rand, idx int64, fit fitClass) person {
	p := person{fit: fit}
	p.first = firstNames[r.IntN(len(firstNames))]
	p.last = lastNames[r.IntN(len(lastNames))]
	p.anon = uuid(r)
	p.user = "crm-" + pad6(idx+1)

	switch fit {
	case fitIdeal:
		if r.IntN(10) < 6 {
			p.title = pick(r, seniorTitles)
		} else {
			p.title = pick(r, practitionerTitles)
		}
		p.country = pick(r, targetCountries)
		p.pickCompany(r, func(ind string, n int) bool { return targetIndustries[ind] && n >= 50 && n <= 2000 })
	case fitOK:
		if r.IntN(10) < 3 {
			p.title = pick(r, seniorTitles)
		} else if r.IntN(10) < 8 {
			p.title = pick(r, practitionerTitles)
		} else {
			p.title = pick(r, otherTitles)
		}
		if r.IntN(10) < 8 {
			p.country = pick(r, targetCountries)
		} else {
			p.country = pick(r, otherCountries)
		}
		p.pickCompany(r, func(_ string, n int) bool { return n >= 10 })
	default:
		p.title = pick(r, otherTitles)
		if r.IntN(2) == 0 {
			p.country = pick(r, otherCountries)
		} else {
			p.country = pick(r, targetCountries)
		}
		if r.IntN(2) == 0 {
			p.pickCompany(r, func(ind string, n int) bool { return !targetIndustries[ind] || n < 10 })
		}
	}
	p.locale = locales[p.country]

	local := ascii(p.first) + "." + ascii(p.last) + strconv.FormatInt(idx+1, 10)
	domain := freeMailDomains[r.IntN(len(freeMailDomains))]
	if p.company != "" {
		domain = ascii(strings.ReplaceAll(p.company, " ", "-")) + ".example"
	}
	p.email = local + "@" + domain
	p.mail = p.email
	if r.IntN(20) == 0 { // typed with a capital; every system lower-cases it
		p.email = p.first[:1] + p.email[1:]
	}

	p.browser = browserAgents[r.IntN(len(browserAgents))]
	p.apple = r.IntN(100) < 45
	if p.apple {
		p.mailAgent = appleMailAgent
	} else {
		p.mailAgent = mailAgents[r.IntN(len(mailAgents))]
	}
	p.ip = [...]string{"203.0.113.", "198.51.100.", "192.0.2."}[r.IntN(3)] + strconv.Itoa(1+r.IntN(254))
	p.skew = int64(r.IntN(1601) - 800)
	if r.IntN(33) == 0 { // a device whose clock is minutes off
		p.skew = int64(r.IntN(600001) - 300000)
	}
	return p
}

// pickCompany picks a company that ok accepts (trying a few), or the last drawn.
func (p *person) pickCompany(r *rand.Rand, ok func(industry string, employees int) bool) {
	for try := 0; try < 40; try++ {
		h, t := r.IntN(len(companyHeads)), r.IntN(len(companyTails))
		p.head, p.tail = uint8(h), uint8(t)
		p.company = companyHeads[h] + " " + companyTails[t].suffix
		p.industry = companyTails[t].industry
		p.employees = companySize(h, t)
		if ok(p.industry, p.employees) {
			return
		}
	}
}

// idealFit reports whether the person is the buyer the company wants: a decision
// maker or practitioner at a mid-market company of a target industry, in a target
// country (grade A or B under examples/rules/b2b-saas.yaml).
func (p *person) idealFit() bool {
	return p.fit == fitIdeal && targetIndustries[p.industry] && p.employees >= 50 && p.employees <= 2000
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

func pad6(n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < 6 {
		s = strings.Repeat("0", 6-len(s)) + s
	}
	return s
}

// ascii lower-cases a name and drops accents and anything that cannot be in an
// e-mail local part or a domain label.
func ascii(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch c {
		case 'á', 'à', 'â', 'ä', 'ã':
			c = 'a'
		case 'é', 'è', 'ê', 'ë':
			c = 'e'
		case 'í', 'ì', 'î', 'ï':
			c = 'i'
		case 'ó', 'ò', 'ô', 'ö', 'õ':
			c = 'o'
		case 'ú', 'ù', 'û', 'ü':
			c = 'u'
		case 'ç':
			c = 'c'
		case 'ñ':
			c = 'n'
		}
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

const hexDigits = "0123456789abcdef"

// uuid returns a random (version 4) UUID.
func uuid(r *rand.Rand) string {
	var b [36]byte
	hi, lo := r.Uint64(), r.Uint64()
	hi = hi&^(0xf<<12) | 4<<12         // version 4
	lo = lo&^(0x3<<62) | uint64(2)<<62 // variant 10
	k := 0
	for i := 0; i < 32; i++ {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[k] = '-'
			k++
		}
		var nib uint64
		if i < 16 {
			nib = hi >> (60 - 4*i) & 0xf
		} else {
			nib = lo >> (60 - 4*(i-16)) & 0xf
		}
		b[k] = hexDigits[nib]
		k++
	}
	return string(b[:])
}

// mix64 is SplitMix64's finaliser: a cheap, well-spread hash of a number.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
