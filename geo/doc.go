// Package geo holds Flare's geometry and its streaming space-time cluster
// detector.
//
// The detector keeps the calls received in a sliding time window and, after
// every arrival and every expiry, holds exactly the clusters that a batch
// DBSCAN would find over the calls in the window:
//
//   - the window at time t holds the calls received in (t-W, t];
//   - two calls are neighbours when orb's geo.DistanceHaversine between them
//     is at most eps metres (and the rule admits both calls' categories);
//   - a call is core when it has at least MinCalls neighbours in the window,
//     itself included;
//   - clusters are the connected components of core calls, and a non-core
//     call within eps of a core call belongs to one such cluster (a border
//     call); every other call is noise.
//
// The detector is incremental in the manner of incremental DBSCAN (Ester et
// al., 1998): an arrival or an expiry re-examines only the neighbourhood it
// changes, so its cost does not grow with the number of calls in the window.
// Calls are indexed in a grid of latitude rows and longitude columns whose
// cells are narrower than eps everywhere on the sphere, so that the core
// calls of one cell are always neighbours of each other and the clusters
// can be kept as connected components of a small graph of cells.
//
// The package does no I/O and knows nothing of Flare's domain types: it
// sees points with an id, a time, a position and a category. Time comes only
// from those points and from explicit calls to Advance; nothing here reads
// the wall clock.
package geo
