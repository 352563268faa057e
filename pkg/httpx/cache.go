package httpx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// partition names the cache directory of a credential: a sha256 of its
// Identity, or of the token when there is no Identity. The raw value never
// appears in the name.
func partition(c *Credential) (string, error) {
	if c == nil {
		return "anonymous", nil
	}
	id := "identity\x00" + c.Identity
	if c.Identity == "" {
		v, err := c.Secret.Value()
		if err != nil {
			return "", err
		}
		id = "token\x00" + v
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:]), nil
}

// fileCache is an httpcache.Cache with one file per entry in dir, named by
// the sha256 of the key. Writes go through a temporary file and a rename, so
// a reader never sees half an entry. Files are readable by the owner only.
type fileCache struct {
	dir string
	log *zap.Logger
	// readOnly drops every write and delete.
	readOnly bool
}

func (c *fileCache) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:]))
}

// Get returns the stored response for key.
func (c *fileCache) Get(key string) ([]byte, bool) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("http cache: read entry", zap.Error(err))
		}
		return nil, false
	}
	return b, true
}

// Set stores a response for key.
func (c *fileCache) Set(key string, resp []byte) {
	if c.readOnly {
		return
	}
	if err := c.write(c.path(key), resp); err != nil {
		c.log.Warn("http cache: write entry", zap.Error(err))
	}
}

// Delete removes the entry for key, if any.
func (c *fileCache) Delete(key string) {
	if c.readOnly {
		return
	}
	if err := os.Remove(c.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("http cache: delete entry", zap.Error(err))
	}
}

func (c *fileCache) write(path string, b []byte) error {
	f, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
