package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ControlHandler serves the world's controls over HTTP, so that a
// benchmark can run the simulator in another process and measure trawl
// alone:
//
//	GET  /stats     Stats.Snapshot as JSON
//	GET  /triggers  Triggers as JSON
//	GET  /units     Units
//	GET  /listpages ListPages
//	POST /change    Change, dated by the world's clock
//	POST /tick      Tick
//	POST /config?dir=D&checks=true  WriteConfig; answers the path
func (w *World) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	reply := func(rw http.ResponseWriter, v any) {
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(v)
	}
	mux.HandleFunc("GET /stats", func(rw http.ResponseWriter, _ *http.Request) { reply(rw, w.Stats.Snapshot()) })
	mux.HandleFunc("GET /triggers", func(rw http.ResponseWriter, _ *http.Request) { reply(rw, w.Triggers()) })
	mux.HandleFunc("GET /units", func(rw http.ResponseWriter, _ *http.Request) { reply(rw, w.Units()) })
	mux.HandleFunc("GET /listpages", func(rw http.ResponseWriter, _ *http.Request) { reply(rw, w.ListPages()) })
	mux.HandleFunc("POST /change", func(rw http.ResponseWriter, _ *http.Request) {
		w.Change(w.clock())
		reply(rw, true)
	})
	mux.HandleFunc("POST /tick", func(rw http.ResponseWriter, _ *http.Request) {
		w.Tick()
		reply(rw, true)
	})
	mux.HandleFunc("POST /config", func(rw http.ResponseWriter, r *http.Request) {
		checks, _ := strconv.ParseBool(r.URL.Query().Get("checks"))
		path, err := w.WriteConfig(r.URL.Query().Get("dir"), checks)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		reply(rw, path)
	})
	return mux
}
