package incidents

import (
	"strings"
	"testing"
)

func TestEventsOverTheLimitAreRefused(t *testing.T) {
	if _, err := marshalEvent(EventTaskProgress, map[string]string{"note": strings.Repeat("<", MaxEventBytes/6-10)}); err != nil {
		t.Errorf("an event just under the limit: %v", err)
	}
	_, err := marshalEvent(EventTaskProgress, map[string]string{"note": strings.Repeat("<", MaxEventBytes/6+1)})
	if ErrorCode(err) != CodeInvalid {
		t.Errorf("an event over %d bytes = %v, want invalid", MaxEventBytes, err)
	}
}
