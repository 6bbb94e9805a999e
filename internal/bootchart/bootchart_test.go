package bootchart

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/api"
)

func TestSVGIsValidAndEscaped(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tl := api.Timeline{Start: t0, Now: at(900), Dropped: 3, Records: []api.StateRecord{
		{At: at(0), Job: "a<&>\"b", Instance: "x'y", State: "starting", Cause: "ev <A=1&B=2>", CauseAt: at(0)},
		{At: at(10), Job: "a<&>\"b", Instance: "x'y", State: "pre-start"},
		{At: at(110), Job: "a<&>\"b", Instance: "x'y", State: "spawned"},
		{At: at(120), Job: "a<&>\"b", Instance: "x'y", State: "running"},
		{At: at(200), Job: "t", State: "starting", Task: true},
		{At: at(210), Job: "t", State: "running", Task: true},
		{At: at(600), Job: "t", State: "stopping", Task: true},
		{At: at(610), Job: "t", State: "waiting", Task: true},
		{At: at(700), Job: "never", State: "starting"},
	}}
	var b bytes.Buffer
	if err := WriteSVG(&b, tl); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	var text strings.Builder
	rects, jobs := 0, map[string]bool{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "rect" {
				rects++
			}
			for _, a := range tok.Attr {
				if a.Name.Local == "data-job" {
					jobs[a.Value] = true
				}
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	for _, want := range []string{`a<&>"b (x'y) ← ev <A=1&B=2> (120.0ms)`, "t ← request (410.0ms)", "never ← request", "3 later state changes"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("chart text lacks %q", want)
		}
	}
	if !jobs[`a<&>"b`] || !jobs["t"] || !jobs["never"] {
		t.Errorf("jobs %v", jobs)
	}
	if rects < 10 {
		t.Errorf("only %d rects", rects)
	}

	var blame bytes.Buffer
	WriteBlame(&blame, Runs(tl))
	want := "   410.0ms t (started by a request)\n   120.0ms a<&>\"b (x'y) (started by ev <A=1&B=2>)\n"
	if blame.String() != want {
		t.Errorf("blame\n%q\nwant\n%q", blame.String(), want)
	}
}
