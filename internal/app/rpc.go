package app

import (
	"bytes"
	_ "embed"
	"io"
	"net/http"
	"strings"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/zhibo-live/zhibo/internal/gateway"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// HTTP/JSON for the gRPC services: POST /rpc/<service>/<method> with a JSON body (the Connect
// protocol: Content-Type application/json, fields in the protobuf JSON mapping) calls that
// method of a component running in this process and answers its reply as JSON, so a script in
// any language reaches any component without a gRPC stack. The services are the components'
// internal interfaces (live-status setters, token checks…), so the route is for operators:
// admins only.

//go:embed rpc_openapi.json
var rpcOpenAPI []byte

// rpcMaxBody bounds a request message.
const rpcMaxBody = 1 << 20

// rpcRoutes serves /rpc/ by transcoding into the gRPC services of the local components, and
// sends the calls of a component gateway.upstreams names on to its process (services are
// named zhibo.<component>.v1.…), which transcodes them there.
type rpcRoutes struct {
	a      *App
	h      http.Handler            // nil: no local component serves gRPC
	remote map[string]http.Handler // component → its process
}

// newRPCRoutes registers every local component's gRPC services on a server of their own (or
// uses the process's gRPC server when it has one) and wraps it in a transcoder; nil when no
// local component serves gRPC.
func newRPCRoutes(a *App) (*rpcRoutes, error) {
	s := a.grpc
	if s == nil {
		s = grpcx.NewServer("", a.logger("rpc"), grpcx.WithMetrics(a.rpcm)) // never listens
		for _, n := range a.names {
			if c, _ := component(n); c.serve != nil {
				c.serve(a, s)
			}
		}
	}
	remote := map[string]http.Handler{}
	for name := range a.cfg.Gateway.Upstreams {
		u, err := a.cfg.Gateway.UpstreamURL(name)
		if err != nil {
			return nil, err
		}
		// Its own group, not probed (no Start): the gateway's group of the component probes.
		g, err := gateway.UpstreamGroup(name, u, a.logger("rpc"), nil)
		if err != nil {
			return nil, err
		}
		remote[name] = gateway.NewProxy(name, u, g, a.logger("rpc"), a.signIdentity(), nil)
	}
	if len(s.GetServiceInfo()) == 0 {
		if len(remote) == 0 {
			return nil, nil
		}
		return &rpcRoutes{a: a, remote: remote}, nil
	}
	strict := func(res vanguard.TypeResolver) vanguard.Codec { // unknown fields refused, as the HTTP API does
		c := vanguard.NewJSONCodec(res)
		c.UnmarshalOptions.DiscardUnknown = false
		return c
	}
	t, err := vanguardgrpc.NewTranscoder(s.Server, vanguard.WithUnknownHandler(http.NotFoundHandler()), vanguard.WithCodec(strict))
	if err != nil {
		return nil, err
	}
	return &rpcRoutes{a: a, h: http.StripPrefix("/rpc", t), remote: remote}, nil
}

// Register implements gateway.Routes.
func (r *rpcRoutes) Register(mux *http.ServeMux) {
	log := r.a.logger("rpc")
	mux.Handle("POST /rpc/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, err := httpx.RequireAdmin(req, r.a.isAdmin); err != nil {
			httpx.WriteError(log, w, req, err)
			return
		}
		if p := r.remote[rpcComponent(req.URL.Path)]; p != nil {
			p.ServeHTTP(w, req) // that process checks the caller again
			return
		}
		if r.h == nil {
			httpx.WriteError(log, w, req, apierr.NotFound.Withf("no component here serves %s", req.URL.Path))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, rpcMaxBody))
		if err != nil {
			httpx.WriteError(log, w, req, apierr.TooLarge.Withf("request body larger than %d bytes", rpcMaxBody))
			return
		}
		if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/proto") {
			// The transcoder answers a body it cannot decode with a 500: check it here first.
			if err := checkRequestJSON(strings.TrimPrefix(req.URL.Path, "/rpc"), body); err != nil {
				httpx.WriteError(log, w, req, err)
				return
			}
			req.Header.Set("Content-Type", "application/json") // curl -d sends form encoding by default
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Set("Connect-Protocol-Version", "1") // this route speaks Connect, not REST mappings
		req.Header.Del("Authorization")                 // checked here; not the components' business
		r.h.ServeHTTP(w, req)
	}))
}

// checkRequestJSON decodes body as the request message of the method at path
// (/<service>/<method>), unknown fields refused: a 400 saying why, or a 404 for an unknown
// method.
func checkRequestJSON(path string, body []byte) error {
	svc, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	sd, isSvc := d.(protoreflect.ServiceDescriptor)
	if !ok || err != nil || !isSvc || sd.Methods().ByName(protoreflect.Name(method)) == nil {
		return apierr.NotFound.Withf("no method %s", path)
	}
	msg := dynamicpb.NewMessage(sd.Methods().ByName(protoreflect.Name(method)).Input())
	if err := protojson.Unmarshal(body, msg); err != nil {
		return apierr.BadRequest.Withf("the body is not a %s as JSON: %v", msg.Descriptor().FullName(), err)
	}
	return nil
}

// rpcComponent is the component a /rpc/zhibo.<component>.v1.<Service>/<Method> path names;
// the IM components' services are zhibo.im.<x>.v1.<Service>, of component im-<x>.
func rpcComponent(path string) string {
	svc, _, _ := strings.Cut(strings.TrimPrefix(path, "/rpc/"), "/")
	parts := strings.Split(svc, ".")
	if len(parts) < 4 || parts[0] != "zhibo" {
		return ""
	}
	if parts[1] == "im" {
		if len(parts) < 5 {
			return ""
		}
		return "im-" + parts[2]
	}
	return parts[1]
}
