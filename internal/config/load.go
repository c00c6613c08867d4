package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// source says where a raw value came from, for messages.
type source int

const (
	fromEnv source = iota
	fromFlag
)

// rawValue is one operator-supplied value before parsing.
type rawValue struct {
	value string
	from  source
}

// label names a setting in a message: the variable, plus the flag when the
// value came from the command line, so the operator knows where to look.
func label(name string, from source) string {
	if from == fromFlag {
		return name + " (flag --" + flagName(name) + ")"
	}
	return name
}

// Load reads every ARQONBUS_* variable through getenv (nil means an empty
// environment) and the matching flags in args, the `arqonbus serve`
// arguments after the subcommand. A flag wins over its variable. The
// profile is resolved first because two defaults depend on it; every other
// value is then parsed strictly and the result validated (Validate).
//
// On success Config.Explicit holds every variable set by the operator and
// Config.Warnings any non-fatal findings (Load itself has none today; use
// LoadEnviron to also warn about unknown ARQONBUS_* variables).
//
// On failure Load returns a nil Config and a *Problems holding every
// problem found, each naming its variable; -h or --help returns
// flag.ErrHelp (print Usage).
func Load(getenv func(string) (string, bool), args []string) (*Config, error) {
	var probs Problems
	flags, err := parseFlags(args, &probs)
	if err != nil {
		return nil, err
	}

	raw := make(map[string]rawValue, len(settings))
	for _, s := range settings {
		if getenv != nil {
			if v, ok := getenv(s.name); ok {
				raw[s.name] = rawValue{value: v, from: fromEnv}
			}
		}
		if v, ok := flags[s.name]; ok {
			raw[s.name] = rawValue{value: v, from: fromFlag}
		}
	}

	failed := map[string]bool{}
	profile := ProfileDev
	if rv, ok := raw[varEnvironment]; ok {
		p, err := NormalizeProfile(rv.value)
		if err != nil {
			probs.add(label(varEnvironment, rv.from) + ": " + err.Error())
			failed[varEnvironment] = true
		} else {
			profile = p
		}
	}

	cfg := Default(profile)
	for _, s := range settings {
		rv, ok := raw[s.name]
		if !ok {
			continue
		}
		cfg.Explicit[s.name] = true
		if s.name == varEnvironment {
			continue
		}
		if err := s.set(&cfg, rv.value); err != nil {
			probs.add(label(s.name, rv.from) + ": " + err.Error())
			failed[s.name] = true
		}
	}

	for _, p := range cfg.validate() {
		if !anyFailed(p.vars, failed) {
			probs.add(p.text)
		}
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// anyFailed reports whether one of vars already failed to parse: a finding
// about a value that kept its default would only mislead.
// Profile-dependent rules list ARQONBUS_ENVIRONMENT among their
// variables, so they are dropped too when the profile is invalid.
func anyFailed(vars []string, failed map[string]bool) bool {
	for _, v := range vars {
		if failed[v] {
			return true
		}
	}
	return false
}

// LoadEnviron is Load over an os.Environ-style list ("NAME=value"; the
// first occurrence of a name wins, as in os.Getenv). It also adds one
// warning to Config.Warnings per unknown ARQONBUS_* variable, the usual
// sign of a typo that would otherwise be silently ignored.
func LoadEnviron(environ []string, args []string) (*Config, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if _, seen := env[k]; !seen {
			env[k] = v
		}
	}
	cfg, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, args)
	if err != nil {
		return nil, err
	}
	cfg.Warnings = append(cfg.Warnings, UnknownVariables(environ)...)
	return cfg, nil
}

// UnknownVariables returns one warning per variable in environ that looks
// like ours (ARQONBUS_ in any case) but is not read, with a suggestion when
// a known name is close. Values are never repeated: they may be secrets.
// ARQONBUS_TEST_* belongs to the test harness and is not reported.
func UnknownVariables(environ []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(k)
		if !strings.HasPrefix(upper, varPrefix) || strings.HasPrefix(upper, testVarPrefix) || seen[k] {
			continue
		}
		seen[k] = true
		if _, known := settingsByName[k]; known {
			continue
		}
		msg := k + " is not a known variable and is ignored"
		if _, ok := settingsByName[upper]; ok {
			msg += "; did you mean " + upper + "? (names are case-sensitive)"
		} else if s := suggest(upper); s != "" {
			msg += "; did you mean " + s + "?"
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

// suggest returns the known variable closest to name when it is within a
// small edit distance, else "".
func suggest(name string) string {
	best, bestDist := "", 4
	for _, s := range settings {
		if d := editDistance(name, s.name); d < bestDist {
			best, bestDist = s.name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance over bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// flagValue records a flag's raw text; parsing happens with the variables
// so both share one parser and one message style.
type flagValue struct {
	name   string
	isBool bool
	vals   map[string]string
}

func (f *flagValue) String() string     { return "" }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }
func (f *flagValue) Set(s string) error { f.vals[f.name] = s; return nil }

// newFlagSet builds the flag set recording into vals (keyed by variable).
func newFlagSet(vals map[string]string) *flag.FlagSet {
	fs := flag.NewFlagSet("arqonbus serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, s := range settings {
		fs.Var(&flagValue{name: s.name, isBool: s.kind == kindBool, vals: vals}, s.flag(), s.usage)
	}
	return fs
}

// parseFlags returns the raw flag values keyed by variable name. Every flag
// error is a problem; parsing resumes after a bad flag so all of them are
// reported. It returns flag.ErrHelp for -h/--help.
func parseFlags(args []string, probs *Problems) (map[string]string, error) {
	vals := map[string]string{}
	fs := newFlagSet(vals)
	rest := args
	for {
		err := fs.Parse(rest)
		if err == nil {
			break
		}
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp
		}
		probs.add("flags: " + err.Error())
		next := fs.Args()
		if len(next) >= len(rest) {
			// "bad flag syntax" does not consume the argument.
			next = rest[1:]
		}
		rest = next
	}
	if fs.NArg() > 0 {
		quoted := make([]string, fs.NArg())
		for i, a := range fs.Args() {
			quoted[i] = quote(a)
		}
		probs.add("flags: unexpected arguments " + strings.Join(quoted, " ") + " (serve takes flags only; give a boolean flag its value as --name=false)")
	}
	return vals, nil
}

// Usage writes one line per flag: the flag, its variable, its dev default
// and its meaning, for `arqonbus serve --help`.
func Usage(w io.Writer) {
	def := Default(ProfileDev)
	fmt.Fprintln(w, "Flags (each overrides its variable; defaults shown for the dev profile):")
	for _, s := range settings {
		d := s.get(&def)
		if d == "" {
			d = "empty"
		}
		fmt.Fprintf(w, "  --%s (%s, %s, default %s)\n      %s\n", s.flag(), s.name, s.kind, d, s.usage)
	}
}
