package policy

import (
	"strings"

	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// splitMembership plans `"lit" in x.split("sep")`, the usual way of
// testing a scope in CEL, without building the list: the split pieces
// are compared in place. When x is not a string the original plan runs,
// so that errors are exactly CEL's.
type splitMembership struct {
	id     int64
	needle string
	sep    string
	target interpreter.InterpretableV2
	orig   interpreter.InterpretableV2
}

// optimizeSplitMembership is a planner decorator that replaces the
// pattern by a splitMembership.
func optimizeSplitMembership(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	in, ok := i.(interpreter.InterpretableCall)
	if !ok || in.Function() != operators.In || len(in.Args()) != 2 {
		return i, nil
	}
	needle, ok := constString(in.Args()[0])
	if !ok {
		return i, nil
	}
	split, ok := in.Args()[1].(interpreter.InterpretableCall)
	if !ok || split.Function() != "split" || len(split.Args()) != 2 {
		return i, nil
	}
	sep, ok := constString(split.Args()[1])
	if !ok || sep == "" {
		return i, nil
	}
	return &splitMembership{id: in.ID(), needle: needle, sep: sep, target: split.Args()[0], orig: i}, nil
}

func constString(i interpreter.InterpretableV2) (string, bool) {
	c, ok := i.(interpreter.InterpretableConst)
	if !ok {
		return "", false
	}
	s, ok := c.Value().(types.String)
	return string(s), ok
}

// ID implements interpreter.Interpretable.
func (s *splitMembership) ID() int64 { return s.id }

// Eval implements interpreter.Interpretable.
func (s *splitMembership) Eval(a interpreter.Activation) ref.Val { return s.orig.Eval(a) }

// Exec implements interpreter.InterpretableV2.
func (s *splitMembership) Exec(f *interpreter.ExecutionFrame) ref.Val {
	v, ok := s.target.Exec(f).(types.String)
	if !ok {
		return s.orig.Exec(f)
	}
	return types.Bool(splitHas(string(v), s.sep, s.needle))
}

// splitHas reports whether strings.Split(s, sep) has the element needle;
// sep is not empty.
func splitHas(s, sep, needle string) bool {
	for {
		i := strings.Index(s, sep)
		if i < 0 {
			return s == needle
		}
		if s[:i] == needle {
			return true
		}
		s = s[i+len(sep):]
	}
}
