package deps

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// parseCase is one text and the references Parse must find in it.
type parseCase struct {
	name string
	text string
	want []Ref
}

// parseCases is shared by TestParse and the fuzz seed corpus.
var parseCases = []parseCase{
	{
		name: "zuul github url",
		text: "Add the frobnicator.\n\nDepends-On: https://github.com/org/repo/pull/4\n",
		want: []Ref{{Raw: "https://github.com/org/repo/pull/4", Kind: GitHubPR, Host: "github.com", Repo: "org/repo", Number: 4}},
	},
	{
		name: "github body with crlf",
		text: "## Summary\r\n\r\nMoves the parser.\r\n\r\nDepends-On: https://github.com/rock-core/base-types/pull/42\r\nDepends-On: rock-core/base-logging#7\r\n",
		want: []Ref{
			{Raw: "https://github.com/rock-core/base-types/pull/42", Kind: GitHubPR, Host: "github.com", Repo: "rock-core/base-types", Number: 42},
			{Raw: "rock-core/base-logging#7", Kind: ShortPR, Repo: "rock-core/base-logging", Number: 7},
		},
	},
	{
		name: "old mac line endings",
		text: "Title\rDepends-on: #3\r- [ ] #4\r",
		want: []Ref{{Raw: "#3", Kind: ShortPR, Number: 3}},
	},
	{
		name: "several refs on one line",
		text: "Depends-On: https://github.com/a/b/pull/1, https://gitlab.com/g/p/-/merge_requests/2 #3,!4\n",
		want: []Ref{
			{Raw: "https://github.com/a/b/pull/1", Kind: GitHubPR, Host: "github.com", Repo: "a/b", Number: 1},
			{Raw: "https://gitlab.com/g/p/-/merge_requests/2", Kind: GitLabMR, Host: "gitlab.com", Repo: "g/p", Number: 2},
			{Raw: "#3", Kind: ShortPR, Number: 3},
			{Raw: "!4", Kind: ShortMR, Number: 4},
		},
	},
	{
		name: "upper case tag",
		text: "DEPENDS-ON: #5\n",
		want: []Ref{{Raw: "#5", Kind: ShortPR, Number: 5}},
	},
	{
		name: "depends on with a space",
		text: "depends on: !7\n",
		want: []Ref{{Raw: "!7", Kind: ShortMR, Number: 7}},
	},
	{
		name: "indented tag",
		text: "    Depends-on:   #9   \n",
		want: []Ref{{Raw: "#9", Kind: ShortPR, Number: 9}},
	},
	{
		name: "no colon is prose",
		text: "This depends on #12 being merged first.\nDepends on https://github.com/o/r/pull/1\n",
	},
	{
		name: "unrecognised value",
		text: "Depends-on: the foo refactoring\n",
	},
	{
		name: "tag not at line start",
		text: "- Depends-on: #1\nSee: Depends-on: #2\n",
	},
	{
		name: "github url suffixes",
		text: "Depends-On: https://github.com/o/r/pull/10/files https://github.com/o/r/pull/11/commits/abc123 https://github.com/o/r/pull/12#issuecomment-1 https://github.com/o/r/pull/13?w=1 https://github.com/o/r/pull/14.diff\n",
		want: []Ref{
			{Raw: "https://github.com/o/r/pull/10/files", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 10},
			{Raw: "https://github.com/o/r/pull/11/commits/abc123", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 11},
			{Raw: "https://github.com/o/r/pull/12#issuecomment-1", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 12},
			{Raw: "https://github.com/o/r/pull/13?w=1", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 13},
			{Raw: "https://github.com/o/r/pull/14.diff", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 14},
		},
	},
	{
		name: "pulls api urls are rejected",
		text: "Depends-On: https://api.github.com/repos/o/r/pulls/3\nDepends-On: https://github.com/o/r/pulls/3\n",
	},
	{
		name: "issue url is rejected",
		text: "Depends-On: https://github.com/o/r/issues/8\n",
	},
	{
		name: "bad pull numbers",
		text: "Depends-On: https://github.com/o/r/pull/abc https://github.com/o/r/pull/0 https://github.com/o/r/pull/ #0 #abc #99999999999999999999 #-1\n",
	},
	{
		name: "github enterprise host keeps port, host lower-cased",
		text: "Depends-On: https://GHE.Corp.Example:8443/team/svc/pull/9\nDepends-On: HTTP://www.github.com/o/r/pull/2\n",
		want: []Ref{
			{Raw: "https://GHE.Corp.Example:8443/team/svc/pull/9", Kind: GitHubPR, Host: "ghe.corp.example:8443", Repo: "team/svc", Number: 9},
			{Raw: "HTTP://www.github.com/o/r/pull/2", Kind: GitHubPR, Host: "www.github.com", Repo: "o/r", Number: 2},
		},
	},
	{
		name: "gitlab nested groups",
		text: "Depends-on: https://gitlab.com/redhat/centos-stream/src/kernel/centos-stream-9/-/merge_requests/1234\n",
		want: []Ref{{Raw: "https://gitlab.com/redhat/centos-stream/src/kernel/centos-stream-9/-/merge_requests/1234", Kind: GitLabMR, Host: "gitlab.com", Repo: "redhat/centos-stream/src/kernel/centos-stream-9", Number: 1234}},
	},
	{
		name: "gitlab legacy and suffixed urls",
		text: "Depends-on: https://gitlab.example.com/group/proj/merge_requests/7\nDepends-on: https://GitLab.Example.com/group/proj/-/merge_requests/8/diffs#note_1\n",
		want: []Ref{
			{Raw: "https://gitlab.example.com/group/proj/merge_requests/7", Kind: GitLabMR, Host: "gitlab.example.com", Repo: "group/proj", Number: 7},
			{Raw: "https://GitLab.Example.com/group/proj/-/merge_requests/8/diffs#note_1", Kind: GitLabMR, Host: "gitlab.example.com", Repo: "group/proj", Number: 8},
		},
	},
	{
		name: "gitlab url needs a namespace",
		text: "Depends-on: https://gitlab.com/proj/-/merge_requests/7 https://gitlab.com/-/merge_requests/7 https://gitlab.com/g/p/-/merge_requests/x\n",
	},
	{
		name: "short forms with repositories",
		text: "Depends-on: rock-core/base-types#42 redhat/centos-stream/kernel!15\n",
		want: []Ref{
			{Raw: "rock-core/base-types#42", Kind: ShortPR, Repo: "rock-core/base-types", Number: 42},
			{Raw: "redhat/centos-stream/kernel!15", Kind: ShortMR, Repo: "redhat/centos-stream/kernel", Number: 15},
		},
	},
	{
		name: "malformed short forms",
		text: "Depends-on: repo#4 a/b/c#4 proj!5 a//b!5 owner/repo# !x PR#3\n",
	},
	{
		name: "patchwork list url with prefix and extra query",
		text: "Depends-on: https://patchwork.example.org/patchwork/project/linux-arm/list/?state=*&series=812345&archive=both\n",
		want: []Ref{{Raw: "https://patchwork.example.org/patchwork/project/linux-arm/list/?state=*&series=812345&archive=both", Kind: PatchworkSeries, Host: "patchwork.example.org", Repo: "linux-arm", Number: 812345, URLPath: "/patchwork"}},
	},
	{
		name: "patchwork list url without a series",
		text: "Depends-on: https://patchwork.kernel.org/project/netdevbpf/list/ https://patchwork.kernel.org/project/netdevbpf/list/?series=* https://patchwork.kernel.org/project/netdevbpf/list/?state=3\n",
	},
	{
		name: "patchwork series mbox and web urls",
		text: "Depends-on: https://patchwork.kernel.org/series/812345/mbox/\nDepends-on: https://patchwork.ozlabs.org/series/400/\n",
		want: []Ref{
			{Raw: "https://patchwork.kernel.org/series/812345/mbox/", Kind: PatchworkSeries, Host: "patchwork.kernel.org", Number: 812345},
			{Raw: "https://patchwork.ozlabs.org/series/400/", Kind: PatchworkSeries, Host: "patchwork.ozlabs.org", Number: 400},
		},
	},
	{
		name: "patchwork api series urls",
		text: "Depends-on: https://patchwork.kernel.org/api/1.3/series/5/ https://pw.example/pw/api/series/6/ https://pw.example/series/7/patches/\n",
		want: []Ref{
			{Raw: "https://patchwork.kernel.org/api/1.3/series/5/", Kind: PatchworkSeries, Host: "patchwork.kernel.org", Number: 5},
			{Raw: "https://pw.example/pw/api/series/6/", Kind: PatchworkSeries, Host: "pw.example", Number: 6, URLPath: "/pw"},
		},
	},
	{
		name: "patchwork patch page with url-encoded msgid",
		text: "Depends-on: https://patchwork.kernel.org/project/netdevbpf/patch/20240101120000.1234-1-alice%40example.org/\nDepends-on: https://pw.example/project/dpdk/patch/a%2Fb%3Cc%3E@x/\nDepends-on: https://pw.example/project/dpdk/patch/1.2.3%2Fx@host/mbox/\n",
		want: []Ref{
			{Raw: "https://patchwork.kernel.org/project/netdevbpf/patch/20240101120000.1234-1-alice%40example.org/", Kind: PatchworkPatch, Host: "patchwork.kernel.org", Repo: "netdevbpf", MsgID: "20240101120000.1234-1-alice@example.org"},
			{Raw: "https://pw.example/project/dpdk/patch/1.2.3%2Fx@host/mbox/", Kind: PatchworkPatch, Host: "pw.example", Repo: "dpdk", MsgID: "1.2.3/x@host"},
		},
	},
	{
		name: "patchwork cover page and numeric patch id",
		text: "Depends-on: http://127.0.0.1:8000/project/netdev/cover/cover.1795236401.git.alice@example.org/ http://127.0.0.1:8000/project/netdev/patch/29/\n",
		want: []Ref{{Raw: "http://127.0.0.1:8000/project/netdev/cover/cover.1795236401.git.alice@example.org/", Kind: PatchworkPatch, Host: "127.0.0.1:8000", Repo: "netdev", MsgID: "cover.1795236401.git.alice@example.org"}},
	},
	{
		name: "lore links",
		text: "Depends-on: https://lore.kernel.org/r/20240101.1-1-bob@example.com\nDepends-on: https://lore.kernel.org/netdev/20240202.2-1-eve@example.com/T/#u\nDepends-on: https://patch.msgid.link/20240303.3-1-joe@example.com https://lore.kernel.org/all/?q=foo\n",
		want: []Ref{
			{Raw: "https://lore.kernel.org/r/20240101.1-1-bob@example.com", Kind: MessageID, MsgID: "20240101.1-1-bob@example.com"},
			{Raw: "https://lore.kernel.org/netdev/20240202.2-1-eve@example.com/T/#u", Kind: MessageID, MsgID: "20240202.2-1-eve@example.com"},
			{Raw: "https://patch.msgid.link/20240303.3-1-joe@example.com", Kind: MessageID, MsgID: "20240303.3-1-joe@example.com"},
		},
	},
	{
		name: "message-id needs angle brackets",
		text: "Depends-on: 20261121050000.4242-0-stephenfinucane@example.org\nDepends-on: <20261121050000.4242-0-stephenfinucane@example.org>\nDepends-on: <not-a-msgid> <@x> <a@>\n",
		want: []Ref{{Raw: "<20261121050000.4242-0-stephenfinucane@example.org>", Kind: MessageID, MsgID: "20261121050000.4242-0-stephenfinucane@example.org"}},
	},
	{
		name: "duplicates keep the first",
		text: "Depends-On: https://github.com/o/r/pull/1 #2\nDepends-On: https://github.com/o/r/pull/1\nDepends on:\n- [ ] #2\n- [ ] https://github.com/o/r/pull/1/files\nDepends-on: <m@x> https://lore.kernel.org/r/m@x\n",
		want: []Ref{
			{Raw: "https://github.com/o/r/pull/1", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 1},
			{Raw: "#2", Kind: ShortPR, Number: 2},
			{Raw: "<m@x>", Kind: MessageID, MsgID: "m@x"},
		},
	},
	{
		name: "same number on different hosts is no duplicate",
		text: "Depends-On: https://github.com/o/r/pull/1 https://ghe.example/o/r/pull/1 o/r#1\n",
		want: []Ref{
			{Raw: "https://github.com/o/r/pull/1", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 1},
			{Raw: "https://ghe.example/o/r/pull/1", Kind: GitHubPR, Host: "ghe.example", Repo: "o/r", Number: 1},
			{Raw: "o/r#1", Kind: ShortPR, Repo: "o/r", Number: 1},
		},
	},
	{
		name: "autoproj task list",
		text: "Adds the new driver.\n\nDepends on:\n- [ ] rock-core/base-types#42\n- [x] rock-core/base-logging#3\n- [X] #4\n- [ ] #12 (needs rebase)\n- [ ] see https://github.com/rock-core/tools-orogen/pull/100 first\n- [ ] nothing here\n",
		want: []Ref{
			{Raw: "rock-core/base-types#42", Kind: ShortPR, Repo: "rock-core/base-types", Number: 42},
			{Raw: "#12", Kind: ShortPR, Number: 12},
			{Raw: "https://github.com/rock-core/tools-orogen/pull/100", Kind: GitHubPR, Host: "github.com", Repo: "rock-core/tools-orogen", Number: 100},
		},
	},
	{
		name: "autoproj item takes only its first ref",
		text: "Depends on:\n- [ ] #1 and #2\n",
		want: []Ref{{Raw: "#1", Kind: ShortPR, Number: 1}},
	},
	{
		name: "list ended by a non-dash line",
		text: "Depends on:\n- [ ] #1\nThanks for reviewing!\n- [ ] #2\n",
		want: []Ref{{Raw: "#1", Kind: ShortPR, Number: 1}},
	},
	{
		name: "list ended by a blank line",
		text: "Depends on:\n- [ ] !1\n\n- [ ] !2\n",
		want: []Ref{{Raw: "!1", Kind: ShortMR, Number: 1}},
	},
	{
		name: "blank lines before the first item",
		text: "## Depends on\n\n\n* [ ] group/proj!5\n*   [ ]   https://gitlab.com/group/other/-/merge_requests/6\n  - [ ] !7\n",
		want: []Ref{
			{Raw: "group/proj!5", Kind: ShortMR, Repo: "group/proj", Number: 5},
			{Raw: "https://gitlab.com/group/other/-/merge_requests/6", Kind: GitLabMR, Host: "gitlab.com", Repo: "group/other", Number: 6},
			{Raw: "!7", Kind: ShortMR, Number: 7},
		},
	},
	{
		name: "header forms",
		text: "**Depends on:**\n- [ ] #1\n\nThis PR depends on:\n- [ ] #2\n\nDEPENDS:\n- [ ] #3\n\nDepends-on:\n- [ ] #4\n\ndepend on\n- [ ] #5\n",
		want: []Ref{
			{Raw: "#1", Kind: ShortPR, Number: 1},
			{Raw: "#2", Kind: ShortPR, Number: 2},
			{Raw: "#3", Kind: ShortPR, Number: 3},
			{Raw: "#4", Kind: ShortPR, Number: 4},
			{Raw: "#5", Kind: ShortPR, Number: 5},
		},
	},
	{
		name: "task lists without a header or with a word ending in depends",
		text: "## Checklist\n- [ ] #1\n\nSee https://example.com/depends\n- [ ] #2\n\nindepends:\n- [ ] #3\n",
	},
	{
		name: "plain bullets under a header",
		text: "Depends on:\n- #4\n* https://github.com/o/r/pull/5\n- [] #6\n",
		want: []Ref{{Raw: "#6", Kind: ShortPR, Number: 6}},
	},
	{
		name: "bold header or rule after a list",
		text: "Depends on:\n- [ ] #1\n**Also depends on:**\n-[ ] #2\n---\n- [ ] #3\n",
		want: []Ref{
			{Raw: "#1", Kind: ShortPR, Number: 1},
			{Raw: "#2", Kind: ShortPR, Number: 2},
		},
	},
	{
		name: "header then prose",
		text: "Depends on:\nnothing at all, really.\n- [ ] #1\n",
	},
	{
		name: "zuul line right after a task list",
		text: "Depends on:\n- [ ] #1\nDepends-On: #2\n",
		want: []Ref{
			{Raw: "#1", Kind: ShortPR, Number: 1},
			{Raw: "#2", Kind: ShortPR, Number: 2},
		},
	},
	{
		name: "fenced code blocks are ignored",
		text: "Use it like this:\n\n```\nDepends-On: https://github.com/o/r/pull/1\n```\n\n~~~~text\nDepends-on: #2\n~~~\nDepends-on: #3\n~~~~\nDepends-on: #4\n",
		want: []Ref{{Raw: "#4", Kind: ShortPR, Number: 4}},
	},
	{
		name: "task list inside a fence",
		text: "```markdown\nDepends on:\n- [ ] #1\n```\n- [ ] #2\n",
	},
	{
		name: "a fence ends a task list",
		text: "Depends on:\n- [ ] #1\n```\n- [ ] #2\n```\n",
		want: []Ref{{Raw: "#1", Kind: ShortPR, Number: 1}},
	},
	{
		name: "unclosed fence hides the rest",
		text: "```go\nfunc f() {}\nDepends-on: #1\n",
	},
	{
		name: "quoted reply lines are ignored",
		text: "On Mon, Bob wrote:\n> Depends-on: <a@b>\n  >Depends-on: #1\nDepends-on: <c@d>\n",
		want: []Ref{{Raw: "<c@d>", Kind: MessageID, MsgID: "c@d"}},
	},
	{
		name: "html comments are ignored",
		text: "<!--\nDepends-On: https://github.com/o/r/pull/1\n-->\n<!-- Depends-On: #2 -->\nDepends-On: #3\n",
		want: []Ref{{Raw: "#3", Kind: ShortPR, Number: 3}},
	},
	{
		name: "punctuation around refs",
		text: "Depends-on: (#12), <https://github.com/o/r/pull/3>. [o/r#4]; `!5` \"#6\" <m@x>.\n",
		want: []Ref{
			{Raw: "#12", Kind: ShortPR, Number: 12},
			{Raw: "https://github.com/o/r/pull/3", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 3},
			{Raw: "o/r#4", Kind: ShortPR, Repo: "o/r", Number: 4},
			{Raw: "!5", Kind: ShortMR, Number: 5},
			{Raw: "#6", Kind: ShortPR, Number: 6},
			{Raw: "<m@x>", Kind: MessageID, MsgID: "m@x"},
		},
	},
	{
		name: "url ending in angle bracket",
		text: "Depends-on: https://patchwork.kernel.org/series/9/>\n",
		want: []Ref{{Raw: "https://patchwork.kernel.org/series/9/", Kind: PatchworkSeries, Host: "patchwork.kernel.org", Number: 9}},
	},
	{
		name: "markdown links",
		text: "Depends on:\n- [ ] [base-types#42](https://github.com/rock-core/base-types/pull/42)\n\nDepends-On: [the MR](https://gitlab.com/g/p/-/merge_requests/3).\n",
		want: []Ref{
			{Raw: "https://github.com/rock-core/base-types/pull/42", Kind: GitHubPR, Host: "github.com", Repo: "rock-core/base-types", Number: 42},
			{Raw: "https://gitlab.com/g/p/-/merge_requests/3", Kind: GitLabMR, Host: "gitlab.com", Repo: "g/p", Number: 3},
		},
	},
	{
		name: "kernel commit message",
		text: "net: foo: fix the bar\n\nThe bar was broken by the baz rework.\n\nIn-Reply-To: <x@y>\nDepends-on: https://lore.kernel.org/netdev/20240101000000.1-1-x@y.z/\nLink: https://lore.kernel.org/r/20240102.2-1-a@b.c\nSigned-off-by: Alice <alice@example.org>\n---\n foo.c | 2 +-\n",
		want: []Ref{{Raw: "https://lore.kernel.org/netdev/20240101000000.1-1-x@y.z/", Kind: MessageID, MsgID: "20240101000000.1-1-x@y.z"}},
	},
	{
		name: "non-http urls",
		text: "Depends-on: ftp://github.com/o/r/pull/1 git@github.com:o/r.git mailto:a@b github.com/o/r/pull/2\n",
	},
	{
		name: "mbox separator ends a fence left open by a diff",
		text: "From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 1/2] docs: add example\n\n---\ndiff --git a/README.md b/README.md\n@@ -1,3 +1,4 @@\n ```\n+text\n\nFrom 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/2] foo\n\nDepends-on: <dep@example.org>\n",
		want: []Ref{{Raw: "<dep@example.org>", Kind: MessageID, MsgID: "dep@example.org"}},
	},
	{
		name: "patchwork mbox separator ends a fence",
		text: "From patchwork Sat Nov 21 05:10:01 2026\nSubject: [PATCH] docs\n\n~~~\nFrom patchwork Sat Nov 21 05:10:02 2026\nDepends-on: #1\n",
		want: []Ref{{Raw: "#1", Kind: ShortPR, Number: 1}},
	},
	{
		name: "prose from line does not end a fence",
		text: "```\nFrom now on Mon Sep 17 we use it\nFrom 1111 Mon Sep 17 00:00:00 2001 yes\nDepends-on: #1\n```\n",
	},
	{
		name: "empty text",
		text: "",
	},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(tc.text)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got %s\nwant %s", tc.text, dump(got), dump(tc.want))
			}
		})
	}
}

