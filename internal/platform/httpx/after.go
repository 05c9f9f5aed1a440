package httpx

import "net/http"

// Later is a response writer whose request may still be in progress when its handler returns:
// the gateway's event loop, which forwards a request and writes the upstream's answer when it
// comes, after the handlers returned. Later(fn) keeps fn for the end of that answer and
// reports true, or reports false when the answer is complete (fn is then the caller's to run).
type Later interface {
	Later(fn func()) bool
}

// After runs fn once the answer to the request w serves is complete: at once, unless w's
// request is still being answered (Later), then at the end of its answer. Middleware that
// acts when its handler returns — metrics, a deadline's cancel, a circuit breaker's
// accounting — does so through After, so a request answered later is accounted when it ends.
func After(w http.ResponseWriter, fn func()) {
	for {
		switch x := w.(type) {
		case Later:
			if !x.Later(fn) {
				fn()
			}
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			fn()
			return
		}
	}
}

// PromptVerifier is a Verifier that can tell, without blocking, whether its Verify of a
// token would answer from memory (no store read, no call to another process): the gateway's
// event loop serves a request only when nothing it does would block.
type PromptVerifier interface {
	VerifiesAtOnce(token string) bool
}
