package stdio

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadEvents(t *testing.T) {
	stream := "id: s:0\nretry: 1500\ndata: \n\n" +
		": heartbeat\n\n" +
		"id: s:1\nevent: message\ndata: {\"a\":1}\n\n" +
		"data: {\"b\":\ndata: 2}\n\n" +
		"retry: 250\n\n" +
		"data: {\"cut\":true}\n" // no blank line: dropped
	type got struct {
		ID    string
		HasID bool
		Data  string
		Retry time.Duration
	}
	var events []got
	err := readEvents(strings.NewReader(stream), func(ev event) error {
		events = append(events, got{ev.id, ev.hasID, string(ev.data), ev.retry})
		return nil
	})
	if err != nil {
		t.Fatalf("readEvents: %v", err)
	}
	want := []got{
		{"s:0", true, "", 1500 * time.Millisecond},
		{"s:1", true, `{"a":1}`, 0},
		{"", false, "{\"b\":\n2}", 0},
		{"", false, "", 250 * time.Millisecond},
	}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
