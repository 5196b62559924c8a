package process

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

var logging struct {
	sync.Mutex
	l     *slog.Logger
	level slog.Level
	on    bool
}

// LogToStderr makes the package log its life-cycle events, and returns
// the logger (Python's log_to_stderr): lines "[INFO/worker 1] child
// process calling run" on stderr, at level and above. Children started
// afterwards log the same way.
func LogToStderr(level slog.Level) *slog.Logger {
	logging.Lock()
	defer logging.Unlock()
	logging.l = slog.New(&lineHandler{w: os.Stderr, level: level, mu: new(sync.Mutex)})
	logging.level, logging.on = level, true
	return logging.l
}

// Logger is the package's logger (Python's get_logger): it discards
// everything until LogToStderr.
func Logger() *slog.Logger { return logger() }

func logger() *slog.Logger {
	logging.Lock()
	defer logging.Unlock()
	if logging.l == nil {
		logging.l = slog.New(slog.DiscardHandler)
	}
	return logging.l
}

func loggingLevel() (slog.Level, bool) {
	logging.Lock()
	defer logging.Unlock()
	return logging.level, logging.on
}

func logLevel(l int) slog.Level { return slog.Level(l) }

// lineHandler writes "[LEVEL/process name] message key=value ...".
type lineHandler struct {
	w     io.Writer
	level slog.Level
	mu    *sync.Mutex
	attrs []slog.Attr
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	level := r.Level.String()
	if r.Level == slog.LevelWarn {
		level = "WARNING"
	}
	fmt.Fprintf(&b, "[%s/%s] %s", level, currentName(), r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *lineHandler) WithGroup(name string) slog.Handler { return h }
