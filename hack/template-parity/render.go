package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

// templateName is the name templates are parsed under. It appears in Go's messages only,
// which are split below so that the name does not matter.
const templateName = "t"

// Result is the outcome of one case: exactly one of Output and Error is set.
type Result struct {
	Name   string  `json:"name"`
	Output *string `json:"output,omitempty"`
	Error  *Error  `json:"error,omitempty"`
}

// Error is a parse or execution error, with Go's message and its parts.
type Error struct {
	// Class is "parse" when Parse failed, "exec" when Execute failed.
	Class string `json:"class"`
	// Message is Go's full error text.
	Message string `json:"message"`
	// Line is the 1-based line Go reports, 0 if the message has none.
	Line int `json:"line"`
	// Column is the byte offset Go reports (exec errors only, -1 if none).
	Column int `json:"column"`
	// Context is the failing expression of an exec error, as Go prints it.
	Context string `json:"context"`
	// Detail is the message without Go's "template: name:line:col: executing ... at <...>: "
	// prefix.
	Detail string `json:"detail"`
}

// run parses and executes one case as spire-controller-manager does: template.New(name).Parse
// with default options and no extra functions, then Execute into a buffer.
func run(c Case) (Result, error) {
	data, err := build(c.Data)
	if err != nil {
		return Result{}, err
	}
	tmpl, err := template.New(templateName).Parse(c.Template)
	if err != nil {
		return Result{Name: c.Name, Error: parseError(err.Error())}, nil
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return Result{Name: c.Name, Error: execError(err.Error())}, nil
	}
	text := out.String()
	return Result{Name: c.Name, Output: &text}, nil
}

var (
	parsePrefix = regexp.MustCompile(`^template: ` + templateName + `:(\d+): `)
	execPrefix  = regexp.MustCompile(`^template: ` + templateName + `:(\d+):(\d+): executing "[^"]*" at <`)
	namePrefix  = regexp.MustCompile(`^template: ` + templateName + `: `)
)

// parseError splits "template: t:LINE: DETAIL".
func parseError(message string) *Error {
	e := &Error{Class: "parse", Message: message, Column: -1, Detail: message}
	if m := parsePrefix.FindStringSubmatch(message); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Detail = message[len(m[0]):]
	}
	return e
}

// execError splits "template: t:LINE:COL: executing "NAME" at <CONTEXT>: DETAIL", or
// "template: t: DETAIL" for errors that have no position. A context containing ">: " is split
// at its first occurrence.
func execError(message string) *Error {
	e := &Error{Class: "exec", Message: message, Column: -1, Detail: message}
	if m := execPrefix.FindStringSubmatch(message); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column, _ = strconv.Atoi(m[2])
		rest := message[len(m[0]):]
		if i := strings.Index(rest, ">: "); i >= 0 {
			e.Context, e.Detail = rest[:i], rest[i+len(">: "):]
		}
	} else if m := namePrefix.FindString(message); m != "" {
		e.Detail = message[len(m):]
	}
	return e
}
