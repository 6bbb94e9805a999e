package sysv

import (
	"strings"
	"testing"
)

// FuzzParse feeds the three parsers (LSB header, insserv.conf, .depend
// file) the same text: none may panic, and an error names the file.
func FuzzParse(f *testing.F) {
	f.Add("### BEGIN INIT INFO\n# Provides: a\n# Required-Start: $all b\n### END INIT INFO\n")
	f.Add("$local_fs +mountall\n<interactive> fsck\n")
	f.Add("TARGETS = a b\nINTERACTIVE = a\nb: a\n")
	f.Add("### BEGIN INIT INFO\n#\tcontinued\nno hash\n")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseHeader(strings.NewReader(s), "F"); err != nil && !strings.HasPrefix(err.Error(), "F") {
			t.Errorf("header error without the name: %v", err)
		}
		fa := NewFacilities()
		if err := fa.Parse(strings.NewReader(s), "F"); err != nil && !strings.HasPrefix(err.Error(), "F") {
			t.Errorf("facility error without the name: %v", err)
		}
		fa.Expand("$local_fs")
		if _, err := ParseDepend(strings.NewReader(s), "F"); err != nil && !strings.HasPrefix(err.Error(), "F") {
			t.Errorf("depend error without the name: %v", err)
		}
	})
}
