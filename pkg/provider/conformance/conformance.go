// Package conformance holds the tools, resources and prompts that the
// server scenarios of the official MCP conformance suite
// (modelcontextprotocol/conformance) call, with the names, arguments and
// contents those scenarios check. Served with an empty prefix, a provider
// holding them lets the suite test a whole Switchboard deployment as one
// MCP server.
//
// Usage:
//
//	p := provider.New("conformance", nil)
//	conformance.Add(p)
//	go conformance.Watch(ctx, p, conformance.WatchInterval)
//
// It covers the scenarios of the revisions up to 2025-11-25 and those of
// 2026-07-28: the stateless diagnostics (SEP-2575), the input-required
// tools (SEP-2322), the custom-header tool (SEP-2243) and the tools of the
// tasks extension (SEP-2663). Those scenarios mostly test what the gateway
// makes of ordinary provider behaviour: a tool that asks the client for
// input becomes an input_required result, a tool that declares task
// support becomes a task. The provider's own part is the names of the
// questions, the prompt that answers with an input_required result of its
// own, and the tools that change the catalogue while it is registered.
package conformance

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"time"

	"switchboard.dev/pkg/provider"
)

// WatchedResourceURI is the resource that Watch reports as changed.
const WatchedResourceURI = "test://watched-resource"

// WatchInterval is how often the reference servers report the watched
// resource as changed.
const WatchInterval = 3 * time.Second

// Add adds the conformance tools, resources and prompts to p.
func Add(p *provider.Provider) {
	addTools(p)
	addStatelessTools(p)
	addInputTools(p)
	addTaskTools(p)
	addResources(p)
	addPrompts(p)
}

// Watch reports WatchedResourceURI as updated every interval until ctx
// ends. Reports that fail, as while p is not registered, are skipped, so
// Watch may start before p registers.
func Watch(ctx context.Context, p *provider.Provider, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A report that fails (not registered yet, registry away) is
		// dropped: the next tick reports the same kind of change again.
		_ = p.NotifyResourceUpdated(ctx, WatchedResourceURI)
	}
}

// pause waits for d, or returns ctx's error if the call is cancelled
// first.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pngPixel is a 1x1 red PNG image, the smallest picture a client can
// decode.
var pngPixel = func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 0xff, A: 0xff})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}()

// wavSilence is a WAV file holding a millisecond of 8 kHz, 16-bit mono
// silence.
var wavSilence = func() []byte {
	const rate, samples = 8000, 8
	data := make([]byte, samples*2)
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.WriteString("RIFF")
	buf.Write(le.AppendUint32(nil, uint32(36+len(data))))
	buf.WriteString("WAVEfmt ")
	buf.Write(le.AppendUint32(nil, 16))     // fmt chunk size
	buf.Write(le.AppendUint16(nil, 1))      // PCM
	buf.Write(le.AppendUint16(nil, 1))      // mono
	buf.Write(le.AppendUint32(nil, rate))   // sample rate
	buf.Write(le.AppendUint32(nil, rate*2)) // byte rate
	buf.Write(le.AppendUint16(nil, 2))      // block align
	buf.Write(le.AppendUint16(nil, 16))     // bits per sample
	buf.WriteString("data")
	buf.Write(le.AppendUint32(nil, uint32(len(data))))
	buf.Write(data)
	return buf.Bytes()
}()
