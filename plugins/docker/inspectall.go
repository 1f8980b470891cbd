package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/berth-dev/berth/runtime"
)

// inspectWorkers bounds the inspects a listing runs at once.
const inspectWorkers = 8

// inspectAll inspects every ID concurrently (at most inspectWorkers at a
// time) and returns the results in the order of ids. IDs that are gone by
// the time they are inspected (ErrNotFound) are left out; any other error
// ends the listing and is returned. A listing of the engine's summaries is
// followed by one inspect per item, so doing them one after the other
// would make each berth command pay one round trip per snapshot image.
func inspectAll[T any](ctx context.Context, ids []string, inspect func(context.Context, string) (T, error)) ([]T, error) {
	if len(ids) == 0 {
		return []T{}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make([]T, len(ids))
	found := make([]bool, len(ids))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	workers := min(inspectWorkers, len(ids))
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for i := range next {
				v, err := inspect(ctx, ids[i])
				switch {
				case err == nil:
					res[i], found[i] = v, true
				case errors.Is(err, runtime.ErrNotFound): // removed meanwhile
				default:
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range ids {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil { // ended before every ID was fed
		return nil, fmt.Errorf("docker: list: %w", err)
	}
	out := make([]T, 0, len(ids))
	for i, ok := range found {
		if ok {
			out = append(out, res[i])
		}
	}
	return out, nil
}
