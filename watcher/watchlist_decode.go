package watcher

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The TOML library stops at the first decoding error and knows a key's line
// only by its un-indexed name (every [[entities.addresses]] shares one entry),
// so the watchlist is decoded here field by field from toml.Primitive values,
// and lines come from lineIndex. Both spell a key path the same way:
// "entities[1].addresses[0].address".

// watchlistDecoder fills a struct from TOML tables, collecting every problem.
type watchlistDecoder struct {
	md       *toml.MetaData
	lines    lineIndex
	file     string
	problems Problems
	reported map[string]bool
}

func (d *watchlistDecoder) problem(path, msg string) {
	d.reported[path] = true
	d.problems = append(d.problems, Problem{File: d.file, Line: d.lines.lineOf(path), Msg: msg})
}

// table decodes one TOML table into the struct rv. Only exported fields
// with a toml tag are keys; any other key is an error, so that a misspelt
// key is not silently ignored.
func (d *watchlistDecoder) table(tbl map[string]toml.Primitive, path string, key toml.Key, rv reflect.Value) {
	fields := map[string]int{}
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Type().Field(i)
		if tag := f.Tag.Get("toml"); f.IsExported() && tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	names := make([]string, 0, len(tbl))
	for name := range tbl {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fpath, fkey := keyPathJoin(path, name), append(key[:len(key):len(key)], name)
		i, ok := fields[name]
		if !ok {
			d.problem(fpath, fmt.Sprintf("unknown key %q", fkey.String()))
			continue
		}
		d.value(tbl[name], fpath, fkey, rv.Field(i))
	}
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType            = reflect.TypeFor[time.Time]()
)

// value decodes one key's value into fv: a sub-table, an array of tables
// or a leaf that the TOML library converts.
func (d *watchlistDecoder) value(prim toml.Primitive, path string, key toml.Key, fv reflect.Value) {
	var raw any
	if err := d.md.PrimitiveDecode(prim, &raw); err != nil {
		d.problem(path, err.Error())
		return
	}
	t := fv.Type()
	text := reflect.PointerTo(t).Implements(textUnmarshalerType)
	switch {
	case !text && t.Kind() == reflect.Struct:
		if _, ok := raw.(map[string]any); !ok {
			d.problem(path, fmt.Sprintf("%q must be a table ([%s]), not %s", key.String(), key.String(), tomlTypeName(raw)))
			return
		}
		var tbl map[string]toml.Primitive
		if err := d.md.PrimitiveDecode(prim, &tbl); err != nil {
			d.problem(path, err.Error())
			return
		}
		d.table(tbl, path, key, fv)
	case !text && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if !isTOMLTableArray(raw) {
			d.problem(path, fmt.Sprintf("%q must be an array of tables ([[%s]]), not %s", key.String(), key.String(), tomlTypeName(raw)))
			return
		}
		var elems []toml.Primitive
		if err := d.md.PrimitiveDecode(prim, &elems); err != nil {
			d.problem(path, err.Error())
			return
		}
		fv.Set(reflect.MakeSlice(t, len(elems), len(elems)))
		for i, elem := range elems {
			var tbl map[string]toml.Primitive
			if err := d.md.PrimitiveDecode(elem, &tbl); err != nil {
				d.problem(keyPathIndex(path, i), err.Error())
				continue
			}
			d.table(tbl, keyPathIndex(path, i), key, fv.Index(i))
		}
	default:
		if _, isString := raw.(string); !isString && (t.Kind() == reflect.String || text && t != timeType) {
			d.problem(path, fmt.Sprintf("%q must be a string, not %s", key.String(), tomlTypeName(raw)))
			return
		}
		if err := d.md.PrimitiveDecode(prim, fv.Addr().Interface()); err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				d.problem(path, pe.Message) // from UnmarshalText: already says what and why
			} else {
				d.problem(path, fmt.Sprintf("%q cannot be %s", key.String(), tomlTypeName(raw)))
			}
		}
	}
}

func isTOMLTableArray(raw any) bool {
	switch v := raw.(type) {
	case []map[string]any:
		return true
	case []any:
		for _, e := range v {
			if _, ok := e.(map[string]any); !ok {
				return false
			}
		}
		return true
	}
	return false
}

