package policy

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// CEL type names of the request object and its MCP part.
const (
	requestTypeName = "writ.gateway.Request"
	mcpTypeName     = "writ.gateway.MCP"
)

// Default limits; see the Option functions.
const (
	// DefaultCostLimit is the runtime cost limit of one CEL expression
	// evaluation (cel.CostLimit); an evaluation that exceeds it is a denial.
	DefaultCostLimit = 1_000_000
	// DefaultMaxEstimatedCost bounds the worst-case cost estimated at load
	// time; an expression estimated above it is refused.
	DefaultMaxEstimatedCost = 10_000_000
	// DefaultInputSizeBound is the size (bytes of a string, elements of a
	// list or map) assumed of every input value when the cost is estimated.
	DefaultInputSizeBound = 64 << 10
	// DefaultMaxExpressionLength is the longest expression accepted, in
	// code points.
	DefaultMaxExpressionLength = 8 << 10
)

// Option configures a Compiler.
type Option func(*config)

type config struct {
	costLimit        uint64
	maxEstimatedCost uint64
	sizeBound        uint64
	maxExprLen       int
}

// WithCostLimit sets the runtime cost limit of each CEL evaluation
// (default DefaultCostLimit).
func WithCostLimit(n uint64) Option { return func(c *config) { c.costLimit = n } }

// WithMaxEstimatedCost sets the largest worst-case cost estimate accepted at
// load time (default DefaultMaxEstimatedCost).
func WithMaxEstimatedCost(n uint64) Option { return func(c *config) { c.maxEstimatedCost = n } }

// WithInputSizeBound sets the size assumed of every input string, list and
// map when costs are estimated (default DefaultInputSizeBound).
func WithInputSizeBound(n uint64) Option { return func(c *config) { c.sizeBound = n } }

// WithMaxExpressionLength sets the longest CEL expression accepted, in code
// points (default DefaultMaxExpressionLength).
func WithMaxExpressionLength(n int) Option { return func(c *config) { c.maxExprLen = n } }

// Compiler compiles policies. It holds the CEL environment, which is costly
// to build, so that all the routes of a configuration share one. A Compiler
// is safe for concurrent use.
type Compiler struct {
	cfg config
	env *cel.Env
}

// NewCompiler returns a Compiler with the given options.
func NewCompiler(opts ...Option) (*Compiler, error) {
	cfg := config{
		costLimit:        DefaultCostLimit,
		maxEstimatedCost: DefaultMaxEstimatedCost,
		sizeBound:        DefaultInputSizeBound,
		maxExprLen:       DefaultMaxExpressionLength,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.costLimit == 0 || cfg.maxEstimatedCost == 0 || cfg.sizeBound == 0 || cfg.maxExprLen <= 0 {
		return nil, errors.New("policy: limits must be positive")
	}
	base, err := cel.NewEnv()
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	prov := newProvider(base.CELTypeProvider())
	env, err := base.Extend(
		cel.CustomTypeProvider(prov),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.ObjectType(requestTypeName)),
		cel.Variable("act", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("route", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(cfg.maxExprLen),
		cel.ParserRecursionLimit(100),
		cel.ExpressionNodeLimit(2000),
		cel.ExpressionNestingDepthLimit(100),
	)
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	return &Compiler{cfg: cfg, env: env}, nil
}

// program is one compiled CEL expression.
type program struct {
	prg     cel.Program
	tracked bool // evaluated under cel.CostLimit
}

// compileExpr parses, type-checks, cost-checks and plans one expression.
// what names it in errors ("allow", "deny"); attrs are the route attributes
// the expression may name as route.<name>.
func (c *Compiler) compileExpr(what, src string, attrs map[string]any) (*program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("%s: empty expression", what)
	}
	checked, iss := c.env.CompileSource(common.NewStringSource(src, what))
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s: %s", what, formatIssues(iss.Errors()))
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return nil, fmt.Errorf("%s: expression must be of type bool, not %s", what, checked.OutputType())
	}
	if err := checkRouteAttributes(checked, attrs); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	est, err := c.env.EstimateCost(checked, estimator{bound: c.cfg.sizeBound})
	if err != nil {
		return nil, fmt.Errorf("%s: estimating cost: %w", what, err)
	}
	if est.Max > c.cfg.maxEstimatedCost {
		return nil, fmt.Errorf("%s: estimated worst-case cost %d exceeds the limit %d (nested loops over claims or request data?)",
			what, est.Max, c.cfg.maxEstimatedCost)
	}
	// Runtime cost tracking costs several allocations per evaluation. It
	// is pure overhead for an expression without loops whose worst case,
	// estimated with every input at the size bound, is within the limit:
	// such an expression evaluates each node at most once and cannot reach
	// the limit. Every other expression runs under cel.CostLimit.
	tracked := hasComprehension(checked) || est.Max > c.cfg.costLimit
	popts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if tracked {
		popts = append(popts, cel.CostLimit(c.cfg.costLimit))
	} else {
		// Untracked only: the rewritten node would escape cost tracking.
		popts = append(popts, cel.CustomDecoratorV2(optimizeSplitMembership))
	}
	prg, err := c.env.Program(checked, popts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &program{prg: prg, tracked: tracked}, nil
}

// hasComprehension reports whether the expression has a loop (all, exists,
// exists_one, map, filter and the like).
func hasComprehension(a *cel.Ast) bool {
	found := false
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.ComprehensionKind {
			found = true
		}
	}))
	return found
}

