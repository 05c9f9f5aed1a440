package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/elastic"
)

// Work a request marked for the elastic pool enqueues is marked again where it is consumed
// (MsgContext); other work is not.
func TestElasticMarkCrossesTheQueue(t *testing.T) {
	q := openEmbedded(t, t.TempDir())
	defer q.Close()
	ctx := context.Background()
	stream := "E" + fmt.Sprint(time.Now().UnixNano())
	require.NoError(t, q.EnsureStream(ctx, StreamSpec{Name: stream, Subjects: []string{stream + ".>"}, MaxAge: time.Hour}))
	require.NoError(t, q.Publish(elastic.With(ctx), stream+".a", []byte("marked"), ""))
	require.NoError(t, q.Publish(ctx, stream+".a", []byte("plain"), ""))
	got := make(chan [2]any, 2)
	stop, err := q.Consume(ctx, ConsumerSpec{Stream: stream, Durable: "c"}, func(m Msg) {
		got <- [2]any{string(m.Data()), elastic.Marked(MsgContext(context.Background(), m))}
		_ = m.Ack()
	})
	require.NoError(t, err)
	defer stop()
	for range 2 {
		select {
		case v := <-got:
			require.Equal(t, v[0] == "marked", v[1], "%v", v[0])
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
	}
}
