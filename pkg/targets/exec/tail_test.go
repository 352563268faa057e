package exec

import (
	"bytes"
	"testing"
)

// keep is what tail must hold after writes: the last max bytes.
func keep(writes [][]byte, max int) (kept []byte, cut bool) {
	all := bytes.Join(writes, nil)
	if len(all) <= max {
		return all, false
	}
	return all[len(all)-max:], true
}

func checkTail(t *testing.T, writes [][]byte, max int) {
	t.Helper()
	tl := &tail{max: max}
	for _, w := range writes {
		if n, err := tl.Write(w); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	want, cut := keep(writes, max)
	got := tl.Bytes()
	if cut {
		note := []byte("[trawl: output cut; the last bytes follow]\n")
		if !bytes.HasPrefix(got, note) {
			t.Fatalf("Bytes() = %q, want the cut note first", got)
		}
		got = got[len(note):]
	}
	if !bytes.Equal(got, want) {
		t.Errorf("writes %q, max %d: Bytes() = %q, want %q", writes, max, got, want)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
	}{
		{"nothing", 4, nil},
		{"under", 4, []string{"ab", "c"}},
		{"exactly full", 4, []string{"ab", "cd"}},
		{"full then more", 4, []string{"abcd", "e"}},
		{"crossing", 4, []string{"abc", "def"}},
		{"wraps twice", 4, []string{"abc", "def", "ghi", "j"}},
		{"one big write", 4, []string{"abcdefghij"}},
		{"big write into a ring", 4, []string{"ab", "cdefghij", "k"}},
		{"max one", 1, []string{"ab", "c", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var writes [][]byte
			for _, w := range tt.writes {
				writes = append(writes, []byte(w))
			}
			checkTail(t, writes, tt.max)
		})
	}
}

func FuzzTail(f *testing.F) {
	f.Add([]byte("abcdefghij"), uint8(4), uint8(3))
	f.Add([]byte("x"), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, max, chunk uint8) {
		if max == 0 || chunk == 0 {
			return
		}
		var writes [][]byte
		for len(data) > 0 {
			n := min(int(chunk), len(data))
			writes = append(writes, data[:n])
			data = data[n:]
			chunk = chunk*7 + 3 // vary the chunk sizes
			if chunk == 0 {
				chunk = 1
			}
		}
		checkTail(t, writes, int(max))
	})
}
