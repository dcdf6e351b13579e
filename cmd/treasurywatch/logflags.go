package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// logFlags are the logging flags of the commands that log.
type logFlags struct {
	level string
	json  bool
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	lf := &logFlags{}
	fs.StringVar(&lf.level, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.BoolVar(&lf.json, "log-json", false, "log JSON lines instead of text")
	return lf
}

// logger builds the slog logger the flags ask for, writing to w.
func (lf *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(lf.level)); err != nil {
		return nil, usageError{fmt.Sprintf("-log-level %q: want debug, info, warn or error", lf.level)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if lf.json {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
