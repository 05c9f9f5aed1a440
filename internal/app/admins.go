package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/zhibo-live/zhibo/internal/account"
)

// checkAdmins refuses a configuration whose admins name a uid no one has registered, and logs
// each admin with its user name. Uids are handed out in registration order, so on a fresh
// install "-admins 1" would make whoever registers first an operator — a race any stranger
// can win. Requiring the uid to exist turns the bootstrap into: register, read your uid, name
// it in admins, restart. It runs in every process with the account component, which is every
// process serving operator routes (room and its logic API need account in the same process).
func (a *App) checkAdmins(ctx context.Context) error {
	missing, err := a.unregisteredAdmins(ctx, a.cfg.Admins)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("admins names uid %s, which no one has registered: register the operator's account "+
			"first, then put the uid it was given in admins and restart (naming a uid before it exists lets "+
			"whoever registers it first become an operator)", joinInts(missing))
	}
	return nil
}

// unregisteredAdmins returns the uids of admins no one has registered, and logs each of the
// others with its user name. The account component must run in this process.
func (a *App) unregisteredAdmins(ctx context.Context, admins []int64) ([]int64, error) {
	var missing []int64
	for _, uid := range admins {
		u, err := a.Account.User(ctx, uid)
		switch {
		case errors.Is(err, account.ErrUserNotFound):
			missing = append(missing, uid)
		case err != nil:
			return nil, fmt.Errorf("check admins: uid %d: %w", uid, err)
		default:
			a.log.Info("admin", "uid", u.UID, "name", u.Name)
		}
	}
	return missing, nil
}

func joinInts(ns []int64) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", uid "
		}
		s += fmt.Sprint(n)
	}
	return s
}
