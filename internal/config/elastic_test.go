package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// peers.elastic.<component> comes from the file, the environment and flags, and needs the
// component's normal peer.
func TestElasticPeers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "zhibo.yaml")
	require.NoError(t, os.WriteFile(file, []byte("peers:\n  room: room:9000\n  elastic:\n    room: room-elastic:9000\n"), 0o644))
	var out bytes.Buffer
	c, _, err := Load("t", []string{"-config", file, "-peers.account", "acct:9000", "-peers.elastic.account", "acct-elastic:9000"},
		env(map[string]string{"ZHIBO_PEERS_GIFT": "gift:9000", "ZHIBO_PEERS_ELASTIC_GIFT": "gift-elastic:9000"}), &out, nil)
	require.NoError(t, err)
	require.Equal(t, "room-elastic:9000", c.Peers.Elastic.Of("room"))
	require.Equal(t, "acct-elastic:9000", c.Peers.Elastic.Of("account"))
	require.Equal(t, "gift-elastic:9000", c.Peers.Elastic.Of("gift"))
	require.Empty(t, c.Peers.Elastic.Of("danmaku"))
	require.Empty(t, c.Peers.Elastic.Of("comet"), "comets have no elastic pool")

	require.NoError(t, c.Validate())

	require.ErrorContains(t, (&Peers{Elastic: ElasticPeers{Media: "media-elastic:9000"}}).Validate(), "peers.elastic.media needs peers.media")
	require.ErrorContains(t, (&Peers{Logic: "l:1", Elastic: ElasticPeers{Logic: "bad target"}}).Validate(), "bad target")
	require.NoError(t, (&Peers{Logic: "l:1", Elastic: ElasticPeers{Logic: "l-elastic:1"}}).Validate())
}
