package wire

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Set holds the drivers of a host process by name: each is launched on
// first use (with the Config its function gives), shared by every caller,
// and stopped by Close. A launch in flight is cancelled when every caller
// waiting for it has given up, or by Close, which waits only for the
// launches to notice. A launch that failed or was cancelled is tried again
// by the next call. A Set is safe for concurrent use.
type Set struct {
	config func(name string) (Config, error)
	ctx    context.Context // done when Close starts
	cancel context.CancelFunc

	mu       sync.Mutex
	drivers  map[string]*launch
	launches sync.WaitGroup
	closed   bool
}

// launch is a driver launching or launched.
type launch struct {
	name    string
	done    chan struct{} // closed when the launch ends; then d or err is set
	d       *Driver
	err     error
	waiters int                // callers waiting for the launch (Warm counts as one that never gives up)
	cancel  context.CancelFunc // cancels the launch
}

// NewSet returns a Set that launches the driver called name with the
// Config config(name) returns; an error of config is returned as it is.
func NewSet(config func(name string) (Config, error)) *Set {
	ctx, cancel := context.WithCancel(context.Background())
	return &Set{config: config, ctx: ctx, cancel: cancel, drivers: map[string]*launch{}}
}

// Driver returns the driver called name, launching it if it is not
// running or launching. It waits for the launch until ctx is done; the
// launch stops when every caller waiting for it has given up. Errors are
// config's, Open's, ctx's, or wrap ErrClosed after Close.
func (s *Set) Driver(ctx context.Context, name string) (*Driver, error) {
	l, err := s.join(name)
	if err != nil {
		return nil, err
	}
	select {
	case <-l.done:
		return l.d, l.err
	case <-ctx.Done():
		s.leave(l)
		return nil, fmt.Errorf("driver %s: %w", name, ctx.Err())
	}
}

// Warm starts launching the driver called name, if it is not running or
// launching, and returns at once: the launch goes on until it ends or
// Close, and Driver waits for it. A failure is Driver's to report.
func (s *Set) Warm(name string) {
	_, _ = s.join(name) // a waiter that never leaves
}

// join returns the launch of name, starting one if there is none, and
// counts the caller among its waiters.
func (s *Set) join(name string) (*launch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("driver %s: %w", name, ErrClosed)
	}
	l := s.drivers[name]
	if l == nil {
		cfg, err := s.config(name)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(s.ctx)
		l = &launch{name: name, done: make(chan struct{}), cancel: cancel}
		s.drivers[name] = l
		s.launches.Add(1)
		go s.run(ctx, name, l, cfg)
	}
	l.waiters++
	return l, nil
}

// run launches the driver of l; a launch that fails is forgotten, so the
// next call starts another.
func (s *Set) run(ctx context.Context, name string, l *launch, cfg Config) {
	defer s.launches.Done()
	d, err := Open(ctx, cfg)
	s.mu.Lock()
	defer s.mu.Unlock()
	l.cancel()
	switch {
	case err != nil:
		err = fmt.Errorf("driver %s: %w", name, err)
	case s.closed:
		// Close waits for this launch before it stops the drivers it
		// holds, but it would not see this one as running: stop it now.
		_ = d.Close()
		d, err = nil, fmt.Errorf("driver %s: %w", name, ErrClosed)
	case s.drivers[name] != l:
		// Every waiter left before the launch saw it was cancelled.
		_ = d.Close()
		d, err = nil, fmt.Errorf("driver %s: %w", name, context.Canceled)
	}
	l.d, l.err = d, err
	if err != nil && s.drivers[name] == l {
		delete(s.drivers, name)
	}
	close(l.done)
}

// leave is a waiter of l giving up; the last one cancels the launch, and
// the next caller starts another.
func (s *Set) leave(l *launch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.waiters--; l.waiters == 0 {
		l.cancel()
		if s.drivers[l.name] == l {
			delete(s.drivers, l.name)
		}
	}
}

// Drop stops the driver called name, if it is running, and forgets it: the
// next call launches it again. A launch in flight is left alone.
func (s *Set) Drop(name string) {
	s.mu.Lock()
	l := s.drivers[name]
	if l == nil {
		s.mu.Unlock()
		return
	}
	select {
	case <-l.done:
		delete(s.drivers, name)
	default:
		l = nil
	}
	s.mu.Unlock()
	if l != nil && l.d != nil {
		_ = l.d.Close()
	}
}

// Close cancels the launches in flight, waits for them to end (each ends as
// soon as it notices), and stops every driver. Later calls launch nothing
// and fail with ErrClosed; Close again does nothing.
func (s *Set) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.launches.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, l := range s.drivers {
		if l.d != nil {
			errs = append(errs, l.d.Close())
		}
		delete(s.drivers, name)
	}
	return errors.Join(errs...)
}
