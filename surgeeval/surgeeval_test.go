package surgeeval

import (
	"os"
	"strconv"
	"testing"

	"flare/geo"
)

// TestSmallRun runs a short evaluation on the second background: the
// harness must find most surges, raise few false alerts, and show that
// grading every cluster III raises far more.
func TestSmallRun(t *testing.T) {
	res, err := Run(Config{Background: County(1500), Seed: 1, Warmup: 7, Days: 3, Surges: 6,
		Watch: geo.WatchOptions{Calibration: geo.CalibrationOptions{Replications: 20}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + Header + "\n" + res.Row() + "\n" + res.Misses())
	if d := res.Detected(); d < 0.5 {
		t.Errorf("detected %.0f%% of the injected surges at grade III or above, want most", 100*d)
	}
	if n := res.FalseAtLeast(3); n > 2 {
		t.Errorf("%d false alerts of grade III or above in 3 days, want at most 2", n)
	}
	if res.EveryClusterIII <= res.FalseAtLeast(3) {
		t.Errorf("grading every cluster III gave %d false alerts, want more than the surge score's %d", res.EveryClusterIII, res.FalseAtLeast(3))
	}
}

// TestTable prints the table kept in docs/DETECT.md. It takes minutes, so
// it runs only with FLARE_SURGE_EVAL=1.
func TestTable(t *testing.T) {
	if os.Getenv("FLARE_SURGE_EVAL") == "" {
		t.Skip("set FLARE_SURGE_EVAL=1 to run the evaluation (minutes)")
	}
	// FLARE_SURGE_SEED=N runs the same table on other draws.
	var seed uint64
	if v := os.Getenv("FLARE_SURGE_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FLARE_SURGE_SEED=%q: %v", v, err)
		}
		seed = n * 10
	}
	out := Header + "\n"
	for _, cfg := range []Config{
		{Background: Zhuhai(3000), Seed: seed + 1, Warmup: 7, Days: 30, Surges: 60},
		{Background: County(1500), Seed: seed + 2, Warmup: 7, Days: 30, Surges: 60},
		{Background: Zhuhai(20000), Seed: seed + 3, Warmup: 7, Days: 1, Surges: 0},
	} {
		res, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(res.Row() + "\n" + res.Misses())
		out += res.Row() + "\n"
	}
	t.Log("\n" + out)
}
