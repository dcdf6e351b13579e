package report

import (
	"bytes"
	"embed"
	"html/template"
)

//go:embed templates/report.html
var templateFS embed.FS

// HTML is a self-contained, printable page: inline CSS, no script, no
// external request, every value escaped by html/template.
func (r *Report) HTML() ([]byte, error) {
	t, err := template.New("report.html").Funcs(templateFuncs()).ParseFS(templateFS, "templates/report.html")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, r.view()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// view is the data as the documents lay it out: each entity with its own
// movements.
type view struct {
	Data
	Sections []section
}

type section struct {
	Entity
	Movements []Movement
}

func (r *Report) view() view {
	v := view{Data: r.Data}
	for _, e := range r.Data.Entities {
		s := section{Entity: e}
		for _, m := range r.Data.Movements {
			if m.Entity == e.ID {
				s.Movements = append(s.Movements, m)
			}
		}
		v.Sections = append(v.Sections, s)
	}
	return v
}
