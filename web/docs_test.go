package web

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// exampleRE finds the examples of docs/api.md: a marker naming the request
// followed by a JSON block.
var exampleRE = regexp.MustCompile("(?s)<!-- example: GET (\\S+) -->\\s*```json\\n(.*?)\\n```")

// TestDocsExamplesMatchAnswers checks that every JSON example in
// docs/api.md has the structure (keys, at every depth) of the live answer
// to the same request, so the documentation cannot drift from the API.
func TestDocsExamplesMatchAnswers(t *testing.T) {
	l := regtest(t)
	savePrice(t, l)
	s := newServer(t, l, Config{ExplorerTxURL: "https://mempool.space/tx/", PriceCurrency: "USD"})
	s.SetSyncStatus(SyncStatus{OK: true, Backend: "btcd"})
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := exampleRE.FindAllStringSubmatch(string(doc), -1)
	documented := map[string]bool{}
	for _, m := range examples {
		path := strings.NewReplacer("{id}", "alpha",
			"{address}", url.PathEscape(l.wl.Entities[0].Addresses[2].Address.Text)).Replace(m[1])
		documented[strings.SplitN(m[1], "?", 2)[0]] = true
		var want any
		if err := json.Unmarshal([]byte(m[2]), &want); err != nil {
			t.Errorf("docs/api.md example for %s is not JSON: %v", m[1], err)
			continue
		}
		_, body := get(t, s.Handler(), "GET", path)
		var got any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		for _, d := range sameShape(m[1], want, got) {
			t.Error("docs/api.md: " + d)
		}
	}
	for _, p := range []string{"/api/v1/summary", "/api/v1/entities", "/api/v1/entities/{id}", "/api/v1/entities/{id}/history",
		"/api/v1/entities/{id}/flows", "/api/v1/addresses/{address}", "/readyz"} {
		if !documented[p] {
			t.Errorf("docs/api.md has no example of GET %s", p)
		}
	}
}

// sameShape lists where doc and live differ in structure: the keys of
// objects at every depth, and the shape of the first element of arrays
// (when both have one). A null on either side matches anything: a
// documented object may be null in the live answer and vice versa.
func sameShape(at string, doc, live any) []string {
	switch d := doc.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			if live == nil {
				return nil
			}
			return []string{at + ": documented an object, answer is " + typeName(live)}
		}
		var out []string
		if dk, lk := keys(d), keys(l); dk != lk {
			out = append(out, at+": documented keys "+dk+", answer has "+lk)
		}
		for k, v := range d {
			if lv, ok := l[k]; ok {
				out = append(out, sameShape(at+"."+k, v, lv)...)
			}
		}
		return out
	case []any:
		l, ok := live.([]any)
		if !ok {
			return []string{at + ": documented an array, answer is " + typeName(live)}
		}
		var out []string
		for i := 1; i < len(d); i++ { // the example's own elements agree
			out = append(out, sameShape(at+"[]", d[0], d[i])...)
		}
		if len(d) > 0 && len(l) > 0 {
			out = append(out, sameShape(at+"[]", d[0], l[0])...)
		}
		return out
	case nil:
		return nil
	default:
		if live != nil && typeName(doc) != typeName(live) {
			return []string{at + ": documented a " + typeName(doc) + ", answer is " + typeName(live)}
		}
		return nil
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return "?"
}
