package ghfake

import (
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The payloads below use the field names of the REST API documentation
// (pulls, commit statuses, app installation tokens); only the fields a
// client of the fake could care about are filled.

type userJSON struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"`
}

type repoJSON struct {
	ID            int64    `json:"id"`
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	Owner         userJSON `json:"owner"`
	Private       bool     `json:"private"`
	HTMLURL       string   `json:"html_url"`
	CloneURL      string   `json:"clone_url"`
	Fork          bool     `json:"fork"`
	DefaultBranch string   `json:"default_branch"`
}

type branchJSON struct {
	Label string    `json:"label"`
	Ref   string    `json:"ref"`
	SHA   string    `json:"sha"`
	User  userJSON  `json:"user"`
	Repo  *repoJSON `json:"repo"` // null for a deleted fork
}

type pullJSON struct {
	URL               string     `json:"url"`
	ID                int64      `json:"id"`
	HTMLURL           string     `json:"html_url"`
	DiffURL           string     `json:"diff_url"`
	Number            int64      `json:"number"`
	State             string     `json:"state"`
	Locked            bool       `json:"locked"`
	Title             string     `json:"title"`
	User              userJSON   `json:"user"`
	Body              *string    `json:"body"`
	CreatedAt         string     `json:"created_at"`
	UpdatedAt         string     `json:"updated_at"`
	ClosedAt          *string    `json:"closed_at"`
	MergedAt          *string    `json:"merged_at"`
	MergeCommitSHA    *string    `json:"merge_commit_sha"`
	Draft             bool       `json:"draft"`
	Head              branchJSON `json:"head"`
	Base              branchJSON `json:"base"`
	AuthorAssociation string     `json:"author_association"`
}

// pullDetailJSON is the single pull request GET, which adds the fields the
// list leaves out.
type pullDetailJSON struct {
	pullJSON
	Merged         bool   `json:"merged"`
	Mergeable      *bool  `json:"mergeable"`
	MergeableState string `json:"mergeable_state"`
	Commits        int    `json:"commits"`
}

type statusJSON struct {
	URL         string   `json:"url"`
	ID          int64    `json:"id"`
	State       string   `json:"state"`
	Description string   `json:"description"`
	TargetURL   *string  `json:"target_url"`
	Context     string   `json:"context"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
	Creator     userJSON `json:"creator"`
}

type combinedJSON struct {
	State      string       `json:"state"`
	Statuses   []statusJSON `json:"statuses"`
	SHA        string       `json:"sha"`
	TotalCount int          `json:"total_count"`
	Repository repoJSON     `json:"repository"`
	CommitURL  string       `json:"commit_url"`
	URL        string       `json:"url"`
}

type tokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
}

// timestamp formats t as the API does.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func optTimestamp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timestamp(*t)
	return &s
}

// nameID is a stable id for a name the fake has no object for.
func nameID(name string) int64 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return 100000 + int64(h.Sum32()%900000)
}

func (f *Fake) userJSON(login string) userJSON {
	return userJSON{Login: login, ID: nameID(login), Type: "User"}
}

func (f *Fake) repoJSON(fullName string, id int64) repoJSON {
	owner, name, _ := strings.Cut(fullName, "/")
	return repoJSON{
		ID:            id,
		Name:          name,
		FullName:      fullName,
		Owner:         f.userJSON(owner),
		HTMLURL:       f.o.WebURL + "/" + fullName,
		CloneURL:      f.o.WebURL + "/" + fullName + ".git",
		DefaultBranch: "main",
	}
}

// pullJSON renders p of rp as the list does.
func (f *Fake) pullJSON(r *http.Request, rp *repo, p *pull) pullJSON {
	state := "open"
	if p.closed != nil {
		state = "closed"
	}
	var mergeSHA *string
	if p.mergeSHA != "" {
		mergeSHA = &p.mergeSHA
	}
	owner, _, _ := strings.Cut(rp.fullName, "/")
	base := f.repoJSON(rp.fullName, rp.id)
	headName := rp.fullName
	var head *repoJSON
	switch {
	case p.HeadDeleted:
		headName = ""
	case p.HeadRepo != "" && !strings.EqualFold(p.HeadRepo, rp.fullName):
		headName = p.HeadRepo
		h := f.repoJSON(p.HeadRepo, nameID(p.HeadRepo))
		h.Fork = true
		head = &h
	default:
		head = &base
	}
	headOwner := p.User // a deleted fork's owner is unknown; GitHub shows the author
	if headName != "" {
		headOwner, _, _ = strings.Cut(headName, "/")
	}
	url := apiBase(r) + "/repos/" + rp.fullName + "/pulls/" + strconv.FormatInt(p.Number, 10)
	html := f.o.WebURL + "/" + rp.fullName + "/pull/" + strconv.FormatInt(p.Number, 10)
	return pullJSON{
		URL:               url,
		ID:                rp.id*100000 + p.Number,
		HTMLURL:           html,
		DiffURL:           html + ".diff",
		Number:            p.Number,
		State:             state,
		Title:             p.Title,
		User:              f.userJSON(p.User),
		Body:              p.Body,
		CreatedAt:         timestamp(p.created),
		UpdatedAt:         timestamp(p.updated),
		ClosedAt:          optTimestamp(p.closed),
		MergedAt:          optTimestamp(p.merged),
		MergeCommitSHA:    mergeSHA,
		Draft:             p.Draft,
		Head:              branchJSON{Label: headOwner + ":" + p.HeadRef, Ref: p.HeadRef, SHA: p.HeadSHA, User: f.userJSON(headOwner), Repo: head},
		Base:              branchJSON{Label: owner + ":" + p.BaseRef, Ref: p.BaseRef, SHA: p.BaseSHA, User: f.userJSON(owner), Repo: &base},
		AuthorAssociation: "CONTRIBUTOR",
	}
}

func (f *Fake) statusJSON(r *http.Request, id int, s Status) statusJSON {
	var target *string
	if s.TargetURL != "" {
		target = &s.TargetURL
	}
	return statusJSON{
		URL:         apiBase(r) + "/repos/" + s.Repo + "/statuses/" + s.SHA,
		ID:          int64(id),
		State:       s.State,
		Description: s.Description,
		TargetURL:   target,
		Context:     s.Context,
		CreatedAt:   timestamp(s.CreatedAt),
		UpdatedAt:   timestamp(s.CreatedAt),
		Creator:     f.userJSON(s.Creator),
	}
}
