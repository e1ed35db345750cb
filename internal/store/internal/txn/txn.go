// Package txn holds what the storage backends share about transactions,
// generic over each backend's transaction type.
package txn

import "context"

// Update is the cycle of every update by function, written once for both
// backends: in one transaction (inTx), read the current value (the backend
// holds its lock: SQLite's single writer, PostgreSQL's SELECT ... FOR
// UPDATE in read), apply fn, check the result, write it, and return what
// was stored. read returns store.ErrNotFound when there is nothing to
// update; an error from fn is returned as it is.
func Update[Tx, T any](ctx context.Context, inTx func(context.Context, func(Tx) error) error,
	read func(Tx) (T, error), fn func(T) (T, error), check func(T) error, write func(Tx, T) (T, error)) (T, error) {
	var stored T
	err := inTx(ctx, func(tx Tx) error {
		old, err := read(tx)
		if err != nil {
			return err
		}
		v, err := fn(old)
		if err != nil {
			return err
		}
		if err := check(v); err != nil {
			return err
		}
		stored, err = write(tx, v)
		return err
	})
	return stored, err
}
