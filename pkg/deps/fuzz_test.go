package deps

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// FuzzParse checks that Parse never panics and that every reference it
// returns is well formed: a valid kind, a Raw that is written in the input,
// no duplicates, and the same answer whether lines end in \n or \r\n.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.text)
	}
	files, err := filepath.Glob("testdata/*.mbox")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, text string) {
		refs := Parse(text)
		seen := map[identity]bool{}
		for _, r := range refs {
			if r.Raw == "" || !strings.Contains(text, r.Raw) || strings.IndexFunc(r.Raw, unicode.IsSpace) >= 0 {
				t.Fatalf("Raw %q is not a word of the input", r.Raw)
			}
			if r.Kind < GitHubPR || r.Kind > ShortMR {
				t.Fatalf("invalid kind %d in %+v", int(r.Kind), r)
			}
			if r.Number < 0 {
				t.Fatalf("negative number in %+v", r)
			}
			switch r.Kind {
			case MessageID, PatchworkPatch:
				if !validMsgID(r.MsgID) || r.Number != 0 {
					t.Fatalf("bad message-id reference %+v", r)
				}
			default:
				if r.Number == 0 || r.MsgID != "" {
					t.Fatalf("bad numbered reference %+v", r)
				}
			}
			if (r.Kind == ShortPR || r.Kind == ShortMR || r.Kind == MessageID) != (r.Host == "") {
				t.Fatalf("host %q on %+v", r.Host, r)
			}
			id := identity{kind: r.Kind, host: r.Host, repo: r.Repo, number: r.Number, msgID: r.MsgID}
			if seen[id] {
				t.Fatalf("duplicate %+v", r)
			}
			seen[id] = true
		}
		if !strings.Contains(text, "\r") {
			crlf := Parse(strings.ReplaceAll(text, "\n", "\r\n"))
			if !reflect.DeepEqual(crlf, refs) {
				t.Fatalf("CRLF changes the result:\n  LF %+v\nCRLF %+v", refs, crlf)
			}
		}
	})
}

// BenchmarkParse parses a 20 KB pull request body: prose, a fenced block,
// a quoted reply, Depends-On lines and an autoproj task list.
func BenchmarkParse(b *testing.B) {
	const chunk = "## Summary\n\nThis reworks the frobnicator so that the bar driver can use it;\n" +
		"see the discussion in the issue tracker for the background.\n\n" +
		"```go\nfunc f() {\n\treturn // Depends-On: #1\n}\n```\n\n" +
		"> Depends-on: <quoted@example.org>\n\n" +
		"Depends-On: https://github.com/rock-core/base-types/pull/42, rock-core/base-logging#7\n" +
		"Depends-on: https://patchwork.kernel.org/project/netdevbpf/list/?series=812345\n\n" +
		"Depends on:\n- [ ] #12 (needs rebase)\n- [x] #13\n- [ ] https://gitlab.com/g/p/-/merge_requests/3\n\n" +
		"Thanks for reviewing, and sorry for the long description.\n\n"
	var body strings.Builder
	for body.Len() < 20<<10 {
		body.WriteString(chunk)
	}
	text := body.String()
	if n := len(Parse(text)); n != 5 {
		b.Fatalf("Parse found %d refs, want 5", n)
	}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(text)
	}
}
