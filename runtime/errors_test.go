package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/wire"
)

// engineErr stands for an engine's own error type.
type engineErr struct{ code int }

func (e *engineErr) Error() string { return fmt.Sprintf("engine says %d", e.code) }

func TestWrapEngine(t *testing.T) {
	for _, class := range runtime.Classes {
		t.Run(class.Error(), func(t *testing.T) {
			err := runtime.WrapEngine("stub", "remove container c1", class, &engineErr{code: 404})
			assert.ErrorIs(t, err, class)
			assert.Equal(t, class, runtime.ClassOf(err), "the class ClassOf finds")
			var ee *engineErr
			require.ErrorAs(t, err, &ee, "the engine's error stays in the chain")
			assert.Equal(t, 404, ee.code)
			var we *runtime.EngineError
			require.ErrorAs(t, err, &we)
			assert.Equal(t, "stub", we.Driver)
			assert.Equal(t, "remove container c1", we.Op)
			assert.Equal(t, "stub: remove container c1: "+class.Error()+": engine says 404", err.Error())
		})
	}
}

func TestWrapEngineWithoutClass(t *testing.T) {
	assert.NoError(t, runtime.WrapEngine("stub", "op", runtime.ErrNotFound, nil), "a nil engine error stays nil")

	err := runtime.WrapEngine("stub", "op", nil, &engineErr{code: 500})
	assert.Nil(t, runtime.ClassOf(err), "an error of no class gets none")
	assert.Equal(t, "stub: op: engine says 500", err.Error())

	// The class of an error that has one already is kept.
	err = runtime.WrapEngine("stub", "op", nil, fmt.Errorf("inner: %w", runtime.ErrConflict))
	assert.ErrorIs(t, err, runtime.ErrConflict)

	err = runtime.WrapEngine("stub", "wait c1", nil, context.Canceled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, runtime.ClassOf(err), "a cancellation is no class")
}

// failing is a runtime whose InspectImage fails with an engine error of
// class.
type failing struct {
	*fake.Runtime
	class error
}

func (f failing) InspectImage(context.Context, string) (runtime.Image, error) {
	return runtime.Image{}, runtime.WrapEngine("stub", "inspect image x", f.class, &engineErr{code: 1})
}

// TestWrapEngineOverWire checks that the plugin wire maps every class of an
// *EngineError to its code and back.
func TestWrapEngineOverWire(t *testing.T) {
	for _, class := range runtime.Classes {
		t.Run(class.Error(), func(t *testing.T) {
			f := fake.New()
			defer f.Close()
			client, closeAll := wire.Pair(failing{Runtime: f, class: class})
			defer closeAll()
			_, err := client.InspectImage(context.Background(), "x")
			require.Error(t, err)
			assert.ErrorIs(t, err, class)
			assert.Equal(t, class, runtime.ClassOf(err), "the class the host sees")
		})
	}
}

func ExampleWrapEngine() {
	engine := errors.New("No such container: c1")
	err := runtime.WrapEngine("docker", "remove container c1", runtime.ErrNotFound, engine)
	fmt.Println(err)
	fmt.Println(errors.Is(err, runtime.ErrNotFound), errors.Is(err, engine))
	// Output:
	// docker: remove container c1: not found: No such container: c1
	// true true
}
