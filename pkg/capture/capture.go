// Package capture reads HTTP exchanges recorded from real servers, in the
// layout of ../shared/fixtures (see each set's INDEX.md): one exchange per
// request, NAME.headers.txt holding "> " lines for the request (request
// line, headers, and an optional "[request body]" line) and "< " lines for
// the response (status line and headers in wire order), and the raw
// response body in NAME.<ext> beside it when there was one.
//
// Tests use it to replay what the real servers answered against trawl's
// fakes and clients, so that a fake is held to the server, not to our idea
// of it.
package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Exchange is one recorded request and its answer.
type Exchange struct {
	// Name is the capture's file name without extension.
	Name string
	// Method and Target are the request line's method and request target
	// (path and raw query, as sent).
	Method, Target string
	// RequestHeader holds the request headers that were set.
	RequestHeader http.Header
	// RequestBody is the text of the "[request body]" line, or "" when the
	// request had none. A literal `\n` at its end stands for a newline.
	RequestBody string
	// Status is the response status code.
	Status int
	// Header holds the response headers. Names are canonicalised.
	Header http.Header
	// Body is the raw response body, nil when the capture has no body file.
	Body []byte
}

// Load reads the exchange NAME from dir.
func Load(dir, name string) (Exchange, error) {
	path := filepath.Join(dir, name+".headers.txt")
	raw, err := os.ReadFile(path)
	if err != nil {
		return Exchange{}, fmt.Errorf("capture %s: %w", name, err)
	}
	x := Exchange{Name: name, RequestHeader: http.Header{}, Header: http.Header{}}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		where := fmt.Sprintf("%s:%d", path, n)
		switch {
		case strings.HasPrefix(line, "> "):
			if err := x.requestLine(strings.TrimPrefix(line, "> ")); err != nil {
				return Exchange{}, fmt.Errorf("%s: %w", where, err)
			}
		case strings.HasPrefix(line, "< "):
			if err := x.responseLine(strings.TrimPrefix(line, "< ")); err != nil {
				return Exchange{}, fmt.Errorf("%s: %w", where, err)
			}
		case strings.TrimSpace(line) == "":
		default:
			return Exchange{}, fmt.Errorf("%s: line is neither request (>) nor response (<): %q", where, line)
		}
	}
	if err := sc.Err(); err != nil {
		return Exchange{}, fmt.Errorf("%s: %w", path, err)
	}
	if x.Method == "" || x.Status == 0 {
		return Exchange{}, fmt.Errorf("%s: no request line or no status line", path)
	}
	bodies, err := filepath.Glob(filepath.Join(dir, name+".*"))
	if err != nil {
		return Exchange{}, err
	}
	for _, b := range bodies {
		if strings.HasSuffix(b, ".headers.txt") || strings.TrimSuffix(filepath.Base(b), filepath.Ext(b)) != name {
			continue
		}
		if x.Body, err = os.ReadFile(b); err != nil {
			return Exchange{}, fmt.Errorf("capture %s: %w", name, err)
		}
	}
	return x, nil
}

func (x *Exchange) requestLine(line string) error {
	if x.Method == "" {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/") {
			return fmt.Errorf("request line %q", line)
		}
		x.Method, x.Target = f[0], f[1]
		return nil
	}
	if body, ok := strings.CutPrefix(line, "[request body]"); ok {
		x.RequestBody = strings.TrimPrefix(body, " ")
		return nil
	}
	k, v, ok := strings.Cut(line, ": ")
	if !ok {
		return fmt.Errorf("request header %q", line)
	}
	x.RequestHeader.Add(k, v)
	return nil
}

func (x *Exchange) responseLine(line string) error {
	if x.Status == 0 {
		rest, ok := strings.CutPrefix(line, "HTTP/1.1 ")
		if !ok {
			rest, ok = strings.CutPrefix(line, "HTTP/1.0 ")
		}
		if !ok {
			return fmt.Errorf("status line %q", line)
		}
		code, _, _ := strings.Cut(rest, " ")
		s, err := strconv.Atoi(code)
		if err != nil {
			return fmt.Errorf("status line %q", line)
		}
		x.Status = s
		return nil
	}
	k, v, ok := strings.Cut(line, ": ")
	if !ok {
		k, ok = strings.CutSuffix(line, ":")
		if !ok {
			return fmt.Errorf("response header %q", line)
		}
	}
	x.Header.Add(k, v)
	return nil
}

// Names lists the captures in dir, sorted, optionally only those whose name
// starts with prefix.
func Names(dir, prefix string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, prefix+"*.headers.txt"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for _, p := range m {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".headers.txt"))
	}
	sort.Strings(names)
	return names, nil
}

// Shared returns the directory of the fixture set (for example "kernelci")
// in ../shared/fixtures beside the repository, found by walking up from the
// working directory to go.mod. Tests that replay the recordings fail, not
// skip, when it is missing: CI always lays shared/ beside the clone.
func Shared(set string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("capture: no go.mod above the working directory")
		}
		dir = parent
	}
	p := filepath.Join(filepath.Dir(dir), "shared", "fixtures", set)
	if _, err := os.Stat(filepath.Join(p, "INDEX.md")); err != nil {
		return "", fmt.Errorf("capture: fixture set %q not found beside the repository: %w", set, err)
	}
	return p, nil
}
