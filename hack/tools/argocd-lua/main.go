// Command argocd-lua runs Argo CD resource customization scripts (health.lua, actions/discovery.lua,
// actions/<name>/action.lua) on Kubernetes objects the way Argo CD runs them: in gopher-lua, with
// the object bound to the global `obj` as a Lua table, the libraries Argo CD opens, a one-second
// deadline, and the returned table read back through layeh.com/gopher-json as Argo CD reads it.
//
//	argocd-lua health    [-open-libs] SCRIPT OBJECT...  one {"status","message"} line per object
//	argocd-lua discovery [-open-libs] SCRIPT OBJECT     the actions, sorted by name, as JSON
//	argocd-lua action    [-open-libs] SCRIPT OBJECT     the object the action returns, as JSON
//	argocd-lua test      DIR...                         runs DIR/health_test.yaml and
//	                                                    DIR/actions/action_test.yaml
//
// An OBJECT is a YAML or JSON file, or - for standard input.
//
// Libraries: a script from argocd-cm runs with the package, base and table libraries and Argo CD's
// safe os module (time and date, through require("os")) only: no string, math or io. -open-libs
// adds every gopher-lua library, as Argo CD does for its built-in scripts and for argocd-cm keys
// with useOpenLibs. The test command runs health and discovery scripts both ways (built-in
// scripts are tested with open libraries upstream, and the same script pasted into argocd-cm
// runs without them) and actions without.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	openLibs := false
	if len(args) > 0 && args[0] == "-open-libs" {
		openLibs, args = true, args[1:]
	}
	var err error
	switch {
	case cmd == "health" && len(args) >= 2:
		err = runHealth(args[0], args[1:], openLibs)
	case cmd == "discovery" && len(args) == 2:
		err = runDiscovery(args[0], args[1], openLibs)
	case cmd == "action" && len(args) == 2:
		err = runAction(args[0], args[1], openLibs)
	case cmd == "test" && len(args) >= 1 && !openLibs:
		err = runTests(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "argocd-lua: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: argocd-lua health|discovery|action [-open-libs] SCRIPT OBJECT...\n       argocd-lua test DIR...")
	os.Exit(2)
}

// HealthStatus is what a health script returns, as Argo CD reads it.
type HealthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// Action is one entry of what a discovery script returns.
type Action struct {
	Name     string `json:"name"`
	Disabled bool   `json:"disabled"`
}

func runHealth(script string, objects []string, openLibs bool) error {
	src, err := os.ReadFile(script)
	if err != nil {
		return err
	}
	for _, path := range objects {
		obj, err := readObject(path)
		if err != nil {
			return err
		}
		hs, err := health(string(src), obj, openLibs)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", script, path, err)
		}
		if err := printJSON(hs); err != nil {
			return err
		}
	}
	return nil
}

func runDiscovery(script, object string, openLibs bool) error {
	src, obj, err := readBoth(script, object)
	if err != nil {
		return err
	}
	actions, err := discovery(src, obj, openLibs)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", script, object, err)
	}
	return printJSON(actions)
}

func runAction(script, object string, openLibs bool) error {
	src, obj, err := readBoth(script, object)
	if err != nil {
		return err
	}
	out, err := action(src, obj, openLibs)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", script, object, err)
	}
	return printJSON(out)
}

func readBoth(script, object string) (string, map[string]any, error) {
	src, err := os.ReadFile(script)
	if err != nil {
		return "", nil, err
	}
	obj, err := readObject(object)
	return string(src), obj, err
}

// readObject reads one object from a YAML or JSON file, or from standard input for "-".
func readObject(path string) (map[string]any, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

func printJSON(v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(out))
	return err
}

