package app

import "context"

// RotateIfDue runs the scheduled rotation step once, for tests.
func (a *App) RotateIfDue(ctx context.Context) error { return a.rotateIfDue(ctx) }
