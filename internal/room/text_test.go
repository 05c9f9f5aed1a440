package room

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
)

// TestTitleAndAreaAreCleaned: titles and areas go through the text policy before they are
// validated and stored — a right-to-left override cannot flip what viewers read, invisible
// characters are dropped and full-width letters folded — and control characters are refused.
func TestTitleAndAreaAreCleaned(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, sqltest.OpenSQLite(t), nil)
	r, err := s.Create(ctx, 1, Fields{Title: str("\u202Egnp.exe"), Area: str("ga\u00admes\u200b")})
	require.NoError(t, err)
	require.Equal(t, "gnp.exe", r.Title)
	require.Equal(t, "games", r.Area)
	got, err := s.Get(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, "gnp.exe", got.Title)

	up, err := s.Update(ctx, 1, r.ID, Fields{Title: str("\u200b ｍｙ ｒｏｏｍ \u2066")})
	require.NoError(t, err)
	require.Equal(t, "my room", up.Title)

	for _, bad := range []string{"\u200b\u200d\u202e", "a\nb", "a\u0085b", "a\u2028b"} {
		_, err = s.Update(ctx, 1, r.ID, Fields{Title: str(bad)})
		require.ErrorIs(t, err, ErrBadRoom, "%q", bad)
	}
	_, err = s.Update(ctx, 1, r.ID, Fields{Area: str("a\tb")})
	require.ErrorIs(t, err, ErrBadRoom)
}

// TestBannedWordsInTitleAndArea: the banned words of comments apply to titles and areas too,
// through the same disguises; the refusal does not repeat the word.
func TestBannedWordsInTitleAndArea(t *testing.T) {
	ctx := context.Background()
	s, _ := newServiceWith(t, sqltest.OpenSQLite(t), func(_ *Config, d *Deps) { d.Words = textnorm.NewWords([]string{"spam", "广告"}) })
	for _, title := range []string{"free SPAM", "sp\u200bam", "ｓｐａｍ", "\u0455\u0440\u0430m", "看广\u00ad告"} {
		_, err := s.Create(ctx, 1, Fields{Title: str(title)})
		require.ErrorIs(t, err, ErrBanned, "%q", title)
		require.NotContains(t, err.Error(), "spam")
	}
	_, err := s.Create(ctx, 1, Fields{Title: str("ok"), Area: str("spam")})
	require.ErrorIs(t, err, ErrBanned)
	r, err := s.Create(ctx, 1, Fields{Title: str("spa m"), Area: str("games")})
	require.NoError(t, err)
	_, err = s.Update(ctx, 1, r.ID, Fields{Title: str("now with spam")})
	require.ErrorIs(t, err, ErrBanned)
	_, err = s.Update(ctx, 1, r.ID, Fields{Area: str("广告")})
	require.ErrorIs(t, err, ErrBanned)
	got, err := s.Get(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, "spa m", got.Title)
	require.Equal(t, "games", got.Area)
}

// Titles and areas stored before the text policy are shown cleaned.
func TestOldTitlesShownCleaned(t *testing.T) {
	ctx := context.Background()
	db := sqltest.OpenSQLite(t)
	s, _ := newService(t, db, nil)
	r, err := s.Create(ctx, 1, Fields{Title: str("t"), Area: str("a")})
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "UPDATE rooms SET title = ?, area = ? WHERE id = ?", "\u202Egnp.exe", "ga\u200bmes", r.ID)
	require.NoError(t, err)
	got, err := s.store.Get(ctx, r.ID)
	require.NoError(t, err)
	v := s.Views(ctx, []Room{got}, all, 0)[0]
	require.Equal(t, "gnp.exe", v.Base.Title)
	require.Equal(t, "games", v.Base.Area)
}
