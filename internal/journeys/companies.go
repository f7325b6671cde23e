package journeys

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Companies and buying groups. A B2B purchase is made by several people of one
// company (a decision maker, a champion, users, finance), who find the site on
// their own over a few weeks. So people who may identify join a company: one of
// a few companies "in market" at a time for their fit class, which fills up to
// its buying group's size and is then replaced by a new one. A company takes its
// name, industry and size from its first member's draw, so a pool's companies
// fit as well as its people would have on their own, and the funnel keeps the
// shape it had before companies existed.

// Roles in a buying group, recorded in Truth.Role.
const (
	RoleDecisionMaker = "decision_maker" // signs: VP, head of, chief, founder
	RoleChampion      = "champion"       // pushes the purchase inside: the first practitioner
	RoleUser          = "user"           // will use the product
	RoleFinance       = "finance"        // finance or procurement: the budget
)

// openCompanies is how many companies of one fit class are in market at a
// time: a new member joins one at random, so a buying group's members arrive
// interleaved with others', over a few weeks of a default history.
const openCompanies = 8

// financeShare is the chance that a company's second or later member is from
// finance or procurement.
const financeShare = 0.15

var financeTitles = []string{"CFO", "VP Finance", "Finance Director", "Procurement Manager", "Purchasing Lead"}

// plans are what a prospect company has of the product (Segment's reserved
// group trait plan): most are on the free tier or trying it.
var plans = [...]string{"free", "free", "free", "trial", "team"}

// company is one simulated account. Its members' leads point to it; it is
// forgotten once it is full and they are done.
type company struct {
	id        string // Segment groupId ("acct-000042")
	name      string
	domain    string // e-mail domain of its people ("acme-industries.example")
	website   string
	industry  string
	employees int
	revenue   int64 // annual revenue, USD
	country   string
	plan      string
	size      int // members it will have
	members   int // members so far
	champion  bool
}

// companyState is the generator's part in companies: the companies in
// market per fit class and what makes new ones unique and deterministic.
type companyState struct {
	rng   *rand.Rand
	open  [fitPoor + 1][openCompanies]*company
	count int64       // companies created
	names map[int]int // head*len(companyTails)+tail → companies with that name so far
	sizes []float64   // cumulative weights of buying-group sizes 1..PeoplePerCompany
}

func newCompanyState(seed int64, maxPeople int) *companyState {
	cs := &companyState{
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x636f6d70616e79)), // "company"
		names: make(map[int]int),
	}
	// Sizes weigh 1/k: most inbound companies show one or two people, a few a
	// whole committee (mean ≈ 2.4 for 6).
	total := 0.0
	for k := 1; k <= maxPeople; k++ {
		total += 1 / float64(k)
		cs.sizes = append(cs.sizes, total)
	}
	for i := range cs.sizes {
		cs.sizes[i] /= total
	}
	return cs
}

// joinsCompany reports whether a person of this persona can be in a buying
// group: bots are nobody, and anonymous browsers never tell a company who they
// are.
func joinsCompany(p Persona, pr *person) bool {
	return p != Bot && p != Anonymous && pr.company != ""
}

// join puts p into a company in market for their fit class, making a new one
// from p's own draw when the chosen slot is empty or full, and makes p one of
// its people: its name, industry, size and country, an address at its domain
// (or, with probability freeMail, at a free-mail provider) and a role.
func (cs *companyState) join(p *person, freeMail float64) *company {
	slot := &cs.open[p.fit][cs.rng.IntN(openCompanies)]
	c := *slot
	if c == nil || c.members >= c.size {
		c = cs.newCompany(p)
		*slot = c
	}
	c.members++
	p.company, p.industry, p.employees, p.country = c.name, c.industry, c.employees, c.country
	p.locale = locales[p.country]

	domain := c.domain
	if cs.rng.Float64() < freeMail {
		domain = freeMailDomains[cs.rng.IntN(len(freeMailDomains))]
	}
	at := strings.IndexByte(p.mail, '@')
	mail := p.mail[:at+1] + domain
	if p.email == p.mail {
		p.email = mail
	} else { // typed with a capital
		p.email = p.email[:at+1] + domain
	}
	p.mail = mail

	switch {
	case c.members > 1 && cs.rng.Float64() < financeShare:
		p.role, p.title = RoleFinance, pick(cs.rng, financeTitles)
	case slices.Contains(seniorTitles, p.title):
		p.role = RoleDecisionMaker
	case !c.champion && slices.Contains(practitionerTitles, p.title):
		p.role, c.champion = RoleChampion, true
	default:
		p.role = RoleUser
	}
	return c
}

func (cs *companyState) newCompany(first *person) *company {
	cs.count++
	key := int(first.head)*len(companyTails) + int(first.tail)
	n := cs.names[key]
	cs.names[key] = n + 1
	name := first.company
	if n > 0 { // the same name again: another company, with a domain of its own
		name += " " + strconv.Itoa(n+1)
	}
	h := mix64(uint64(cs.count) ^ 0xacc0<<32)
	c := &company{
		id:        "acct-" + pad6(cs.count),
		name:      name,
		domain:    ascii(strings.ReplaceAll(name, " ", "-")) + ".example",
		industry:  first.industry,
		employees: first.employees,
		country:   first.country,
		plan:      plans[h%uint64(len(plans))],
	}
	c.website = "https://www." + c.domain
	// Revenue per employee between $80k and $400k, rounded to $10k.
	perHead := 80_000 + int64(h>>8%320_000)
	c.revenue = max(int64(c.employees)*perHead/10_000*10_000, 10_000)
	u := cs.rng.Float64()
	c.size = 1
	for c.size < len(cs.sizes) && u >= cs.sizes[c.size-1] {
		c.size++
	}
	return c
}

// FreeMailDomains returns the free-mail domains the generator gives people
// without a company address, for callers that extend scoring.NewFreeMail with
// them (they are example domains, not in its built-in list).
func FreeMailDomains() []string { return slices.Clone(freeMailDomains[:]) }
