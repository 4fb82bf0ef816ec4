package client

import "time"

// WithLockRenewInterval shortens an orderly consumer's lock renewal period
// (20 s) for tests.
func WithLockRenewInterval(d time.Duration) Option { return func(o *options) { o.lockInterval = d } }
