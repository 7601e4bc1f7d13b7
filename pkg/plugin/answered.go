package plugin

import "context"

// The code of the answer written for a request, for metrics: the router
// (pkg/server) puts a slot in the request's context with WithAnswered,
// WriteError fills it, and the router reads it once the handler is done.
// The code is always one of the catalogue's (a bounded set of label
// values), never text from the request.

type answeredKey struct{}

// WithAnswered returns a context carrying an empty slot, and the function
// that reads the code written to it ("" when no error envelope was
// written: a success, or a body the function laid out itself).
func WithAnswered(ctx context.Context) (context.Context, func() Code) {
	slot := new(Code)
	return context.WithValue(ctx, answeredKey{}, slot), func() Code { return *slot }
}

// noteAnswered records code in ctx's slot, when there is one.
func noteAnswered(ctx context.Context, code Code) {
	if slot, ok := ctx.Value(answeredKey{}).(*Code); ok {
		*slot = code
	}
}
