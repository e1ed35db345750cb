package gateway

import (
	"log/slog"
)

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func slogRoute(name string) slog.Attr { return slog.String("route", name) }

func slogErr(err error) slog.Attr { return slog.String("error", err.Error()) }
