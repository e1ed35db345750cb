package txn

import (
	"context"
	"errors"
	"testing"
)

// fakeTx records what a transaction did; inTx commits only when fn succeeds.
type fakeTx struct{ wrote []int }

func TestUpdate(t *testing.T) {
	errRead, errFn, errCheck := errors.New("read"), errors.New("fn"), errors.New("check")
	tests := []struct {
		name      string
		readErr   error
		fnErr     error
		checkErr  error
		want      int
		wantErr   error
		wantWrite bool
	}{
		{name: "stored", want: 2, wantWrite: true},
		{name: "read fails", readErr: errRead, wantErr: errRead},
		{name: "fn refuses", fnErr: errFn, wantErr: errFn},
		{name: "check refuses", checkErr: errCheck, wantErr: errCheck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var committed *fakeTx
			inTx := func(_ context.Context, fn func(*fakeTx) error) error {
				tx := &fakeTx{}
				if err := fn(tx); err != nil {
					return err
				}
				committed = tx
				return nil
			}
			got, err := Update(context.Background(), inTx,
				func(*fakeTx) (int, error) { return 1, tt.readErr },
				func(v int) (int, error) { return v + 1, tt.fnErr },
				func(int) error { return tt.checkErr },
				func(tx *fakeTx, v int) (int, error) { tx.wrote = append(tx.wrote, v); return v, nil })
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantWrite != (committed != nil && len(committed.wrote) == 1) {
				t.Fatalf("committed %+v, want a write: %v", committed, tt.wantWrite)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}
