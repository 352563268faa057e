package pwfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// project is one recorded project.
type project struct {
	id       int64
	linkName string
	body     []byte
}

// loadProjects reads the recorded project list.
func (s *store) loadProjects() error {
	items, err := readList("projects-list.json")
	if err != nil {
		return err
	}
	for _, it := range items {
		var m struct {
			ID       int64  `json:"id"`
			LinkName string `json:"link_name"`
		}
		if err := json.Unmarshal(it, &m); err != nil {
			return fmt.Errorf("pwfake: decode projects-list.json: %w", err)
		}
		s.projects = append(s.projects, project{id: m.ID, linkName: m.LinkName, body: it})
	}
	return nil
}

// project serves projects/<id or link name>/: the recorded server looks a
// project up by either (projects-detail-1, projects-detail-by-linkname)
// and answers an unknown one with a JSON 404 {"detail":"Not found."}
// (projects-detail-404, the same body as series-detail-404).
func (f *Fake) project(w http.ResponseWriter, r *http.Request, name string) {
	id, err := strconv.ParseInt(name, 10, 64)
	for _, p := range f.data.projects {
		if p.linkName == name || err == nil && p.id == id {
			f.writeJSON(w, r, http.StatusOK, p.body, "")
			return
		}
	}
	f.writeJSON(w, r, http.StatusNotFound, f.data.notFound, "")
}