func tomlTypeName(v any) string {
	switch v := v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		if len(v) > 0 {
			elem := tomlTypeName(v[0])
			return "an array of " + elem[strings.IndexByte(elem, ' ')+1:] + "s"
		}
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

func keyPathJoin(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func keyPathIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// lineIndex maps a key path to the line where it was written: a key to its
// own line, a table or array-of-tables entry to its header.
type lineIndex map[string]int

// lineOf returns the line of path, or else the first line of anything under
// it (an implicit table has no line of its own), or 0.
func (ix lineIndex) lineOf(path string) int {
	if l, ok := ix[path]; ok {
		return l
	}
	best := 0
	for p, l := range ix {
		if len(p) > len(path) && strings.HasPrefix(p, path) && (p[len(path)] == '.' || p[len(path)] == '[') {
			if best == 0 || l < best {
				best = l
			}
		}
	}
	return best
}

// scanLines indexes the lines of a document the TOML parser has already
// accepted, so it only needs to follow the structure, not to check it.
// Should it still trip, the index is partial and messages lose line numbers,
// never the load.
func scanLines(src string) (ix lineIndex) {
	sc := &lineScanner{s: strings.TrimPrefix(src, "\ufeff"), line: 1, ix: lineIndex{}, arrays: map[string]int{}}
	defer func() {
		if recover() != nil {
			ix = sc.ix
		}
	}()
	sc.document()
	return sc.ix
}

type lineScanner struct {
	s      string
	i      int
	line   int
	ix     lineIndex
	arrays map[string]int // array-of-tables path → entries so far
}

func (sc *lineScanner) eof() bool { return sc.i >= len(sc.s) }

func (sc *lineScanner) peek() byte {
	if sc.eof() {
		return 0
	}
	return sc.s[sc.i]
}

func (sc *lineScanner) record(path string, line int) {
	if _, ok := sc.ix[path]; !ok {
		sc.ix[path] = line
	}
}

// skip passes blanks and comments, and newlines too when nl is set.
func (sc *lineScanner) skip(nl bool) {
	for !sc.eof() {
		switch c := sc.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			sc.i++
		case c == '\n' && nl:
			sc.line++
			sc.i++
		case c == '#':
			for !sc.eof() && sc.peek() != '\n' {
				sc.i++
			}
		default:
			return
		}
	}
}

func (sc *lineScanner) document() {
	table := ""
	for {
		sc.skip(true)
		if sc.eof() {
			return
		}
		start := sc.i
		if sc.peek() == '[' {
			arr := strings.HasPrefix(sc.s[sc.i:], "[[")
			sc.i++
			if arr {
				sc.i++
			}
			table = sc.header(sc.keys(), arr)
			for !sc.eof() && sc.peek() != '\n' && sc.peek() != '#' {
				sc.i++ // the closing bracket(s)
			}
		} else {
			line := sc.line
			path := table
			for _, k := range sc.keys() {
				path = keyPathJoin(path, k)
			}
			sc.record(path, line)
			sc.skip(false)
			if sc.peek() == '=' {
				sc.i++
			}
			sc.skip(false)
			sc.value(path)
		}
		if sc.i == start {
			sc.i++
		}
	}
}

// header resolves a [table] or [[array]] header to its indexed path: each
// parent that is an array of tables means its latest entry.
func (sc *lineScanner) header(keys []string, arr bool) string {
	p := ""
	for j, k := range keys {
		p = keyPathJoin(p, k)
		n, isArr := sc.arrays[p]
		switch {
		case j == len(keys)-1 && arr:
			sc.arrays[p] = n + 1
			p = keyPathIndex(p, n)
		case j < len(keys)-1 && isArr && n > 0:
			p = keyPathIndex(p, n-1)
		}
	}
	sc.record(p, sc.line)
	return p
}

// keys reads a dotted key: bare, "basic" or 'literal' parts.
func (sc *lineScanner) keys() []string {
	var keys []string
	for {
		sc.skip(false)
		switch sc.peek() {
		case '"':
			raw := sc.quoted('"')
			if k, err := strconv.Unquote(raw); err == nil {
				keys = append(keys, k)
			} else {
				keys = append(keys, raw[1:len(raw)-1])
			}
		case '\'':
			raw := sc.quoted('\'')
			keys = append(keys, raw[1:len(raw)-1])
		default:
			start := sc.i
			for !sc.eof() && !strings.ContainsRune(" \t\r\n.=]#", rune(sc.peek())) {
				sc.i++
			}
			keys = append(keys, sc.s[start:sc.i])
		}
		sc.skip(false)
		if sc.peek() != '.' {
			return keys
		}
		sc.i++
	}
}

// quoted reads a one-line string starting at its opening quote q and
// returns it with its quotes.
func (sc *lineScanner) quoted(q byte) string {
	start := sc.i
	sc.i++
	for !sc.eof() && sc.peek() != q && sc.peek() != '\n' {
		if q == '"' && sc.peek() == '\\' {
			sc.i++
		}
		sc.i++
	}
	if !sc.eof() && sc.peek() == q {
		sc.i++
	}
	if sc.i-start < 2 {
		return string(q) + string(q)
	}
	return sc.s[start:sc.i]
}

// value skips one value, indexing the keys of inline tables and the
// elements of arrays as it goes.
func (sc *lineScanner) value(path string) {
	rest := sc.s[sc.i:]
	switch {
	case strings.HasPrefix(rest, `"""`), strings.HasPrefix(rest, `'''`):
		q := rest[:3]
		sc.i += 3
		for !sc.eof() && !strings.HasPrefix(sc.s[sc.i:], q) {
			if q[0] == '"' && sc.peek() == '\\' {
				sc.i++
			}
			if sc.peek() == '\n' {
				sc.line++
			}
			sc.i++
		}
		sc.i += 3
		for k := 0; k < 2 && sc.peek() == q[0]; k++ {
			sc.i++ // up to two quotes may end the content
		}
	case sc.peek() == '"' || sc.peek() == '\'':
		sc.quoted(sc.peek())
	case sc.peek() == '[':
		sc.i++
		for n := 0; ; {
			sc.skip(true)
			switch sc.peek() {
			case 0:
				return
			case ']':
				sc.i++
				return
			case ',':
				sc.i++
				continue
			}
			start := sc.i
			sc.record(keyPathIndex(path, n), sc.line)
			sc.value(keyPathIndex(path, n))
			n++
			if sc.i == start {
				sc.i++
			}
		}
	case sc.peek() == '{':
		sc.i++
		for {
			sc.skip(true)
			switch sc.peek() {
			case 0:
				return
			case '}':
				sc.i++
				return
			case ',':
				sc.i++
				continue
			}
			start, line := sc.i, sc.line
			kp := path
			for _, k := range sc.keys() {
				kp = keyPathJoin(kp, k)
			}
			sc.record(kp, line)
			sc.skip(false)
			if sc.peek() == '=' {
				sc.i++
			}
			sc.skip(false)
			sc.value(kp)
			if sc.i == start {
				sc.i++
			}
		}
	default: // number, boolean, date-time (which may hold a space)
		for !sc.eof() && !strings.ContainsRune(",]}\n#", rune(sc.peek())) {
			sc.i++
		}
	}
}
