package gateway

import (
	"slices"
	"strconv"
	"strings"
)

// supportedVersions lists the session-based protocol revisions the
// gateway speaks, newest first.
var supportedVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// latestVersion is offered when a client asks for a revision the gateway
// does not speak.
const latestVersion = "2025-11-25"

// assumedHeaderVersion is the revision to assume when a request carries
// no MCP-Protocol-Version header (2025-11-25, Transports, Protocol Version
// Header).
const assumedHeaderVersion = "2025-03-26"

// serverName and serverVersion identify the gateway in initialize results.
const (
	serverName    = "switchboard"
	serverTitle   = "Switchboard"
	serverVersion = "0.1.0"
)

func versionSupported(v string) bool { return slices.Contains(supportedVersions, v) }

// negotiate answers the client's requested revision when supported, else
// the latest one (2025-11-25, Lifecycle, Version Negotiation).
func negotiate(requested string) string {
	if versionSupported(requested) {
		return requested
	}
	return latestVersion
}

func joinVersions() string { return strings.Join(supportedVersions, ", ") }

func quote(s string) string { return strconv.Quote(s) }
