package config

import "strings"

// Problems is every configuration or preflight problem found in one pass.
// Load, Validate and Preflight collect all of them instead of stopping at
// the first, so an operator fixes a broken deployment in one round trip;
// the caller prints one problem per line and exits with status 2.
type Problems []string

// Error joins the problems, one per line.
func (p *Problems) Error() string {
	if p == nil {
		return ""
	}
	return strings.Join(*p, "\n")
}

// add appends one problem.
func (p *Problems) add(text string) { *p = append(*p, text) }

// err returns p as an error, or nil when there is no problem, so callers
// never hold a non-nil error interface wrapping an empty list.
func (p *Problems) err() error {
	if p == nil || len(*p) == 0 {
		return nil
	}
	return p
}

// problem is one finding with the variables it concerns, so Load can drop a
// validation finding about a variable that already failed to parse.
type problem struct {
	vars []string
	text string
}
