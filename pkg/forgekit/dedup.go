package forgekit

import (
	"context"
	"sync"

	"github.com/trawl-ci/trawl/pkg/change"
)

// Once makes one look-up per distinct key. A driver makes a new one for
// each Fetch (a tick): however many changes name a dependency, its state
// is asked once. The zero value is ready to use, and it is safe for
// concurrent use: callers that ask for a key while its look-up runs wait
// for that look-up (or for their own ctx to end) instead of making another.
type Once[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*call[V]
}

// call is one look-up: done is closed once v and err are set.
type call[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// Do returns the result of fn for key, calling fn only when no earlier
// call of Do with that key succeeded. A failed look-up is not remembered:
// the callers waiting for it get its error, and the next call asks again.
func (o *Once[K, V]) Do(ctx context.Context, key K, fn func(ctx context.Context) (V, error)) (V, error) {
	o.mu.Lock()
	if o.calls == nil {
		o.calls = map[K]*call[V]{}
	}
	if c, ok := o.calls[key]; ok {
		o.mu.Unlock()
		select {
		case <-c.done:
			return c.v, c.err
		case <-ctx.Done():
			var zero V
			return zero, context.Cause(ctx)
		}
	}
	c := &call[V]{done: make(chan struct{})}
	o.calls[key] = c
	o.mu.Unlock()
	defer close(c.done)
	defer func() {
		if c.err != nil {
			o.mu.Lock()
			delete(o.calls, key)
			o.mu.Unlock()
		}
	}()
	c.v, c.err = fn(ctx)
	return c.v, c.err
}

// Refs collects the dependency references of one change, in order and
// without duplicates: two references are one when they name the same
// change key, or, when they name none, have the same text. The zero value
// is empty and ready to use.
type Refs struct {
	seen map[string]bool
	list []change.Ref
}

// Add appends ref unless an equal one is in already, and reports whether
// it did.
func (r *Refs) Add(ref change.Ref) bool {
	id := "raw:" + ref.Raw
	if ref.Key != "" {
		id = "key:" + string(ref.Key)
	}
	if r.seen[id] {
		return false
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[id] = true
	r.list = append(r.list, ref)
	return true
}

// List returns the references added, in the order they were first added;
// nil when there is none.
func (r *Refs) List() []change.Ref { return r.list }
