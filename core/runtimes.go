package core

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/runtime"
)

// NamedRuntime is a runtime and the name jobs call it by.
type NamedRuntime struct {
	Name    string
	Runtime runtime.Runtime
}

// RuntimeList is a RuntimeSet of runtimes that are already started. The
// first is the default.
type RuntimeList []NamedRuntime

var _ RuntimeSet = RuntimeList(nil)

// Runtime returns the runtime called name, or an error wrapping
// ErrUnknownRuntime.
func (l RuntimeList) Runtime(_ context.Context, name string) (runtime.Runtime, error) {
	for _, nr := range l {
		if nr.Name == name {
			return nr.Runtime, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (known: %v)", ErrUnknownRuntime, name, l.Names())
}

// Names lists the runtimes' names, default first.
func (l RuntimeList) Names() []string {
	names := make([]string, len(l))
	for i, nr := range l {
		names[i] = nr.Name
	}
	return names
}
