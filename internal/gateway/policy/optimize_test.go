package policy

import (
	"slices"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// TestSplitMembershipSameAsCEL evaluates expressions with and without the
// rewrite and requires the same results and the same errors.
func TestSplitMembershipSameAsCEL(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	exprs := []string{
		`"orders:read" in claims.scope.split(" ")`,
		`"" in claims.scope.split(" ")`,
		`"a" in claims.scope.split(", ")`,
		`"b" in claims.scope.split(",")`,
		`!("x" in claims.scope.split(" ")) || claims.scope == ""`,
		`"orders:read" in request.headers["x-scope"][0].split(" ")`,
	}
	inputs := []*Input{
		{Claims: map[string]any{"scope": "orders:read orders:write"}},
		{Claims: map[string]any{"scope": "orders:readx"}},
		{Claims: map[string]any{"scope": ""}},
		{Claims: map[string]any{"scope": "a  b"}},
		{Claims: map[string]any{"scope": "a, b,c"}},
		{Claims: map[string]any{"scope": " x "}},
		{Claims: map[string]any{"scope": []any{"orders:read"}}},
		{Claims: map[string]any{"scope": 7.0}},
		{Claims: map[string]any{}},
		{Claims: map[string]any{"scope": "x"}, Request: Request{Headers: map[string][]string{"x-scope": {"orders:read"}}}},
	}
	for _, src := range exprs {
		checked, iss := c.env.Compile(src)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		rewrites := 0
		counting := func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
			o, err := optimizeSplitMembership(i)
			if _, ok := o.(*splitMembership); ok {
				rewrites++
			}
			return o, err
		}
		fast, err := c.env.Program(checked, cel.EvalOptions(cel.OptOptimize), cel.CustomDecoratorV2(counting))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := c.env.Program(checked, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			t.Fatal(err)
		}
		if rewrites != 1 {
			t.Errorf("%s: %d rewrites, want 1", src, rewrites)
		}
		for _, in := range inputs {
			a := &activation{in: in}
			got, _, gotErr := fast.Eval(a)
			want, _, wantErr := plain.Eval(a)
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Errorf("%s on %v: error %v, want %v", src, in.Claims, gotErr, wantErr)
				continue
			}
			if gotErr == nil && got.Equal(want) != types.True {
				t.Errorf("%s on %v: %v, want %v", src, in.Claims, got, want)
			}
		}
	}
}

func TestSplitMembershipNotRewritten(t *testing.T) {
	c, err := NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		`"a" in claims.scope.split("")`,
		`claims.x in claims.scope.split(" ")`,
		`"a" in claims.scope.split(claims.sep)`,
		`"a" in claims.scope.split(" ", 2)`,
		`"a" in ["a", "b"]`,
	} {
		checked, iss := c.env.Compile(src)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		rewrites := 0
		counting := func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
			o, err := optimizeSplitMembership(i)
			if _, ok := o.(*splitMembership); ok {
				rewrites++
			}
			return o, err
		}
		if _, err := c.env.Program(checked, cel.CustomDecoratorV2(counting)); err != nil {
			t.Fatal(err)
		}
		if rewrites != 0 {
			t.Errorf("%s rewritten", src)
		}
	}
}

// FuzzSplitHas checks splitHas against strings.Split.
func FuzzSplitHas(f *testing.F) {
	f.Add("a b c", " ", "b")
	f.Add("", " ", "")
	f.Add("a,,b", ",", "")
	f.Add("aaa", "aa", "a")
	f.Add("x--y--", "--", "")
	f.Fuzz(func(t *testing.T, s, sep, needle string) {
		if sep == "" {
			return
		}
		if got, want := splitHas(s, sep, needle), slices.Contains(strings.Split(s, sep), needle); got != want {
			t.Fatalf("splitHas(%q, %q, %q) = %v, want %v", s, sep, needle, got, want)
		}
	})
}
