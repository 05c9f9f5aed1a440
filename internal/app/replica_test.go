package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/room"
)

// The reads that may be stale — the room list, comment history, ranks — go to the read
// replica; everything else to the primary. Here the "replica" is a database that never
// receives the primary's writes, so what each route reads from is plain to see.
func TestStaleReadsGoToTheReplica(t *testing.T) {
	primary, replica := sqltest.NewMySQLDatabase(t), sqltest.NewMySQLDatabase(t)
	// The replica gets the schema (a real one would replicate it).
	a, _ := startAll(t, filepath.Join(t.TempDir(), "replica"), func(c *config.Config) {
		c.Store.Driver, c.Store.DSN = "mysql", replica
	})
	require.NoError(t, a.Stop(context.Background()))

	a, base := startAll(t, filepath.Join(t.TempDir(), "data"), func(c *config.Config) {
		c.Store.Driver, c.Store.DSN, c.Store.ReadDSN = "mysql", primary, replica
	})
	ctx := context.Background()
	sess, err := a.Account.SignUp(ctx, "replica_owner", "password1")
	require.NoError(t, err)
	rm, err := a.Room.Create(ctx, sess.UID, room.Fields{Title: ptr("on the primary")})
	require.NoError(t, err)
	_, err = a.Danmaku.Send(ctx, rm.ID, sess.UID, "a comment", 0, 0, 0)
	require.NoError(t, err)

	get := func(path string, out any) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, path)
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
		require.NoError(t, json.Unmarshal(env.Data, out))
	}
	var one struct {
		Base struct {
			Title string `json:"title"`
		} `json:"base"`
	}
	get(fmt.Sprintf("/api/rooms/%d", rm.ID), &one)
	require.Equal(t, "on the primary", one.Base.Title, "a room by id reads the primary")
	var list struct {
		Rooms []json.RawMessage `json:"rooms"`
	}
	get("/api/rooms", &list)
	require.Empty(t, list.Rooms, "the room list reads the replica")
	var hist struct {
		Items []json.RawMessage `json:"items"`
	}
	get(fmt.Sprintf("/api/rooms/%d/danmaku", rm.ID), &hist)
	require.Empty(t, hist.Items, "comment history reads the replica")
	h, err := a.Danmaku.History(ctx, rm.ID, 0)
	require.NoError(t, err)
	require.Empty(t, h)
}
