package wire

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is the slog level of hclog's trace records.
const levelTrace = slog.LevelDebug - 4

// slogAdapter is an hclog.Logger writing to a *slog.Logger, so go-plugin's
// own logs and the records a driver logs arrive in the host's logger.
type slogAdapter struct {
	l    *slog.Logger
	name string
	args []any
	// quiet, once set, logs go-plugin's own warnings and errors at debug
	// level: the host is stopping the process on purpose (Close, or a
	// launch given up), and its exit is no news. The driver's records
	// (go-plugin logs them through a named logger, and may forward
	// them after quiet is set) keep their level.
	quiet *atomic.Bool
}

var _ hclog.Logger = (*slogAdapter)(nil)

func newSlogAdapter(l *slog.Logger, quiet *atomic.Bool) *slogAdapter {
	return &slogAdapter{l: l, quiet: quiet}
}

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (a *slogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	if a.name != "" {
		args = append([]any{"logger", a.name}, args...)
	}
	lv := toSlogLevel(level)
	if a.name == "" && a.quiet != nil && a.quiet.Load() && lv > slog.LevelDebug {
		lv = slog.LevelDebug
	}
	a.l.Log(context.Background(), lv, msg, args...)
}

func (a *slogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *slogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *slogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *slogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *slogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *slogAdapter) enabled(level hclog.Level) bool {
	return a.l.Enabled(context.Background(), toSlogLevel(level))
}

func (a *slogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *slogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *slogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *slogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *slogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *slogAdapter) ImpliedArgs() []any { return a.args }

func (a *slogAdapter) With(args ...any) hclog.Logger {
	return &slogAdapter{l: a.l.With(args...), name: a.name, args: append(a.args[:len(a.args):len(a.args)], args...), quiet: a.quiet}
}

func (a *slogAdapter) Name() string { return a.name }

func (a *slogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *slogAdapter) ResetNamed(name string) hclog.Logger {
	return &slogAdapter{l: a.l, name: name, args: a.args, quiet: a.quiet}
}

// SetLevel does nothing: the slog handler decides.
func (a *slogAdapter) SetLevel(hclog.Level) {}

// GetLevel returns the lowest level the slog handler takes.
func (a *slogAdapter) GetLevel() hclog.Level {
	for _, level := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(level) {
			return level
		}
	}
	return hclog.Off
}

func (a *slogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo)
}

func (a *slogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(opts).Writer()
}

// outputWriter logs what a driver writes to os.Stdout or os.Stderr after
// Serve started (go-plugin forwards it), one record per write.
type outputWriter struct {
	l      *slog.Logger
	stream string
}

func (w outputWriter) Write(p []byte) (int, error) {
	w.l.Info("driver output", "stream", w.stream, "text", string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
