package pwfake

import (
	"bytes"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// recorded holds the captures of the real Patchwork v3.1.3 server the fake
// serves (copied from the project's shared fixtures).
//
//go:embed recorded
var recorded embed.FS

// recordedHost is the host the captures were made on; the fake replaces it
// with the host of each request.
const recordedHost = "http://127.0.0.1:8000"

// object is one Patchwork object as the fake serves it: its JSON body and
// the fields the list filters look at. An object appears from phase from on.
type object struct {
	from Phase
	body []byte
	m    meta
	date time.Time
}

// ref is the id of a nested object.
type ref struct {
	ID int64 `json:"id"`
}

// meta is what the fake reads from an object's JSON to filter and link it.
type meta struct {
	ID      int64 `json:"id"`
	Project struct {
		ID       int64  `json:"id"`
		LinkName string `json:"link_name"`
	} `json:"project"`
	Name      string `json:"name"`
	Date      string `json:"date"`
	MsgID     string `json:"msgid"`
	State     string `json:"state"`
	Archived  bool   `json:"archived"`
	Hash      string `json:"hash"`
	Submitter struct {
		ID    int64  `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"submitter"`
	Delegate *struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		Email    string `json:"email"`
	} `json:"delegate"`
	Series      []ref `json:"series"`
	Patches     []ref `json:"patches"`
	CoverLetter *ref  `json:"cover_letter"`
	// Check is a patch's combined check state.
	Check string `json:"check"`
	// User and Context are a check's.
	User    user   `json:"user"`
	Context string `json:"context"`
}

// raw is a JSON value kept byte for byte.
type raw = json.RawMessage

// patchJSON is the list form of a patch, in the server's field order.
type patchJSON struct {
	ID             raw   `json:"id"`
	URL            raw   `json:"url"`
	WebURL         raw   `json:"web_url"`
	Project        raw   `json:"project"`
	MsgID          raw   `json:"msgid"`
	ListArchiveURL raw   `json:"list_archive_url"`
	Date           raw   `json:"date"`
	Name           raw   `json:"name"`
	CommitRef      raw   `json:"commit_ref"`
	PullURL        raw   `json:"pull_url"`
	State          raw   `json:"state"`
	Archived       raw   `json:"archived"`
	Hash           raw   `json:"hash"`
	Submitter      raw   `json:"submitter"`
	Delegate       raw   `json:"delegate"`
	Mbox           raw   `json:"mbox"`
	Series         []raw `json:"series"`
	Comments       raw   `json:"comments"`
	Check          raw   `json:"check"`
	Checks         raw   `json:"checks"`
	Tags           raw   `json:"tags"`
	Related        []raw `json:"related"`
}

// patchDetailJSON is the part of a patch's detail form the list lacks.
type patchDetailJSON struct {
	Headers raw    `json:"headers"`
	Content string `json:"content"`
	Diff    string `json:"diff"`
}

// coverJSON is the list form of a cover letter, in the server's field order.
type coverJSON struct {
	ID             raw   `json:"id"`
	URL            raw   `json:"url"`
	WebURL         raw   `json:"web_url"`
	Project        raw   `json:"project"`
	MsgID          raw   `json:"msgid"`
	ListArchiveURL raw   `json:"list_archive_url"`
	Date           raw   `json:"date"`
	Name           raw   `json:"name"`
	Submitter      raw   `json:"submitter"`
	Mbox           raw   `json:"mbox"`
	Series         []raw `json:"series"`
	Comments       raw   `json:"comments"`
}

// coverDetailJSON is the detail form of a cover letter.
type coverDetailJSON struct {
	coverJSON
	Headers raw `json:"headers"`
	Content raw `json:"content"`
}

// seriesJSON is the part of a series the fake derives other objects from.
type seriesJSON struct {
	ID          raw   `json:"id"`
	URL         raw   `json:"url"`
	WebURL      raw   `json:"web_url"`
	Project     raw   `json:"project"`
	Name        raw   `json:"name"`
	Date        raw   `json:"date"`
	Submitter   raw   `json:"submitter"`
	Version     raw   `json:"version"`
	Mbox        raw   `json:"mbox"`
	CoverLetter raw   `json:"cover_letter"`
	Patches     []raw `json:"patches"`
}

// seriesSummaryJSON is the summary of a series nested in patches and covers.
type seriesSummaryJSON struct {
	ID      raw `json:"id"`
	URL     raw `json:"url"`
	WebURL  raw `json:"web_url"`
	Date    raw `json:"date"`
	Name    raw `json:"name"`
	Version raw `json:"version"`
	Mbox    raw `json:"mbox"`
}

// submissionJSON is the summary of a patch or cover letter nested in a
// series.
type submissionJSON struct {
	ID             raw `json:"id"`
	URL            raw `json:"url"`
	WebURL         raw `json:"web_url"`
	MsgID          raw `json:"msgid"`
	ListArchiveURL raw `json:"list_archive_url"`
	Date           raw `json:"date"`
	Name           raw `json:"name"`
	Mbox           raw `json:"mbox"`
}

// user is a Patchwork user: its JSON as checks embed it, its API token
// and the projects it maintains.
type user struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`

	body      []byte
	token     string
	maintains []int64
}

// store is every object of every phase. It is built once and never changed.
type store struct {
	series  []object // sorted by id, then phase; a series may change between phases
	patches []object // list form, sorted by id
	covers  []object // list form, sorted by id
	// coverDetail is the detail form of each cover letter.
	coverDetail map[int64][]byte
	// patchMbox is each patch's own mbox: one message, without the blank
	// line that separates messages in a series mbox.
	patchMbox map[int64][]byte
	users     []user
	checks    []check // the recorded checks, in id order
	// projects are the recorded projects (projects-list.json), served by
	// id and by link name as projects-detail-1 and
	// projects-detail-by-linkname show.
	projects []project

	notFoundPage []byte // HTML 404 page; its path is replaced per request
	errorPage    []byte // HTML 500 page
	invalidPage  []byte // JSON 404 of an unknown page number
	notFound     []byte // JSON 404 of an unknown object id
	invalidToken []byte // JSON 403 of an unknown API token
	denied       []byte // JSON 403 of a write without the rights
	checkOptions []byte // OPTIONS metadata of a patch's checks list
}

// Captures of series as they were in each phase.
var seriesCaptures = []struct {
	file string
	from Phase
	list bool
}{
	{"series-list-all.json", Phase1, true},
	{"p2-01-series-v3-detail-cover-only.json", P2CoverOnly, false},
	{"p2-02-series-v3-detail-1-of-2.json", P2OnePatch, false},
	{"p2-03-series-v3-detail-complete.json", P2V3Complete, false},
	{"p2-04-series-depends-on-detail.json", P2DependsOn, false},
}

// Captures of patch lists, and patch details whose list form is derived by
// dropping the detail fields.
var (
	patchLists = []string{
		"patches-list-series1.json",
		"patches-list-series-2-and-3.json",
		"patches-list-netdev-state-new.json",
		"patches-list-netdev-archived.json",
		"patches-list-by-hash.json",
		"p2-03-patches-series-v3.json",
	}
	patchDetails = []string{
		"patches-detail-9-accepted.json",
		"patches-detail-10-duplicated-headers.json",
		"patches-detail-17-pull-request.json",
		"p2-04-patch-depends-on-url-detail.json",
	}
	seriesMboxes = []string{
		"mbox-series-1.mbox",
		"mbox-series-3.mbox",
		"mbox-series-10-mercurial.mbox",
		"mbox-series-13-incomplete.mbox",
		"p2-03-mbox-series-v3.mbox",
		"p2-04-mbox-series-depends-on.mbox",
	}
	coverDetails = []string{
		"covers-detail-3.json",
		"p2-04-cover-depends-on-detail.json",
	}
)

func readRecorded(name string) ([]byte, error) {
	b, err := recorded.ReadFile("recorded/" + name)
	if err != nil {
		return nil, fmt.Errorf("pwfake: read recorded %s: %w", name, err)
	}
	return b, nil
}

// readList reads a recorded JSON array as its elements, byte for byte.
func readList(name string) ([]raw, error) {
	b, err := readRecorded(name)
	if err != nil {
		return nil, err
	}
	var items []raw
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, fmt.Errorf("pwfake: decode %s: %w", name, err)
	}
	return items, nil
}

// marshal encodes v as compact JSON without HTML escaping, as the server
// does.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("pwfake: encode %T: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// newObject decodes the filter fields of body.
func newObject(from Phase, body []byte) (object, error) {
	o := object{from: from, body: body}
	if err := json.Unmarshal(body, &o.m); err != nil {
		return o, fmt.Errorf("pwfake: decode object: %w", err)
	}
	if o.m.Date != "" {
		d, err := time.Parse("2006-01-02T15:04:05.999999", o.m.Date)
		if err != nil {
			return o, fmt.Errorf("pwfake: object %d: %w", o.m.ID, err)
		}
		o.date = d
	}
	return o, nil
}

// load builds the store from the recorded captures, deriving what was not
// recorded (see the package documentation).
func load() (*store, error) {
	s := &store{coverDetail: map[int64][]byte{}, patchMbox: map[int64][]byte{}}
	var err error
	for name, dst := range map[string]*[]byte{
		"series-detail-nonint-404.html":     &s.notFoundPage,
		"events-since-Z.html":               &s.errorPage,
		"page-series-page-invalid.json":     &s.invalidPage,
		"series-detail-404.json":            &s.notFound,
		"err-403-check-post-bad-token.json": &s.invalidToken,
		"err-403-check-post-no-auth.json":   &s.denied,
		"method-options-checks.json":        &s.checkOptions,
	} {
		if *dst, err = readRecorded(name); err != nil {
			return nil, err
		}
	}
	if err := s.loadUsers(); err != nil {
		return nil, err
	}
	if err := s.loadProjects(); err != nil {
		return nil, err
	}
	if err := s.loadSeries(); err != nil {
		return nil, err
	}
	if err := s.loadMboxes(); err != nil {
		return nil, err
	}
	if err := s.loadPatches(); err != nil {
		return nil, err
	}
	if err := s.loadCovers(); err != nil {
		return nil, err
	}
	if err := s.loadChecks(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *store) loadSeries() error {
	for _, c := range seriesCaptures {
		items := []raw{}
		if c.list {
			var err error
			if items, err = readList(c.file); err != nil {
				return err
			}
		} else {
			b, err := readRecorded(c.file)
			if err != nil {
				return err
			}
			items = append(items, b)
		}
		for _, it := range items {
			o, err := newObject(c.from, it)
			if err != nil {
				return fmt.Errorf("%s: %w", c.file, err)
			}
			s.series = append(s.series, o)
		}
	}
	slices.SortStableFunc(s.series, func(a, b object) int { return int(a.m.ID - b.m.ID) })
	return nil
}

// firstSeen returns the first phase in which a series lists the patch (or,
// with cover, has the cover letter), and that series.
func (s *store) firstSeen(id int64, cover bool) (object, bool) {
	for _, p := range []Phase{Phase1, P2CoverOnly, P2OnePatch, P2V3Complete, P2DependsOn} {
		for _, sr := range visible(s.series, p) {
			if cover && sr.m.CoverLetter != nil && sr.m.CoverLetter.ID == id {
				return sr, true
			}
			if !cover && slices.Contains(sr.m.Patches, ref{ID: id}) {
				return sr, true
			}
		}
	}
	return object{}, false
}

// loadMboxes splits the recorded series mboxes into one message per patch.
func (s *store) loadMboxes() error {
	for _, name := range seriesMboxes {
		b, err := readRecorded(name)
		if err != nil {
			return err
		}
		msgs := splitMessages(b)
		for i, msg := range msgs {
			if i < len(msgs)-1 {
				msg = bytes.TrimSuffix(msg, []byte("\n"))
			}
			id, ok := patchworkID(msg)
			if !ok {
				return fmt.Errorf("pwfake: %s: message %d has no X-Patchwork-Id", name, i+1)
			}
			s.patchMbox[id] = msg
		}
	}
	return nil
}

// splitMessages splits a Patchwork mbox at its "From patchwork" lines; the
// messages keep their bytes, so joining them gives the mbox back.
func splitMessages(mbox []byte) [][]byte {
	var msgs [][]byte
	start := 0
	for i := 0; i < len(mbox); {
		end := bytes.IndexByte(mbox[i:], '\n')
		next := len(mbox)
		if end >= 0 {
			next = i + end + 1
		}
		if bytes.HasPrefix(mbox[i:], []byte("From patchwork ")) && i > start {
			msgs = append(msgs, mbox[start:i])
			start = i
		}
		i = next
	}
	if start < len(mbox) {
		msgs = append(msgs, mbox[start:])
	}
	return msgs
}

// patchworkID reads the X-Patchwork-Id header of a message.
func patchworkID(msg []byte) (int64, bool) {
	for line := range strings.SplitSeq(string(msg), "\n") {
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "X-Patchwork-Id: "); ok {
			id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return id, err == nil
		}
	}
	return 0, false
}

func (s *store) loadPatches() error {
	lists := map[int64][]byte{}
	for _, name := range patchLists {
		items, err := readList(name)
		if err != nil {
			return err
		}
		for _, it := range items {
			var m meta
			if err := json.Unmarshal(it, &m); err != nil {
				return fmt.Errorf("pwfake: %s: %w", name, err)
			}
			lists[m.ID] = it
		}
	}
	details := map[int64][]byte{}
	for _, name := range patchDetails {
		b, err := readRecorded(name)
		if err != nil {
			return err
		}
		var m meta
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("pwfake: %s: %w", name, err)
		}
		details[m.ID] = b
		if _, ok := lists[m.ID]; !ok {
			var p patchJSON
			if err := json.Unmarshal(b, &p); err != nil {
				return fmt.Errorf("pwfake: %s: %w", name, err)
			}
			lists[m.ID] = marshal(p)
		}
	}
	// Every patch some series lists, in id order.
	var ids []int64
	for _, sr := range s.series {
		for _, p := range sr.m.Patches {
			if !slices.Contains(ids, p.ID) {
				ids = append(ids, p.ID)
			}
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		sr, ok := s.firstSeen(id, false)
		if !ok {
			return fmt.Errorf("pwfake: patch %d is in no series", id)
		}
		body, ok := lists[id]
		if !ok {
			var err error
			if body, err = s.derivePatch(id, sr); err != nil {
				return err
			}
		}
		o, err := newObject(sr.from, body)
		if err != nil {
			return err
		}
		s.patches = append(s.patches, o)
		if _, ok := s.patchMbox[id]; !ok {
			s.patchMbox[id] = deriveMessage(o, details[id])
		}
	}
	return nil
}

// derivePatch builds the list form of a patch no capture holds from its
// summary in series sr: state new, not archived, no delegate, no checks,
// and the hash of its diff in a recorded series mbox (or, with no recorded
// diff, the SHA-1 of its message id with its angle brackets).
func (s *store) derivePatch(id int64, sr object) ([]byte, error) {
	var ser seriesJSON
	if err := json.Unmarshal(sr.body, &ser); err != nil {
		return nil, fmt.Errorf("pwfake: series %d: %w", sr.m.ID, err)
	}
	var sum submissionJSON
	for i, p := range sr.m.Patches {
		if p.ID == id {
			if err := json.Unmarshal(ser.Patches[i], &sum); err != nil {
				return nil, fmt.Errorf("pwfake: series %d patch %d: %w", sr.m.ID, id, err)
			}
		}
	}
	var msgid string
	if err := json.Unmarshal(sum.MsgID, &msgid); err != nil {
		return nil, fmt.Errorf("pwfake: series %d patch %d msgid: %w", sr.m.ID, id, err)
	}
	hash := ""
	if msg, ok := s.patchMbox[id]; ok {
		hash = hashDiff(diffOf(string(msg)))
	} else {
		h := sha1.Sum([]byte(msgid))
		hash = hex.EncodeToString(h[:])
	}
	api := fmt.Sprintf("%s/api/patches/%d/", recordedHost, id)
	p := patchJSON{
		ID: sum.ID, URL: sum.URL, WebURL: sum.WebURL, Project: ser.Project,
		MsgID: sum.MsgID, ListArchiveURL: sum.ListArchiveURL, Date: sum.Date, Name: sum.Name,
		CommitRef: raw("null"), PullURL: raw("null"), State: marshal("new"),
		Archived: raw("false"), Hash: marshal(hash), Submitter: ser.Submitter,
		Delegate: raw("null"), Mbox: sum.Mbox, Series: []raw{seriesSummary(ser)},
		Comments: marshal(api + "comments/"), Check: marshal("pending"),
		Checks: marshal(api + "checks/"), Tags: raw("{}"), Related: []raw{},
	}
	return marshal(p), nil
}

// seriesSummary is the nested summary form of a series.
func seriesSummary(ser seriesJSON) raw {
	return marshal(seriesSummaryJSON{
		ID: ser.ID, URL: ser.URL, WebURL: ser.WebURL, Date: ser.Date,
		Name: ser.Name, Version: ser.Version, Mbox: ser.Mbox,
	})
}

// deriveMessage builds the mbox of a patch no recorded mbox holds, the way
// Patchwork renders one: from its recorded detail form (headers, content and
// diff, without reply trailers) when there is one, else from its list form
// with a From, Subject, Date and Message-Id header and an empty body.
func deriveMessage(o object, detail []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From patchwork %s\n", o.date.Format("Mon Jan _2 15:04:05 2006"))
	var body string
	var headers [][2]string
	var d patchDetailJSON
	if detail != nil && json.Unmarshal(detail, &d) == nil {
		headers = orderedHeaders(d.Headers)
		body = mailBody(d.Content, d.Diff)
	} else {
		headers = [][2]string{
			{"From", fmt.Sprintf("%s <%s>", o.m.Submitter.Name, o.m.Submitter.Email)},
			{"Subject", o.m.Name},
			{"Date", o.date.Format("Mon, 02 Jan 2006 15:04:05 -0700")},
			{"Message-Id", o.m.MsgID},
		}
	}
	encoding := "7bit"
	for _, r := range body {
		if r > 127 {
			encoding = "8bit"
			break
		}
	}
	b.WriteString("Content-Type: text/plain; charset=\"utf-8\"\nMIME-Version: 1.0\n")
	fmt.Fprintf(&b, "Content-Transfer-Encoding: %s\n", encoding)
	fmt.Fprintf(&b, "X-Patchwork-Submitter: %s <%s>\n", o.m.Submitter.Name, o.m.Submitter.Email)
	fmt.Fprintf(&b, "X-Patchwork-Id: %d\n", o.m.ID)
	if o.m.Delegate != nil {
		fmt.Fprintf(&b, "X-Patchwork-Delegate: %s\n", o.m.Delegate.Email)
	}
	for _, h := range headers {
		if h[0] == "Content-Type" || h[0] == "Content-Transfer-Encoding" {
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", h[0], h[1])
	}
	b.WriteString("\n")
	b.WriteString(body)
	return b.Bytes()
}

// mailBody is Patchwork's mbox body of a patch: the content with its
// "---" postscript, then the diff.
func mailBody(content, diff string) string {
	body := ""
	if content != "" {
		body = strings.TrimSpace(content) + "\n"
	}
	postscript := ""
	if i := postscriptIndex(body); i >= 0 {
		head, tail := body[:i], body[i+1:]
		tail = tail[strings.IndexByte(tail, '\n')+1:]
		body = strings.TrimSpace(head) + "\n"
		postscript = strings.TrimRight(tail, " \t\r\n")
	}
	if postscript != "" {
		body += "---\n" + postscript + "\n"
	}
	if diff != "" {
		body += "\n" + diff
	}
	return body
}

// postscriptIndex finds the first "\n--\n", "\n---\n" or the same with a
// trailing space (Patchwork's postscript_re), returning the index of its
// leading newline.
func postscriptIndex(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] != '\n' {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] == '-' {
			j++
		}
		if n := j - i - 1; n < 2 || n > 3 {
			continue
		}
		if j < len(s) && s[j] == ' ' {
			j++
		}
		if j < len(s) && s[j] == '\n' {
			return i
		}
	}
	return -1
}

// orderedHeaders reads a detail "headers" object in its recorded order; a
// duplicated header is a JSON list of values.
func orderedHeaders(b raw) [][2]string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out [][2]string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		key, _ := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return out
		}
		switch v := v.(type) {
		case string:
			out = append(out, [2]string{key, v})
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, [2]string{key, s})
				}
			}
		}
	}
	return out
}

func (s *store) loadCovers() error {
	lists := map[int64][]byte{}
	items, err := readList("covers-list-netdev.json")
	if err != nil {
		return err
	}
	for _, it := range items {
		var m meta
		if err := json.Unmarshal(it, &m); err != nil {
			return fmt.Errorf("pwfake: covers-list-netdev.json: %w", err)
		}
		lists[m.ID] = it
	}
	for _, name := range coverDetails {
		b, err := readRecorded(name)
		if err != nil {
			return err
		}
		var m meta
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("pwfake: %s: %w", name, err)
		}
		s.coverDetail[m.ID] = b
	}
	var ids []int64
	for _, sr := range s.series {
		if c := sr.m.CoverLetter; c != nil && !slices.Contains(ids, c.ID) {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		sr, _ := s.firstSeen(id, true)
		body, ok := lists[id]
		if !ok {
			if body, err = deriveCover(sr); err != nil {
				return err
			}
		}
		o, err := newObject(sr.from, body)
		if err != nil {
			return err
		}
		s.covers = append(s.covers, o)
		if _, ok := s.coverDetail[id]; !ok {
			var c coverJSON
			if err := json.Unmarshal(body, &c); err != nil {
				return fmt.Errorf("pwfake: cover %d: %w", id, err)
			}
			s.coverDetail[id] = marshal(coverDetailJSON{coverJSON: c, Headers: raw("{}"), Content: raw(`""`)})
		}
	}
	return nil
}

// deriveCover builds the list form of a cover letter no capture holds from
// its summary in series sr; its submitter is the series' submitter.
func deriveCover(sr object) ([]byte, error) {
	var ser seriesJSON
	if err := json.Unmarshal(sr.body, &ser); err != nil {
		return nil, fmt.Errorf("pwfake: series %d: %w", sr.m.ID, err)
	}
	var sum submissionJSON
	if err := json.Unmarshal(ser.CoverLetter, &sum); err != nil {
		return nil, fmt.Errorf("pwfake: series %d cover: %w", sr.m.ID, err)
	}
	return marshal(coverJSON{
		ID: sum.ID, URL: sum.URL, WebURL: sum.WebURL, Project: ser.Project, MsgID: sum.MsgID,
		ListArchiveURL: sum.ListArchiveURL, Date: sum.Date, Name: sum.Name,
		Submitter: ser.Submitter, Mbox: sum.Mbox, Series: []raw{seriesSummary(ser)},
		Comments: marshal(fmt.Sprintf("%s/api/covers/%d/comments/", recordedHost, sr.m.CoverLetter.ID)),
	}), nil
}

// visible returns, for each object id, its latest version from phase p or
// earlier, in id order.
func visible(objs []object, p Phase) []object {
	var out []object
	for _, o := range objs {
		if o.from > p {
			continue
		}
		if n := len(out); n > 0 && out[n-1].m.ID == o.m.ID {
			out[n-1] = o
			continue
		}
		out = append(out, o)
	}
	return out
}

// seriesMbox is the mbox of series sr as it is in a phase: the mboxes of
// its patches, in series order, separated by a blank line; empty while it
// has none.
func (s *store) seriesMbox(sr object) []byte {
	var parts [][]byte
	for _, p := range sr.m.Patches {
		parts = append(parts, s.patchMbox[p.ID])
	}
	return bytes.Join(parts, []byte("\n"))
}
