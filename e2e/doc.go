// Package e2e holds Switchboard's end-to-end tests. They build every
// program, run the whole suite as real processes against a real Redis,
// and drive the gateways with the official MCP client SDKs for Go and
// TypeScript. The TypeScript client needs its packages installed first
// (make tsdeps).
package e2e
