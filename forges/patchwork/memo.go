package patchwork

import "sync"

// memo keeps what a Source read and what cannot change once read, across
// Fetches, so that an idle tick costs the listing and nothing else:
//
//   - a series that received all its patches (its detail is cached for
//     good by the HTTP layer too, but reading and decoding that cache for
//     every series on every tick was most of an idle tick's CPU time);
//   - what the mails of such a series say (its cover letter and mbox are
//     immutable);
//   - patch hashes read from a per-series listing: a patch's hash is
//     Patchwork's hash of its diff, which never changes, so a partly
//     accepted series is listed once, not on every tick.
//
// keep prunes it to the series of the latest Fetch, so it holds no more
// than one listing's worth. It is safe for concurrent use.
type memo struct {
	mu     sync.Mutex
	ser    map[int64]*Series
	mails  map[int64]mailOf
	hashes map[int64]string
}

func newMemo() *memo {
	return &memo{ser: map[int64]*Series{}, mails: map[int64]mailOf{}, hashes: map[int64]string{}}
}

func (m *memo) series(id int64) (*Series, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sr, ok := m.ser[id]
	return sr, ok
}

func (m *memo) putSeries(sr *Series) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ser[sr.ID] = sr
}

func (m *memo) mail(id int64) (mailOf, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.mails[id]
	return v, ok
}

func (m *memo) putMail(id int64, v mailOf) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails[id] = v
}

func (m *memo) hash(id int64) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.hashes[id]
	return v, ok
}

func (m *memo) putHash(id int64, hash string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hashes[id] = hash
}

// keep forgets everything about series other than fetched.
func (m *memo) keep(fetched []*Series) {
	series, patches := map[int64]bool{}, map[int64]bool{}
	for _, sr := range fetched {
		series[sr.ID] = true
		for _, p := range sr.Patches {
			patches[p.ID] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.ser {
		if !series[id] {
			delete(m.ser, id)
		}
	}
	for id := range m.mails {
		if !series[id] {
			delete(m.mails, id)
		}
	}
	for id := range m.hashes {
		if !patches[id] {
			delete(m.hashes, id)
		}
	}
}
