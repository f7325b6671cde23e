package journeys

// The fixed vocabulary of the simulated company's web site, e-mail programme and
// market. Page paths, event names and property values match
// examples/rules/b2b-saas.yaml, so generated leads move through its funnel.

const (
	site     = "https://www.example.com"
	siteName = "Example"
)

// pageKind groups pages for sessions.
type pageKind uint8

const (
	pkGeneral pageKind = iota
	pkBlog
	pkPricing
	pkResource
	pkWebinar
	pkProduct
	pkDocs
)

type page struct {
	path, name string
	kind       pageKind
}

// pages is the site map. Indices are stored in actions, so only append.
var pages = [...]page{
	{"/", "Home", pkGeneral},
	{"/product", "Product", pkProduct},
	{"/features/scoring", "Scoring", pkProduct},
	{"/features/integrations", "Integrations", pkProduct},
	{"/customers", "Customers", pkGeneral},
	{"/about", "About", pkGeneral},
	{"/careers", "Careers", pkGeneral},
	{"/security", "Security", pkGeneral},
	{"/integrations/segment", "Segment integration", pkProduct},
	{"/blog/what-is-lead-scoring", "What is lead scoring?", pkBlog},
	{"/blog/mql-vs-sql", "MQL vs SQL: where to draw the line", pkBlog},
	{"/blog/score-decay-explained", "Score decay, explained", pkBlog},
	{"/blog/b2b-funnel-benchmarks-2026", "B2B funnel benchmarks 2026", pkBlog},
	{"/blog/segment-to-kafka", "From Segment to Kafka in an afternoon", pkBlog},
	{"/blog/hubspot-vs-marketo-scoring", "HubSpot vs Marketo scoring", pkBlog},
	{"/blog/intent-signals", "Intent signals that matter", pkBlog},
	{"/blog/revops-handbook", "The RevOps handbook", pkBlog},
	{"/pricing", "Pricing", pkPricing},
	{"/pricing/enterprise", "Enterprise pricing", pkPricing},
	{"/pricing/faq", "Pricing FAQ", pkPricing},
	{"/resources/lead-scoring-guide", "Lead scoring guide", pkResource},
	{"/resources/b2b-funnel-explained", "The B2B funnel, explained", pkResource},
	{"/resources/automation-strategy", "Implementing a marketing automation strategy", pkResource},
	{"/resources/calibration-in-practice", "Scoring model calibration in practice", pkResource},
	{"/webinars/scoring-101", "Webinar: Scoring 101", pkWebinar},
	{"/webinars/revops-live", "Webinar: RevOps live", pkWebinar},
	{"/product/tour", "Product tour", pkProduct},
	{"/demo", "Request a demo", pkProduct},
	{"/trial", "Start a free trial", pkProduct},
	{"/contact-sales", "Contact sales", pkProduct},
	{"/docs/getting-started", "Getting started", pkDocs},
	{"/docs/rules-reference", "Rules reference", pkDocs},
	{"/docs/kafka-setup", "Kafka setup", pkDocs},
}

// Page indices the journeys refer to by name.
const (
	pgHome        = 0
	pgCustomers   = 4
	pgPricing     = 17
	pgPricingEnt  = 18
	pgPricingFAQ  = 19
	pgWebinar0    = 24
	pgTour        = 26
	pgDemo        = 27
	pgTrial       = 28
	pgContactSale = 29
)

// pagesOf lists the page indices of each kind, in site-map order.
var pagesOf = func() [pkDocs + 1][]uint16 {
	var by [pkDocs + 1][]uint16
	for i, p := range pages {
		by[p.kind] = append(by[p.kind], uint16(i))
	}
	return by
}()

// whitepaper is a gated download: Whitepaper Downloaded with properties.level.
type whitepaper struct {
	title, level, id string
	page             uint16
}

var whitepapers = [...]whitepaper{
	{"Lead scoring guide", "basic", "wp-2026-01", 20},
	{"The B2B funnel, explained", "intro", "wp-2026-03", 21},
	{"Implementing a marketing automation strategy", "advanced", "wp-2026-07", 22},
	{"Scoring model calibration in practice", "advanced", "wp-2026-09", 23},
}

// Whitepaper indices by level.
var (
	wpBasic    = []uint16{0, 1}
	wpAdvanced = []uint16{2, 3}
)

type video struct{ id, title string }

// videos: only demo-* videos score (rule demo_video).
var videos = [...]video{
	{"demo-2026-overview", "Product demo: a tour in 6 minutes"},
	{"demo-scoring-deep-dive", "Product demo: scoring rules in depth"},
	{"customer-story-acme", "Customer story: Acme Industries"},
	{"webinar-replay-scoring-101", "Replay: Scoring 101"},
}

type webinar struct{ id, title string }

var webinars = [...]webinar{
	{"web-2026-scoring-101", "Scoring 101: from clicks to pipeline"},
	{"web-2026-revops-live", "RevOps live: the MQL is dead, long live the MQL"},
}

