package pwfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxRequestBody bounds the body of a request the fake reads.
const maxRequestBody = 10 << 20

// Messages of Django REST framework and Django, as the recorded server
// words them.
const (
	msgNoState    = "A check must have a state."
	msgNull       = "This field may not be null."
	msgBlank      = "This field may not be blank."
	msgNotString  = "Not a valid string."
	msgNullChars  = "Null characters are not allowed."
	msgInvalidURL = "Enter a valid URL."
	msgSlug       = `Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.`
)

// detail is an error answer with a message and no field.
func detail(msg string) []byte {
	return marshal(struct {
		Detail string `json:"detail"`
	}{msg})
}

// checkErrors is a 400 answer to a check post: the messages of each field
// with errors, in the serializer's field order.
type checkErrors struct {
	State       []string `json:"state,omitempty"`
	TargetURL   []string `json:"target_url,omitempty"`
	Context     []string `json:"context,omitempty"`
	Description []string `json:"description,omitempty"`
}

// checkInput is a validated check post.
type checkInput struct {
	state       string
	targetURL   *string
	context     string
	description *string
}

// requestData reads the body of a create request as Django REST framework
// does: JSON, form-encoded or multipart, by Content-Type; an empty body is
// no data. Form fields take their last value. It returns the data, or the
// status and JSON body of the error answer (no body for a 500).
func requestData(r *http.Request) (map[string]any, int, []byte) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return nil, http.StatusInternalServerError, nil
	}
	data := map[string]any{}
	if len(body) == 0 {
		return data, 0, nil
	}
	ct := r.Header.Get("Content-Type")
	mediaType, params, _ := mime.ParseMediaType(ct)
	var fields url.Values
	switch mediaType {
	case "application/json":
		return parseJSON(body)
	case "application/x-www-form-urlencoded":
		fields, _ = url.ParseQuery(string(body))
	case "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(maxRequestBody)
		if err != nil {
			boundary := params["boundary"]
			if boundary == "" {
				boundary = "None"
			}
			return nil, http.StatusBadRequest, detail("Multipart form parse error - Invalid boundary in multipart: " + boundary)
		}
		fields = form.Value
	default:
		return nil, http.StatusUnsupportedMediaType, detail(fmt.Sprintf("Unsupported media type %q in request.", ct))
	}
	for k, v := range fields {
		data[k] = v[len(v)-1]
	}
	return data, 0, nil
}

// parseJSON decodes a JSON body into an object; numbers stay as written.
// A body that is not JSON gets the server's 400, with the wording of
// Python's json module for the common cases (the position is where Python
// reports it for a missing value, a bad delimiter or trailing data). A body
// that is valid JSON but not an object makes Patchwork fail with a 500,
// except arrays and strings, which have no state.
func parseJSON(body []byte) (map[string]any, int, []byte) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, http.StatusBadRequest, detail(jsonError(body, err))
	}
	rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\n\r")
	if len(rest) > 0 {
		return nil, http.StatusBadRequest, detail(pyJSONError("Extra data", body, len(body)-len(rest)))
	}
	switch v := v.(type) {
	case map[string]any:
		return v, 0, nil
	case []any, string:
		return map[string]any{}, 0, nil
	}
	return nil, http.StatusInternalServerError, nil
}

// jsonSyntax maps Go's syntax error messages to Python's, with where
// Python reports the error relative to Go's offset (after the bad byte).
var jsonSyntax = []struct {
	goSuffix, python string
	back             int
}{
	{"looking for beginning of object key string", "Expecting property name enclosed in double quotes", 1},
	{"after object key", "Expecting ':' delimiter", 1},
	{"after object key:value pair", "Expecting ',' delimiter", 1},
	{"after array element", "Expecting ',' delimiter", 1},
	{"in string literal", "Invalid control character at", 1},
	{"in string escape code", "Invalid \\escape", 2},
	{"in \\u hexadecimal character escape", "Invalid \\uXXXX escape", 2},
}

// jsonError words a JSON decoding error as Django REST framework does,
// with Python's message.
func jsonError(body []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		for _, s := range jsonSyntax {
			if strings.HasSuffix(se.Error(), s.goSuffix) {
				return pyJSONError(s.python, body, int(se.Offset)-s.back)
			}
		}
		return pyJSONError("Expecting value", body, int(se.Offset)-1)
	}
	return pyJSONError("Expecting value", body, len(body))
}