// TestParseFixtures parses real Patchwork mboxes: the series mbox Patchwork
// serves for a series whose patch 1 has a Depends-on URL, and the
// git format-patch input whose cover letter also has a Depends-on msgid.
func TestParseFixtures(t *testing.T) {
	listURL := Ref{Raw: "http://127.0.0.1:8000/project/netdev/list/?series=1", Kind: PatchworkSeries, Host: "127.0.0.1:8000", Repo: "netdev", Number: 1}
	tests := []struct {
		file string
		want []Ref
	}{
		{"p2-04-mbox-series-depends-on.mbox", []Ref{listURL}},
		{"depends-series.mbox", []Ref{
			{Raw: "<20261121050000.4242-0-stephenfinucane@example.org>", Kind: MessageID, MsgID: "20261121050000.4242-0-stephenfinucane@example.org"},
			listURL,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got := Parse(string(data))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%s)\n got %s\nwant %s", tc.file, dump(got), dump(tc.want))
			}
		})
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{
		GitHubPR: "GitHubPR", GitLabMR: "GitLabMR", PatchworkSeries: "PatchworkSeries",
		PatchworkPatch: "PatchworkPatch", MessageID: "MessageID", ShortPR: "ShortPR",
		ShortMR: "ShortMR", 0: "Kind(0)", 99: "Kind(99)",
	}
	for k, s := range want {
		if got := k.String(); got != s {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, s)
		}
	}
}

func dump(refs []Ref) string {
	var b strings.Builder
	b.WriteString("[")
	for _, r := range refs {
		fmt.Fprintf(&b, "\n  %+v", r)
	}
	b.WriteString("]")
	return b.String()
}
