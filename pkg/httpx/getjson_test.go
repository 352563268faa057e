package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGetJSON: a 2xx answer is decoded, asked for as JSON; an error status
// is CheckResponse's error; a body past the limit is never read whole.
func TestGetJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "not asked for JSON", http.StatusNotAcceptable)
			return
		}
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"name":"x"}`))
		case "/big":
			w.Write([]byte(`{"name":"` + strings.Repeat("y", 100) + `"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tests := []struct {
		path    string
		want    string
		wantErr error
		decode  bool
	}{
		{path: "/ok", want: "x"},
		{path: "/missing", wantErr: ErrNotFound},
		{path: "/big", decode: true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			var v struct{ Name string }
			err := GetJSON(context.Background(), srv.Client(), srv.URL+tc.path, 64, &v)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case tc.decode:
				if err == nil || !strings.Contains(err.Error(), "decode GET "+srv.URL+tc.path) {
					t.Fatalf("err = %v, want a decode error naming the URL", err)
				}
			case err != nil || v.Name != tc.want:
				t.Fatalf("GetJSON = %v, %q; want %q", err, v.Name, tc.want)
			}
		})
	}
}
