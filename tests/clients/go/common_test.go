// Go client suites (franz-go, Sarama) against the broker at FJORD_BOOTSTRAP;
// run by tests/clients/run.sh go.
package clients

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"
)

const wait = 30 * time.Second

func bootstrap(t *testing.T) string {
	t.Helper()
	b := os.Getenv("FJORD_BOOTSTRAP")
	if b == "" {
		t.Fatal("FJORD_BOOTSTRAP is not set: run tests/clients/run.sh go")
	}
	return b
}

func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "go-" + prefix + "-" + hex.EncodeToString(b[:])
}

// record i of a test: its key and value, as every suite produces and checks them.
func keyOf(i int) string { return "key-" + itoa(i) }
func valueOf(i int) string {
	v := "value-" + itoa(i) + "-"
	for j := 0; j < i%53; j++ {
		v += "v"
	}
	return v
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}