// pyJSONError renders a JSONDecodeError at byte offset pos of doc, with
// Python's line, column and character position.
func pyJSONError(msg string, doc []byte, pos int) string {
	pos = min(max(pos, 0), len(doc))
	before := doc[:pos]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf("JSON parse error - %s: line %d column %d (char %d)", msg, line, col, utf8.RuneCount(before))
}

// validateCheck validates a check post as Patchwork's CheckSerializer
// does: a missing or empty state is refused alone; otherwise every field
// is checked and all errors are returned.
func validateCheck(data map[string]any) (checkInput, *checkErrors) {
	v, ok := data["state"]
	if !ok || v == "" {
		return checkInput{}, &checkErrors{State: []string{msgNoState}}
	}
	var in checkInput
	var errs checkErrors
	in.state, errs.State = cleanState(v)
	in.targetURL, errs.TargetURL = targetURLField.clean(data, "target_url")
	in.context = "default"
	ctx, ctxErrs := contextField.clean(data, "context")
	if ctx != nil {
		in.context = *ctx
	}
	errs.Context = ctxErrs
	in.description, errs.Description = descriptionField.clean(data, "description")
	if errs.State != nil || errs.TargetURL != nil || errs.Context != nil || errs.Description != nil {
		return checkInput{}, &errs
	}
	return in, nil
}

// cleanState reads a state: its name, or its value 0 to 3 (a number or a
// string), as Patchwork maps names to values before DRF's ChoiceField.
func cleanState(v any) (string, []string) {
	if s, ok := v.(string); ok {
		for _, name := range checkStates {
			if s == name {
				return name, nil
			}
		}
	}
	if v == nil {
		return "", []string{msgNull}
	}
	key := pyStr(v)
	if n, err := strconv.Atoi(key); err == nil && strconv.Itoa(n) == key && n >= 0 && n < len(checkStates) {
		return checkStates[n], nil
	}
	return "", []string{`"` + key + `" is not a valid choice.`}
}

// charField is a DRF CharField of the check serializer.
type charField struct {
	allowNull, allowBlank bool
	maxLen                int // 0: unbounded
	valid                 func(string) bool
	invalid               string // message when valid says false
}

var (
	targetURLField = charField{allowNull: true, allowBlank: true, maxLen: 200, valid: validURL, invalid: msgInvalidURL}
	contextField   = charField{maxLen: 255, valid: slugRe.MatchString, invalid: msgSlug}
	// descriptionField is a TextField: any length.
	descriptionField = charField{allowNull: true, allowBlank: true}
	slugRe           = regexp.MustCompile(`^[-a-zA-Z0-9_]+$`)
)

// clean validates field name of data. It returns the value to store (nil
// for null or absent) and the field's errors: whitespace is trimmed, then
// the length, null characters and the field's own rule are checked, all
// together.
func (f charField) clean(data map[string]any, name string) (*string, []string) {
	v, ok := data[name]
	if !ok {
		return nil, nil
	}
	if s, isString := v.(string); isString && pyStrip(s) == "" {
		if !f.allowBlank {
			return nil, []string{msgBlank}
		}
		return new(string), nil
	}
	var s string
	switch v := v.(type) {
	case nil:
		if f.allowNull {
			return nil, nil
		}
		return nil, []string{msgNull}
	case string:
		s = pyStrip(v)
	case json.Number:
		s = pyStr(v)
	default:
		return nil, []string{msgNotString}
	}
	var errs []string
	if f.maxLen > 0 && utf8.RuneCountInString(s) > f.maxLen {
		errs = append(errs, fmt.Sprintf("Ensure this field has no more than %d characters.", f.maxLen))
	}
	if strings.ContainsRune(s, 0) {
		errs = append(errs, msgNullChars)
	}
	if f.valid != nil && !f.valid(s) {
		errs = append(errs, f.invalid)
	}
	if errs != nil {
		return nil, errs
	}
	return &s, nil
}

// pyStr is Python's str() of a decoded JSON value. Arrays and objects are
// rendered as JSON, not as Python would.
func pyStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return pyNumber(string(v))
	case bool:
		if v {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return string(marshal(v))
}

