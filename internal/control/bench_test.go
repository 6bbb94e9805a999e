package control

import "testing"

// BenchmarkCallRoundTrip: one GetJobByName over a private connection to
// the fake backend: the server's own cost, without the engine.
func BenchmarkCallRoundTrip(b *testing.B) {
	fx := newFixture(b, Options{})
	conn := fx.dial(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pcall(conn, ManagerPath, ManagerIface+".GetJobByName", "foo").Err; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmitWait: EmitEvent with wait to the fake backend.
func BenchmarkEmitWait(b *testing.B) {
	fx := newFixture(b, Options{})
	conn := fx.dial(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pcall(conn, ManagerPath, ManagerIface+".EmitEvent", "x", []string{"A=b"}, true).Err; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
