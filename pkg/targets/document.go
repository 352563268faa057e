package targets

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/trawl-ci/trawl/pkg/change"
)

// Document is the JSON form of a Request that a target hands to a CI (a
// command's standard input, a webhook's body). Lists are never null.
type Document struct {
	Unit        string          `json:"unit"`
	Fingerprint string          `json:"fingerprint"`
	Attempt     int             `json:"attempt"`
	Change      change.Key      `json:"change"`
	Title       string          `json:"title"`
	WebURL      string          `json:"web_url"`
	Base        DocumentBase    `json:"base"`
	Patches     []DocumentPatch `json:"patches"`
	Heads       []Head          `json:"heads"`
}

// DocumentBase is the base of a Document.
type DocumentBase struct {
	Tree   string `json:"tree"`
	URL    string `json:"url"`
	Branch string `json:"branch"`
	Commit string `json:"commit"`
	Exact  bool   `json:"exact"`
}

// DocumentPatch is one patch of a Document, in the order to apply.
type DocumentPatch struct {
	ID      int64  `json:"id"`
	MsgID   string `json:"msgid"`
	Name    string `json:"name"`
	Hash    string `json:"hash"`
	MboxURL string `json:"mbox_url"`
	WebURL  string `json:"web_url,omitempty"`
}

// NewDocument is the Document of r.
func NewDocument(r Request) Document {
	d := Document{
		Unit:        r.Unit,
		Fingerprint: r.Fingerprint,
		Attempt:     r.Attempt,
		Change:      r.Change,
		Title:       r.Title,
		WebURL:      r.WebURL,
		Base:        DocumentBase{Tree: r.Base.Tree, URL: r.Base.URL, Branch: r.Base.Branch, Commit: r.Base.Commit, Exact: r.Base.Exact},
		Patches:     make([]DocumentPatch, len(r.Patches)),
		Heads:       append([]Head{}, r.Heads...),
	}
	for i, p := range r.Patches {
		d.Patches[i] = DocumentPatch{ID: p.ID, MsgID: p.MsgID, Name: p.Name, Hash: p.Hash, MboxURL: p.MboxURL, WebURL: p.WebURL}
	}
	return d
}

// AttemptID is a deterministic id of one build attempt of a unit: the hex
// sha256 of the unit key, a zero byte and the fingerprint, then for a retry
// after an infrastructure error a zero byte and the attempt number. A
// target that cannot be asked whether it ran a job uses it as the job's
// idempotency key.
func AttemptID(unit, fingerprint string, attempt int) string {
	key := unit + "\x00" + fingerprint
	if attempt > 0 {
		key += "\x00" + strconv.Itoa(attempt)
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// HashConfig is the sha256, in hex, of a length-prefixed encoding of parts:
// how a target hashes the configuration that changes what it builds, for
// ConfigHash. The first part names the target type and the encoding's
// version.
func HashConfig(parts ...string) string {
	h := sha256.New()
	for _, s := range parts {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}
