package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestValueRegistersForRedact(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("canary-file-7f3a9c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRAWL_TEST_CANARY", `canary"env/é 42`)
	for _, src := range []Source{{File: file}, {Env: "TRAWL_TEST_CANARY"}} {
		if _, err := src.Value(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ name, in, want string }{
		{"file", "401: bad token canary-file-7f3a9c.", "401: bad token [REDACTED]."},
		{"header echo", "Authorization: Token canary-file-7f3a9c", "Authorization: Token [REDACTED]"},
		{"env", `token canary"env/é 42 refused`, "token [REDACTED] refused"},
		{"json escaped", `{"detail":"canary\"env/é 42"}`, `{"detail":"[REDACTED]"}`},
		{"query escaped", "?t=canary%22env%2F%C3%A9+42", "?t=[REDACTED]"},
		{"path escaped", "/t/canary%22env%2F%C3%A9%2042", "/t/[REDACTED]"},
		{"twice", "canary-file-7f3a9ccanary-file-7f3a9c", "[REDACTED][REDACTED]"},
		{"clean", "nothing to hide", "nothing to hide"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("%s: Redact(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestRegisterLongestFirstAndShortIgnored(t *testing.T) {
	Register("abc") // below MinLen: never masks ordinary text
	Register("overlap-secret")
	Register("overlap-secret-longer")
	if got := Redact("abc overlap-secret-longer overlap-secret"); got != "abc [REDACTED] [REDACTED]" {
		t.Errorf("Redact = %q", got)
	}
}

// TestLogEncoderRedactsEveryField logs a canary through every way a value
// reaches a zap line (message, string, error, Stringer, reflected value,
// logger context) in both formats trawl writes, and checks none survives.
func TestLogEncoderRedactsEveryField(t *testing.T) {
	const canary = "log-canary-0d1e2f3a"
	Register(canary)
	for _, enc := range []zapcore.Encoder{
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()),
	} {
		var buf bytes.Buffer
		log := zap.New(zapcore.NewCore(LogEncoder(enc), zapcore.AddSync(&buf), zapcore.DebugLevel))
		log = log.With(zap.String("ctx", "with "+canary))
		log.Debug("msg "+canary+"\x1b[2J\nforged line",
			zap.String("s", canary),
			zap.Error(errors.New("server said "+canary)),
			zap.Stringer("str", stringer(canary)),
			zap.Any("obj", map[string]string{"k": canary}),
			zap.Strings("list", []string{canary}),
			zap.ByteString("bytes", []byte(canary)),
		)
		log.Named("n").Warn("again", zap.String("s", canary))
		out := buf.String()
		if strings.Contains(out, canary) {
			t.Errorf("canary in log output:\n%s", out)
		}
		if n := strings.Count(out, Mask); n < 9 {
			t.Errorf("%d masks, want at least 9 (every field):\n%s", n, out)
		}
		if strings.Contains(out, "\x1b") || strings.Count(out, "\n") != 2 {
			t.Errorf("escape or forged line in the log:\n%q", out)
		}
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
