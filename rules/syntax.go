package rules

import (
	"errors"
	"strings"

	goyaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/lexer"
	goyamlparser "github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// locateSyntaxError finds where a YAML syntax error is. yaml.v3, which builds the
// node tree, names only the line of the block that is broken (the line before a
// stray tab, the line before an unclosed "{"), and no column; go-yaml's parser
// reports the token at fault. An unclosed flow collection is reported at its
// opening bracket, the character to fix, rather than where the parser noticed.
// ok is false when go-yaml finds nothing wrong (the caller keeps yaml.v3's line).
func locateSyntaxError(data []byte) (line, col int, msg string, ok bool) {
	_, err := goyamlparser.ParseBytes(data, 0)
	var se *goyaml.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil {
		return 0, 0, "", false
	}
	line, col, msg = se.Token.Position.Line, se.Token.Position.Column, se.Message
	if strings.Contains(msg, "'\t'") {
		msg = "a tab character: YAML indents with spaces only"
	}
	if open := unclosedFlow(data); open != nil && open.Position.Line <= line {
		closer := "}"
		if open.Type == token.SequenceStartType {
			closer = "]"
		}
		return open.Position.Line, open.Position.Column,
			"unclosed \"" + open.Value + "\": no matching \"" + closer + "\" (" + strings.TrimSuffix(msg, ".") + ")", true
	}
	return line, col, msg, true
}

// unclosedFlow returns the first "{" or "[" that is never closed, if any.
func unclosedFlow(data []byte) *token.Token {
	var stack []*token.Token
	for _, t := range lexer.Tokenize(string(data)) {
		switch t.Type {
		case token.MappingStartType, token.SequenceStartType:
			stack = append(stack, t)
		case token.MappingEndType, token.SequenceEndType:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) == 0 {
		return nil
	}
	return stack[0]
}
