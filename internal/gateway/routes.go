package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/zhibo-live/zhibo/internal/gateway/table"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// maxTableBody bounds a route table sent to the admin API.
const maxTableBody = 1 << 20

// routes chooses the table in force: the operator's (set through the admin API, shared on the
// queue when there is one) while it exists, else the config's (gateway.routes and
// gateway.groups, changed by a config reload).
type routes struct {
	router  *table.Router
	shared  *table.Shared // nil: the operator's table is this process's alone
	isAdmin func(uid int64) bool
	log     *slog.Logger

	mu       sync.Mutex
	cfg      table.Table  // the config's table
	operator *table.Table // the operator's, nil when none
	cancel   context.CancelFunc
}

// start applies the operator's table, if the cluster has one, and follows its changes.
func (r *routes) start(ctx context.Context) error {
	r.router.Start()
	if r.shared == nil {
		return nil
	}
	wctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.cancel = cancel
	r.mu.Unlock()
	ready, err := r.shared.Watch(wctx, r.operatorChanged)
	if err != nil {
		cancel()
		return err
	}
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	}
}

func (r *routes) stop() {
	r.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	r.router.Stop()
}

// operatorChanged puts the operator's table (nil: none any more) in force.
func (r *routes) operatorChanged(t *table.Table) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.operator = t
	if err := r.apply(); err != nil {
		// Validated before it was stored; a gateway of another version may still refuse it.
		r.log.Error("operator's route table refused: the table in force stays", "err", err)
	}
}

// configChanged is a reload of the config's table; it is in force unless the operator's is.
func (r *routes) configChanged(t table.Table) error {
	if err := t.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg = t
	return r.apply()
}

// apply swaps in the table that should be in force; r.mu held.
func (r *routes) apply() error {
	if r.operator != nil {
		return r.router.Swap(*r.operator)
	}
	return r.router.Swap(r.cfg)
}

// tableStatus is the admin API's view of the route table.
type tableStatus struct {
	// Source is "operator" (set through this API) or "config" (gateway.routes).
	Source string `json:"source"`
	table.Status
}

func (r *routes) status() tableStatus {
	r.mu.Lock()
	src := "config"
	if r.operator != nil {
		src = "operator"
	}
	r.mu.Unlock()
	return tableStatus{Source: src, Status: r.router.Status()}
}

// register mounts the admin API of the route table.
func (r *routes) register(mux *http.ServeMux) {
	mux.Handle("GET /api/admin/gateway/routes", httpx.Handle(r.log, r.get))
	mux.Handle("PUT /api/admin/gateway/routes", httpx.Handle(r.log, r.put))
	mux.Handle("DELETE /api/admin/gateway/routes", httpx.Handle(r.log, r.del))
	mux.Handle("PUT /api/admin/gateway/routes/{name}/off", httpx.Handle(r.log, r.switchRoute(true)))
	mux.Handle("DELETE /api/admin/gateway/routes/{name}/off", httpx.Handle(r.log, r.switchRoute(false)))
}

func (r *routes) get(w http.ResponseWriter, req *http.Request) error {
	if _, err := httpx.RequireAdmin(req, r.isAdmin); err != nil {
		return err
	}
	return httpx.OK(w, r.status())
}

// put makes the body the operator's table, for every gateway sharing the queue.
func (r *routes) put(w http.ResponseWriter, req *http.Request) error {
	uid, err := httpx.RequireAdmin(req, r.isAdmin)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxTableBody))
	if err != nil {
		return apierr.BadRequest.Withf("route table: body over %d bytes or unreadable", maxTableBody)
	}
	t, err := table.DecodeTable(body)
	if err != nil {
		return apierr.BadRequest.Withf("%v", err)
	}
	if err := r.setOperator(req.Context(), t); err != nil {
		return err
	}
	r.log.InfoContext(req.Context(), "operator's route table set", "by", uid, "routes", len(t.Routes), "groups", len(t.Groups))
	return httpx.OK(w, r.status())
}

// del drops the operator's table: the config's is in force again.
func (r *routes) del(w http.ResponseWriter, req *http.Request) error {
	uid, err := httpx.RequireAdmin(req, r.isAdmin)
	if err != nil {
		return err
	}
	if err := r.setOperator(req.Context(), nil); err != nil {
		return err
	}
	r.log.InfoContext(req.Context(), "operator's route table dropped", "by", uid)
	return httpx.OK(w, r.status())
}

// switchRoute switches one route off (or back on) in a copy of the table in force, made the
// operator's table.
func (r *routes) switchRoute(off bool) httpx.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) error {
		uid, err := httpx.RequireAdmin(req, r.isAdmin)
		if err != nil {
			return err
		}
		name := req.PathValue("name")
		t := r.router.Table()
		t.Routes = slices.Clone(t.Routes)
		i := slices.IndexFunc(t.Routes, func(ro table.Route) bool { return ro.Name == name })
		if i < 0 {
			return apierr.NotFound.Withf("no route %q in the table in force", name)
		}
		t.Routes[i].Off = off
		if err := r.setOperator(req.Context(), &t); err != nil {
			return err
		}
		r.log.InfoContext(req.Context(), "route switched", "route", name, "off", off, "by", uid)
		return httpx.OK(w, r.status())
	}
}

// setOperator stores t (nil = none) for the cluster and puts it in force here at once, not
// waiting for the watch to bring it back.
func (r *routes) setOperator(ctx context.Context, t *table.Table) error {
	if r.shared != nil {
		var err error
		if t == nil {
			err = r.shared.Delete(ctx)
		} else {
			err = r.shared.Put(ctx, *t)
		}
		if err != nil {
			return apierr.Unavailable.Wrap(err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.operator = t
	if err := r.apply(); err != nil {
		return apierr.BadRequest.Withf("%v", err)
	}
	return nil
}