// Traffic sources of a session: referrer and, for paid and e-mail traffic, the
// campaign (context.campaign and utm_* parameters).
type source struct {
	referrer                 string
	campaign, medium, origin string // utm_campaign, utm_medium, utm_source
}

var sources = [...]source{
	{referrer: ""}, // direct
	{referrer: "https://www.google.com/"},
	{referrer: "https://www.bing.com/"},
	{referrer: "https://www.linkedin.com/", campaign: "spring_webinar", medium: "social", origin: "linkedin"},
	{referrer: "https://www.google.com/", campaign: "brand_search", medium: "cpc", origin: "google"},
	{referrer: "https://news.ycombinator.com/"},
	{referrer: "https://www.g2.com/", campaign: "g2_listing", medium: "referral", origin: "g2"},
	{referrer: "", campaign: "newsletter", medium: "email", origin: "newsletter"},
	{referrer: "", campaign: "nurture", medium: "email", origin: "sendgrid"},
	{referrer: site + "/"}, // the next page of a visit
}

const (
	srcDirect     = 0
	srcGoogle     = 1
	srcNewsletter = 7
	srcNurture    = 8
	srcInternal   = 9
)

// firstSources weights where a first visit comes from (indices into sources).
var firstSources = []uint8{0, 0, 1, 1, 1, 1, 2, 3, 3, 4, 4, 5, 6}

// Track events, by index (stored in actions).
const (
	evNewsletter = iota
	evWhitepaper
	evWebinarRegistered
	evWebinarAttended
	evWebinarJoined
	evVideoStarted
	evVideoCompleted
	evSocial
	evEmailReplied
	evDemo
	evTrialStarted
	evTrialRequested
	evQuote
	evCall
	evContactSales
	evSignedIn
	evFormSubmitted
)

var trackNames = [...]string{
	evNewsletter:        "Newsletter Signed Up",
	evWhitepaper:        "Whitepaper Downloaded",
	evWebinarRegistered: "Webinar Registered",
	evWebinarAttended:   "Webinar Attended",
	evWebinarJoined:     "Webinar Joined",
	evVideoStarted:      "Video Playback Started",
	evVideoCompleted:    "Video Playback Completed",
	evSocial:            "Social Followed",
	evEmailReplied:      "Email Replied",
	evDemo:              "Demo Requested",
	evTrialStarted:      "Trial Started",
	evTrialRequested:    "Trial Requested",
	evQuote:             "Quote Requested",
	evCall:              "Call Requested",
	evContactSales:      "Contact Sales Submitted",
	evSignedIn:          "Signed In",
	evFormSubmitted:     "Form Submitted",
}

// handRaisePage is the page of each hand-raising form.
var handRaisePage = [...]uint16{evDemo: pgDemo, evTrialStarted: pgTrial, evTrialRequested: pgTrial,
	evQuote: pgPricingEnt, evCall: pgContactSale, evContactSales: pgContactSale}

// handRaises weights the hand-raising events (demo requests are the most common).
var handRaises = []uint8{evDemo, evDemo, evDemo, evDemo, evTrialStarted, evTrialStarted,
	evTrialRequested, evQuote, evQuote, evCall, evContactSales}

// E-mail programmes (category and custom arguments).
type programme struct {
	categories []string
	asString   bool // SendGrid sends a single category as a string for this one
	name       string
	group      int // unsubscribe group (asm_group_id)
	links      []uint16
}

const (
	mailNewsletter = iota
	mailNurture
	mailWebinar
	mailSales
	mailProduct
)

var programmes = [...]programme{
	mailNewsletter: {categories: []string{"newsletter"}, name: "newsletter", group: 4101,
		links: []uint16{9, 10, 11, 12, 13, 14, 15, 16, 24, 25, 20, 21}},
	mailNurture: {categories: []string{"nurture", "content"}, name: "content nurture", group: 4102,
		links: []uint16{20, 21, 22, 23, 11, 15, 26, 17}},
	mailWebinar: {categories: []string{"webinar"}, asString: true, name: "webinar", group: 4103,
		links: []uint16{24, 25}},
	mailSales: {categories: []string{"sales-sequence"}, asString: true, name: "sales sequence", group: 4104,
		links: []uint16{27, 17, 4, 26}},
	mailProduct: {categories: []string{"product-update", "customers"}, name: "product update", group: 4105,
		links: []uint16{30, 31, 32, 3}},
}

// People and companies.
var firstNames = [...]string{
	"Claire", "Paul", "Marc", "Sofia", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Mia",
	"Hugo", "Chloé", "Jonas", "Lena", "Mateo", "Valentina", "Arjun", "Priya", "Kenji", "Yuki",
	"Oliver", "Amelia", "Felix", "Hannah", "Diego", "Lucía", "Omar", "Aisha", "Ethan", "Grace",
	"Nils", "Ingrid", "Tomás", "Inês", "Wei", "Mei", "Samuel", "Zoé", "Daniel", "Sarah",
}