// pyNumber is Python's str() of a JSON number: an int as an integer, any
// number with a fraction or an exponent as a float.
func pyNumber(text string) string {
	if !strings.ContainsAny(text, ".eE") {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return strconv.FormatInt(n, 10)
		}
		return text
	}
	f, err := strconv.ParseFloat(text, 64)
	switch {
	case err != nil && f > 0:
		return "inf"
	case err != nil && f < 0:
		return "-inf"
	case f != 0 && (f >= 1e16 || f <= -1e16 || (f < 1e-4 && f > -1e-4)):
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// pyWhitespace is what Python's str.strip() and the re module's \s take
// as whitespace beyond Go's unicode.IsSpace; pySpaceClass is all of it, for
// a regexp character class.
const (
	pyWhitespace = "\x1c\x1d\x1e\x1f"
	pySpaceClass = `\s\x{0b}\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`
)

func isPySpace(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(pyWhitespace, r) }

// pyStrip is Python's str.strip().
func pyStrip(s string) string { return strings.TrimFunc(s, isPySpace) }

// Django's URLValidator (3.2), piece by piece: Go's regexp has no
// lookaround, so the host is checked by code.
var (
	// urlWithUserRe and urlRe split scheme://[userinfo@]host[:port][path];
	// the host is then checked. A URL is tried with and without userinfo,
	// as the "@" may be in the path.
	urlWithUserRe = regexp.MustCompile(`(?i)^[a-z0-9.+-]*://[^` + pySpaceClass + `:@/]+(?::[^` + pySpaceClass + `:@/]*)?@` + urlRest)
	urlRe         = regexp.MustCompile(`(?i)^[a-z0-9.+-]*://` + urlRest)
	ipv4Re        = regexp.MustCompile(`^(?:0|25[0-5]|2[0-4][0-9]|1[0-9]?[0-9]?|[1-9][0-9]?)(?:\.(?:0|25[0-5]|2[0-4][0-9]|1[0-9]?[0-9]?|[1-9][0-9]?)){3}$`)
	hostLabelRe   = regexp.MustCompile(`(?i)^[a-z0-9\x{a1}-\x{ffff}](?:[a-z0-9\x{a1}-\x{ffff}-]{0,61}[a-z0-9\x{a1}-\x{ffff}])?$`)
	domainLabelRe = regexp.MustCompile(`(?i)^[a-z0-9\x{a1}-\x{ffff}-]{1,63}$`)
	tldRe         = regexp.MustCompile(`(?i)^(?:[a-z\x{a1}-\x{ffff}-]{2,63}|xn--[a-z0-9]{1,59})$`)
)

// urlRest is the host (captured), port and path of a URL.
const urlRest = `([^\s:@/?#]+|\[[0-9a-f:.]+\])(?::[0-9]{2,5})?(?:[/?#][^` + pySpaceClass + `]*)?$`

// validURL is Django 3.2's URLValidator with the schemes http, https, ftp
// and ftps, its 2048-character bound and its 253-character host bound.
// Django's retry of a host in punycode is not modelled.
func validURL(s string) bool {
	if utf8.RuneCountInString(s) > 2048 || strings.ContainsAny(s, "\t\r\n") {
		return false
	}
	scheme, _, _ := strings.Cut(s, "://")
	switch strings.ToLower(scheme) {
	case "http", "https", "ftp", "ftps":
	default:
		return false
	}
	for _, re := range []*regexp.Regexp{urlWithUserRe, urlRe} {
		if m := re.FindStringSubmatch(s); m != nil && validHost(m[1]) {
			return true
		}
	}
	return false
}

// validHost checks the host part of a URL: an IPv4 or bracketed IPv6
// address, localhost, or a domain name with a top-level domain.
func validHost(h string) bool {
	if inner, ok := strings.CutPrefix(h, "["); ok {
		ip := strings.TrimSuffix(inner, "]")
		return strings.Contains(ip, ":") && net.ParseIP(ip) != nil
	}
	if utf8.RuneCountInString(h) > 253 {
		return false
	}
	if ipv4Re.MatchString(h) || strings.EqualFold(h, "localhost") {
		return true
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	n := len(labels)
	if n < 2 || !hostLabelRe.MatchString(labels[0]) {
		return false
	}
	noDash := func(l string) bool { return !strings.HasPrefix(l, "-") && !strings.HasSuffix(l, "-") }
	for _, l := range labels[1 : n-1] {
		if !domainLabelRe.MatchString(l) || !noDash(l) {
			return false
		}
	}
	return tldRe.MatchString(labels[n-1]) && noDash(labels[n-1])
}
