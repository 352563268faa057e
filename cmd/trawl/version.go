package main

import (
	"runtime/debug"
	"strings"
)

// versionInfo is what `trawl version` prints and the User-Agent carries.
type versionInfo struct {
	// Version is the module version: a tag (v1.2.3), a pseudo-version the
	// go command derives from the VCS (v0.0.0-20261203112000-0d38b6d1a2b3),
	// or what `-ldflags -X main.version=...` set; "dev" when nothing says.
	Version string
	// Commit is the VCS revision the binary was built from, with "-dirty"
	// when the tree had local changes; empty when not recorded.
	Commit string
	// Time is the commit time (RFC 3339), empty when not recorded.
	Time string
	// Go is the toolchain that built the binary.
	Go string
}

// String is the line `trawl version` prints.
func (v versionInfo) String() string {
	s := "trawl " + v.Version
	if v.Commit != "" {
		s += " commit " + v.Commit
	}
	if v.Time != "" {
		s += " " + v.Time
	}
	if v.Go != "" {
		s += " " + v.Go
	}
	return s
}

// readVersion describes the running binary from what the go command
// recorded in it (go build, go install and go run all stamp the module
// version and, inside a clone, the VCS revision) and from the linker
// flags, which win when a make build sets them. The go command records no
// revision in a git worktree (its .git is a file), hence main.commit.
func readVersion() versionInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	v := describe(info, version)
	if v.Commit == "" {
		v.Commit = commit
	}
	return v
}

// describe turns build information and the linker-set version into a
// versionInfo. info may be nil (a binary built without module support).
func describe(info *debug.BuildInfo, linked string) versionInfo {
	v := versionInfo{Version: linked}
	if info == nil {
		if v.Version == "" {
			v.Version = "dev"
		}
		return v
	}
	v.Go = info.GoVersion
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && v.Commit != "" {
		v.Commit += "-dirty"
	}
	if v.Version == "" {
		v.Version = info.Main.Version
		// go build before Go 1.24, or outside a repository, says
		// "(devel)"; a test binary says nothing.
		if v.Version == "" || v.Version == "(devel)" {
			v.Version = "dev"
		}
		v.Version = strings.TrimSuffix(v.Version, "+dirty")
		if dirty && !strings.HasSuffix(v.Version, "dev") {
			v.Version += "+dirty"
		}
	}
	return v
}
