package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// Bounds of every XML document writ reads from the network or an
// administrator.
const (
	// MaxMetadataSize bounds an SP metadata document.
	MaxMetadataSize = 256 << 10
	// MaxMessageSize bounds a decoded AuthnRequest, LogoutRequest or
	// assertion.
	MaxMessageSize = 64 << 10
	// maxDepth bounds element nesting.
	maxDepth = 32
	// maxElements bounds the number of elements of one document.
	maxElements = 4096
)

// ErrMalformed wraps every refusal of a document's form: too large, too
// deep, not well-formed, a DTD, a processing instruction, or a comment
// where none is allowed.
var ErrMalformed = errors.New("saml: malformed XML")

// scanOptions says what a document may hold beyond elements and text.
type scanOptions struct {
	maxSize       int
	allowComments bool
}

// scan checks b before any parser that builds a tree sees it: within the
// size, depth and element bounds, well-formed (encoding/xml in strict
// mode), no DOCTYPE or other directive (so no entity can be declared, and
// none is expanded), no processing instruction but the XML declaration at
// the very start, and comments only where allowed (a comment inside a
// NameID is how signature-wrapping attacks make canonical and parsed text
// disagree).
func scan(b []byte, opt scanOptions) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty document", ErrMalformed)
	}
	if len(b) > opt.maxSize {
		return fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrMalformed, len(b), opt.maxSize)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("charset %q: only UTF-8 is accepted", charset)
	}
	depth, elements, roots, first := 0, 0, 0, true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			elements++
			if depth == 1 {
				roots++
			}
			if depth > maxDepth {
				return fmt.Errorf("%w: nested deeper than %d elements", ErrMalformed, maxDepth)
			}
			if elements > maxElements {
				return fmt.Errorf("%w: more than %d elements", ErrMalformed, maxElements)
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return fmt.Errorf("%w: a DTD or other <!...> declaration is not accepted", ErrMalformed)
		case xml.ProcInst:
			if !first || t.Target != "xml" {
				return fmt.Errorf("%w: processing instruction <?%s?> is not accepted", ErrMalformed, t.Target)
			}
		case xml.Comment:
			if !opt.allowComments {
				return fmt.Errorf("%w: comments are not accepted in this message", ErrMalformed)
			}
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) != 0 {
				return fmt.Errorf("%w: text outside the root element", ErrMalformed)
			}
		}
		first = false
	}
	if depth != 0 {
		return fmt.Errorf("%w: unclosed element", ErrMalformed)
	}
	if roots != 1 {
		return fmt.Errorf("%w: %d root elements, want one", ErrMalformed, roots)
	}
	return nil
}
