package rdbfake

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxBody bounds a request body.
const maxBody = 16 << 20

// validationError is one entry of a 400 {"validation_error": [...]}, with
// the keys the real service keeps from pydantic's error.
type validationError struct {
	Input any      `json:"input"`
	Loc   []string `json:"loc"`
	Msg   string   `json:"msg"`
	Type  string   `json:"type"`
	URL   string   `json:"url"`
}

// pydanticError builds a validation error; url is pydantic's documentation
// link for the error type.
func pydanticError(loc, typ, msg string, input any) validationError {
	return validationError{
		Input: input,
		Loc:   []string{loc},
		Msg:   msg,
		Type:  typ,
		URL:   "https://errors.pydantic.dev/2.13/v/" + typ,
	}
}

// Messages of the pydantic errors the fake reproduces.
const (
	msgMissing = "Field required"
	msgString  = "Input should be a valid string"
	msgDict    = "Input should be a valid dictionary"
	msgList    = "Input should be a valid list"
	msgShort   = "String should have at least 1 character"
)

// field is one key of a JSON object with its decoded value.
type field struct {
	key string
	val any
}

// newResult is a validated POST body.
type newResult struct {
	outcome    string
	testcase   orderedObject
	groups     []any
	note       *string
	refURL     *string
	data       []field // in posted order
	submitTime *time.Time
	// unhandled reports that validation raised an exception pydantic does
	// not turn into a validation error: the answer is 500.
	unhandled bool
}

// createResult handles POST /results.
func (f *Fake) createResult(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		fmt.Fprint(w, "<!doctype html>\n<html lang=en>\n<title>415 Unsupported Media Type</title>\n"+
			"<h1>Unsupported Media Type</h1>\n<p>Did not attempt to load JSON data because the request "+
			"Content-Type was not &#39;application/json&#39;.</p>\n")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, message("Bad request"))
		return
	}
	body, whole, ok := decodeObject(raw)
	if !ok {
		writeJSON(w, http.StatusBadRequest, message("Bad request"))
		return
	}
	nr, verrs := f.validate(body, whole)
	if nr.unhandled {
		internalError(w)
		return
	}
	if len(verrs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"validation_error": verrs})
		return
	}
	var colons []string
	for _, kv := range nr.data {
		if strings.Contains(kv.key, ":") {
			colons = append(colons, kv.key)
		}
	}
	if colons != nil {
		writeJSON(w, http.StatusBadRequest, message("Colon not allowed in key name: "+pyRepr(toAny(colons))))
		return
	}
	res, tcRef, updateRef, groups, ok := f.build(nr)
	if !ok {
		internalError(w)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, known := f.testcases[res.Testcase]; !known || updateRef {
		f.testcases[res.Testcase] = tcRef
	}
	for _, g := range groups {
		f.upsertGroup(g)
	}
	res.ID = len(f.results) + 1
	f.results = append(f.results, res)
	writeJSON(w, http.StatusCreated, f.serialize(r, res))
}

// groupUpdate is one entry of a posted "groups": the group's uuid and the
// fields the entry sets (nil: left as they are).
type groupUpdate struct {
	uuid                string
	description, refURL *string
	setDesc, setRef     bool
}

// upsertGroup creates or updates a group as create_result does: a group
// not found is created, and an object's description and ref_url replace
// the group's. The caller holds f.mu.
func (f *Fake) upsertGroup(u groupUpdate) {
	g := f.groups[u.uuid]
	if g == nil {
		g = &Group{UUID: u.uuid, id: len(f.groups) + 1}
		f.groups[u.uuid] = g
	}
	if u.setDesc {
		g.Description = u.description
	}
	if u.setRef {
		g.RefURL = u.refURL
	}
}

// validate checks the body like the CreateResultParams pydantic model,
// reporting every failing field in the model's field order.
func (f *Fake) validate(body map[string]any, whole any) (newResult, []validationError) {
	var nr newResult
	var errs []validationError

	if v, ok := body["outcome"]; !ok {
		errs = append(errs, pydanticError("outcome", "missing", msgMissing, whole))
	} else if s, ok := v.(string); !ok {
		errs = append(errs, pydanticError("outcome", "string_type", msgString, plain(v)))
	} else {
		nr.outcome = strings.ToUpper(strings.TrimSpace(s))
		switch {
		case nr.outcome == "":
			errs = append(errs, pydanticError("outcome", "string_too_short", msgShort, v))
		case !slices.Contains(f.outcomes, nr.outcome):
			errs = append(errs, pydanticError("outcome", "value_error",
				"Value error, must be one of: "+strings.Join(f.outcomes, ", "), v))
		}
	}

	if v, ok := body["testcase"]; !ok {
		errs = append(errs, pydanticError("testcase", "missing", msgMissing, whole))
	} else {
		o, isObj := v.(orderedObject)
		name, _ := o.get("name")
		switch {
		case !truthy(v) || isObj && !truthy(name):
			errs = append(errs, pydanticError("testcase", "value_error", "Value error, testcase name must be non-empty", plain(v)))
		case isObj:
			nr.testcase = o
		default:
			if s, ok := v.(string); ok {
				nr.testcase = orderedObject{{"name", s}}
			} else {
				errs = append(errs, pydanticError("testcase", "dict_type", msgDict, plain(v)))
			}
		}
	}

	if v := body["groups"]; v != nil {
		if l, ok := v.([]any); ok {
			nr.groups = l
		} else {
			errs = append(errs, pydanticError("groups", "list_type", msgList, plain(v)))
		}
	}

	optString := func(key string, dst **string) {
		switch v := body[key].(type) {
		case nil:
		case string:
			*dst = &v
		default:
			errs = append(errs, pydanticError(key, "string_type", msgString, plain(v)))
		}
	}
	optString("note", &nr.note)

	if v := body["data"]; v != nil {
		if o, ok := v.(orderedObject); ok {
			nr.data = o
		} else {
			errs = append(errs, pydanticError("data", "dict_type", msgDict, plain(v)))
		}
	}

	optString("ref_url", &nr.refURL)

	if v := body["submit_time"]; v != nil {
		t, msg, err := parseSubmitTime(v)
		switch {
		case err != nil:
			nr.unhandled = true
		case msg != "":
			errs = append(errs, pydanticError("submit_time", "value_error", "Value error, "+msg, plain(v)))
		default:
			nr.submitTime = &t
		}
	}
	return nr, errs
}

