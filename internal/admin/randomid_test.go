package admin

import "testing"

// TestRandomIDNotAFlag: a generated id never starts with '-', so that it
// can be passed to the CLI as an argument. One id in 64 would without the
// rule; 4096 draws miss that with probability below 1e-27.
func TestRandomIDNotAFlag(t *testing.T) {
	for range 4096 {
		id, err := randomID("test id")
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || id[0] == '-' {
			t.Fatalf("id %q", id)
		}
	}
}
