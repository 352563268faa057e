package rdbfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// This file reproduces the few Python behaviours the API's answers depend
// on: truthiness, str() and repr() of JSON values, and the timestamp
// formats the service parses and writes.

// truthy is Python's bool() of a JSON value.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return err != nil || f != 0
	case []any:
		return len(v) > 0
	case orderedObject:
		return len(v) > 0
	}
	return true
}

// pyStr is Python's str() of a JSON value.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a JSON value. Object keys come out sorted
// (Python keeps document order).
func pyRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case string:
		return pyQuote(v)
	case json.Number:
		return pyNumber(string(v))
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case orderedObject:
		keys := make([]string, len(v))
		for i, kv := range v {
			keys[i] = kv.key
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			e, _ := v.get(k)
			parts[i] = pyQuote(k) + ": " + pyRepr(e)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// pyQuote is Python's repr() of a string.
func pyQuote(s string) string {
	q := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteRune(q)
	for _, r := range s {
		switch {
		case r == q || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteRune(q)
	return b.String()
}

// pyNumber is how Python prints a JSON number once its json module has
// parsed it: an int when it has no fraction or exponent, else a float
// (repr: shortest round-trip digits, exponent form below 1e-4 and from
// 1e16).
func pyNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		if n, ok := new(big.Int).SetString(s, 10); ok {
			return n.String()
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	out := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(out, ".") {
		out += ".0"
	}
	return out
}

// isoformat is Python's datetime.isoformat() of a naive UTC time: the
// fraction is left out when it is zero.
func isoformat(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

// escapePath quotes a testcase name for an href, keeping '/' as Flask's
// path converter does.
func escapePath(s string) string {
	return (&url.URL{Path: s}).EscapedPath()
}

// submitRE is what time.strptime accepts for the formats the API tries,
// "%Y-%m-%dT%H:%M:%S.%f" followed by "Z", nothing, "%z" or "+00" (matched
// ignoring case, as strptime does).
var submitRE = regexp.MustCompile(`(?i)^(\d{4})-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])` +
	`T(2[0-3]|[01]\d|\d):([0-5]\d|\d):(6[01]|[0-5]\d|\d)\.(\d{1,6})` +
	`(Z|\+00|([+-])(\d\d):?([0-5]\d)(?::?([0-5]\d)(?:\.\d{1,6})?)?)?$`)

// intRE is what Python's int() accepts in base 10.
var intRE = regexp.MustCompile(`^[+-]?\d+(?:_\d+)*$`)

// errUnhandled marks input the real service fails on with an unhandled
// exception, which its error handler answers with 500.
var errUnhandled = errors.New("unhandled exception")

// parseSubmitTime reads submit_time like the API: milliseconds since the
// epoch (a JSON number, or a string int() accepts), or a timestamp in one of
// the strptime formats. It returns the UTC time to the microsecond, the
// message of a validation error, or errUnhandled for a number with a
// fraction or an exponent (Python parses it as a float, and datetime's
// replace(microsecond=) raises TypeError on a float).
func parseSubmitTime(v any) (time.Time, string, error) {
	switch v := v.(type) {
	case bool:
		if v {
			return time.UnixMilli(1).UTC(), "", nil
		}
		return time.UnixMilli(0).UTC(), "", nil
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return time.Time{}, "", errUnhandled
		}
		t, msg := fromMillis(string(v))
		return t, msg, nil
	case string:
		if t, ok := parseStrptime(v); ok {
			return t, "", nil
		}
		s := strings.TrimSpace(v)
		if intRE.MatchString(s) {
			t, msg := fromMillis(strings.ReplaceAll(s, "_", ""))
			return t, msg, nil
		}
	}
	return time.Time{}, "Expected timestamp in milliseconds or datetime" +
		" (in format YYYY-MM-DDTHH:MM:SS.ffffff), got " + pyRepr(v), nil
}

// fromMillis converts an integer count of milliseconds; a time outside the
// years 1 to 9999 is refused.
func fromMillis(s string) (time.Time, string) {
	ms, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
	if err != nil || ms < -62135596800000 || ms > 253402300799999 {
		return time.Time{}, "timestamp " + s + " is out of range"
	}
	return time.UnixMilli(ms).UTC(), ""
}

// parseStrptime matches submitRE and checks the date like datetime() does.
func parseStrptime(s string) (time.Time, bool) {
	m := submitRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	n := func(i int) int {
		v, _ := strconv.Atoi(strings.TrimSpace(m[i]))
		return v
	}
	frac := m[7] + strings.Repeat("0", 6-len(m[7]))
	usec, _ := strconv.Atoi(frac)
	loc := time.UTC
	if m[9] != "" {
		off := n(10)*3600 + n(11)*60
		if m[12] != "" {
			off += n(12)
		}
		if n(10) > 23 {
			return time.Time{}, false
		}
		if m[9] == "-" {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	year, month, day, hour, minute, sec := n(1), n(2), n(3), n(4), n(5), n(6)
	t := time.Date(year, time.Month(month), day, hour, minute, sec, usec*1000, loc)
	if year < 1 || sec > 59 || t.Day() != day || t.Month() != time.Month(month) {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// sinceRE is the dashed subset of what the iso8601 package parses.
var sinceRE = regexp.MustCompile(`^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})` +
	`(?:[ T](\d{2})(?::?(\d{2}))?(?::?(\d{1,2})(?:[.,](\d+))?)?(Z|[-+]\d{2}(?::?\d{2})?)?)?)?)?$`)

// parseISO8601 reads one bound of since= like iso8601.parse_date followed
// by replace(tzinfo=None): the zone is dropped, not applied.
func parseISO8601(s string) (time.Time, bool) {
	m := sinceRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	n := func(i, def int) int {
		if m[i] == "" {
			return def
		}
		v, _ := strconv.Atoi(m[i])
		return v
	}
	frac := m[7]
	if len(frac) > 6 {
		frac = frac[:6]
	}
	usec := 0
	if frac != "" {
		usec, _ = strconv.Atoi(frac + strings.Repeat("0", 6-len(frac)))
	}
	year, month, day := n(1, 0), n(2, 1), n(3, 1)
	hour, minute, sec := n(4, 0), n(5, 0), n(6, 0)
	t := time.Date(year, time.Month(month), day, hour, minute, sec, usec*1000, time.UTC)
	if year < 1 || hour > 23 || minute > 59 || sec > 59 || t.Day() != day || t.Month() != time.Month(month) {
		return time.Time{}, false
	}
	return t, true
}
