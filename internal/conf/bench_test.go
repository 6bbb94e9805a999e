package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLoad1000: parse a directory of 1000 job files, the work the
// daemon does at start-up before the first event.
func BenchmarkLoad1000(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < 1000; i++ {
		body := fmt.Sprintf(`description "service %d"
author "bench"
start on started dep%d or (net-device-up IFACE!=lo and filesystem)
stop on stopping dep%d
env NAME=svc%d
respawn
respawn limit 5 10
normal exit 0 1 TERM
limit nofile 1024 4096
pre-start script
  mkdir -p /run/svc%d
  echo starting
end script
exec /usr/bin/svc --name=$NAME --foreground
`, i, i%10, i%10, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("svc%d.conf", i)), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		jobs, errs := Load([]string{dir})
		if len(errs) != 0 || len(jobs) != 1000 {
			b.Fatalf("%d jobs, errors %v", len(jobs), errs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
}