// formatIssues renders CEL errors on one line with 1-based line and column.
func formatIssues(errs []*common.Error) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		loc := e.Location
		if loc != nil && loc.Line() > 0 {
			parts = append(parts, fmt.Sprintf("line %d, column %d: %s", loc.Line(), loc.Column()+1, e.Message))
		} else {
			parts = append(parts, e.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// checkRouteAttributes refuses route.<name> (and route["name"]) for names
// that are not attributes of the route, so that a typo fails at load time.
// has(route.name) stays allowed.
func checkRouteAttributes(a *cel.Ast, attrs map[string]any) error {
	var err error
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if err != nil {
			return
		}
		var name string
		switch e.Kind() {
		case ast.SelectKind:
			s := e.AsSelect()
			if s.IsTestOnly() || !isIdent(s.Operand(), "route") {
				return
			}
			name = s.FieldName()
		case ast.CallKind:
			call := e.AsCall()
			if call.FunctionName() != "_[_]" || len(call.Args()) != 2 || !isIdent(call.Args()[0], "route") {
				return
			}
			k := call.Args()[1]
			if k.Kind() != ast.LiteralKind {
				return
			}
			s, ok := k.AsLiteral().(types.String)
			if !ok {
				return
			}
			name = string(s)
		default:
			return
		}
		if _, ok := attrs[name]; !ok {
			err = fmt.Errorf("route has no attribute %q (attributes: %s)", name, attrNames(attrs))
		}
	}))
	return err
}

func isIdent(e ast.Expr, name string) bool {
	return e.Kind() == ast.IdentKind && e.AsIdent() == name
}

