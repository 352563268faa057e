package httpx

import "context"

type completeKey struct{}

// CacheIfComplete marks the requests made with the returned context as
// reads of a resource that never changes once complete (a Patchwork series
// that received all its patches, a patch mbox). When complete reports true
// for a 200 response body, the response is stored so that later requests are
// answered from the cache without a round trip. Any other response is not
// stored.
func CacheIfComplete(ctx context.Context, complete func(body []byte) bool) context.Context {
	return context.WithValue(ctx, completeKey{}, complete)
}

// completeFunc returns the predicate set by CacheIfComplete, or nil.
func completeFunc(ctx context.Context) func([]byte) bool {
	f, _ := ctx.Value(completeKey{}).(func([]byte) bool)
	return f
}
