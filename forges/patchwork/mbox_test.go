package patchwork

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// recorded reads a capture the fake embeds.
func recorded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("pwfake", "recorded", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedMboxes are the recorded mboxes the fuzz tests start from.
var seedMboxes = []string{
	"mbox-series-1.mbox",
	"mbox-series-3.mbox",
	"mbox-series-10-mercurial.mbox",
	"mbox-series-13-incomplete.mbox",
	"p2-03-mbox-series-v3.mbox",
	"p2-04-mbox-series-depends-on.mbox",
}

// seedTexts are cover letters and commit messages from the recordings,
// plus hand-made edge cases.
func seedTexts(t testing.TB) []string {
	texts := []string{
		"Depends-on: <a@b>\r\nDEPENDS-ON: https://pw.example/project/p/list/?series=3\r\n",
		"> Depends-on: <quoted@x>\n  Depends-on: <indented@x>\nDepends-on:<tight@x>  \n",
		"base-commit: 0123456789ABCDEF0123456789abcdef01234567\nbase-commit: 1111111111111111111111111111111111111111\n",
		"Depends-on: <a@b> and more\nDepends-on: <>\nDepends-on: <a b@c>\nDepends-on: ftp://x/\n",
	}
	for _, name := range []string{"covers-detail-3.json", "p2-04-cover-depends-on-detail.json"} {
		var c struct {
			Content string `json:"content"`
		}
		if err := json.Unmarshal(recorded(t, name), &c); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, c.Content)
	}
	for _, name := range seedMboxes {
		for _, msg := range SplitMbox(recorded(t, name)) {
			texts = append(texts, CommitMessage(msg))
		}
	}
	return texts
}

func TestParseBaseCommit(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"", ""},
		{"base-commit: 0123456789abcdef0123456789abcdef01234567\n", "0123456789abcdef0123456789abcdef01234567"},
		{"x\r\nBase-Commit: 0123456789ABCDEF0123456789ABCDEF01234567 \r\n", "0123456789abcdef0123456789abcdef01234567"},
		{"base-commit: 0123456789abcdef\n", ""},
		{"base-commit: 0123456789abcdef0123456789abcdef012345678\n", ""},
		{"> base-commit: 0123456789abcdef0123456789abcdef01234567\n", ""},
		{"+base-commit: 0123456789abcdef0123456789abcdef01234567\n", ""},
		{"base-commit: 1111111111111111111111111111111111111111\nbase-commit: 2222222222222222222222222222222222222222",
			"1111111111111111111111111111111111111111"},
	}
	for _, tt := range tests {
		if got := ParseBaseCommit(tt.text); got != tt.want {
			t.Errorf("ParseBaseCommit(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestSplitMbox(t *testing.T) {
	tests := []struct {
		name  string
		mbox  string
		count int
		ids   []string // X-Patchwork-Id of each message
	}{
		{"empty", "", 0, nil},
		{"recorded series 1", string(recorded(t, "mbox-series-1.mbox")), 4, []string{"1", "2", "3", "4"}},
		{"recorded series 16", string(recorded(t, "p2-04-mbox-series-depends-on.mbox")), 2, []string{"29", "30"}},
		{"body line starting with From", "From a\nSubject: x\n\nFrom the start\n\nFrom b\n\nbody\n", 3, nil},
		{"quoted From in body", "From a\n\nbody\n>From here\n", 1, nil},
		{"leading blank lines and text", "\n\npreamble\n\nFrom a\n\nx\n", 2, nil},
		{"CRLF", "From a\r\n\r\nx\r\n\r\nFrom b\r\n\r\ny\r\n", 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := SplitMbox([]byte(tt.mbox))
			if len(msgs) != tt.count {
				t.Fatalf("%d messages, want %d: %q", len(msgs), tt.count, msgs)
			}
			for i, id := range tt.ids {
				if !bytes.Contains(msgs[i], []byte("\nX-Patchwork-Id: "+id+"\n")) {
					t.Errorf("message %d is not patch %s", i, id)
				}
			}
		})
	}
}

func TestCommitMessage(t *testing.T) {
	msgs := SplitMbox(recorded(t, "p2-04-mbox-series-depends-on.mbox"))
	want := "foo() must report success to its callers.\n\n" +
		"Depends-on: http://127.0.0.1:8000/project/netdev/list/?series=1\n" +
		"Signed-off-by: Alice Developer <alice@example.org>"
	if got := CommitMessage(msgs[0]); got != want {
		t.Errorf("commit message of patch 29:\n%q\nwant\n%q", got, want)
	}
	tests := []struct {
		msg, want string
	}{
		{"From a\nSubject: x\n\nline\n---\nnotes\n", "line"},
		{"From a\r\n\r\nline\r\ndiff --git a/x b/x\r\n", "line"},
		{"From a\n\nline\n--- \nnotes\n", "line"},
		{"From a\n\nline\n----\nmore\n", "line\n----\nmore\n"},
		{"From a\nSubject: no body\n", ""},
	}
	for _, tt := range tests {
		if got := CommitMessage([]byte(tt.msg)); got != tt.want {
			t.Errorf("CommitMessage(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

var (
	hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

func FuzzParseBaseCommit(f *testing.F) {
	for _, s := range seedTexts(f) {
		f.Add(s)
	}
	for _, name := range seedMboxes {
		f.Add(string(recorded(f, name)))
	}
	f.Fuzz(func(t *testing.T, text string) {
		c := ParseBaseCommit(text)
		if c == "" {
			return
		}
		if !hex40.MatchString(c) {
			t.Errorf("commit %q is not 40 lower-case hex digits", c)
		}
		if !strings.Contains(strings.ToLower(text), c) {
			t.Errorf("commit %q is not in the text", c)
		}
	})
}

func FuzzSplitMbox(f *testing.F) {
	for _, name := range seedMboxes {
		f.Add(recorded(f, name))
	}
	f.Add([]byte("\n\npreamble\nFrom x\n\nFrom y\n"))
	f.Fuzz(func(t *testing.T, mbox []byte) {
		msgs := SplitMbox(mbox)
		joined := bytes.Join(msgs, nil)
		if !bytes.HasSuffix(mbox, joined) {
			t.Fatalf("messages are not the mbox's bytes")
		}
		if lead := mbox[:len(mbox)-len(joined)]; len(bytes.TrimSpace(lead)) != 0 {
			t.Errorf("dropped non-blank text %q", lead)
		}
		for i, m := range msgs {
			if len(m) == 0 {
				t.Errorf("message %d is empty", i)
			}
			if i > 0 && !bytes.HasPrefix(m, []byte("From ")) {
				t.Errorf("message %d does not start with a From line: %q", i, m)
			}
			_ = CommitMessage(m)
		}
	})
}