func attrNames(attrs map[string]any) string {
	if len(attrs) == 0 {
		return "none"
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// provider adds the request and MCP object types to the base provider.
type provider struct {
	types.Provider
	fields map[string]map[string]*types.FieldType
}

var (
	requestType = types.NewObjectType(requestTypeName)
	mcpType     = types.NewObjectType(mcpTypeName)
)

func newProvider(base types.Provider) *provider {
	str := func(get func(*Request) string) *types.FieldType {
		return &types.FieldType{
			Type:    types.StringType,
			IsSet:   func(any) bool { return true },
			GetFrom: func(t any) (any, error) { return types.String(get(asRequest(t))), nil },
		}
	}
	strMap := types.NewMapType(types.StringType, types.StringType)
	listMap := types.NewMapType(types.StringType, types.NewListType(types.StringType))
	reqFields := map[string]*types.FieldType{
		"method": str(func(r *Request) string { return r.Method }),
		"path":   str(func(r *Request) string { return r.Path }),
		"host":   str(func(r *Request) string { return r.Host }),
		"source": str(func(r *Request) string { return r.Source }),
		"params": {
			Type:  strMap,
			IsSet: func(any) bool { return true },
			GetFrom: func(t any) (any, error) {
				return asRequest(t).Params, nil
			},
		},
		"query": {
			Type:    listMap,
			IsSet:   func(any) bool { return true },
			GetFrom: func(t any) (any, error) { return stringListMap(asRequest(t).query()), nil },
		},
		"headers": {
			Type:    listMap,
			IsSet:   func(any) bool { return true },
			GetFrom: func(t any) (any, error) { return stringListMap(asRequest(t).headers()), nil },
		},
		"mcp": {
			Type:    mcpType,
			IsSet:   func(t any) bool { return asRequest(t).MCP != nil },
			GetFrom: func(t any) (any, error) { return mcpVal{asRequest(t).MCP}, nil },
		},
	}
	mstr := func(get func(*MCP) string) *types.FieldType {
		return &types.FieldType{
			Type:  types.StringType,
			IsSet: func(t any) bool { m := asMCP(t); return m != nil && get(m) != "" },
			GetFrom: func(t any) (any, error) {
				m := asMCP(t)
				if m == nil {
					return types.String(""), nil
				}
				return types.String(get(m)), nil
			},
		}
	}
	mcpFields := map[string]*types.FieldType{
		"method": mstr(func(m *MCP) string { return m.Method }),
		"tool":   mstr(func(m *MCP) string { return m.Tool }),
	}
	return &provider{Provider: base, fields: map[string]map[string]*types.FieldType{
		requestTypeName: reqFields,
		mcpTypeName:     mcpFields,
	}}
}

func asRequest(t any) *Request {
	if r, ok := t.(*Request); ok && r != nil {
		return r
	}
	return &Request{}
}

func asMCP(t any) *MCP {
	m, _ := t.(*MCP)
	return m
}

func stringListMap(m map[string][]string) ref.Val {
	return types.NewDynamicMap(types.DefaultTypeAdapter, m)
}

// credentialHeaders are the headers never shown to rules, lowercase: a
// rule has no business with them, and a CEL error message could otherwise
// quote one.
var credentialHeaders = [...]string{"authorization", "proxy-authorization", "cookie", "dpop"}

// query is request.query: Query, or else RawQuery parsed as net/url does
// (malformed pairs are left out).
func (r *Request) query() map[string][]string {
	if r.Query != nil || r.RawQuery == "" {
		return r.Query
	}
	q, _ := url.ParseQuery(r.RawQuery)
	return q
}

// headers is request.headers: Headers without credentials, or else Header
// with lowercase names and without credentials. The values of names that
// differ only in case (a Header built by hand; net/http's are canonical)
// are joined in the byte order of the names, the canonical form first, so
// that a rule sees them in the same order every time.
func (r *Request) headers() map[string][]string {
	if r.Headers != nil || r.Header == nil {
		return withoutCredentials(r.Headers)
	}
	out := make(map[string][]string, len(r.Header))
	for k, v := range r.Header {
		k = strings.ToLower(k)
		if slices.Contains(credentialHeaders[:], k) {
			continue
		}
		if _, twice := out[k]; twice {
			return lowerSorted(r.Header)
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

// lowerSorted is headers' result for a Header with names that differ only
// in case: the names are taken in byte order.
func lowerSorted(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		lk := strings.ToLower(k)
		if !slices.Contains(credentialHeaders[:], lk) {
			out[lk] = append(out[lk], h[k]...)
		}
	}
	return out
}

// withoutCredentials returns h without credential headers. It copies only
// when there is one to drop.
func withoutCredentials(h map[string][]string) map[string][]string {
	found := false
	for _, k := range credentialHeaders {
		if _, ok := h[k]; ok {
			found = true
			break
		}
	}
	if !found {
		return h
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	for _, k := range credentialHeaders {
		delete(out, k)
	}
	return out
}

// FindStructType implements types.Provider.
func (p *provider) FindStructType(name string) (*types.Type, bool) {
	switch name {
	case requestTypeName:
		return types.NewTypeTypeWithParam(requestType), true
	case mcpTypeName:
		return types.NewTypeTypeWithParam(mcpType), true
	}
	return p.Provider.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if f, ok := p.fields[name]; ok {
		names := make([]string, 0, len(f))
		for k := range f {
			names = append(names, k)
		}
		slices.Sort(names)
		return names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

// FindStructFieldType implements types.Provider.
func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if f, ok := p.fields[name]; ok {
		ft, ok := f[field]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, field)
}

// NewValue implements types.Provider; request objects cannot be built in CEL.
func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.fields[name]; ok {
		return types.NewErr("%s cannot be constructed", name)
	}
	return p.Provider.NewValue(name, fields)
}

// requestVal is the CEL value of `request`. It is pointer-shaped, so that
// storing it in an interface does not allocate.
type requestVal struct{ r *Request }

func (v requestVal) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeFor[*Request]() {
		return v.r, nil
	}
	return nil, fmt.Errorf("request cannot be converted to %v", t)
}

func (v requestVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return requestType
	}
	return types.NewErr("request cannot be converted to %s", t.TypeName())
}

func (v requestVal) Equal(o ref.Val) ref.Val {
	ov, ok := o.(requestVal)
	return types.Bool(ok && ov.r == v.r)
}

func (v requestVal) Type() ref.Type { return requestType }
func (v requestVal) Value() any     { return v.r }

// mcpVal is the CEL value of `request.mcp`.
type mcpVal struct{ m *MCP }

func (v mcpVal) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeFor[*MCP]() {
		return v.m, nil
	}
	return nil, fmt.Errorf("request.mcp cannot be converted to %v", t)
}

func (v mcpVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return mcpType
	}
	return types.NewErr("request.mcp cannot be converted to %s", t.TypeName())
}

func (v mcpVal) Equal(o ref.Val) ref.Val {
	ov, ok := o.(mcpVal)
	if !ok {
		return types.False
	}
	a, b := v.m, ov.m
	if a == nil {
		a = &MCP{}
	}
	if b == nil {
		b = &MCP{}
	}
	return types.Bool(*a == *b)
}

func (v mcpVal) Type() ref.Type { return mcpType }
func (v mcpVal) Value() any     { return v.m }