// build turns a validated body into a result, the testcase's ref_url,
// whether the body sets it, and the groups it creates or updates. ok is
// false for what the real service fails on with an unhandled exception.
func (f *Fake) build(nr newResult) (res *Result, tcRef *string, updateRef bool, groups []groupUpdate, ok bool) {
	n, _ := nr.testcase.get("name")
	name, isStr := n.(string)
	if !isStr {
		return nil, nil, false, nil, false
	}
	if v, has := nr.testcase.get("ref_url"); has {
		if tcRef, ok = scalarString(v); !ok {
			return nil, nil, false, nil, false
		}
		updateRef = true
	}
	res = &Result{
		Testcase: name,
		Outcome:  nr.outcome,
		Note:     nr.note,
		RefURL:   nr.refURL,
		Data:     map[string][]string{},
		Groups:   []string{},
	}
	for _, g := range nr.groups {
		u, ok := parseGroup(g)
		if !ok {
			return nil, nil, false, nil, false
		}
		res.Groups = append(res.Groups, u.uuid)
		groups = append(groups, u)
	}
	for _, kv := range nr.data {
		if l, isList := kv.val.([]any); isList {
			for _, v := range l {
				res.Data[kv.key] = append(res.Data[kv.key], pyStr(v))
			}
			continue
		}
		res.Data[kv.key] = append(res.Data[kv.key], pyStr(kv.val))
	}
	if nr.submitTime != nil {
		res.SubmitTime = *nr.submitTime
	} else {
		res.SubmitTime = f.now().UTC().Truncate(time.Microsecond)
	}
	return res, tcRef, updateRef, groups, true
}

// scalarString is how a text column stores a JSON value: null as NULL,
// scalars as text; ok is false for containers, which the database driver
// cannot adapt.
func scalarString(v any) (*string, bool) {
	switch v.(type) {
	case nil:
		return nil, true
	case []any, orderedObject:
		return nil, false
	}
	s := pyStr(v)
	return &s, true
}

// parseGroup reads one entry of "groups": a uuid, or an object with an
// optional "uuid" (a new one when it has none), "description" and
// "ref_url". ok is false for anything else (the real service fails).
func parseGroup(g any) (groupUpdate, bool) {
	switch g := g.(type) {
	case string:
		return groupUpdate{uuid: g}, true
	case orderedObject:
		var u groupUpdate
		uuid, _ := g.get("uuid")
		switch v := uuid.(type) {
		case nil:
			u.uuid = newUUID()
		case string:
			u.uuid = v
		default:
			return groupUpdate{}, false
		}
		var ok bool
		if v, has := g.get("description"); has {
			if u.description, ok = scalarString(v); !ok {
				return groupUpdate{}, false
			}
			u.setDesc = true
		}
		if v, has := g.get("ref_url"); has {
			if u.refURL, ok = scalarString(v); !ok {
				return groupUpdate{}, false
			}
			u.setRef = true
		}
		return u, true
	}
	return groupUpdate{}, false
}

// newUUID returns a random uuid in its canonical text form.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// orderedObject is a JSON object with its keys in document order (the last
// value of a repeated key, at the key's first position, as Python's json
// module keeps it).
type orderedObject []field

// get returns the value of key k.
func (o orderedObject) get(k string) (any, bool) {
	for _, kv := range o {
		if kv.key == k {
			return kv.val, true
		}
	}
	return nil, false
}

// decodeObject parses a request body that must be one JSON object. body
// maps its top-level keys to their values (nested objects as
// orderedObject), whole is the same object as plain Go values.
func decodeObject(raw []byte) (body map[string]any, whole any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, false
	}
	o, isObj := v.(orderedObject)
	if !isObj {
		return nil, nil, false
	}
	body = make(map[string]any, len(o))
	for _, kv := range o {
		body[kv.key] = kv.val
	}
	return body, plain(o), true
}

// decodeValue reads one JSON value: nil, bool, json.Number, string, []any
// or orderedObject.
func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('['):
		l := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err := dec.Token()
		return l, err
	case json.Delim('{'):
		o := orderedObject{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			if i := slices.IndexFunc(o, func(kv field) bool { return kv.key == k }); i >= 0 {
				o[i].val = v
			} else {
				o = append(o, field{k, v})
			}
		}
		_, err := dec.Token()
		return o, err
	}
	return tok, nil
}

// plain converts orderedObject values, at any depth, to map[string]any, for
// encoding back as JSON.
func plain(v any) any {
	switch v := v.(type) {
	case orderedObject:
		m := make(map[string]any, len(v))
		for _, kv := range v {
			m[kv.key] = plain(kv.val)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = plain(e)
		}
		return l
	}
	return v
}

// toAny converts a string slice to []any, for pyRepr.
func toAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
