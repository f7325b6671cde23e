package events

import "fmt"

// Event times: RFC 3339 date-time strings, parsed without the time package.

// timeField validates an RFC 3339 date-time string and returns it in Unix milliseconds.
func timeField(b []byte, path string) (int64, *Error) {
	ms, ok := parseDateTime(b)
	if !ok {
		return 0, newError(ReasonBadTimestamp, path, fmt.Sprintf("%s %q is not an RFC 3339 date-time such as 2026-03-02T09:14:05.350Z", path, b))
	}
	return ms, nil
}

// RFC 3339 date-time, as the schemas' "format": "date-time" (with the pattern they
// add) defines it: YYYY-MM-DD, 'T', hh:mm:ss, optional fraction, 'Z' or ±hh:mm. The
// date must exist; a leap second (ss = 60) is accepted only at 23:59 UTC.

// parseDateTime returns the instant in Unix milliseconds (the fraction is truncated).
func parseDateTime(s []byte) (ms int64, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, ok1 := digitsAt(s, 0, 4)
	month, ok2 := digitsAt(s, 5, 2)
	day, ok3 := digitsAt(s, 8, 2)
	hour, ok4 := digitsAt(s, 11, 2)
	minute, ok5 := digitsAt(s, 14, 2)
	sec, ok6 := digitsAt(s, 17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	rest := s[19:]
	var millis int64
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 3 {
				millis = millis*10 + int64(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return 0, false
		}
		for i := n; i <= 3; i++ {
			millis *= 10
		}
		rest = rest[n:]
	}
	offset := 0 // minutes east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digitsAt(rest, 1, 2)
		om, okm := digitsAt(rest, 4, 2)
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		offset = oh*60 + om
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	if sec == 60 {
		// As the JSON Schema validator checks it: the UTC time of day must be 23:59.
		hm := hour*60 + minute - offset
		if hm < 0 {
			hm += 24 * 60
		}
		if hm/60 != 23 || hm%60 != 59 {
			return 0, false
		}
	}
	days := daysFromCivil(year, month, day)
	secs := days*86400 + int64(hour*3600+minute*60+sec) - int64(offset*60)
	return secs*1000 + millis, true
}

func digitsAt(s []byte, at, n int) (int, bool) {
	v := 0
	for _, c := range s[at : at+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to the given date of the
// proleptic Gregorian calendar (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