// run executes a script with obj bound to `obj` and returns the value it returned.
func run(script string, obj map[string]any, openLibs bool) (lua.LValue, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	l.PreloadModule(lua.OsLibName, loadSafeOs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	return l.Get(-1), nil
}

// toLua converts a decoded JSON value as Argo CD does: maps and arrays to tables, numbers to
// numbers, json.Number to a string, anything else to nil.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

// tableJSON encodes a returned table with the encoder Argo CD uses.
func tableJSON(value lua.LValue) ([]byte, error) {
	if value.Type() != lua.LTTable {
		return nil, fmt.Errorf("expect table output from Lua script, not %s", value.Type())
	}
	return luajson.Encode(value)
}

var validHealth = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

func health(script string, obj map[string]any, openLibs bool) (HealthStatus, error) {
	var hs HealthStatus
	value, err := run(script, obj, openLibs)
	if err != nil {
		return hs, err
	}
	data, err := tableJSON(value)
	if err != nil {
		return hs, err
	}
	if err := json.Unmarshal(data, &hs); err != nil {
		return hs, err
	}
	if !validHealth[hs.Status] {
		return HealthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return hs, nil
}

func discovery(script string, obj map[string]any, openLibs bool) ([]Action, error) {
	value, err := run(script, obj, openLibs)
	if err != nil {
		return nil, err
	}
	data, err := tableJSON(value)
	if err != nil {
		return nil, err
	}
	actions := []Action{}
	if string(data) == "[]" {
		return actions, nil
	}
	var byName map[string]any
	if err := json.Unmarshal(data, &byName); err != nil {
		return nil, err
	}
	for name, entry := range byName {
		a := Action{Name: name}
		if fields, ok := entry.(map[string]any); ok {
			a.Disabled, _ = fields["disabled"].(bool)
		}
		actions = append(actions, a)
	}
	sort.Slice(actions, func(i, j int) bool { return actions[i].Name < actions[j].Name })
	return actions, nil
}

// action runs an action script. A returned object (Argo CD's original form) is the patched
// object; a returned list is of {resource, operation} items. Where the script left a table empty
// that was a map in obj, the map is restored, as Argo CD does (an empty Lua table reads as []).
func action(script string, obj map[string]any, openLibs bool) (any, error) {
	value, err := run(script, obj, openLibs)
	if err != nil {
		return nil, err
	}
	data, err := tableJSON(value)
	if err != nil {
		return nil, err
	}
	if len(data) < 2 {
		return nil, errors.New("Lua output was not a valid JSON object or array")
	}
	if data[0] == '[' {
		var items []map[string]any
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, err
		}
		for _, item := range items {
			if item["operation"] == "patch" {
				if res, ok := item["resource"].(map[string]any); ok {
					item["resource"] = restoreMaps(res, obj)
				}
			}
		}
		return items, nil
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return restoreMaps(out, obj), nil
}

// restoreMaps puts back the maps of old that came out of the script as empty lists.
func restoreMaps(updated, old map[string]any) map[string]any {
	for key, was := range old {
		now, ok := updated[key]
		if !ok {
			continue
		}
		switch n := now.(type) {
		case map[string]any:
			if w, ok := was.(map[string]any); ok {
				updated[key] = restoreMaps(n, w)
			}
		case []any:
			switch w := was.(type) {
			case map[string]any:
				if len(n) == 0 {
					updated[key] = w
				}
			case []any:
				updated[key] = restoreListMaps(n, w)
			}
		}
	}
	return updated
}

func restoreListMaps(updated, old []any) []any {
	for i := range updated {
		if i >= len(old) {
			break
		}
		switch n := updated[i].(type) {
		case map[string]any:
			if w, ok := old[i].(map[string]any); ok {
				updated[i] = restoreMaps(n, w)
			}
		case []any:
			if w, ok := old[i].([]any); ok {
				updated[i] = restoreListMaps(n, w)
			}
		}
	}
	return updated
}

// The test files, in Argo CD's format.
type healthTests struct {
	Tests []struct {
		InputPath    string       `json:"inputPath"`
		HealthStatus HealthStatus `json:"healthStatus"`
	} `json:"tests"`
}

type actionTests struct {
	DiscoveryTests []struct {
		InputPath string   `json:"inputPath"`
		Result    []Action `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

// runTests runs each directory's health_test.yaml and actions/action_test.yaml and prints one
// line per case; it fails when any case does.
func runTests(dirs []string) error {
	failed, ran := 0, 0
	report := func(ok bool, name, detail string) {
		ran++
		if ok {
			fmt.Printf("ok   %s\n", name)
			return
		}
		failed++
		fmt.Printf("FAIL %s: %s\n", name, detail)
	}
	for _, dir := range dirs {
		if err := testHealth(dir, report); err != nil {
			return err
		}
		if err := testActions(filepath.Join(dir, "actions"), report); err != nil {
			return err
		}
	}
	fmt.Printf("%d passed, %d failed\n", ran-failed, failed)
	if ran == 0 {
		return errors.New("no test cases found")
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d cases failed", failed, ran)
	}
	return nil
}

func readYAML(path string, into any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, yaml.UnmarshalStrict(data, into)
}

func testHealth(dir string, report func(ok bool, name, detail string)) error {
	var tests healthTests
	found, err := readYAML(filepath.Join(dir, "health_test.yaml"), &tests)
	if err != nil || !found {
		return err
	}
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		return err
	}
	for _, tc := range tests.Tests {
		obj, err := readObject(filepath.Join(dir, tc.InputPath))
		if err != nil {
			return err
		}
		for _, openLibs := range []bool{true, false} {
			got, err := health(string(script), obj, openLibs)
			name := fmt.Sprintf("%s health %s (%s)", dir, tc.InputPath, libsName(openLibs))
			if err != nil {
				report(false, name, err.Error())
				continue
			}
			report(got == tc.HealthStatus, name, fmt.Sprintf("got %+v, want %+v", got, tc.HealthStatus))
		}
	}
	return nil
}

func testActions(dir string, report func(ok bool, name, detail string)) error {
	var tests actionTests
	found, err := readYAML(filepath.Join(dir, "action_test.yaml"), &tests)
	if err != nil || !found {
		return err
	}
	discoveryScript, err := os.ReadFile(filepath.Join(dir, "discovery.lua"))
	if err != nil {
		return err
	}
	for _, tc := range tests.DiscoveryTests {
		obj, err := readObject(filepath.Join(dir, tc.InputPath))
		if err != nil {
			return err
		}
		want := append([]Action{}, tc.Result...)
		sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
		for _, openLibs := range []bool{true, false} {
			got, err := discovery(string(discoveryScript), obj, openLibs)
			name := fmt.Sprintf("%s discovery %s (%s)", dir, tc.InputPath, libsName(openLibs))
			if err != nil {
				report(false, name, err.Error())
				continue
			}
			report(reflect.DeepEqual(got, want), name, fmt.Sprintf("got %+v, want %+v", got, want))
		}
	}
	for _, tc := range tests.ActionTests {
		script, err := os.ReadFile(filepath.Join(dir, tc.Action, "action.lua"))
		if err != nil {
			return err
		}
		obj, err := readObject(filepath.Join(dir, tc.InputPath))
		if err != nil {
			return err
		}
		expected, err := readObject(filepath.Join(dir, tc.ExpectedOutputPath))
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s action %s on %s", dir, tc.Action, tc.InputPath)
		got, err := action(string(script), obj, false)
		if err != nil {
			report(false, name, err.Error())
			continue
		}
		// Compare as JSON documents: numbers come back from Lua as floats.
		same, err := sameJSON(got, expected)
		if err != nil {
			return err
		}
		report(same, name, "the output differs from "+tc.ExpectedOutputPath)
	}
	return nil
}

func libsName(openLibs bool) string {
	if openLibs {
		return "open libraries"
	}
	return "argocd-cm libraries"
}

func sameJSON(a, b any) (bool, error) {
	norm := func(v any) (any, error) {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var out any
		err = json.Unmarshal(data, &out)
		return out, err
	}
	x, err := norm(a)
	if err != nil {
		return false, err
	}
	y, err := norm(b)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(x, y), nil
}

// Argo CD's safe os module: only time and date. Argo CD opens it for the global os by registering
// these functions under the module name "table", which gopher-lua finds already loaded and leaves
// as it is: so the global os is absent unless the full libraries are open, and only
// require("os") returns time and date. The same calls are made here, so that a script that runs
// here runs there.
var safeOsFuncs = map[string]lua.LGFunction{"time": osTime, "date": osDate}

func openSafeOs(l *lua.LState) int {
	l.Push(l.RegisterModule(lua.TabLibName, safeOsFuncs))
	return 1
}

func loadSafeOs(l *lua.LState) int {
	l.Push(l.SetFuncs(l.NewTable(), safeOsFuncs))
	return 1
}

// osTime is Lua's os.time: now, or the instant a {year, month, day, hour, min, sec} table names.
func osTime(l *lua.LState) int {
	if l.GetTop() == 0 {
		l.Push(lua.LNumber(time.Now().Unix()))
		return 1
	}
	t := l.CheckTable(1)
	field := func(name string, def int) int {
		if n, ok := t.RawGetString(name).(lua.LNumber); ok {
			return int(n)
		}
		return def
	}
	at := time.Date(field("year", -1), time.Month(field("month", -1)), field("day", -1),
		field("hour", 12), field("min", 0), field("sec", 0), 0, time.Local)
	l.Push(lua.LNumber(at.Unix()))
	return 1
}

// osDate is Lua's os.date: a format ("!" first for UTC, "*t" for a table) and an optional instant.
func osDate(l *lua.LState) int {
	at := time.Now()
	format := "%c"
	if l.GetTop() >= 1 {
		format = l.CheckString(1)
		if strings.HasPrefix(format, "!") {
			at, format = at.UTC(), format[1:]
		}
		if l.GetTop() >= 2 {
			at = time.Unix(l.CheckInt64(2), 0)
		}
	}
	if strings.HasPrefix(format, "*t") {
		t := l.NewTable()
		for name, v := range map[string]int{
			"year": at.Year(), "month": int(at.Month()), "day": at.Day(), "hour": at.Hour(),
			"min": at.Minute(), "sec": at.Second(), "wday": int(at.Weekday()) + 1, "yday": 0,
		} {
			t.RawSetString(name, lua.LNumber(v))
		}
		t.RawSetString("isdst", lua.LFalse)
		l.Push(t)
		return 1
	}
	l.Push(lua.LString(strftime(at, format)))
	return 1
}

var strftimeLayouts = map[byte]string{
	'a': "Mon", 'A': "Monday", 'b': "Jan", 'B': "January", 'c': "02 Jan 06 15:04 MST", 'd': "02",
	'F': "2006-01-02", 'H': "15", 'I': "03", 'm': "01", 'M': "04", 'p': "PM", 'P': "pm", 'S': "05",
	'x': "15/04/05", 'X': "15:04:05", 'y': "06", 'Y': "2006", 'z': "-0700", 'Z': "MST",
}

func strftime(at time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		switch f := format[i]; {
		case f == '%':
			b.WriteByte('%')
		case f == 'w':
			fmt.Fprint(&b, int(at.Weekday()))
		case strftimeLayouts[f] != "":
			b.WriteString(at.Format(strftimeLayouts[f]))
		default:
			b.WriteByte('%')
			b.WriteByte(f)
		}
	}
	return b.String()
}