var lastNames = [...]string{
	"Martin", "Durand", "Leroy", "Rossi", "Murphy", "Schmidt", "Müller", "Smith", "Johnson", "Garcia",
	"Fernández", "Dubois", "Bernard", "Jansen", "de Vries", "Peeters", "Kowalski", "Nowak", "Silva", "Santos",
	"Tanaka", "Sato", "Kim", "Park", "Chen", "Wang", "Singh", "Patel", "Brown", "Wilson",
	"Taylor", "Anderson", "O'Brien", "Walsh", "Novak", "Larsen", "Nielsen", "Costa", "Romano", "Moreau",
}

// Title pools by fit class: senior decision makers, practitioners, others.
var (
	seniorTitles = []string{"Head of Marketing", "VP Marketing", "Director of Demand Generation",
		"Chief Revenue Officer", "VP Sales", "Founder", "CMO", "Director of Revenue Operations",
		"Head of Growth", "Owner"}
	practitionerTitles = []string{"Marketing Manager", "Growth Marketer", "Demand Gen Manager",
		"RevOps Analyst", "Sales Ops Specialist", "Marketing Operations Manager", "Content Marketing Lead"}
	otherTitles = []string{"Software Engineer", "Data Analyst", "Student", "Intern", "Office Manager",
		"Consultant", "Product Manager", "Teacher", "Journalist", "Recruiter"}
)

var companyHeads = [...]string{
	"Acme", "Northwind", "Globex", "Initech", "Umbrella", "Vandelay", "Wayne", "Stark", "Tyrell", "Soylent",
	"Cyberdyne", "Aperture", "Wonka", "Oceanic", "Hooli", "Monarch", "Prestige", "Sirius", "Zenith", "Atlas",
	"Nimbus", "Helios", "Borealis", "Quantum", "Vertex", "Pioneer", "Summit", "Harbor", "Lumen", "Cobalt",
}

type companyKind struct {
	suffix, industry string
}

var companyTails = [...]companyKind{
	{"Industries", "manufacturing"}, {"Analytics", "saas"}, {"Software", "software"}, {"Systems", "software"},
	{"Labs", "saas"}, {"Logistics", "logistics"}, {"Capital", "fintech"}, {"Health", "healthcare"},
	{"Retail", "retail"}, {"Consulting", "professional services"}, {"Robotics", "manufacturing"},
	{"Media", "media"}, {"Foods", "retail"}, {"Energy", "energy"}, {"Payments", "fintech"},
	{"University", "education"}, {"Foundation", "nonprofit"},
}

var freeMailDomains = [...]string{"mail.example", "inbox.example", "post.example"}

// Countries: the rules' target markets first, then others.
var (
	targetCountries = []string{"US", "US", "US", "GB", "CA", "FR", "DE", "NL", "IE", "BE", "ES", "IT"}
	otherCountries  = []string{"IN", "BR", "AU", "JP", "SG", "MX", "PL", "ZA"}
	locales         = map[string]string{"US": "en-US", "GB": "en-GB", "CA": "en-CA", "FR": "fr-FR",
		"DE": "de-DE", "NL": "nl-NL", "IE": "en-IE", "BE": "fr-BE", "ES": "es-ES", "IT": "it-IT",
		"IN": "en-IN", "BR": "pt-BR", "AU": "en-AU", "JP": "ja-JP", "SG": "en-SG", "MX": "es-MX",
		"PL": "pl-PL", "ZA": "en-ZA"}
)

// Browser user agents of people.
var browserAgents = [...]string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36",
}

// Mail-client user agents of human opens and clicks; Apple Mail users' machine opens
// come from Apple's proxy with a bare "Mozilla/5.0".
var (
	appleMailAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	mailAgents     = [...]string{
		"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
		"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)",
	}
	machineOpenAgent = "Mozilla/5.0"
)

// Bots. Every agent here is recognised by scoring.IsBot or by the rules file's
// bot_user_agents (acme-uptime, the company's own checker).
var (
	crawlerAgents = []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
	}
	scriptAgents = []string{"curl/8.5.0", "python-requests/2.32.3", "Go-http-client/1.1"}
	uptimeAgent  = "acme-uptime/1.4 (+https://status.example.com)"
)

// Sales feedback vocabulary.
var (
	salesReps       = [...]string{"ana.silva@example.com", "ben.okafor@example.com", "chloe.lambert@example.com", "dev.raman@example.com", "eva.kowalczyk@example.com"}
	recycleReasons  = []string{"no_budget", "timing", "timing", "no_response"}
	lostReasons     = []string{"competitor", "no_decision", "price", "timing"}
	feedbackKinds   = [...]string{"accepted", "rejected", "recycled", "qualified", "opportunity", "won", "lost", "referral"}
	notAFit         = "not_a_fit"
	bantQuestions   = [...]string{"budget", "authority", "need", "timeframe"}
	sendgridIPs     = [...]string{"149.72.134.18", "149.72.154.232", "167.89.118.35", "168.245.12.201"}
	appleProxyBlock = "17.58."
)

// Feedback kinds, by index into feedbackKinds.
const (
	fbAccepted = iota
	fbRejected
	fbRecycled
	fbQualified
	fbOpportunity
	fbWon
	fbLost
	fbReferral
)
