package exec

// tail is an io.Writer that keeps the last max bytes written to it. It
// grows up to max, then turns into a ring. It is not safe for concurrent
// use: os/exec calls Write from one goroutine at a time when Stdout and
// Stderr are the same writer.
type tail struct {
	max int
	buf []byte
	pos int  // where the next byte goes once buf is full
	cut bool // some output was dropped
}

// Write keeps the end of p; it never fails.
func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if room := t.max - len(t.buf); room > 0 {
		if len(p) <= room {
			t.buf = append(t.buf, p...)
			return n, nil
		}
		t.buf = append(t.buf, p[:room]...)
		p = p[room:]
	}
	t.cut = true
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	c := copy(t.buf[t.pos:], p)
	copy(t.buf, p[c:])
	t.pos = (t.pos + len(p)) % t.max
	return n, nil
}

// Bytes returns what is kept, oldest first, with a note in front when
// output was dropped.
func (t *tail) Bytes() []byte {
	if !t.cut {
		return append([]byte(nil), t.buf...)
	}
	out := []byte("[trawl: output cut; the last bytes follow]\n")
	out = append(out, t.buf[t.pos:]...)
	return append(out, t.buf[:t.pos]...)
}
