package glfake

import (
	"fmt"
	"hash/crc32"
	"path"
	"strings"
)

// timeFormat is how GitLab renders times: UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// The JSON shapes below use GitLab's field names (docs: api/projects.md,
// api/merge_requests.md, api/commits.md); fields trawl does not read are
// left out.

type projectOut struct {
	ID                int64   `json:"id"`
	Description       *string `json:"description"`
	Name              string  `json:"name"`
	NameWithNamespace string  `json:"name_with_namespace"`
	Path              string  `json:"path"`
	PathWithNamespace string  `json:"path_with_namespace"`
	DefaultBranch     string  `json:"default_branch"`
	Visibility        string  `json:"visibility"`
	SSHURLToRepo      string  `json:"ssh_url_to_repo"`
	HTTPURLToRepo     string  `json:"http_url_to_repo"`
	WebURL            string  `json:"web_url"`
}

type userJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	State    string `json:"state"`
	WebURL   string `json:"web_url"`
}

type referencesJSON struct {
	Short    string `json:"short"`
	Relative string `json:"relative"`
	Full     string `json:"full"`
}

type mrJSON struct {
	ID                  int64          `json:"id"`
	IID                 int64          `json:"iid"`
	ProjectID           int64          `json:"project_id"`
	Title               string         `json:"title"`
	Description         *string        `json:"description"`
	State               string         `json:"state"`
	CreatedAt           string         `json:"created_at"`
	UpdatedAt           string         `json:"updated_at"`
	TargetBranch        string         `json:"target_branch"`
	SourceBranch        string         `json:"source_branch"`
	Author              userJSON       `json:"author"`
	SourceProjectID     int64          `json:"source_project_id"`
	TargetProjectID     int64          `json:"target_project_id"`
	Draft               bool           `json:"draft"`
	WorkInProgress      bool           `json:"work_in_progress"`
	MergeStatus         string         `json:"merge_status"`
	DetailedMergeStatus string         `json:"detailed_merge_status"`
	SHA                 *string        `json:"sha"`
	MergeCommitSHA      *string        `json:"merge_commit_sha"`
	References          referencesJSON `json:"references"`
	WebURL              string         `json:"web_url"`
}

type diffRefsJSON struct {
	BaseSHA  string `json:"base_sha"`
	HeadSHA  string `json:"head_sha"`
	StartSHA string `json:"start_sha"`
}

// mrDetailJSON is the single merge request GET: the list fields plus
// diff_refs (null while GitLab has no diff).
type mrDetailJSON struct {
	mrJSON
	DiffRefs *diffRefsJSON `json:"diff_refs"`
}

type commitStatusJSON struct {
	ID           int64    `json:"id"`
	SHA          string   `json:"sha"`
	Ref          string   `json:"ref"`
	Status       string   `json:"status"`
	Name         string   `json:"name"`
	TargetURL    *string  `json:"target_url"`
	Description  *string  `json:"description"`
	CreatedAt    string   `json:"created_at"`
	AllowFailure bool     `json:"allow_failure"`
	Author       userJSON `json:"author"`
}

// projectJSON renders p as GET /projects/:id does.
func projectJSON(root string, p *Project) projectOut {
	name := path.Base(p.Path)
	visibility := "public"
	if p.Private {
		visibility = "private"
	}
	host := strings.TrimPrefix(strings.TrimPrefix(root, "http://"), "https://")
	return projectOut{
		ID:                p.ID,
		Name:              name,
		NameWithNamespace: strings.ReplaceAll(p.Path, "/", " / "),
		Path:              name,
		PathWithNamespace: p.Path,
		DefaultBranch:     p.DefaultBranch,
		Visibility:        visibility,
		SSHURLToRepo:      fmt.Sprintf("git@%s:%s.git", host, p.Path),
		HTTPURLToRepo:     fmt.Sprintf("%s/%s.git", root, p.Path),
		WebURL:            root + "/" + p.Path,
	}
}

// mrJSON renders m as the merge request lists do. f.mu is held.
func (f *Fake) mrJSON(root string, m *MR) mrJSON {
	full := fmt.Sprintf("!%d", m.IID)
	web := ""
	if p := f.projectByID(m.ProjectID); p != nil {
		web = fmt.Sprintf("%s/%s/-/merge_requests/%d", root, p.Path, m.IID)
		full = p.Path + full
	}
	detailed := "mergeable"
	switch {
	case m.State != StateOpened:
		detailed = "not_open"
	case m.Draft:
		detailed = "draft_status"
	}
	return mrJSON{
		ID:                  m.ID,
		IID:                 m.IID,
		ProjectID:           m.ProjectID,
		Title:               m.Title,
		Description:         m.Description,
		State:               m.State,
		CreatedAt:           m.CreatedAt.UTC().Format(timeFormat),
		UpdatedAt:           m.UpdatedAt.UTC().Format(timeFormat),
		TargetBranch:        m.TargetBranch,
		SourceBranch:        m.SourceBranch,
		Author:              user(root, m.Author),
		SourceProjectID:     m.SourceProjectID,
		TargetProjectID:     m.ProjectID,
		Draft:               m.Draft,
		WorkInProgress:      m.Draft,
		MergeStatus:         "can_be_merged",
		DetailedMergeStatus: detailed,
		SHA:                 nullable(m.SHA),
		MergeCommitSHA:      nullable(m.MergeCommitSHA),
		References:          referencesJSON{Short: fmt.Sprintf("!%d", m.IID), Relative: fmt.Sprintf("!%d", m.IID), Full: full},
		WebURL:              web,
	}
}

// statusJSON renders s as the commit status endpoints do.
func statusJSON(s *Status) commitStatusJSON {
	return commitStatusJSON{
		ID:          s.ID,
		SHA:         s.SHA,
		Ref:         s.Ref,
		Status:      s.State,
		Name:        s.Name,
		TargetURL:   nullable(s.TargetURL),
		Description: nullable(s.Description),
		CreatedAt:   s.CreatedAt.UTC().Format(timeFormat),
		Author:      userJSON{ID: 1, Username: "trawl-bot", Name: "trawl bot", State: "active"},
	}
}

// user renders a username as GitLab's basic user object.
func user(root, username string) userJSON {
	id := int64(crc32.ChecksumIEEE([]byte(username)))
	return userJSON{ID: id, Username: username, Name: username, State: "active", WebURL: root + "/" + username}
}

// nullable is nil for "", JSON null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
