package secret

import (
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"

	"github.com/trawl-ci/trawl/pkg/safetext"
)

// LogEncoder wraps a zap encoder so that no log line can carry a
// registered secret or drive the terminal: each entry's message is escaped
// with safetext.Line (the console encoder writes it raw), and the whole
// encoded line (message, fields, the logger's context, stack) goes through
// Redact. Every logger trawl builds for an operator uses it.
func LogEncoder(enc zapcore.Encoder) zapcore.Encoder {
	return &logEncoder{Encoder: enc}
}

// logEncoder is LogEncoder's result. Its embedded encoder holds the fields
// added with With; Clone keeps the wrapper around the copy.
type logEncoder struct {
	zapcore.Encoder
}

var _ zapcore.Encoder = (*logEncoder)(nil)

// lines are the buffers logEncoder hands out; zap frees them after writing.
var lines = buffer.NewPool()

// Clone copies the encoder with its fields, still redacting.
func (e *logEncoder) Clone() zapcore.Encoder {
	return &logEncoder{Encoder: e.Encoder.Clone()}
}

// EncodeEntry encodes the entry with the wrapped encoder, then redacts.
func (e *logEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	ent.Message = safetext.Line(ent.Message)
	buf, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	out := lines.Get()
	out.AppendString(Redact(buf.String()))
	buf.Free()
	return out, nil
}
