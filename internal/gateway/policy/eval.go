package policy

import (
	"errors"
	"fmt"
	"sync"

	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// estimator bounds every input value by one size for the load-time cost
// estimate.
type estimator struct{ bound uint64 }

// EstimateSize implements cost.Estimator.
func (e estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) > 0 {
		return &cost.SizeEstimate{Min: 0, Max: e.bound}
	}
	return nil
}

// EstimateCallCost implements cost.Estimator.
func (estimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// activation binds the CEL variables of one decision. Values are computed
// on first use, so an expression pays only for the variables it reads.
type activation struct {
	in    *Input
	route map[string]any
	act   ref.Val
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "claims":
		// The raw map: the interpreter looks keys up in it directly and
		// adapts only the values it reads. A nil map reads as empty.
		return a.in.Claims, true
	case "request":
		return requestVal{&a.in.Request}, true
	case "act":
		if a.act == nil {
			a.act = actList(a.in)
		}
		return a.act, true
	case "route":
		return a.route, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

func actList(in *Input) ref.Val {
	chain := in.Act
	if chain == nil {
		var err error
		if chain, err = ActChain(in.Claims); err != nil {
			return types.NewErrFromString(err.Error())
		}
	}
	vals := make([]ref.Val, len(chain))
	for i, m := range chain {
		vals[i] = types.NewStringInterfaceMap(types.DefaultTypeAdapter, m)
	}
	return types.NewRefValList(types.DefaultTypeAdapter, vals)
}

// activations pools activation structs of one policy.
type activations struct{ pool sync.Pool }

func (p *activations) get(in *Input, route map[string]any) *activation {
	a, _ := p.pool.Get().(*activation)
	if a == nil {
		a = &activation{}
	}
	a.in, a.route = in, route
	return a
}

func (p *activations) put(a *activation) {
	*a = activation{}
	p.pool.Put(a)
}

// errCostLimit reports an evaluation stopped by the cost limit.
var errCostLimit = errors.New("cost limit exceeded")

// eval runs one program; a runtime error or panic is returned as an error.
func (pr *program) eval(a *activation) (result bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = false, fmt.Errorf("internal error: %v", r)
		}
	}()
	out, _, err := pr.prg.Eval(a)
	if err != nil {
		var ec interpreter.EvalCancelledError
		if errors.As(err, &ec) && ec.Cause == interpreter.CostLimitExceeded {
			return false, errCostLimit
		}
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}
