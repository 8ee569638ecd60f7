package main

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"flare/citysim"
	"flare/hub/auth"
	"flare/incidents"
)

// demoSpeed is how many simulated seconds pass per real second in --demo.
const demoSpeed = 30

// runDemo feeds this node a simulated city through its own HTTP API, as a
// call-floor agent would: a night in Zhuhai from 21:40, with the typhoon,
// at demoSpeed, round after round until ctx ends. Each call is stamped with
// the time it is posted, so the live map and the detector see it now.
func runDemo(ctx context.Context, base string, sign *auth.Signer, log zerolog.Logger) {
	token, err := sign.Issue(auth.Principal{Subject: "demo-feed", Role: incidents.RoleAgent}, 30*24*time.Hour)
	if err != nil {
		log.Error().Err(err).Msg("demo: cannot issue a token")
		return
	}
	for round := 0; ctx.Err() == nil; round++ {
		now := time.Now().In(citysim.Zone)
		start := time.Date(now.Year(), now.Month(), now.Day(), 21, 40, 0, 0, citysim.Zone)
		calls, err := citysim.Generate(citysim.Config{
			Seed: uint64(now.UnixNano()), Start: start, Duration: 6 * time.Hour,
			Scenarios: citysim.DefaultScenarios(),
		})
		if err != nil {
			log.Error().Err(err).Msg("demo: cannot simulate")
			return
		}
		log.Info().Int("round", round+1).Int("calls", len(calls)).Int("speed", demoSpeed).Msg("demo: feeding a simulated typhoon night")
		p := &citysim.Poster{URL: base, Token: token, Speed: demoSpeed}
		st, err := p.Post(ctx, calls)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error().Err(err).Msg("demo: posting stopped")
			return
		}
		log.Info().Int("created", st.Created).Int("rejected", st.Rejected).Int("failed", st.Failed).Msg("demo: round done")
	}
}
