// Package examplerules embeds the example rules files, so that the binary
// plays them from any working directory: `leadscore demo` scores its
// journeys with b2b-abm.yaml (accounts) and textbook-funnel.yaml side by
// side even when it is not run from the repository's root.
package examplerules

import "embed"

// Files holds every example rules file (*.yaml), by its base name.
//
//go:embed *.yaml
var Files embed.FS
